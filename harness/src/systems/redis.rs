//! Redis 7 from Debian's `redis-server`: node 1 starts as the primary,
//! the others as its replicas, and every node also runs a Sentinel
//! (quorum 2) that promotes a replica when the primary is unreachable.
//! With a node per namespace or machine, a partition can cut the primary
//! off; on loopback only process faults apply.
//!
//! This setup loses acknowledged writes by design: a primary cut off in a
//! minority keeps accepting writes from its clients while the majority
//! promotes a replica, and rejoins as a replica, discarding them. That is
//! the positive control the set checker must catch.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::Result;
use nemesis::Fault;
use serde::Serialize;
use workloads::redis::{encode, RedisClient};
use workloads::{Client, Workload};

use super::{Context, Flags, LocalLimit, System};
use crate::error::UsageError;
use crate::db::cluster::{Cluster, Daemon, Service};
use crate::node::machines::Machines;
use crate::db::Db;

/// Redis' flags.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct RedisFlags {
    /// Redis: follow every write with WAIT for this many replicas; a
    /// write fewer replicas confirm is indeterminate.
    #[arg(long)]
    pub redis_wait: Option<u32>,
    /// Redis: keep an append-only file, fsynced as this says (`always`:
    /// before each reply; `everysec`; `no`: when the kernel likes).
    /// Without it, no AOF (nor snapshots): a node's data lives in memory
    /// and its replicas.
    #[arg(long, value_enum)]
    pub redis_appendfsync: Option<AppendFsync>,
}

/// `--redis-appendfsync`: Redis' own words.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppendFsync {
    /// Before each reply.
    Always,
    /// Once a second.
    Everysec,
    /// Never; the kernel writes back when it likes.
    No,
}

impl AppendFsync {
    fn word(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::Everysec => "everysec",
            AppendFsync::No => "no",
        }
    }
}

impl Flags for RedisFlags {
    fn system(self, ctx: &Context) -> Result<Box<dyn System>, UsageError> {
        match self.redis_wait {
            Some(n) if n == 0 || n as usize >= ctx.nodes => Err(UsageError(format!(
                "--redis-wait {n}: expected 1 to {} (the replicas of {} nodes)",
                ctx.nodes.saturating_sub(1),
                ctx.nodes
            ))),
            wait => Ok(Box::new(RedisSystem {
                wait,
                aof: self.redis_appendfsync,
            })),
        }
    }
}

/// Redis with Sentinel, configured.
pub struct RedisSystem {
    wait: Option<u32>,
    aof: Option<AppendFsync>,
}

impl System for RedisSystem {
    fn name(&self) -> &'static str {
        "redis"
    }

    /// Redis has no compare-and-set here.
    fn workloads(&self) -> &'static [Workload] {
        &[Workload::Register, Workload::Set]
    }

    fn describe(&self) -> String {
        let wait = match self.wait {
            None => "no WAIT".to_string(),
            Some(n) => format!("writes WAIT for {n} replica{}", if n == 1 { "" } else { "s" }),
        };
        let aof = match self.aof {
            None => "no AOF".to_string(),
            Some(f) => format!("AOF with appendfsync {}", f.word()),
        };
        format!("Redis with Sentinel, {wait}, {aof}")
    }

    fn variant(&self) -> String {
        let mut v = self
            .wait
            .map_or("sentinel".to_string(), |n| format!("sentinel-wait{n}"));
        if let Some(f) = self.aof {
            v += &format!("-aof-{}", f.word());
        }
        v
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::json!({ "redis_wait": self.wait, "redis_appendfsync": self.aof })
    }

    /// Measured on Debian's build.
    fn no_faketime(&self) -> Option<&'static str> {
        Some("redis-server under libfaketime hangs at start (its allocator's clock_gettime recursion)")
    }

    /// Sentinels turn a returning old primary into a replica only at
    /// their 10-second check; a final read before that counts its missing
    /// writes as lost.
    fn recovery(&self) -> Duration {
        Duration::from_secs(12)
    }

    /// Measured here (2 cores): 9 nodes up in 3.1 s, 25 in 5.8 s, 50 in
    /// 10 s; at 100 a Sentinel had not learnt of every peer within 20 s.
    fn local_limit(&self) -> Option<LocalLimit> {
        Some(LocalLimit {
            nodes: 50,
            why: "every node's Sentinel must learn of every replica and every other Sentinel, through \
                  messages each sends every 2 s, before the cluster is up (measured: 50 nodes up in 10 s; \
                  at 100 a Sentinel had not learnt of them all within the 20 s it is given)",
        })
    }

    fn start(&self, machines: Machines, _faults: &[Fault]) -> Result<Box<dyn Db>> {
        Ok(Box::new(Redis::start(machines, self.aof)?))
    }

    fn endpoint(&self, given: &str) -> Result<String, String> {
        super::socket_endpoint(given).map(|a| a.to_string())
    }

    fn client(&self, endpoints: &[String], node: usize, timeout: Duration, _: Workload) -> Result<Box<dyn Client>> {
        let addr = super::socket_endpoint(&endpoints[node]).map_err(anyhow::Error::msg)?;
        Ok(Box::new(RedisClient::new(addr, timeout, self.wait)))
    }
}

/// The server binary.
pub const REDIS: &str = "/usr/bin/redis-server";
/// How long a node may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// What Redis adds to its processes (servers at 0..n, Sentinels at
/// n..2n): the servers' addresses.
pub struct Redis {
    addrs: Vec<SocketAddr>,
}

/// Reads one reply as text: simple, error, integer and bulk strings as
/// they are, arrays as their items one per line.
fn read_text(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let line = line.trim_end();
    match line.split_at(line.len().min(1)) {
        ("+" | "-" | ":", rest) => Some(rest.to_string()),
        ("$", n) => {
            let n: usize = n.parse().ok()?;
            let mut buf = vec![0; n + 2];
            r.read_exact(&mut buf).ok()?;
            Some(String::from_utf8_lossy(&buf[..n]).into_owned())
        }
        ("*", n) => {
            let n: usize = n.parse().ok()?;
            let items: Option<Vec<String>> = (0..n).map(|_| read_text(r)).collect();
            Some(items?.join("\n"))
        }
        _ => None,
    }
}

/// Sends one command and returns its reply as text, for administration:
/// readiness, roles, what a Sentinel knows.
fn admin(addr: SocketAddr, args: &[&str]) -> Option<String> {
    let wait = Duration::from_millis(500);
    let mut s = TcpStream::connect_timeout(&addr, wait).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    s.write_all(&encode(args)).ok()?;
    read_text(&mut BufReader::new(s))
}

/// Whether the Sentinel at `addr` knows `peers` replicas and `peers`
/// other Sentinels: only then can it fail over.
fn sentinel_ready(addr: SocketAddr, peers: usize) -> bool {
    let Some(text) = admin(addr, &["SENTINEL", "MASTER", "fl"]) else {
        return false;
    };
    let fields: Vec<&str> = text.lines().collect();
    let get = |name: &str| {
        fields
            .iter()
            .position(|f| *f == name)
            .and_then(|i| fields.get(i + 1)?.parse::<usize>().ok())
    };
    get("num-slaves") == Some(peers) && get("num-other-sentinels") == Some(peers)
}

impl Redis {
    /// Starts a server and a Sentinel on every node and waits until
    /// every replica is connected to the primary and every Sentinel
    /// knows them all.
    pub fn start(mut m: Machines, aof: Option<AppendFsync>) -> Result<Cluster<Redis>> {
        m.require(REDIS, "redis-server")?;
        // Per node: [server port, Sentinel port]; Redis binds addresses,
        // not names.
        let ports = m.addresses([6379, 26379])?;
        let ips: Vec<IpAddr> = m.nodes.iter().map(|n| n.ip().parse()).collect::<Result<_, _>>()?;
        let count = ips.len();
        let (primary_ip, primary_port) = (ips[0], ports[0].1[0]);
        let mut servers = Vec::with_capacity(count);
        let mut sentinels = Vec::with_capacity(count);
        for (i, (ip, (_, [port, sport]))) in ips.iter().zip(&ports).enumerate() {
            let dir = m.nodes[i].dir().to_path_buf();
            let data = dir.join("data");
            m.data_dir(i, &data)?;
            let node = &mut m.nodes[i];
            let name = node.name().to_string();
            let appendonly = match aof {
                None => "appendonly no\n".to_string(),
                Some(f) => format!("appendonly yes\nappendfsync {}\n", f.word()),
            };
            let mut conf = format!(
                "bind {ip}\nport {port}\nprotected-mode no\ndaemonize no\nset-proc-title no\nsave \"\"\n{appendonly}\
                 dir {}\nrepl-diskless-sync yes\nrepl-diskless-sync-delay 0\nreplica-announce-ip {ip}\n",
                data.display()
            );
            if i > 0 {
                conf += &format!("replicaof {primary_ip} {primary_port}\n");
            }
            let conf_path = dir.join("redis.conf");
            node.write(&conf_path, conf.as_bytes())?;
            // Sentinel rewrites its file as it learns: one per node. Neither
            // process may retitle itself: cleanup recognises a process by
            // its exact command line.
            let sentinel = format!(
                "bind {ip}\nport {sport}\nprotected-mode no\ndaemonize no\nset-proc-title no\ndir {}\n\
                 sentinel announce-ip {ip}\nsentinel monitor fl {primary_ip} {primary_port} 2\n\
                 sentinel down-after-milliseconds fl 1000\nsentinel failover-timeout fl 3000\n\
                 sentinel parallel-syncs fl 1\n",
                dir.display()
            );
            let sentinel_path = dir.join("sentinel.conf");
            node.write(&sentinel_path, sentinel.as_bytes())?;
            servers.push(Daemon::new(
                name.clone(),
                i,
                vec![REDIS.into(), conf_path.display().to_string()],
                dir.join("redis.log"),
            ));
            sentinels.push(Daemon::new(
                format!("{name}-sentinel"),
                i,
                vec![
                    REDIS.into(),
                    sentinel_path.display().to_string(),
                    "--sentinel".into(),
                ],
                dir.join("sentinel.log"),
            ));
        }
        let addrs: Vec<SocketAddr> = ips
            .iter()
            .zip(&ports)
            .map(|(ip, (_, [p, _]))| SocketAddr::new(*ip, *p))
            .collect();
        let sentinel_addrs: Vec<SocketAddr> = ips
            .iter()
            .zip(&ports)
            .map(|(ip, (_, [_, s]))| SocketAddr::new(*ip, *s))
            .collect();
        servers.extend(sentinels);
        let mut c = Cluster::new(m, servers, Redis { addrs })?;
        // Servers first: a Sentinel learns of replicas from the primary's
        // INFO, which it reads only every 10 s once started.
        c.start_all(count, READY_TIMEOUT, "did not answer PING", |redis, i| {
            admin(redis.addrs[i], &["PING"]).as_deref() == Some("PONG")
        })?;
        let want = format!("connected_slaves:{}", count - 1);
        c.wait_until(
            0,
            READY_TIMEOUT,
            "did not see all its replicas connect",
            |redis| admin(redis.addrs[0], &["INFO", "replication"]).is_some_and(|i| i.contains(&want)),
        )?;
        for i in count..count * 2 {
            c.spawn(i)?;
        }
        for (i, addr) in sentinel_addrs.into_iter().enumerate() {
            c.wait_until(
                count + i,
                READY_TIMEOUT,
                "did not learn of every replica and Sentinel",
                |_| sentinel_ready(addr, count - 1),
            )?;
        }
        Ok(c)
    }
}

impl Service for Redis {
    fn endpoint(&self, node: usize) -> String {
        self.addrs[node].to_string()
    }

    /// The servers that call themselves master (more than one in a split).
    fn primaries(&self, running: &[bool]) -> Vec<usize> {
        (0..self.addrs.len())
            .filter(|&i| running[i])
            .filter(|&i| {
                admin(self.addrs[i], &["INFO", "replication"]).is_some_and(|s| s.contains("role:master"))
            })
            .collect()
    }
}
