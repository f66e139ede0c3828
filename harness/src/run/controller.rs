//! The controller: one test run from cluster start to verdict.
//!
//! One tokio task per worker (Jepsen's semantics: a process has one op in
//! flight; after an indeterminate completion the worker continues under a
//! fresh process id, the old one plus the concurrency), one nemesis task
//! on a start/stop schedule, one journal writer. The main phase ends at
//! the time limit or on Ctrl-C; then every fault is healed, the cluster
//! gets time to recover, final reads run, the cluster is torn down, and
//! the recorded history is read back from disk and checked — the same
//! path `faultline analyze` takes.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use checkers::{Function, Op, OpType, Process, Value, Verdict};
use nemesis::{Event, Fault, Nemesis, Schedule, Target};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;
use workloads::client::{Client, Completion, Invocation};
use workloads::external::{External, Open};
use workloads::generator::{Generator, Plan, RateLimit};
use workloads::Workload;

use crate::db::existing::{Existing, Find, Probe};
use crate::db::{Db, Reach};
use crate::error::UsageError;
use crate::node::ledger::Registry;
use crate::node::Backend;
use crate::run::client_pause::{ClientPauses, WithClients};
use crate::run::journal::{Counts, Journal};
use crate::run::metrics::{self, Metrics};
use crate::run::store;
use crate::run::system_metrics::Sampler;
use crate::run::verdicts;
use crate::systems::System;

/// Which cluster a test runs against.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterSpec {
    /// One faultline starts on these nodes.
    Start {
        /// Where the nodes are and how they are reached.
        #[serde(flatten)]
        backend: Backend,
    },
    /// One that runs already.
    Existing {
        /// Its nodes' addresses, in the system client's form.
        endpoints: Vec<String>,
        /// Access to its nodes (node i serves endpoint i), if given.
        access: Option<Access>,
    },
}

/// How faultline reaches the nodes of a cluster it did not start.
#[derive(Clone, Debug, Serialize)]
pub struct Access {
    /// The nodes.
    #[serde(flatten)]
    pub backend: Backend,
    /// How to find the database's process there.
    pub find: Option<Find>,
}

/// Everything one test needs, validated.
#[derive(Clone, Debug, Serialize)]
pub struct TestConfig {
    /// The test's name (the store subfolder).
    pub name: String,
    /// What the clients do.
    #[serde(serialize_with = "display")]
    pub workload: Workload,
    /// The system under test, with its settings.
    #[serde(serialize_with = "system")]
    pub system: Arc<dyn System>,
    /// Where it runs.
    pub cluster: ClusterSpec,
    /// Faults the nemesis injects (every one the schedule names).
    #[serde(serialize_with = "display_list")]
    pub faults: Vec<Fault>,
    /// When: steps taken in turn, each starting its faults together.
    #[serde(serialize_with = "schedule")]
    pub schedule: Schedule,
    /// Which nodes faults hit.
    #[serde(serialize_with = "debug")]
    pub targets: Target,
    /// Length of a fault and of the calm between two.
    pub nemesis_interval: Duration,
    /// Length of the main phase.
    pub time_limit: Duration,
    /// Client workers.
    pub concurrency: usize,
    /// Total invocations per second; `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Per-operation timeout.
    pub op_timeout: Duration,
    /// Wait after healing, before final reads.
    pub recovery: Duration,
    /// Operations on a key before its workers move to a fresh one.
    pub ops_per_key: usize,
    /// Workers of each key's group that only read.
    pub readers_per_key: usize,
    /// For transactional workloads: the models the history must satisfy.
    pub consistency_models: Vec<checkers::txn::Model>,
    /// Seed for the generator and the nemesis.
    pub seed: u64,
    /// The store folder.
    pub store: PathBuf,
    /// Clients and peers go through faultline's proxies.
    pub proxies: bool,
    /// Write the history (off only to measure what writing costs).
    pub journal: bool,
    /// Sample the system's own metrics into `metrics/` (where it has any).
    pub system_metrics: bool,
    /// A client program (`--client`, or the system's own) that makes
    /// every client instead of the system's built-in one.
    pub client: Option<String>,
    /// Where to serve the run's live metrics (`--metrics-listen`).
    pub metrics_listen: Option<SocketAddr>,
}

fn system<S: serde::Serializer>(v: &Arc<dyn System>, s: S) -> Result<S::Ok, S::Error> {
    serde_json::json!({ "name": v.name(), "settings": v.settings() }).serialize(s)
}

fn schedule<S: serde::Serializer>(v: &Schedule, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.describe())
}

fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

fn debug<T: std::fmt::Debug, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:?}").to_lowercase())
}

fn display_list<S: serde::Serializer>(v: &[Fault], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|f| f.to_string()))
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run folder.
    pub dir: PathBuf,
    /// The composed verdict.
    pub verdict: Verdict,
    /// The finding in one sentence.
    pub sentence: String,
    /// Operations completed in the main phase, per second.
    pub ops_per_sec: f64,
    /// A note on the finding, for the last lines (see `verdicts::Judged`).
    pub note: Option<String>,
    /// Whether Ctrl-C or SIGTERM ended the main phase early.
    pub interrupted: bool,
    /// What teardown could not undo (a node out of reach), in words.
    pub left_behind: Option<String>,
}

/// Shared between the controller's tasks.
struct Shared {
    start: Instant,
    journal: Journal,
    stop: AtomicBool,
    stopped: Notify,
    /// What ended the main phase early (`Ctrl-C`, `SIGTERM`), if anything did.
    interrupted: OnceLock<&'static str>,
    cluster: Mutex<Box<dyn Db>>,
    /// The client program, if one makes the clients.
    program: Option<External>,
    nemesis: Mutex<Nemesis>,
    pauses: ClientPauses,
    /// The live metrics, with `--metrics-listen`.
    metrics: Option<Arc<Metrics>>,
}

impl Shared {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn record(
        &self,
        kind: OpType,
        process: Process,
        f: Function,
        key: Option<Value>,
        value: Value,
        error: Option<String>,
    ) -> u64 {
        let time = self.now();
        self.journal.record(Op {
            index: 0,
            time,
            kind,
            process,
            f,
            key,
            value,
            error,
            line: 0,
        });
        time
    }

    fn record_nemesis(&self, e: &Event) {
        let nodes = Value::List(e.nodes.iter().map(|n| Value::from(n.as_str())).collect());
        self.record(
            OpType::Invoke,
            Process::Nemesis,
            e.f.into(),
            None,
            nodes.clone(),
            None,
        );
        // The completion says exactly what was done, for reports to shade.
        let done = Value::List(vec![nodes, Value::from(e.detail.as_str())]);
        self.record(
            OpType::Info,
            Process::Nemesis,
            e.f.into(),
            None,
            done,
            e.error.clone(),
        );
    }

    /// `worker`'s client as `process`: the one place clients are made.
    /// Worker w talks to node w mod n.
    fn client(&self, worker: usize, process: u64, cfg: &TestConfig) -> Box<dyn Client> {
        let cluster = self.cluster.lock().expect("cluster lock");
        let node = worker % cluster.count();
        let endpoints = endpoints(&**cluster);
        let Some(program) = &self.program else {
            return (cfg.system.client(&endpoints, node, cfg.op_timeout, cfg.workload))
                .expect("each node's client was made once the cluster served");
        };
        let Reach {
            node: name,
            address,
            endpoint,
        } = cluster.reach(node);
        program.client(Open {
            process,
            node: name,
            address,
            endpoint,
            endpoints,
            workload: cfg.workload,
            timeout: cfg.op_timeout,
        })
    }

    /// After `done`: the same client, or (after an `info`, or when the
    /// client can take no more) a fresh one as a fresh process, the old
    /// one closed. Whether it was replaced: the old process is gone, with
    /// whatever it held.
    async fn carry_on(
        &self,
        worker: usize,
        process: &mut u64,
        client: &mut Box<dyn Client>,
        done: OpType,
        cfg: &TestConfig,
    ) -> bool {
        let replace = done == OpType::Info || client.spent();
        if replace {
            client.close().await;
            *process += cfg.concurrency as u64;
            *client = self.client(worker, *process, cfg);
        }
        replace
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.stopped.notify_waiters();
    }

    /// Sleeps `d`, or less if the main phase ends meanwhile.
    async fn sleep(&self, d: Duration) {
        let notified = self.stopped.notified();
        if self.stopping() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = notified => {}
        }
    }

    fn heal(&self) {
        self.nemesis_acts(|nemesis, powers| nemesis.heal(powers));
    }

    /// The one place the nemesis acts on the cluster (a start or a heal):
    /// what it did goes to the history, which faults are now in force to
    /// the live metrics.
    fn nemesis_acts(&self, act: impl FnOnce(&mut Nemesis, &mut WithClients) -> Vec<Event>) {
        let mut cluster = self.cluster.lock().expect("cluster lock");
        let mut powers = WithClients {
            db: &mut **cluster,
            clients: &self.pauses,
        };
        let mut nemesis = self.nemesis.lock().expect("nemesis lock");
        for e in &act(&mut nemesis, &mut powers) {
            self.record_nemesis(e);
        }
        if let Some(m) = &self.metrics {
            m.in_force(nemesis.active());
        }
    }
}

/// Performs one operation as `process` and records both ends.
async fn perform(
    shared: &Shared,
    client: &mut Box<dyn Client>,
    process: u64,
    inv: &Invocation,
) -> Completion {
    let p = Process::Client(process);
    let invoked = shared.record(
        OpType::Invoke,
        p,
        inv.f.clone(),
        inv.key.clone(),
        inv.value.clone(),
        None,
    );
    let done = client.invoke(inv).await;
    let completed = shared.record(
        done.kind,
        p,
        inv.f.clone(),
        inv.key.clone(),
        done.value.clone(),
        done.error.clone(),
    );
    if let Some(m) = &shared.metrics {
        m.completed(&inv.f, done.kind, Duration::from_nanos(completed - invoked));
    }
    done
}

/// Why the cluster cannot take the schedule's faults, if it cannot; under
/// `--nemesis all`, what it cannot take is dropped instead, and every
/// fault `all` left out is said once, with its reason.
/// Where each node of `db` serves clients, in `--endpoints`' form.
fn endpoints(db: &dyn Db) -> Vec<String> {
    (0..db.count()).map(|i| db.reach(i).endpoint).collect()
}

fn lacking(db: &mut dyn Db, schedule: &mut Schedule) -> Option<String> {
    if !schedule.all {
        return nemesis::missing(&schedule.faults(), db);
    }
    schedule.leave_out(|f| f.def().needs.lacking(db));
    for line in schedule.left_out_lines() {
        eprintln!("--nemesis all: {line}");
    }
    eprintln!("--nemesis all: {}", schedule.describe());
    None
}

/// Runs one test and checks it.
pub async fn run(cfg: &TestConfig, argv: &[String]) -> Result<RunOutcome> {
    // Bound first: a taken port is refused before anything starts.
    let listener = match cfg.metrics_listen {
        Some(addr) => {
            let listener = metrics::listen(addr).await?;
            eprintln!("live metrics at http://{}/metrics", listener.local_addr()?);
            Some(listener)
        }
        None => None,
    };
    for line in tokio::task::block_in_place(|| crate::node::reclaim::cleanup(false))? {
        eprintln!("cleanup: {line}");
    }
    let dir = store::create_run(&cfg.store, &cfg.name)?;
    let live = listener.map(|l| {
        let stamp = dir.file_name().map(|s| s.to_string_lossy()).unwrap_or_default();
        let m = Arc::new(Metrics::new(&cfg.name, &stamp, cfg.seed, &cfg.faults));
        (m.clone(), metrics::serve(l, m))
    });
    let mut test_json = serde_json::json!({ "command": argv, "config": cfg });
    std::fs::write(dir.join(store::TEST), serde_json::to_vec_pretty(&test_json)?)?;

    let registry = Registry::create(&dir)?;
    let started = std::time::Instant::now();
    let ssh_before = crate::node::ssh::COMMANDS.load(Ordering::Relaxed);
    let mut schedule = cfg.schedule.clone();
    let cluster = tokio::task::block_in_place(|| -> Result<Box<dyn Db>> {
        match &cfg.cluster {
            ClusterSpec::Start { backend } => {
                let network = cfg.faults.iter().any(|f| f.is_network());
                let mut machines = backend.machines(registry, &dir, network)?;
                if cfg.proxies {
                    machines.use_proxies()?;
                }
                if cfg.faults.contains(&Fault::LoseUnsynced) {
                    machines.use_lossy_disks()?;
                }
                let mut db = cfg.system.start(machines, &cfg.faults)?;
                // Asked for by --proxy itself (link faults are checked as
                // powers; under `all` they may simply be dropped).
                let unproxied = (cfg.proxies && !schedule.all)
                    .then(|| db.as_links().err().map(|e| format!("--proxy: {e}")))
                    .flatten();
                if let Some(why) = lacking(&mut *db, &mut schedule).or(unproxied) {
                    db.teardown()?;
                    return Err(UsageError(why).into());
                }
                // Every node's client can be made (the workers make theirs
                // as they go, and could not say why then).
                if cfg.client.is_none() {
                    let endpoints = endpoints(&*db);
                    let made = (0..endpoints.len()).try_for_each(|node| {
                        cfg.system
                            .client(&endpoints, node, cfg.op_timeout, cfg.workload)
                            .map(drop)
                    });
                    if let Err(e) = made {
                        db.teardown()?;
                        return Err(e);
                    }
                }
                Ok(db)
            }
            ClusterSpec::Existing { endpoints, access } => {
                let probe = |node| {
                    cfg.system
                        .client(endpoints, node, Duration::from_secs(5), Workload::Register)
                };
                let existing = Existing::connect(
                    endpoints.clone(),
                    cfg.system.name(),
                    cfg.client.is_none().then_some(&probe as Probe),
                )?;
                let mut db: Box<dyn Db> = match access {
                    None => Box::new(existing.alone(registry)),
                    Some(a) => {
                        let network = cfg.faults.iter().any(|f| f.is_network());
                        let machines = a.backend.machines(registry, &dir, network)?;
                        Box::new(existing.control(machines, a.find.clone())?)
                    }
                };
                if let Some(why) = lacking(&mut *db, &mut schedule) {
                    db.teardown()?;
                    return Err(UsageError(why).into());
                }
                Ok(db)
            }
        }
    })
    .context("starting the cluster");
    let cluster = match cluster {
        Ok(c) => c,
        Err(e) => {
            // No run happened: the folder stays for the node logs the
            // error names, marked so that nothing lists it as a run.
            test_json[store::NOT_STARTED] = serde_json::json!(format!("{e:#}"));
            if let Err(w) = std::fs::write(dir.join(store::TEST), serde_json::to_vec_pretty(&test_json)?) {
                tracing::warn!("marking {} as not started: {w}", dir.display());
            }
            return Err(e);
        }
    };
    store::point_latest(&cfg.store, &dir)?;
    eprintln!("cluster up in {:.2} s", started.elapsed().as_secs_f64());

    let counts = Arc::new(Counts::default());
    let (journal, writer) = Journal::open(&dir.join(store::HISTORY), counts.clone(), cfg.journal)?;
    let shared = Arc::new(Shared {
        start: Instant::now(),
        journal,
        stop: AtomicBool::new(false),
        stopped: Notify::new(),
        interrupted: OnceLock::new(),
        cluster: Mutex::new(cluster),
        program: cfg.client.as_ref().map(|c| External::new(c.as_str(), &dir)),
        nemesis: Mutex::new(Nemesis::with_steps(schedule.steps, cfg.targets, cfg.seed)),
        pauses: ClientPauses::new(cfg.concurrency, cfg.workload, cfg.system.guarded_locks()),
        metrics: live.as_ref().map(|(m, _)| m.clone()),
    });
    let sampler = match cfg.system_metrics {
        true => sample_system(&shared, cfg, &dir)?,
        false => None,
    };
    let progress = tokio::spawn(progress(shared.clone(), counts.clone(), cfg.time_limit));
    let driven = drive(&shared, cfg).await;
    progress.abort();
    if let Some(s) = sampler {
        s.finish().await;
    }
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    // Whatever happened, nothing stays broken and nothing keeps running.
    tokio::task::block_in_place(|| shared.heal());
    shared.journal.close();
    let written = writer.finish().await;
    let teardown_started = std::time::Instant::now();
    let torn_down = tokio::task::block_in_place(|| shared.cluster.lock().expect("cluster lock").teardown());
    eprintln!(
        "cluster torn down in {:.2} s",
        teardown_started.elapsed().as_secs_f64()
    );
    let ssh_commands = crate::node::ssh::COMMANDS.load(Ordering::Relaxed) - ssh_before;
    if ssh_commands > 0 {
        eprintln!("ssh: {ssh_commands} commands, each one round trip on a shared connection");
    }
    let main_elapsed = driven?;
    written?;

    let interrupted = shared.interrupted.get().copied();
    test_json[store::ENDED] = serde_json::json!({
        "interrupted": interrupted.is_some(),
        "by": interrupted,
        "main_phase_s": main_elapsed.as_secs_f64(),
    });
    std::fs::write(dir.join(store::TEST), serde_json::to_vec_pretty(&test_json)?)?;
    // Without the journal (a measurement of its cost) there is no
    // history to judge.
    let judged = match cfg.journal {
        true => verdicts::judge(&dir, cfg.workload)?,
        false => verdicts::Judged {
            verdict: Verdict::Unknown,
            sentence: "the history was not written (--no-journal), so nothing was checked".into(),
            note: None,
        },
    };
    Ok(RunOutcome {
        dir,
        verdict: judged.verdict,
        sentence: judged.sentence,
        left_behind: torn_down.err().map(|e| format!("{e:#}")),
        ops_per_sec: counts.total() as f64 / main_elapsed.as_secs_f64().max(1e-9),
        note: judged.note,
        interrupted: interrupted.is_some(),
    })
}

/// Starts sampling each node's own metrics, where the system has them,
/// reached as its clients reach it.
fn sample_system(shared: &Shared, cfg: &TestConfig, dir: &std::path::Path) -> Result<Option<Sampler>> {
    let nodes: Vec<_> = {
        let cluster = shared.cluster.lock().expect("cluster lock");
        (0..cluster.count())
            .filter_map(|i| {
                let reach = cluster.reach(i);
                cfg.system.metrics(&reach.endpoint).map(|s| (reach.node, s))
            })
            .collect()
    };
    if nodes.is_empty() {
        return Ok(None);
    }
    Sampler::start(dir, nodes, shared.start).map(Some)
}

/// The phases: main (workers and nemesis until the time limit or Ctrl-C),
/// heal, recovery, final ops. Returns the main phase's length (what
/// interrupted it, if anything did, is in `shared`).
async fn drive(shared: &Arc<Shared>, cfg: &TestConfig) -> Result<Duration> {
    let generator = Arc::new(Mutex::new(Generator::new(
        cfg.workload,
        Plan {
            seed: cfg.seed,
            ops_per_key: cfg.ops_per_key,
            readers_per_key: cfg.readers_per_key,
            guarded: cfg.system.guarded_locks(),
            ..Plan::default()
        },
    )));
    let rate = cfg.rate.map(|r| Arc::new(RateLimit::new(r)));
    // SIGTERM (a CI job's timeout, `timeout`, systemd) ends a run as
    // Ctrl-C does: healed and torn down, not abandoned.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let timer = {
        let (shared, limit) = (shared.clone(), cfg.time_limit);
        tokio::spawn(async move {
            let signal = tokio::select! {
                _ = tokio::time::sleep(limit) => None,
                _ = tokio::signal::ctrl_c() => Some(("interrupted", "Ctrl-C")),
                _ = terminate.recv() => Some(("terminated", "SIGTERM")),
            };
            if let Some((what, by)) = signal {
                // Set before the line is written: `progress` looks at it
                // under stderr's lock, so no progress line follows this one.
                let _ = shared.interrupted.set(by);
                // On a terminal the progress line is open: end it first.
                let nl = if std::io::stderr().is_terminal() { "\n" } else { "" };
                eprintln!(
                    "{nl}{what} ({by}): healing faults, tearing the cluster down, checking what was recorded"
                );
            }
            shared.request_stop();
        })
    };
    let processes = Arc::new(Mutex::new((0..cfg.concurrency as u64).collect::<Vec<u64>>()));
    let mut workers = Vec::with_capacity(cfg.concurrency);
    for w in 0..cfg.concurrency {
        let (shared, generator, rate, processes) =
            (shared.clone(), generator.clone(), rate.clone(), processes.clone());
        let cfg = cfg.clone();
        workers.push(tokio::spawn(async move {
            let mut process = w as u64;
            let mut client = shared.client(w, process, &cfg);
            // The last op's outcome goes to the generator with the request
            // for the next: one lock of the shared generator per op.
            let mut last: Option<(Invocation, OpType)> = None;
            while !shared.stopping() {
                let inv = {
                    let mut g = generator.lock().expect("generator lock");
                    if let Some((done, kind)) = last.take() {
                        g.completed(w, &done, kind);
                    }
                    g.next(w)
                };
                if shared
                    .pauses
                    .pause_point(w, &inv, &mut client, || shared.stopping())
                    .await
                    && shared.stopping()
                {
                    break;
                }
                if let Some(rate) = &rate {
                    rate.acquire().await;
                    if shared.stopping() {
                        break;
                    }
                }
                let kind = perform(&shared, &mut client, process, &inv).await.kind;
                // To the generator, a replaced process crashed (an `info`).
                let kind = match shared.carry_on(w, &mut process, &mut client, kind, &cfg).await {
                    true => OpType::Info,
                    false => kind,
                };
                last = Some((inv, kind));
            }
            let closing = {
                let mut g = generator.lock().expect("generator lock");
                if let Some((done, kind)) = last.take() {
                    g.completed(w, &done, kind);
                }
                g.closing_op(w)
            };
            if let Some(inv) = closing {
                let kind = perform(&shared, &mut client, process, &inv).await.kind;
                if kind == OpType::Info || client.spent() {
                    process += cfg.concurrency as u64;
                }
            }
            client.close().await;
            processes.lock().expect("processes lock")[w] = process;
        }));
    }
    let nemesis = (!cfg.faults.is_empty()).then(|| {
        let (shared, interval) = (shared.clone(), cfg.nemesis_interval);
        tokio::spawn(async move {
            while !shared.stopping() {
                shared.sleep(interval).await;
                if shared.stopping() {
                    break;
                }
                tokio::task::block_in_place(|| shared.nemesis_acts(|nemesis, powers| nemesis.start(powers)));
                shared.sleep(interval).await;
                tokio::task::block_in_place(|| shared.heal());
            }
        })
    });
    let mut panicked = None;
    for w in workers {
        if let Err(e) = w.await {
            shared.request_stop();
            panicked = Some(e);
        }
    }
    let main_elapsed = shared.start.elapsed();
    timer.abort();
    if let Some(n) = nemesis {
        if let Err(e) = n.await {
            panicked = Some(e);
        }
    }
    if let Some(e) = panicked {
        return Err(anyhow::anyhow!("a controller task failed: {e}"));
    }
    tokio::task::block_in_place(|| shared.heal());
    if !cfg.faults.is_empty() {
        tokio::time::sleep(cfg.recovery).await;
    }
    final_reads(shared, &generator, cfg, &processes).await;
    Ok(main_elapsed)
}

/// After healing: each worker's final op, retried a few times (each try a
/// new op in the history) so one unlucky timeout does not leave the set
/// unread.
async fn final_reads(
    shared: &Arc<Shared>,
    generator: &Arc<Mutex<Generator>>,
    cfg: &TestConfig,
    processes: &Arc<Mutex<Vec<u64>>>,
) {
    const TRIES: usize = 5;
    let mut tasks = Vec::new();
    for w in 0..cfg.concurrency {
        let Some(inv) = generator.lock().expect("generator lock").final_op(w) else {
            continue;
        };
        let (shared, cfg) = (shared.clone(), cfg.clone());
        let mut process = processes.lock().expect("processes lock")[w];
        tasks.push(tokio::spawn(async move {
            let mut client = shared.client(w, process, &cfg);
            for _ in 0..TRIES {
                let kind = perform(&shared, &mut client, process, &inv).await.kind;
                if kind == OpType::Ok {
                    break;
                }
                shared.carry_on(w, &mut process, &mut client, kind, &cfg).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            client.close().await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// A live progress line on a terminal; a plain line every 5 s otherwise;
/// none once the run is interrupted.
async fn progress(shared: Arc<Shared>, counts: Arc<Counts>, limit: Duration) {
    let terminal = std::io::stderr().is_terminal();
    let every = Duration::from_secs(if terminal { 1 } else { 5 });
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::time::sleep(every).await;
        let total = counts.total();
        let rate = (total - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), total);
        let fault = shared.nemesis.lock().expect("nemesis lock").describe_active();
        let line = progress_line(
            shared.start.elapsed(),
            limit,
            rate,
            &counts,
            fault.as_deref().unwrap_or("none"),
        );
        let mut err = std::io::stderr().lock();
        if shared.interrupted.get().is_some() {
            return;
        }
        let _ = if terminal {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
    }
}

/// One progress line. The clock stops at the limit: past it the run is
/// healing, recovering and reading, not in its main phase.
fn progress_line(elapsed: Duration, limit: Duration, rate: f64, counts: &Counts, fault: &str) -> String {
    format!(
        "[{:>5.1}/{} s] {:>7.0} ops/s  ok {}  fail {}  info {}  fault: {fault}",
        elapsed.min(limit).as_secs_f64(),
        limit.as_secs_f64(),
        rate,
        counts.ok.load(Ordering::Relaxed),
        counts.fail.load(Ordering::Relaxed),
        counts.info.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_clock_never_passes_the_limit() {
        let counts = Counts::default();
        counts.ok.store(7, Ordering::Relaxed);
        let line = progress_line(
            Duration::from_secs(5),
            Duration::from_secs(4),
            12.0,
            &counts,
            "none",
        );
        assert!(line.starts_with("[  4.0/4 s]"), "{line}");
        assert!(line.contains("ok 7"), "{line}");
        let line = progress_line(
            Duration::from_millis(1500),
            Duration::from_secs_f64(2.5),
            0.0,
            &counts,
            "kill n1",
        );
        assert!(
            line.starts_with("[  1.5/2.5 s]") && line.ends_with("fault: kill n1"),
            "{line}"
        );
    }
}
