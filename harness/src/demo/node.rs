//! `faultline demo-node`: one process of the built-in demo cluster, a
//! small replicated key-value store (registers, sets and append-only
//! logs) on loopback.
//!
//! It is a fixture and a teaching tool. Node 0 starts as the leader; the
//! other nodes forward each client request to it. The modes say plainly
//! what they break:
//!
//! - `correct`: every op goes through the leader, which writes each change
//!   to its log file before answering, so a killed leader comes back with
//!   its state. Linearizable: while the leader is down, ops fail or time out.
//! - `stale-reads`: as `correct`, but followers answer reads from a copy
//!   the leader replicates every 100 ms — reads can miss recent writes.
//! - `lost-writes`: the leader answers before replicating and keeps
//!   nothing on disk; when followers stop hearing from it, the next node
//!   promotes itself, without the writes it never received. A restarted
//!   node starts empty, as a follower.
//! - `lossy-log`: as `correct`, but log appends are acknowledged from
//!   memory and never written to the log file, so a killed leader comes
//!   back with its logs empty and hands their offsets out again.
//! - `lossy-watch`: as `correct`, but watches drop or reorder events
//!   (the watch workload's positive control).
//!
//! The watch workload's data is apart from the rest: the leader numbers
//! each `txn` of puts and deletes with the next revision and keeps every
//! event in memory (a restarted leader has none: the watch workload is
//! for runs without kill); a `watch` is a long poll for the events of a
//! key range from a revision.
//!
//! One JSON object per line (`workloads::demo`); `leader` asks a node
//! whom it follows. Requests on a connection are answered in order. A
//! connection that opens with `GET ` is an HTTP request instead: it is
//! answered with the node's metrics in Prometheus' text format (leader
//! changes, term, ops applied), as a real database's `/metrics` is.

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use checkers::Value;
use clap::ValueEnum;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;
use workloads::demo::{Request, Response};

/// What the demo cluster gets wrong, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Linearizable.
    Correct,
    /// Followers serve reads from a lagging copy.
    StaleReads,
    /// The leader acknowledges before replicating; failover loses writes.
    LostWrites,
    /// Log appends are acknowledged but never made durable; a killed
    /// leader loses them.
    LossyLog,
    /// Watches drop or reorder events.
    LossyWatch,
}

/// How often the leader sends its changes (and heartbeats) to followers.
const REPLICATION_INTERVAL: Duration = Duration::from_millis(100);
/// Silence after which a lost-writes follower may promote itself, plus
/// this much again per place it stands behind in line.
const LEADER_TIMEOUT: Duration = Duration::from_millis(600);
/// How long a follower waits for the leader's answer to a forwarded op.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a watch waits for an event before it answers with none.
const WATCH_POLL: Duration = Duration::from_millis(200);

/// The watch workload's events, `[revision key "put"|"delete" value]` in
/// revision order, and the last revision given.
#[derive(Default)]
struct WatchLog {
    revision: u64,
    events: Vec<Value>,
}

/// The leader's watch data: the events, a wake-up for long polls, and
/// (lossy-watch) a count of the responses with events.
#[derive(Default)]
struct Watched {
    log: Mutex<WatchLog>,
    changed: tokio::sync::Notify,
    responses: AtomicU64,
}

fn revision_of(e: &Value) -> i64 {
    e.as_list()
        .and_then(|e| e.first())
        .and_then(Value::as_int)
        .unwrap_or(0)
}

/// Settings of one node.
#[derive(Debug, Clone)]
pub struct NodeArgs {
    /// This node's index into `peers`.
    pub id: usize,
    /// What it gets wrong.
    pub mode: Mode,
    /// Every node's address, this one's included.
    pub peers: Vec<SocketAddr>,
    /// Its data folder.
    pub dir: PathBuf,
}

/// A change to the data, as written to the log and replicated.
#[derive(Clone, Debug)]
enum Change {
    Reg(Value, Value),
    Add(Value, Value),
    /// An append of a value to the named log.
    Append(Value, Value),
}

impl Change {
    /// Its line in the log file: `[kind, key, value]`.
    fn parts(&self) -> (&'static str, &Value, &Value) {
        match self {
            Change::Reg(k, v) => ("r", k, v),
            Change::Add(k, v) => ("s", k, v),
            Change::Append(k, v) => ("l", k, v),
        }
    }

    fn from_parts(kind: &str, k: Value, v: Value) -> Change {
        match kind {
            "r" => Change::Reg(k, v),
            "l" => Change::Append(k, v),
            _ => Change::Add(k, v),
        }
    }
}

#[derive(Default)]
struct Store {
    regs: HashMap<Value, Value>,
    sets: HashMap<Value, BTreeSet<Value>>,
    logs: HashMap<Value, Vec<Value>>,
}

impl Store {
    fn apply(&mut self, c: &Change) {
        match c {
            Change::Reg(k, v) => {
                self.regs.insert(k.clone(), v.clone());
            }
            Change::Add(k, e) => {
                self.sets.entry(k.clone()).or_default().insert(e.clone());
            }
            Change::Append(k, v) => self.logs.entry(k.clone()).or_default().push(v.clone()),
        }
    }

    /// The offset the next append to log `k` gets.
    fn log_end(&self, k: &Value) -> usize {
        self.logs.get(k).map_or(0, Vec::len)
    }

    /// Up to `max` `[offset value]` pairs of log `k` from offset `from`.
    fn poll(&self, k: &Value, from: usize, max: usize) -> Value {
        let entries = self.logs.get(k).map(Vec::as_slice).unwrap_or_default();
        Value::List(
            (entries.iter().enumerate().skip(from).take(max))
                .map(|(o, v)| Value::List(vec![Value::Int(o as i64), v.clone()]))
                .collect(),
        )
    }
}

struct Role {
    term: u64,
    leader: Option<usize>,
    last_heard: Instant,
}

struct Node {
    args: NodeArgs,
    store: Mutex<Store>,
    role: Mutex<Role>,
    log: Mutex<Option<std::fs::File>>,
    changes: broadcast::Sender<Change>,
    forward: tokio::sync::Mutex<Option<Forwarder>>,
    /// Times the leader this node follows changed (promotions included).
    leader_changes: Counter,
    /// Client ops applied to its store.
    applied: Counter,
    watch: Watched,
}

impl Role {
    /// Follows `leader` in `term`, counting a change of leader.
    fn follow(&mut self, term: u64, leader: Option<usize>, changes: &Counter) {
        if self.leader != leader {
            changes.inc();
        }
        self.term = term;
        self.leader = leader;
    }
}

/// Runs a node until it is killed.
pub fn run(args: NodeArgs) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(args))
}

async fn serve(args: NodeArgs) -> Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let listen = *args
        .peers
        .get(args.id)
        .context("--id is not an index into --peers")?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    // A node that has run before restarts as a follower that does not yet
    // know the leader; only a first start makes node 0 the leader.
    let marker = args.dir.join("started");
    let first_start = !marker.exists();
    std::fs::write(&marker, b"")?;
    let mut store = Store::default();
    let log = if args.mode == Mode::LostWrites {
        None
    } else {
        let path = args.dir.join("data.log");
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                if let Ok((kind, k, v)) = serde_json::from_str::<(String, Value, Value)>(line) {
                    store.apply(&Change::from_parts(&kind, k, v));
                }
            }
        }
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?,
        )
    };
    let leader = match args.mode {
        Mode::LostWrites if !first_start => None,
        _ => Some(0),
    };
    let node = Arc::new(Node {
        role: Mutex::new(Role {
            term: 1,
            leader,
            last_heard: Instant::now(),
        }),
        store: Mutex::new(store),
        log: Mutex::new(log),
        changes: broadcast::channel(1 << 16).0,
        forward: tokio::sync::Mutex::new(None),
        leader_changes: Counter::default(),
        applied: Counter::default(),
        watch: Watched::default(),
        args,
    });
    eprintln!(
        "demo node {} ({:?}) listening on {listen}, leader {leader:?}",
        node.args.id, node.args.mode
    );
    if node.is_leader() {
        node.lead();
    }
    if node.args.mode == Mode::LostWrites {
        tokio::spawn(node.clone().watch_leader());
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(node.clone().connection(stream));
    }
}

impl Node {
    fn is_leader(&self) -> bool {
        self.role.lock().expect("role lock").leader == Some(self.args.id)
    }

    fn replicates(&self) -> bool {
        !matches!(self.args.mode, Mode::Correct | Mode::LossyLog)
    }

    /// Starts sending changes to every follower.
    fn lead(self: &Arc<Self>) {
        if !self.replicates() {
            return;
        }
        let term = self.role.lock().expect("role lock").term;
        for peer in 0..self.args.peers.len() {
            if peer != self.args.id {
                tokio::spawn(self.clone().replicate_to(peer, term));
            }
        }
    }

    async fn connection(self: Arc<Self>, stream: TcpStream) {
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        let mut first = true;
        while let Ok(Some(line)) = lines.next_line().await {
            if std::mem::take(&mut first) && line.starts_with("GET ") {
                let _ = self.answer_metrics(&mut w).await;
                return;
            }
            let Ok(req) = serde_json::from_str::<Request>(&line) else {
                let _ = send(&mut w, &Response::refuse(0, "malformed request")).await;
                continue;
            };
            let resp = if req.f == "repl" {
                match self.receive(req) {
                    Some(r) => r,
                    None => continue,
                }
            } else {
                self.handle(req).await
            };
            if send(&mut w, &resp).await.is_err() {
                break;
            }
        }
    }

    /// Answers an HTTP request (whatever its path) with the metrics.
    async fn answer_metrics(&self, w: &mut OwnedWriteHalf) -> std::io::Result<()> {
        let (term, leader) = {
            let role = self.role.lock().expect("role lock");
            (role.term, role.leader)
        };
        let mut registry = Registry::default();
        let gauge = |v: i64| {
            let g = Gauge::<i64>::default();
            g.set(v);
            g
        };
        registry.register("demo_term", "The term this node is in", gauge(term as i64));
        registry.register(
            "demo_is_leader",
            "1 while this node leads",
            gauge(i64::from(leader == Some(self.args.id))),
        );
        registry.register(
            "demo_leader_changes",
            "Times the leader this node follows changed",
            self.leader_changes.clone(),
        );
        registry.register(
            "demo_applied_ops",
            "Client ops applied to this node's store",
            self.applied.clone(),
        );
        let mut body = String::new();
        encode(&mut body, &registry).map_err(std::io::Error::other)?;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        w.write_all(head.as_bytes()).await?;
        w.write_all(body.as_bytes()).await?;
        w.shutdown().await
    }

    async fn handle(self: &Arc<Self>, req: Request) -> Response {
        let leader = self.role.lock().expect("role lock").leader;
        if req.f == "leader" {
            return Response {
                id: req.id,
                ok: true,
                v: leader.map_or(Value::Nil, |l| Value::Int(l as i64)),
                err: None,
                definite: false,
            };
        }
        if leader == Some(self.args.id) {
            if matches!(req.f.as_str(), "txn" | "watch") {
                return self.watched(req).await;
            }
            return self.apply(req);
        }
        let read = matches!(req.f.as_str(), "read" | "smembers" | "poll");
        if read && self.args.mode == Mode::StaleReads {
            return self.apply(req);
        }
        let Some(leader) = leader else {
            return Response::refuse(req.id, "no leader known");
        };
        if req.hop > 0 {
            return Response::refuse(req.id, "not the leader");
        }
        self.forward(leader, req).await
    }

    /// Applies a client op to the local store (the leader, or a stale read).
    fn apply(&self, req: Request) -> Response {
        let mut store = self.store.lock().expect("store lock");
        let ok = |v| Response {
            id: req.id,
            ok: true,
            v,
            err: None,
            definite: false,
        };
        let change = match req.f.as_str() {
            "read" => return ok(store.regs.get(&req.k).cloned().unwrap_or_default()),
            "smembers" => {
                let items = store
                    .sets
                    .get(&req.k)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                return ok(Value::List(items));
            }
            "poll" => {
                let bounds = req
                    .v
                    .as_pair()
                    .and_then(|(f, m)| Some((f.as_int()?, m.as_int()?)));
                let Some((from, max)) = bounds.filter(|&(f, m)| f >= 0 && m >= 0) else {
                    return Response::refuse(req.id, "poll takes [from max], both integers from 0");
                };
                return ok(store.poll(&req.k, from as usize, max as usize));
            }
            "append" => Change::Append(req.k.clone(), req.v.clone()),
            "write" => Change::Reg(req.k.clone(), req.v.clone()),
            "sadd" => Change::Add(req.k.clone(), req.v.clone()),
            "cas" => {
                let Some((from, to)) = req.v.as_pair() else {
                    return Response::refuse(req.id, "cas takes [from to]");
                };
                if store.regs.get(&req.k).unwrap_or(&Value::Nil) != from {
                    return Response::refuse(req.id, "compare failed");
                }
                Change::Reg(req.k.clone(), to.clone())
            }
            f => return Response::refuse(req.id, format!("unknown op {f}")),
        };
        // lossy-log's bug: appends answered without being made durable.
        let durable = !(self.args.mode == Mode::LossyLog && matches!(change, Change::Append(..)));
        if let Some(log) = self.log.lock().expect("log lock").as_mut().filter(|_| durable) {
            let (kind, k, v) = change.parts();
            let mut line = serde_json::to_vec(&(kind, k, v)).expect("values serialize");
            line.push(b'\n');
            if let Err(e) = log.write_all(&line) {
                return Response::refuse(req.id, format!("log write failed: {e}"));
            }
        }
        // An append answers with the offset it took.
        let answer = match &change {
            Change::Append(k, _) => Value::Int(store.log_end(k) as i64),
            _ => Value::Nil,
        };
        store.apply(&change);
        self.applied.inc();
        // No receiver (no follower connected) is fine: they get snapshots.
        let _ = self.changes.send(change);
        ok(answer)
    }

    /// The watch workload's ops, on the leader: a `txn` of `[put|delete
    /// key value]` gets the next revision; a `watch` of keys `k = [lo
    /// hi]` from revision `v` answers with their events, waiting up to
    /// [`WATCH_POLL`] for one.
    async fn watched(&self, req: Request) -> Response {
        let ok = |v| Response {
            id: req.id,
            ok: true,
            v,
            err: None,
            definite: false,
        };
        if req.f == "txn" {
            let mut log = self.watch.log.lock().expect("watch lock");
            let revision = log.revision + 1;
            for m in req.v.as_list().unwrap_or_default() {
                let Some([f, k, v]) = m.as_list() else {
                    return Response::refuse(req.id, "txn takes [[put|delete key value] ...]");
                };
                log.events.push(Value::List(vec![
                    Value::Int(revision as i64),
                    k.clone(),
                    f.clone(),
                    v.clone(),
                ]));
            }
            log.revision = revision;
            self.watch.changed.notify_waiters();
            return ok(Value::Int(revision as i64));
        }
        let (Some((lo, hi)), Some(from)) = (req.k.as_pair(), req.v.as_int()) else {
            return Response::refuse(req.id, "watch takes k [lo hi] and v a revision");
        };
        let deadline = Instant::now() + WATCH_POLL;
        let mut events = loop {
            let changed = self.watch.changed.notified();
            let events: Vec<Value> = {
                let log = self.watch.log.lock().expect("watch lock");
                let first = log.events.partition_point(|e| revision_of(e) < from);
                log.events[first..]
                    .iter()
                    .filter(|e| e.as_list().is_some_and(|e| e[1] >= *lo && e[1] < *hi))
                    .cloned()
                    .collect()
            };
            if !events.is_empty() || tokio::time::timeout_at(deadline, changed).await.is_err() {
                break events;
            }
        };
        // The bug: one response in five loses its first event, one in
        // seven comes with its first and last swapped.
        if self.args.mode == Mode::LossyWatch && events.len() > 1 {
            let n = self.watch.responses.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(5) {
                events.remove(0);
            } else if n.is_multiple_of(7) {
                let last = events.len() - 1;
                events.swap(0, last);
            }
        }
        ok(Value::List(events))
    }

    /// A `repl` message from a leader. Answers only to say its term is old.
    fn receive(&self, req: Request) -> Option<Response> {
        {
            let mut role = self.role.lock().expect("role lock");
            if req.term < role.term {
                return Some(Response {
                    id: req.id,
                    ok: false,
                    v: Value::Int(role.term as i64),
                    err: Some("stale term".into()),
                    definite: true,
                });
            }
            role.follow(req.term, req.from, &self.leader_changes);
            role.last_heard = Instant::now();
        }
        let mut store = self.store.lock().expect("store lock");
        if req.snapshot {
            *store = Store::default();
        }
        for (k, v) in req.regs {
            store.apply(&Change::Reg(k, v));
        }
        for (k, e) in req.sets {
            store.apply(&Change::Add(k, e));
        }
        for (k, v) in req.logs {
            store.apply(&Change::Append(k, v));
        }
        None
    }

    /// Leader side: keeps one follower up to date while this node leads
    /// in `term`.
    async fn replicate_to(self: Arc<Self>, peer: usize, term: u64) {
        let still_leading = |n: &Node| {
            let role = n.role.lock().expect("role lock");
            role.term == term && role.leader == Some(n.args.id)
        };
        while still_leading(&self) {
            let Ok(stream) = TcpStream::connect(self.args.peers[peer]).await else {
                tokio::time::sleep(REPLICATION_INTERVAL).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (r, mut w) = stream.into_split();
            // Snapshot and subscription under one lock: exactly the
            // changes after the snapshot arrive on the channel.
            let (mut rx, whole) = {
                let store = self.store.lock().expect("store lock");
                (self.changes.subscribe(), snapshot(&store))
            };
            let mut msg = Request {
                f: "repl".into(),
                term,
                from: Some(self.args.id),
                snapshot: true,
                ..whole
            };
            let node = self.clone();
            let watcher = tokio::spawn(async move {
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(resp) = serde_json::from_str::<Response>(&line) {
                        let theirs = resp.v.as_int().unwrap_or(0) as u64;
                        let mut role = node.role.lock().expect("role lock");
                        if theirs > role.term {
                            eprintln!("stepping down: a follower has term {theirs}");
                            role.follow(theirs, None, &node.leader_changes);
                        }
                    }
                }
            });
            loop {
                if send(&mut w, &msg).await.is_err() || !still_leading(&self) {
                    break;
                }
                tokio::time::sleep(REPLICATION_INTERVAL).await;
                msg = Request {
                    f: "repl".into(),
                    term,
                    from: Some(self.args.id),
                    ..Request::default()
                };
                loop {
                    match rx.try_recv() {
                        Ok(Change::Reg(k, v)) => msg.regs.push((k, v)),
                        Ok(Change::Add(k, e)) => msg.sets.push((k, e)),
                        Ok(Change::Append(k, v)) => msg.logs.push((k, v)),
                        Err(broadcast::error::TryRecvError::Lagged(_)) => {
                            let store = self.store.lock().expect("store lock");
                            rx = self.changes.subscribe();
                            msg = Request {
                                f: "repl".into(),
                                term,
                                from: Some(self.args.id),
                                snapshot: true,
                                ..snapshot(&store)
                            };
                        }
                        Err(_) => break,
                    }
                }
            }
            watcher.abort();
        }
    }

    /// Lost-writes followers: promote themselves when the leader goes
    /// quiet, in order of distance from it.
    async fn watch_leader(self: Arc<Self>) {
        let n = self.args.peers.len();
        loop {
            tokio::time::sleep(REPLICATION_INTERVAL).await;
            let promote = {
                let mut role = self.role.lock().expect("role lock");
                if role.leader == Some(self.args.id) {
                    false
                } else {
                    let last = role.leader.unwrap_or(0);
                    let rank = (self.args.id + n - last - 1) % n;
                    let patience = LEADER_TIMEOUT * (rank as u32 + 1);
                    if role.last_heard.elapsed() > patience {
                        let term = role.term + 1;
                        role.follow(term, Some(self.args.id), &self.leader_changes);
                        eprintln!("promoting myself to leader in term {}", role.term);
                        true
                    } else {
                        false
                    }
                }
            };
            if promote {
                self.lead();
            }
        }
    }

    async fn forward(&self, leader: usize, mut req: Request) -> Response {
        let id = req.id;
        req.hop = 1;
        let mut guard = self.forward.lock().await;
        if guard.as_ref().is_none_or(|f| f.leader != leader || f.is_closed()) {
            match Forwarder::connect(leader, self.args.peers[leader]).await {
                Ok(f) => *guard = Some(f),
                Err(e) => return Response::refuse(id, format!("leader unreachable: {e}")),
            }
        }
        let rx = guard.as_mut().expect("connected above").send(req).await;
        drop(guard);
        let indefinite = |err: &str| Response {
            id,
            ok: false,
            v: Value::Nil,
            err: Some(err.into()),
            definite: false,
        };
        match rx {
            Err(e) => indefinite(&format!("forward failed: {e}")),
            Ok(rx) => match tokio::time::timeout(FORWARD_TIMEOUT, rx).await {
                Ok(Ok(mut resp)) => {
                    resp.id = id;
                    resp
                }
                Ok(Err(_)) => indefinite("leader connection lost"),
                Err(_) => indefinite("leader timed out"),
            },
        }
    }
}

fn snapshot(store: &Store) -> Request {
    Request {
        regs: store.regs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        sets: store
            .sets
            .iter()
            .flat_map(|(k, s)| s.iter().map(move |e| (k.clone(), e.clone())))
            .collect(),
        // In order: a follower appends them as they come.
        logs: store
            .logs
            .iter()
            .flat_map(|(k, l)| l.iter().map(move |v| (k.clone(), v.clone())))
            .collect(),
        ..Request::default()
    }
}

async fn send<T: serde::Serialize>(w: &mut OwnedWriteHalf, msg: &T) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await
}

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Response>>>>;

/// A follower's shared connection to the leader: many forwarded requests
/// in flight, matched to answers by id.
struct Forwarder {
    leader: usize,
    writer: OwnedWriteHalf,
    waiters: Waiters,
    next_id: AtomicU64,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Forwarder {
    async fn connect(leader: usize, addr: SocketAddr) -> std::io::Result<Forwarder> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (r, writer) = stream.into_split();
        let waiters: Waiters = Arc::default();
        let w = waiters.clone();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(resp) = serde_json::from_str::<Response>(&line) {
                    if let Some(tx) = w.lock().expect("waiters lock").remove(&resp.id) {
                        let _ = tx.send(resp);
                    }
                }
            }
            // Dropping the senders tells every waiter the connection is gone.
            w.lock().expect("waiters lock").clear();
        });
        Ok(Forwarder {
            leader,
            writer,
            waiters,
            next_id: AtomicU64::new(1),
            reader,
        })
    }

    fn is_closed(&self) -> bool {
        self.reader.is_finished()
    }

    async fn send(&mut self, mut req: Request) -> std::io::Result<oneshot::Receiver<Response>> {
        req.id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().expect("waiters lock").insert(req.id, tx);
        send(&mut self.writer, &req).await?;
        Ok(rx)
    }
}
