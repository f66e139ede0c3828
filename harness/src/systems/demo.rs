//! The built-in demo cluster on loopback: real `faultline demo-node`
//! processes, so kill and pause act on them for real. Ports are picked
//! free at start. No network namespaces: network faults are refused.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use nemesis::Fault;
use serde::Serialize;
use workloads::demo::DemoClient;
use workloads::{Client, Workload};

use super::{Context, Flags, MetricsSource, System};
use crate::error::UsageError;
use crate::db::cluster::{Cluster, Daemon, Service};
use crate::node::machines::Machines;
use crate::db::Db;
use crate::demo::node::Mode;

/// The demo cluster's flags.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct DemoFlags {
    /// Demo cluster behaviour: correct, stale-reads, lost-writes, lossy-watch.
    #[arg(long, value_enum, default_value = "correct")]
    pub mode: Mode,
}

impl Flags for DemoFlags {
    fn system(self, ctx: &Context) -> Result<Box<dyn System>, UsageError> {
        if ctx.existing {
            let others: Vec<&str> = (super::SYSTEMS.iter())
                .map(|e| e.name)
                .filter(|&n| n != "demo")
                .collect();
            return Err(UsageError(format!(
                "--endpoints: faultline starts the demo cluster itself; for an existing cluster add --db \
                 with its system ({}), or --client CMD for a database of any kind",
                others.join(", ")
            )));
        }
        Ok(Box::new(DemoSystem { mode: self.mode }))
    }
}

/// The demo cluster, configured.
pub struct DemoSystem {
    mode: Mode,
}

impl System for DemoSystem {
    fn name(&self) -> &'static str {
        "demo"
    }

    fn workloads(&self) -> &'static [Workload] {
        &[
            Workload::Register,
            Workload::CasRegister,
            Workload::Set,
            Workload::Log,
            Workload::Watch,
        ]
    }

    fn describe(&self) -> String {
        format!("the demo cluster, {} mode", self.variant())
    }

    fn variant(&self) -> String {
        serde_json::to_value(self.mode)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::json!({ "mode": self.mode })
    }

    fn refuses(&self, fault: Fault) -> Option<String> {
        match fault {
            Fault::Partition | Fault::Loss => Some(
                "the demo cluster runs on loopback without network namespaces; use --db etcd for network \
                 faults, or --nemesis kill,pause"
                    .into(),
            ),
            f if f.moves_clocks() => {
                Some("the demo cluster does not run under libfaketime; use --db zookeeper".into())
            }
            _ => None,
        }
    }

    fn loopback_only(&self) -> Option<&'static str> {
        Some("the demo cluster runs faultline's own demo-node processes on this machine's loopback")
    }

    /// A demo node answers HTTP on its client port (see `demo::node`).
    fn metrics(&self, endpoint: &str) -> Option<MetricsSource> {
        Some(MetricsSource {
            url: format!("http://{endpoint}/metrics"),
            chosen: &["demo_leader_changes_total", "demo_term", "demo_is_leader", "demo_applied_ops_total"],
        })
    }

    fn start(&self, machines: Machines, _faults: &[Fault]) -> Result<Box<dyn Db>> {
        Ok(Box::new(Demo::start(self.mode, machines)?))
    }

    fn endpoint(&self, _given: &str) -> Result<String, String> {
        Err("another system: the demo cluster is always started by faultline".into())
    }

    fn client(&self, endpoints: &[String], node: usize, timeout: Duration, workload: Workload)
        -> Result<Box<dyn Client>> {
        let addr = super::socket_endpoint(&endpoints[node]).map_err(anyhow::Error::msg)?;
        Ok(Box::new(DemoClient::new(addr, timeout, workload.data())))
    }
}

/// What the demo cluster adds to its processes: their addresses.
pub struct Demo {
    addrs: Vec<SocketAddr>,
}

/// How long a node may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

impl Demo {
    /// Starts a node in `mode` on every (loopback) node, each with its
    /// folder and log in the run folder, and waits until all accept
    /// connections.
    pub fn start(mode: Mode, m: Machines) -> Result<Cluster<Demo>> {
        let exe = std::env::current_exe().context("locating the faultline executable")?;
        let count = m.nodes.len();
        // Hold every port until all are chosen so no two nodes get the same.
        let listeners: Vec<TcpListener> = (0..count)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<_, _>>()?;
        let addrs: Vec<SocketAddr> = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<Result<_, _>>()?;
        drop(listeners);
        let peers = addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
        let mode_name = serde_json::to_value(mode)?
            .as_str()
            .unwrap_or("correct")
            .to_string();
        let daemons = m
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let argv = vec![
                    exe.display().to_string(),
                    "demo-node".into(),
                    "--id".into(),
                    i.to_string(),
                    "--mode".into(),
                    mode_name.clone(),
                    "--peers".into(),
                    peers.clone(),
                    "--dir".into(),
                    n.dir().join("data").display().to_string(),
                ];
                Daemon::new(n.name().to_string(), i, argv, n.dir().join("node.log"))
            })
            .collect();
        let mut cluster = Cluster::new(m, daemons, Demo { addrs })?;
        cluster.start_all(count, READY_TIMEOUT, "did not accept connections", |demo, i| {
            accepts(demo.addrs[i])
        })?;
        Ok(cluster)
    }
}

impl Service for Demo {
    fn endpoint(&self, node: usize) -> String {
        self.addrs[node].to_string()
    }

    /// The leader most running nodes name (a paused node does not answer).
    fn primaries(&self, running: &[bool]) -> Vec<usize> {
        let mut votes = vec![0; self.addrs.len()];
        for (i, addr) in self.addrs.iter().enumerate() {
            if !running[i] {
                continue;
            }
            if let Some(l) = ask_leader(*addr).filter(|&l| l < votes.len()) {
                votes[l] += 1;
            }
        }
        let best = votes.iter().copied().max().unwrap_or(0);
        (0..votes.len())
            .filter(|&i| best > 0 && votes[i] == best)
            .collect()
    }

    /// A restarted demo node is awaited: it serves at once when it runs.
    fn restarted(&self, node: usize) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !accepts(self.addrs[node]) {
            if Instant::now() > deadline {
                bail!(
                    "n{} did not accept connections within {READY_TIMEOUT:?}",
                    node + 1
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// Asks one node whom it follows, giving up after a short wait.
fn ask_leader(addr: SocketAddr) -> Option<usize> {
    use std::io::{BufRead, BufReader, Write};
    let wait = Duration::from_millis(300);
    let mut stream = TcpStream::connect_timeout(&addr, wait).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    stream.write_all(b"{\"f\":\"leader\"}\n").ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    let resp: workloads::demo::Response = serde_json::from_str(&line).ok()?;
    resp.v.as_int().map(|l| l as usize)
}
