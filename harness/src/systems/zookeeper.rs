//! A ZooKeeper 3.8 ensemble from Debian's `zookeeper` package: one JVM
//! per node running `QuorumPeerMain` straight from the jars in
//! /usr/share/java (no init scripts, small heaps), on the run's nodes
//! whichever backend reaches them.
//!
//! With the clock fault each JVM runs under libfaketime, its wall clock
//! offset read from a file per node (monotonic time is left alone: the JVM
//! hangs otherwise, and ZooKeeper's timeouts use it).
//!
//! Servers run with `readonlymode.enabled`, so a server cut off from the
//! quorum turns read-only after about 4 s (though no client, this one or
//! ZooKeeper's own, was seen to get a session from it). The stale reads the
//! plain-read control catches come earlier: a cut-off follower answers
//! reads for about 2 s (syncLimit) before it notices. Timeouts are short
//! (tick 500 ms) so failover fits a test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use nemesis::Fault;
use serde::Serialize;
use workloads::zookeeper::{Reads, ZkClient};
use workloads::{Client, Workload};

use super::{Context, Flags, LocalLimit, System};
use crate::error::UsageError;
use crate::db::cluster::{Cluster, Daemon, Service};
use crate::node::machines::Machines;
use crate::db::Db;
use crate::node::resolve;

/// ZooKeeper's flags.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct ZooKeeperFlags {
    /// ZooKeeper reads: sync (sync, then read) or plain (served by any
    /// server as it is; stale during a partition).
    #[arg(long, default_value = "sync", value_parser = super::named(Reads::NAMED))]
    pub zookeeper_reads: Reads,
}


impl Flags for ZooKeeperFlags {
    fn system(self, _ctx: &Context) -> Result<Box<dyn System>, UsageError> {
        Ok(Box::new(ZooKeeperSystem {
            reads: self.zookeeper_reads,
            flags: self,
        }))
    }
}

/// ZooKeeper, configured.
pub struct ZooKeeperSystem {
    flags: ZooKeeperFlags,
    reads: Reads,
}

impl System for ZooKeeperSystem {
    fn name(&self) -> &'static str {
        "zookeeper"
    }

    fn workloads(&self) -> &'static [Workload] {
        &[Workload::Register, Workload::CasRegister, Workload::Lock]
    }

    fn describe(&self) -> String {
        match self.reads {
            Reads::Sync => "ZooKeeper, sync-then-read reads".into(),
            Reads::Plain => "ZooKeeper, plain reads".into(),
        }
    }

    fn variant(&self) -> String {
        match self.reads {
            Reads::Sync => "sync".into(),
            Reads::Plain => "plain".into(),
        }
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::json!(self.flags)
    }

    /// Measured here (2 cores): 9 nodes joined a quorum in 6.5 s, 15 in
    /// 18 s, 25 in 24 s; 50 not within the 60 s.
    fn local_limit(&self) -> Option<LocalLimit> {
        Some(LocalLimit {
            nodes: 25,
            why: "each node is a JVM, and they all start at once on this machine's cores before an \
                  election among them all (measured on 2 cores: 25 nodes joined a quorum in 24 s; 50 not \
                  within the 60 s each node is given)",
        })
    }

    /// Every fault, the clock included: the JVM honours libfaketime.
    fn no_faketime(&self) -> Option<&'static str> {
        None
    }

    fn start(&self, machines: Machines, faults: &[Fault]) -> Result<Box<dyn Db>> {
        let clock = if faults.contains(&Fault::Strobe) {
            Some(Faketime::Uncached)
        } else if faults.contains(&Fault::Clock) {
            Some(Faketime::Cached)
        } else {
            None
        };
        Ok(Box::new(ZooKeeper::start(machines, clock)?))
    }

    fn endpoint(&self, given: &str) -> Result<String, String> {
        super::socket_endpoint(given).map(|_| given.to_string())
    }

    fn client(&self, endpoints: &[String], node: usize, timeout: Duration, workload: Workload)
        -> Result<Box<dyn Client>> {
        // A lock's session may move to any server (its ephemeral nodes
        // live as long as the session); other workloads stay on theirs.
        let hosts = match workload {
            Workload::Lock => endpoints,
            _ => &endpoints[node..=node],
        };
        let hosts = (hosts.iter())
            .map(|e| self.endpoint(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        Ok(Box::new(ZkClient::new(&hosts, timeout, self.reads)))
    }
}

/// The JVM.
pub const JAVA: &str = "/usr/bin/java";
/// ZooKeeper's jar; its manifest names the jars it needs.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// A logging backend for slf4j (ZooKeeper logs nothing without one).
const SLF4J_SIMPLE: &str = "/usr/share/java/slf4j-simple.jar";
/// How a JVM under libfaketime reads its offset file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Faketime {
    /// At most once a second: enough for bumps.
    Cached,
    /// At every reading of the clock: a strobe flips faster than a
    /// second's cache would notice (and could alias with it).
    Uncached,
}

/// Where Debian's faketime package puts the thread-safe library.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
/// How long a node may take to join a quorum.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What ZooKeeper adds to its processes: where clients connect.
pub struct ZooKeeper {
    clients: Vec<SocketAddr>,
    /// Per node, its libfaketime offset file (empty without clock faults).
    clocks: Vec<PathBuf>,
}

/// Sends a four-letter command and returns the answer.
fn four_letters(addr: SocketAddr, word: &str) -> Option<String> {
    let wait = Duration::from_millis(500);
    let mut s = TcpStream::connect_timeout(&addr, wait).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The server's role (`leader`, `follower`, `read-only`), if it serves.
fn mode(addr: SocketAddr) -> Option<String> {
    let srvr = four_letters(addr, "srvr")?;
    let line = srvr.lines().find_map(|l| l.strip_prefix("Mode: "))?;
    Some(line.trim().to_string())
}

impl ZooKeeper {
    /// Starts a server on every node and waits until each is a leader
    /// or a follower. With `clock`, under libfaketime.
    pub fn start(mut m: Machines, clock: Option<Faketime>) -> Result<Cluster<ZooKeeper>> {
        for needed in [JAVA, ZOOKEEPER_JAR] {
            m.require(needed, "zookeeper")?;
        }
        if clock.is_some() {
            m.require(LIBFAKETIME, "faketime")?;
        }
        // Per node: host, [client, quorum, election port].
        let hosts = m.addresses([2181, 2888, 3888])?;
        // A server listens on the ports its own line names, so peers reach
        // it through proxies only where a proxy's port can be the node's
        // too (a namespace each); clients then go through proxies as well.
        let mut servers = String::new();
        let mut proxied = false;
        for (i, (h, [_, q, e])) in hosts.iter().enumerate() {
            match (m.mirrored_proxy(i)?, m.mirrored_proxy(i)?) {
                (Some((ph, pq)), Some((_, pe))) => {
                    proxied = true;
                    servers += &format!("server.{}={ph}:{pq}:{pe}\n", i + 1);
                }
                _ => servers += &format!("server.{}={h}:{q}:{e}\n", i + 1),
            }
        }
        if proxied {
            servers += "quorumListenOnAllIPs=true\n";
        }
        // The logging backend is optional: ask the first node.
        let mut classpath = ZOOKEEPER_JAR.to_string();
        if m.nodes[0].require(SLF4J_SIMPLE, "libslf4j-java").is_ok() {
            classpath = format!("{classpath}:{SLF4J_SIMPLE}");
        }
        let mut daemons = Vec::with_capacity(hosts.len());
        let mut clients = Vec::with_capacity(hosts.len());
        let mut clocks = Vec::new();
        for (i, (host, [port, _, _])) in hosts.iter().enumerate() {
            let node = &mut m.nodes[i];
            let name = node.name().to_string();
            let dir = node.dir().to_path_buf();
            let data = dir.join("data");
            node.write(&data.join("myid"), format!("{}\n", i + 1).as_bytes())?;
            let cfg = format!(
                "tickTime=500\ninitLimit=10\nsyncLimit=4\ndataDir={}\nclientPort={port}\n\
                 clientPortAddress={host}\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,ruok,cons\n\
                 autopurge.purgeInterval=0\n{servers}",
                data.display()
            );
            let cfg_path = dir.join("zoo.cfg");
            node.write(&cfg_path, cfg.as_bytes())?;
            let mut env = Vec::new();
            if let Some(how) = clock {
                let file = dir.join("faketime");
                node.write(&file, b"+0\n")?;
                env.extend([
                    format!("LD_PRELOAD={LIBFAKETIME}"),
                    format!("FAKETIME_TIMESTAMP_FILE={}", file.display()),
                    match how {
                        Faketime::Cached => "FAKETIME_CACHE_DURATION=1".to_string(),
                        Faketime::Uncached => "FAKETIME_NO_CACHE=1".to_string(),
                    },
                    "FAKETIME_DONT_FAKE_MONOTONIC=1".to_string(),
                    // Measured: with the fix on (glibc's default here) the
                    // JVM's timed waits return at once and ZooKeeper spins.
                    "FAKETIME_FORCE_MONOTONIC_FIX=0".to_string(),
                ]);
                clocks.push(file);
            }
            let argv: Vec<String> = [
                    JAVA,
                    "-Xms32m",
                    "-Xmx256m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-Dreadonlymode.enabled=true",
                    // Election connections to a partitioned peer give up fast.
                    "-Dzookeeper.cnxTimeout=500",
                    // Wall-clock stamps: they line up with the history, and
                    // show a bumped clock.
                    "-Dorg.slf4j.simpleLogger.showDateTime=true",
                    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
                    "-cp",
                    &classpath,
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                    &cfg_path.display().to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            daemons.push(Daemon::new(name, i, argv, dir.join("zookeeper.log")).with_env(env));
            let (ch, cp) = if proxied {
                m.through_proxy(i, host, *port)?
            } else {
                (host.clone(), *port)
            };
            clients.push(SocketAddr::new(resolve(&ch)?, cp));
        }
        let count = daemons.len();
        let mut c = Cluster::new(
            m,
            daemons,
            ZooKeeper {
                clients,
                clocks,
            },
        )?;
        c.start_all(count, READY_TIMEOUT, "did not join a quorum", |zk, i| {
            matches!(mode(zk.clients[i]).as_deref(), Some("leader" | "follower"))
        })?;
        Ok(c)
    }
}

impl Service for ZooKeeper {
    /// Register clients talk to their own node only, as in Jepsen: a read
    /// is answered by that server, cut off or not. Lock clients get the
    /// whole ensemble, as lock users deploy them: a session pinned to a
    /// partitioned server expires, and its lock with it.
    fn endpoint(&self, node: usize) -> String {
        self.clients[node].to_string()
    }

    fn clock_file(&self, node: usize) -> Option<&Path> {
        self.clocks.get(node).map(PathBuf::as_path)
    }

    /// The servers that call themselves leader (`srvr`).
    fn primaries(&self, running: &[bool]) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|&i| running[i])
            .filter(|&i| mode(self.clients[i]).as_deref() == Some("leader"))
            .collect()
    }
}
