//! The node-control layer: everything the harness does to one database
//! node — write and read its files, start a daemon and know its PID,
//! signal or stop that PID, change the node's firewall in faultline's own
//! chain — goes through [`Node`]. Two backends implement it: [`local`]
//! (this machine, each node in a network namespace faultline made, or all
//! on loopback) and [`ssh`] (a real machine reached with the system's
//! OpenSSH client).
//!
//! What a node is *for* (which daemon, which ports, when it is ready)
//! belongs to the systems; when to use a power belongs to the nemesis.

pub mod firewall;
pub mod local;
pub mod ssh;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::sys::signal::Signal;
use serde::Serialize;

use crate::cleanup::{self, Registry, RemoteNode};
use crate::cluster::Machines;
use crate::netns::Network;
use ssh::{Ssh, SshNode, Target};

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
        match self {
            Backend::Local {
                count,
                namespaces: true,
            } => format!("{count} nodes, each in its own network namespace"),
            Backend::Local { count, .. } => format!("{count} nodes on loopback: process faults only"),
            Backend::Ssh { targets, ssh, .. } => format!(
                "{} nodes over SSH: {}",
                targets.len(),
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
                let network = Network::create_if(*namespaces, *count, &mut registry)?;
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
                ssh.control_dir = cleanup::ssh_control_dir()?;
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
                    return Err(crate::cli::UsageError(errors.join("\n")).into());
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

/// One machine (or namespace) a database node runs on.
pub trait Node: Send {
    /// The node's name in messages and events (`n1`).
    fn name(&self) -> &str;

    /// The address clients and peers reach it at.
    fn host(&self) -> &str;

    /// The IPv4 address its peers' packets come from, for firewall rules.
    fn ip(&self) -> &str;

    /// Whether the node has its own ports (a namespace or a machine of
    /// its own), so a system may listen on its usual ones; nodes sharing
    /// loopback take free ports instead.
    fn own_ports(&self) -> bool;

    /// The folder this run keeps on the node: configuration, data, logs.
    fn dir(&self) -> &Path;

    /// Whether the node is reached over the network (its files and
    /// processes are not this machine's).
    fn remote(&self) -> bool;

    /// Where the node's backend was reached (`root@10.0.0.1:22`, or
    /// `namespace faultline-x-n1`), for messages.
    fn place(&self) -> String;

    /// Writes a file on the node, creating its folder.
    fn write(&mut self, path: &Path, contents: &[u8]) -> Result<()>;

    /// Reads a file on the node.
    fn read(&mut self, path: &Path) -> Result<Vec<u8>>;

    /// Runs a POSIX shell script on the node — as root if `root` (sudo
    /// where the node's user is not root) — and returns what it printed;
    /// a non-zero exit is an error carrying its error output.
    fn run(&mut self, script: &str, root: bool) -> Result<Vec<u8>>;

    /// Fails, naming the Debian package, if `path` is missing on the node.
    fn require(&mut self, path: &str, package: &str) -> Result<()>;

    /// Starts `argv` as a daemon, with `env` (`KEY=VALUE`) added to its
    /// environment and its output appended to `log`; returns its PID (the
    /// command's own: no shell or `env` stays in between, so its command
    /// line is exactly `argv`).
    fn spawn(&mut self, argv: &[String], env: &[String], log: &Path) -> Result<i32>;

    /// Sends `signal` to `pid`.
    fn signal(&mut self, pid: i32, signal: Signal) -> Result<()>;

    /// Continues and kills `pid` if it still runs exactly `argv`, and
    /// waits until it is gone. Returns whether it was running.
    fn stop(&mut self, pid: i32, argv: &[String]) -> Result<bool>;

    /// Whether `pid` still runs exactly `argv` (a zombie does not).
    fn runs(&mut self, pid: i32, argv: &[String]) -> Result<bool>;

    /// Runs iptables once per argument list, as root, in the node's own
    /// firewall (its namespace, or its machine), stopping at the first
    /// failure unless `keep_going`. A backend sends them together where
    /// it can: one round trip per node.
    fn iptables(&mut self, rules: &[Vec<String>], keep_going: bool) -> Result<()>;

    /// Brings the node's copy of `remote` into `local` (a no-op where
    /// the node writes into the run folder already).
    fn collect(&mut self, remote: &Path, local: &Path) -> Result<()>;

    /// The run is over on this node: removes its folder there (where it
    /// is not inside the run folder) and closes the connection.
    fn finish(&mut self) -> Result<()>;
}

/// `e` as a sentence about node `n`: named once (backend errors name
/// their node already).
pub fn about(n: &dyn Node, e: &anyhow::Error) -> String {
    let said = format!("{e:#}");
    if said.starts_with(&format!("{} (", n.name())) {
        said
    } else {
        format!("{} ({}): {said}", n.name(), n.place())
    }
}

/// Runs `f` on every node at once (a thread each: a remote round trip
/// each, side by side rather than one after another).
pub fn on_each<T: Send>(
    nodes: &mut [Box<dyn Node>],
    f: impl Fn(usize, &mut Box<dyn Node>) -> Result<T> + Sync,
) -> Vec<Result<T>> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter_mut()
            .enumerate()
            .map(|(i, n)| s.spawn(move || f(i, n)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a node thread panicked"))
            .collect()
    })
}

/// The address `host` (a name or an address) resolves to here,
/// IPv4 first: partitions drop packets by source address.
pub fn resolve(host: &str) -> Result<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = (host, 0)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip())
        .with_context(|| format!("{host} resolves to no address"))
}

/// An owned argument list.
pub fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// `s` quoted for a POSIX shell.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A command line quoted for a POSIX shell.
pub fn quote_all<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        let argv = ["/bin/echo", "plain", "two words", "it's", "", "$HOME", "a\"b"];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(quote_all(&argv))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "plain two words it's  $HOME a\"b\n"
        );
        assert_eq!(quote("n1=http://198.18.0.1:2380"), "n1=http://198.18.0.1:2380");
    }
}
