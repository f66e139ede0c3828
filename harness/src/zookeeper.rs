//! A local ZooKeeper 3.8 ensemble from Debian's `zookeeper` package: one
//! JVM per node running `QuorumPeerMain` straight from the jars in
//! /usr/share/java (no init scripts, small heaps). As root each node lives
//! in its own network namespace, so partitions act for real; otherwise the
//! nodes share loopback with free ports and only process faults apply.
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

use anyhow::{bail, Result};
use workloads::zookeeper::{Reads, ZkClient};
use workloads::{Client, Workload};

use crate::cleanup::Registry;
use crate::local::{node_addresses, require_installed, Local, Service};
use crate::netns::Network;
use crate::process::{Group, Supervised};

/// The JVM.
pub const JAVA: &str = "/usr/bin/java";
/// ZooKeeper's jar; its manifest names the jars it needs.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// A logging backend for slf4j (ZooKeeper logs nothing without one).
const SLF4J_SIMPLE: &str = "/usr/share/java/slf4j-simple.jar";
/// Where Debian's faketime package puts the thread-safe library.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
/// How long a node may take to join a quorum.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What ZooKeeper adds to its processes: where clients connect.
pub struct ZooKeeper {
    clients: Vec<SocketAddr>,
    reads: Reads,
    /// Per node, its libfaketime offset file (empty without clock faults).
    clocks: Vec<PathBuf>,
}

/// Why clock faults cannot run here, if they cannot.
pub fn clock_unavailable() -> Option<String> {
    (!Path::new(LIBFAKETIME).exists())
        .then(|| format!("{LIBFAKETIME} is missing: install Debian's faketime (apt-get install faketime)"))
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
    /// Starts `count` servers and waits until each is a leader or a
    /// follower. With `clock`, under libfaketime.
    pub fn start(
        count: usize,
        nodes_dir: &Path,
        mut registry: Registry,
        namespaces: bool,
        reads: Reads,
        clock: bool,
    ) -> Result<Local<ZooKeeper>> {
        if let (true, Some(why)) = (clock, clock_unavailable()) {
            bail!("{why}");
        }
        for needed in [JAVA, ZOOKEEPER_JAR] {
            require_installed(needed, "zookeeper")?;
        }
        let network = Network::create_if(namespaces, count, &mut registry)?;
        // Per node: host, [client, quorum, election port].
        let hosts = node_addresses(&network, count, [2181, 2888, 3888])?;
        let servers: String = hosts
            .iter()
            .enumerate()
            .map(|(i, (h, [_, q, e]))| format!("server.{}={h}:{q}:{e}\n", i + 1))
            .collect();
        let mut classpath = ZOOKEEPER_JAR.to_string();
        if Path::new(SLF4J_SIMPLE).exists() {
            classpath = format!("{classpath}:{SLF4J_SIMPLE}");
        }
        let mut nodes = Vec::with_capacity(count);
        let mut clients = Vec::with_capacity(count);
        let mut clocks = Vec::new();
        for (i, (host, [port, _, _])) in hosts.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let dir = nodes_dir.join(&name);
            let data = dir.join("data");
            std::fs::create_dir_all(&data)?;
            std::fs::write(data.join("myid"), format!("{}\n", i + 1))?;
            let cfg = format!(
                "tickTime=500\ninitLimit=10\nsyncLimit=4\ndataDir={}\nclientPort={port}\n\
                 clientPortAddress={host}\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,ruok,cons\n\
                 autopurge.purgeInterval=0\n{servers}",
                data.display()
            );
            let cfg_path = dir.join("zoo.cfg");
            std::fs::write(&cfg_path, cfg)?;
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
            let mut wrapper = network.as_ref().map_or_else(Vec::new, |net| net.wrapper(i));
            if clock {
                let file = dir.join("faketime");
                std::fs::write(&file, "+0\n")?;
                // env execs java in place: the PID and command line stay
                // the server's.
                wrapper.extend([
                    "/usr/bin/env".to_string(),
                    format!("LD_PRELOAD={LIBFAKETIME}"),
                    format!("FAKETIME_TIMESTAMP_FILE={}", file.display()),
                    "FAKETIME_CACHE_DURATION=1".to_string(),
                    "FAKETIME_DONT_FAKE_MONOTONIC=1".to_string(),
                    // Measured: with the fix on (glibc's default here) the
                    // JVM's timed waits return at once and ZooKeeper spins.
                    "FAKETIME_FORCE_MONOTONIC_FIX=0".to_string(),
                ]);
                clocks.push(file);
            }
            nodes.push(Supervised::new(name, wrapper, argv, dir.join("zookeeper.log")));
            clients.push(SocketAddr::new(host.parse()?, *port));
        }
        let mut c = Local {
            group: Group::new(nodes, registry),
            network,
            count,
            service: ZooKeeper {
                clients,
                reads,
                clocks,
            },
        };
        c.start_all(READY_TIMEOUT, "did not join a quorum", |zk, i| {
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
    fn client(&self, node: usize, timeout: Duration, workload: Workload) -> Box<dyn Client> {
        let hosts: Vec<String> = match workload {
            Workload::Lock => self.clients.iter().map(|a| a.to_string()).collect(),
            _ => vec![self.clients[node].to_string()],
        };
        Box::new(ZkClient::new(&hosts, timeout, self.reads))
    }

    fn clock_file(&self, node: usize) -> Option<&Path> {
        self.clocks.get(node).map(PathBuf::as_path)
    }

    /// The servers that call themselves leader (`srvr`).
    fn primaries(&self, group: &Group) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|&i| group.nodes[i].is_running())
            .filter(|&i| mode(self.clients[i]).as_deref() == Some("leader"))
            .collect()
    }
}
