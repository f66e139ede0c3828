//! A demo cluster on loopback: real `faultline demo-node` processes, so
//! kill and pause act on them for real. Ports are picked free at start;
//! every process is recorded in the run's state file before it is relied
//! on, and stopped by PID.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nemesis::{FaultError, Kill, Nodes, Pause, Primaries};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::node::Mode;
use crate::cleanup::{Registry, Started};

struct NodeProc {
    name: String,
    addr: SocketAddr,
    argv: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

/// A running demo cluster.
pub struct DemoCluster {
    nodes: Vec<NodeProc>,
    /// `None` once torn down.
    registry: Option<Registry>,
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
        for (i, addr) in addrs.iter().enumerate() {
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
            nodes.push(NodeProc {
                name,
                addr: *addr,
                argv,
                log: dir.join("node.log"),
                child: None,
            });
        }
        let mut cluster = DemoCluster {
            nodes,
            registry: Some(registry),
        };
        for i in 0..count {
            cluster.spawn(i)?;
        }
        for i in 0..count {
            cluster.wait_ready(i)?;
        }
        Ok(cluster)
    }

    /// Every node's client address, in node order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let node = &mut self.nodes[i];
        if node.child.is_some() {
            bail!("{} is already running", node.name);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        let child = Command::new(&node.argv[0])
            .args(&node.argv[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", node.name))?;
        let started = Started {
            pid: child.id() as i32,
            argv: node.argv.clone(),
        };
        node.child = Some(child);
        self.registry
            .as_mut()
            .context("the cluster was torn down")?
            .add(started)?;
        Ok(())
    }

    fn wait_ready(&mut self, i: usize) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let node = &mut self.nodes[i];
        loop {
            if TcpStream::connect_timeout(&node.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(child) = node.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "{} exited at start ({status}); see {}",
                        node.name,
                        node.log.display()
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not accept connections within {READY_TIMEOUT:?}",
                    node.name
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&mut self, i: usize, sig: Signal, action: &'static str) -> Result<(), FaultError> {
        let node = &self.nodes[i];
        let err = |message: String| FaultError {
            action,
            node: node.name.clone(),
            message,
        };
        let child = node.child.as_ref().ok_or_else(|| err("not running".into()))?;
        kill(Pid::from_raw(child.id() as i32), sig).map_err(|e| err(e.to_string()))
    }

    /// Stops every node (continuing paused ones first) and reaps them,
    /// then deletes the run's state file. Idempotent.
    pub fn teardown(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            self.stop(i)?;
        }
        match self.registry.take() {
            Some(r) => r.close(),
            None => Ok(()),
        }
    }

    /// Kills and reaps node `i` if it runs.
    fn stop(&mut self, i: usize) -> Result<()> {
        let Some(mut child) = self.nodes[i].child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGCONT);
        let _ = kill(pid, Signal::SIGKILL);
        child.wait()?;
        match self.registry.as_mut() {
            Some(r) => r.remove(pid.as_raw()),
            None => Ok(()),
        }
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
        self.stop(node).map_err(|e| FaultError {
            action: "kill",
            node: self.nodes[node].name.clone(),
            message: format!("{e:#}"),
        })
    }

    fn start(&mut self, node: usize) -> Result<(), FaultError> {
        let name = self.nodes[node].name.clone();
        self.spawn(node)
            .and_then(|_| self.wait_ready(node))
            .map_err(|e| FaultError {
                action: "start",
                node: name,
                message: format!("{e:#}"),
            })
    }
}

impl Pause for DemoCluster {
    fn pause(&mut self, node: usize) -> Result<(), FaultError> {
        self.signal(node, Signal::SIGSTOP, "pause")
    }

    fn resume(&mut self, node: usize) -> Result<(), FaultError> {
        self.signal(node, Signal::SIGCONT, "resume")
    }
}

impl Primaries for DemoCluster {
    /// The leader most running nodes name (a paused node does not answer).
    fn primaries(&mut self) -> Vec<usize> {
        let mut votes = vec![0; self.nodes.len()];
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            if let Some(l) = ask_leader(node.addr).filter(|&l| l < votes.len()) {
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
        self.nodes.len()
    }

    fn name(&self, node: usize) -> String {
        self.nodes[node].name.clone()
    }
}
