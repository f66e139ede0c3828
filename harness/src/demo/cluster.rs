//! A demo cluster on loopback: real `faultline demo-node` processes, so
//! kill and pause act on them for real. Ports are picked free at start;
//! every process is recorded in the run's state file before it is relied
//! on, and stopped by PID. No network namespaces: partitions are refused.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use workloads::demo::DemoClient;
use workloads::{Client, Workload};

use super::node::Mode;
use crate::cleanup::Registry;
use crate::local::{Local, Service};
use crate::process::{Group, Supervised};

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
    /// Starts `count` nodes in `mode`, each with its folder and log under
    /// `nodes_dir`, and waits until all accept connections.
    pub fn start(mode: Mode, count: usize, nodes_dir: &Path, registry: Registry) -> Result<Local<Demo>> {
        let exe = std::env::current_exe().context("locating the faultline executable")?;
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
        let mut nodes = Vec::with_capacity(count);
        for i in 0..count {
            let name = format!("n{}", i + 1);
            let dir = nodes_dir.join(&name);
            std::fs::create_dir_all(&dir)?;
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
                dir.join("data").display().to_string(),
            ];
            nodes.push(Supervised::new(name, Vec::new(), argv, dir.join("node.log")));
        }
        let mut cluster = Local {
            group: Group::new(nodes, registry),
            network: None,
            count,
            service: Demo { addrs },
        };
        cluster.start_all(READY_TIMEOUT, "did not accept connections", |demo, i| {
            accepts(demo.addrs[i])
        })?;
        Ok(cluster)
    }
}

impl Service for Demo {
    fn client(&self, node: usize, timeout: Duration, workload: Workload) -> Box<dyn Client> {
        Box::new(DemoClient::new(self.addrs[node], timeout, workload.data()))
    }

    /// The leader most running nodes name (a paused node does not answer).
    fn primaries(&self, group: &Group) -> Vec<usize> {
        let mut votes = vec![0; self.addrs.len()];
        for (i, addr) in self.addrs.iter().enumerate() {
            if !group.nodes[i].is_running() {
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
