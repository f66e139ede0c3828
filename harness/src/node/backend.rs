//! `Backend`: where a run's nodes are — this machine (local namespaces or
//! loopback) or machines over SSH — and how they are reached and checked
//! before anything runs there.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::ssh::{Ssh, SshNode, Target};
use super::{local, Node};
use crate::node::ledger::{self, Registry, RemoteNode};
use crate::node::machines::Machines;
use crate::node::netns::Network;

/// Where a run's nodes are and how they are reached.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "backend", rename_all = "kebab-case")]
pub enum Backend {
    /// This machine: `count` nodes, each in a network namespace of its
    /// own if `namespaces`, else all on loopback.
    Local {
        /// How many nodes.
        count: usize,
        /// Whether each gets a namespace.
        namespaces: bool,
    },
    /// Machines reached over SSH.
    Ssh {
        /// The nodes, in order.
        targets: Vec<Target>,
        /// How they are reached.
        ssh: Ssh,
        /// Where runs keep their folders on the nodes.
        remote_dir: PathBuf,
    },
}

impl Backend {
    /// How many nodes.
    pub fn count(&self) -> usize {
        match self {
            Backend::Local { count, .. } => *count,
            Backend::Ssh { targets, .. } => targets.len(),
        }
    }

    /// The nodes in words, for the opening line.
    pub fn describe(&self) -> String {
        let nodes = match self.count() {
            1 => "1 node".to_string(),
            n => format!("{n} nodes"),
        };
        match self {
            Backend::Local { namespaces: true, .. } => format!("{nodes}, each in its own network namespace"),
            Backend::Local { .. } => format!("{nodes} on loopback: process faults only"),
            Backend::Ssh { targets, ssh, .. } => format!(
                "{nodes} over SSH: {}",
                targets
                    .iter()
                    .map(|t| t.describe(ssh))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Reaches the nodes (each recorded in the state file before
    /// anything is done there) and, with `network_faults`, names
    /// faultline's chain for them. Every node is checked before a
    /// workload starts: reachable, allowed what the faults need.
    pub fn machines(&self, mut registry: Registry, run_dir: &Path, network_faults: bool) -> Result<Machines> {
        let chain = network_faults.then(|| format!("FAULTLINE-{}", run_tag()));
        let nodes_dir = run_dir.join("nodes");
        match self {
            Backend::Local { count, namespaces } => {
                let network =
                    Network::create_if(*namespaces, *count, &mut registry, super::reclaim::reclaim)?;
                let nodes = local::LocalNode::all(*count, network.as_ref(), &nodes_dir)
                    .into_iter()
                    .map(|n| Box::new(n) as Box<dyn Node>)
                    .collect();
                let chain = chain.filter(|_| network.is_some());
                Ok(Machines::new(nodes, registry, network, nodes_dir, chain))
            }
            Backend::Ssh {
                targets,
                ssh,
                remote_dir,
            } => {
                let mut ssh = ssh.clone();
                ssh.control_dir = ledger::ssh_control_dir()?;
                registry.add_scratch(&ssh.control_dir)?;
                // One folder per run on each node, keyed by the node too:
                // test nodes may share a filesystem.
                let part = |p: Option<&Path>| {
                    p.and_then(Path::file_name)
                        .map_or(String::new(), |n| n.to_string_lossy().into_owned())
                };
                let run = format!(
                    "faultline-{}-{}-{}",
                    part(run_dir.parent()),
                    part(Some(run_dir)),
                    run_tag()
                );
                let mut planned = Vec::new();
                for (i, target) in targets.iter().enumerate() {
                    let node = RemoteNode {
                        name: format!("n{}", i + 1),
                        target: target.clone(),
                        ssh: ssh.clone(),
                        dir: remote_dir.join(&run).join(format!("n{}", i + 1)),
                    };
                    registry.add_remote(node.clone())?;
                    planned.push(node);
                }
                // Reach every node at once: a handshake each.
                let reached: Vec<Result<SshNode>> = std::thread::scope(|s| {
                    let handles: Vec<_> = planned
                        .iter()
                        .map(|p| {
                            s.spawn(|| {
                                SshNode::connect(
                                    p.name.clone(),
                                    p.target.clone(),
                                    p.ssh.clone(),
                                    p.dir.clone(),
                                )
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("connect thread"))
                        .collect()
                });
                let mut nodes: Vec<Box<dyn Node>> = Vec::new();
                let mut errors = Vec::new();
                for r in reached {
                    match r {
                        Ok(n) => {
                            if network_faults {
                                if let Err(e) = n.require_root("--nemesis partition/loss") {
                                    errors.push(format!("{e:#}"));
                                }
                            }
                            nodes.push(Box::new(n));
                        }
                        Err(e) => errors.push(format!("{e:#}")),
                    }
                }
                let mut machines = Machines::new(nodes, registry, None, nodes_dir, chain);
                if network_faults && errors.is_empty() {
                    if let Err(e) = machines.require("/usr/sbin/iptables", "iptables") {
                        errors.push(format!("{e:#}"));
                    }
                }
                if !errors.is_empty() {
                    // Dropping the machines leaves the nodes reached.
                    return Err(crate::error::UsageError(errors.join("\n")).into());
                }
                Ok(machines)
            }
        }
    }
}

/// Six characters that tell this run's chain and folders from another's
/// (on a node shared by runs from several machines, PIDs alone may meet).
fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut n = (nanos ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
    (0..6)
        .map(|_| {
            let d = (n % 36) as u8;
            n /= 36;
            (if d < 10 { b'0' + d } else { b'a' + d - 10 }) as char
        })
        .collect()
}
