//! A demo cluster on loopback: real `faultline demo-node` processes, so
//! kill and pause act on them for real. Ports are picked free at start;
//! every process is recorded in the run's state file before it is relied
//! on, and stopped by PID. No network namespaces: partitions are refused.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nemesis::{FaultError, Grudge, Kill, Nodes, Partition, Pause, Primaries};
use workloads::demo::DemoClient;
use workloads::{Client, Workload};

use super::node::Mode;
use crate::cleanup::Registry;
use crate::db::Db;
use crate::process::{Group, Supervised};

/// A running demo cluster.
pub struct DemoCluster {
    group: Group,
    addrs: Vec<SocketAddr>,
}

/// How long a node may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

impl DemoCluster {
    /// Starts `count` nodes in `mode`, each with its folder and log under
    /// `nodes_dir`, and waits until all accept connections.
    pub fn start(mode: Mode, count: usize, nodes_dir: &Path, registry: Registry) -> Result<DemoCluster> {
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
        let mut cluster = DemoCluster {
            group: Group::new(nodes, registry),
            addrs,
        };
        for i in 0..count {
            cluster.group.spawn(i)?;
        }
        for i in 0..count {
            cluster.wait_ready(i)?;
        }
        Ok(cluster)
    }

    fn wait_ready(&mut self, i: usize) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&self.addrs[i], Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            self.group.nodes[i].check_alive()?;
            if Instant::now() > deadline {
                bail!(
                    "{} did not accept connections within {READY_TIMEOUT:?}",
                    self.group.nodes[i].name
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Db for DemoCluster {
    fn client(&self, node: usize, timeout: Duration, workload: Workload) -> Box<dyn Client> {
        Box::new(DemoClient::new(self.addrs[node], timeout, workload.data()))
    }

    fn teardown(&mut self) -> Result<()> {
        self.group.stop_all()?;
        self.group.close()
    }
}

/// A panic or an early return must not leave servers running.
impl Drop for DemoCluster {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("tearing the demo cluster down: {e:#}");
        }
    }
}

impl Kill for DemoCluster {
    fn kill(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.kill(node)
    }

    fn start(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.restart(node)?;
        self.wait_ready(node).map_err(|e| FaultError {
            action: "start",
            node: self.group.nodes[node].name.clone(),
            message: format!("{e:#}"),
        })
    }
}

impl Pause for DemoCluster {
    fn pause(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.pause(node)
    }

    fn resume(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.resume(node)
    }
}

impl Partition for DemoCluster {
    fn partition(&mut self, _grudge: &Grudge) -> Result<(), FaultError> {
        Err(loopback_only("partition"))
    }

    fn lose_packets(&mut self, _probability: f64) -> Result<(), FaultError> {
        Err(loopback_only("loss"))
    }

    fn heal_network(&mut self) -> Result<(), FaultError> {
        Ok(())
    }
}

fn loopback_only(action: &'static str) -> FaultError {
    FaultError {
        action,
        node: "all".into(),
        message: "the demo cluster runs on loopback, without network namespaces".into(),
    }
}

impl Primaries for DemoCluster {
    /// The leader most running nodes name (a paused node does not answer).
    fn primaries(&mut self) -> Vec<usize> {
        let mut votes = vec![0; self.group.nodes.len()];
        for (i, node) in self.group.nodes.iter().enumerate() {
            if !node.is_running() {
                continue;
            }
            if let Some(l) = ask_leader(self.addrs[i]).filter(|&l| l < votes.len()) {
                votes[l] += 1;
            }
        }
        let best = votes.iter().copied().max().unwrap_or(0);
        (0..votes.len())
            .filter(|&i| best > 0 && votes[i] == best)
            .collect()
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

impl Nodes for DemoCluster {
    fn count(&self) -> usize {
        self.group.nodes.len()
    }

    fn name(&self, node: usize) -> String {
        self.group.nodes[node].name.clone()
    }
}
