//! `Local`: a cluster faultline started on this machine — its processes
//! (`Group`), its network namespaces if it has them, and a `Service` that
//! says what differs between systems (how to talk to a node, who leads,
//! when a restarted node is back). Local implements every nemesis power
//! and the `Db` protocol once for the demo, etcd and Redis clusters.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use nemesis::{Clock, FaultError, Grudge, Kill, Nodes, Partition, Pause, Primaries};
use workloads::{Client, Workload};

use crate::db::Db;
use crate::netns::{self, Network};
use crate::process::Group;

/// A free TCP port on loopback, for nodes that share it.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Fails, saying which Debian package provides it, if `path` is missing.
pub fn require_installed(path: &str, package: &str) -> Result<()> {
    if !Path::new(path).exists() {
        anyhow::bail!("{path} is missing: install Debian's {package} (apt-get install {package})");
    }
    Ok(())
}

/// Each node's host and ports: its namespace's address with the system's
/// own `ports` (free by construction), or loopback with free ones.
pub fn node_addresses<const N: usize>(
    network: &Option<Network>,
    count: usize,
    ports: [u16; N],
) -> Result<Vec<(String, [u16; N])>> {
    (0..count)
        .map(|i| match network {
            Some(net) => Ok((net.ip(i).to_string(), ports)),
            None => {
                let mut free = [0; N];
                for p in &mut free {
                    *p = free_port()?;
                }
                Ok(("127.0.0.1".to_string(), free))
            }
        })
        .collect()
}

/// What a system adds to its processes.
pub trait Service: Send {
    /// A client of `node` for one process.
    fn client(&self, node: usize, timeout: Duration, workload: Workload) -> Box<dyn Client>;
    /// The nodes acting as primary now.
    fn primaries(&self, group: &Group) -> Vec<usize>;
    /// Called after node `node` was restarted; may wait until it serves.
    fn restarted(&self, _node: usize) -> Result<()> {
        Ok(())
    }
    /// The file node `node`'s libfaketime reads its clock offset from, if
    /// the system runs under libfaketime.
    fn clock_file(&self, _node: usize) -> Option<&Path> {
        None
    }
}

/// A running local cluster.
pub struct Local<S: Service> {
    /// The processes: the `count` nodes first, helpers (Sentinels) after.
    pub group: Group,
    /// The namespaces, when the nodes have them.
    pub network: Option<Network>,
    /// Nodes (the processes faults act on).
    pub count: usize,
    /// The system.
    pub service: S,
}

impl<S: Service> Local<S> {
    /// Starts the `count` nodes, then waits until `ready` holds for each
    /// (at most `timeout` per node; `what` says what it failed to do).
    pub fn start_all(
        &mut self,
        timeout: Duration,
        what: &str,
        ready: impl Fn(&S, usize) -> bool,
    ) -> Result<()> {
        for i in 0..self.count {
            self.group.spawn(i)?;
        }
        for i in 0..self.count {
            let service = &self.service;
            self.group.wait_until(i, timeout, what, || ready(service, i))?;
        }
        Ok(())
    }
}

impl<S: Service> Db for Local<S> {
    fn client(&self, node: usize, timeout: Duration, workload: Workload) -> Box<dyn Client> {
        self.service.client(node, timeout, workload)
    }

    fn teardown(&mut self) -> Result<()> {
        self.group.stop_all()?;
        if let (Some(net), Some(reg)) = (self.network.as_mut(), self.group.registry()) {
            net.destroy(reg)?;
        }
        self.network = None;
        self.group.close()
    }
}

/// A panic or an early return must not leave servers or namespaces behind.
impl<S: Service> Drop for Local<S> {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("tearing the cluster down: {e:#}");
        }
    }
}

impl<S: Service> Kill for Local<S> {
    fn kill(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.kill(node)
    }

    fn start(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.restart(node)?;
        self.service.restarted(node).map_err(|e| FaultError {
            action: "start",
            node: self.group.nodes[node].name.clone(),
            message: format!("{e:#}"),
        })
    }
}

impl<S: Service> Pause for Local<S> {
    fn pause(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.pause(node)
    }

    fn resume(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.resume(node)
    }
}

impl<S: Service> Partition for Local<S> {
    fn partition(&mut self, grudge: &Grudge) -> Result<(), FaultError> {
        netns::require(&self.network, "partition")?.partition(grudge)
    }

    fn lose_packets(&mut self, probability: f64) -> Result<(), FaultError> {
        netns::require(&self.network, "loss")?.lose_packets(probability)
    }

    fn heal_network(&mut self) -> Result<(), FaultError> {
        netns::heal(&self.network)
    }
}

impl<S: Service> Clock for Local<S> {
    fn set_clock(&mut self, node: usize, offset_ms: i64) -> Result<(), FaultError> {
        let failed = |message: String| FaultError {
            action: "set clock",
            node: self.group.nodes[node].name.clone(),
            message,
        };
        let file = self.service.clock_file(node).ok_or_else(|| {
            failed("this cluster does not run under libfaketime (only ZooKeeper's JVMs do)".into())
        })?;
        // libfaketime's offset in seconds, re-read by the node within a
        // second (FAKETIME_CACHE_DURATION).
        std::fs::write(file, format!("{:+.3}\n", offset_ms as f64 / 1000.0))
            .map_err(|e| failed(format!("{}: {e}", file.display())))
    }
}

impl<S: Service> Primaries for Local<S> {
    fn primaries(&mut self) -> Vec<usize> {
        self.service.primaries(&self.group)
    }
}

impl<S: Service> Nodes for Local<S> {
    fn count(&self) -> usize {
        self.count
    }

    fn name(&self, node: usize) -> String {
        self.group.nodes[node].name.clone()
    }
}
