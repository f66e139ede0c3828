//! A private network for a local cluster: one Linux network namespace per
//! node, joined by veth pairs to a bridge, with addresses from one /24 of
//! 198.18.0.0/15 — the range RFC 2544 reserves for benchmarking, never
//! routed on any real network. The /24 exists only on our bridge and in
//! our namespaces; nothing forwards it anywhere.
//!
//! Faults act inside the nodes' namespaces only (the cluster's chain is
//! created there, through the local node backend). Deleting a namespace
//! deletes its rules and its end of the veth.
//!
//! Every namespace, link and lock is recorded in the run's state file
//! before it is created, so `faultline cleanup` removes exactly these.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::node::ledger::{read_lock, Lock, Owner, Registry, LOCKS};

/// One node's place in the network.
struct NetNode {
    ns: String,
    ip: Ipv4Addr,
}

/// The namespaces, bridge and addresses of one cluster.
pub struct Network {
    bridge: String,
    host_ip: Ipv4Addr,
    nodes: Vec<NetNode>,
    lock: PathBuf,
}

/// Runs a command; an error carries its stderr.
fn run(argv: &[&str]) -> Result<()> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .with_context(|| format!("running {}", argv.join(" ")))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Why namespaces cannot be used here, if they cannot.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some(
            "partitions and packet loss put each node in its own network namespace, which needs root; \
             run faultline as root (or without network faults: --nemesis kill,pause)"
                .into(),
        );
    }
    for tool in ["ip", "iptables"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
            .unwrap_or(false);
        if !found {
            return Some(format!(
                "partitions need `{tool}` (Debian: apt-get install iproute2 iptables); it is not on PATH"
            ));
        }
    }
    None
}

/// A short id for names that must fit in 15 characters.
fn short_id() -> String {
    let mut n = std::process::id();
    let mut s = String::new();
    loop {
        let d = (n % 36) as u8;
        s.push(if d < 10 {
            (b'0' + d) as char
        } else {
            (b'a' + d - 10) as char
        });
        n /= 36;
        if n == 0 {
            return s;
        }
    }
}

/// Takes a free /24: an exclusive lock file per subnet, so concurrent runs
/// never share addresses. Each lock names its owner (PID and start time)
/// and the owner's state file. Free subnets are taken first; only when
/// none is left is a dead owner's lock taken over, after what that run
/// left (its state file lists it) is reclaimed — so a killed run's
/// leftovers wait for `faultline cleanup` rather than vanishing under
/// another run.
fn lock_subnet(state: &Path, reclaim: Reclaim) -> Result<(u8, PathBuf)> {
    std::fs::create_dir_all(LOCKS)?;
    let me = Owner::me();
    let first = (me.pid % 256) as usize;
    let lock = serde_json::to_vec(&Lock {
        owner: me,
        state: state.to_path_buf(),
    })?;
    for take_stale in [false, true] {
        for k in 0..256 {
            let third = ((first + k) % 256) as u8;
            let path = Path::new(LOCKS).join(format!("198.18.{third}.0.lock"));
            if path.exists() {
                match read_lock(&path) {
                    Some(l) if take_stale && !l.owner.alive() => {
                        for line in reclaim(&l.state)? {
                            eprintln!("cleanup: {line}");
                        }
                        let _ = std::fs::remove_file(&path);
                    }
                    _ => continue,
                }
            }
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    f.write_all(&lock)?;
                    return Ok((third, path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
    }
    bail!("every /24 of 198.18.0.0/16 is in use by other faultline runs")
}

/// Removes what a dead run's state file lists (`reclaim::reclaim`),
/// handed in: reclaiming removes namespaces, so it sits above this module.
pub type Reclaim = fn(&Path) -> Result<Vec<String>>;

impl Network {
    /// A namespace per node if `namespaces`, else none (loopback).
    pub fn create_if(
        namespaces: bool,
        count: usize,
        registry: &mut Registry,
        reclaim: Reclaim,
    ) -> Result<Option<Network>> {
        if namespaces {
            Network::create(count, registry, reclaim).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Creates namespaces for `count` nodes, recording each piece first.
    pub fn create(count: usize, registry: &mut Registry, reclaim: Reclaim) -> Result<Network> {
        if let Some(why) = unavailable() {
            bail!(why);
        }
        let (third, lock) = lock_subnet(registry.path(), reclaim)?;
        registry.add_lock(&lock)?;
        let id = short_id();
        let bridge = format!("fl{id}br");
        let host_ip = Ipv4Addr::new(198, 18, third, 254);
        registry.add_link(&bridge)?;
        run(&["ip", "link", "add", &bridge, "type", "bridge"])?;
        run(&["ip", "addr", "add", &format!("{host_ip}/24"), "dev", &bridge])?;
        run(&["ip", "link", "set", &bridge, "up"])?;
        let mut nodes = Vec::with_capacity(count);
        for i in 0..count {
            let ns = format!("faultline-{id}-n{}", i + 1);
            let (host_end, node_end) = (format!("fl{id}h{i}"), format!("fl{id}n{i}"));
            let ip = Ipv4Addr::new(198, 18, third, i as u8 + 1);
            registry.add_namespace(&ns)?;
            run(&["ip", "netns", "add", &ns])?;
            registry.add_link(&host_end)?;
            run(&[
                "ip", "link", "add", &host_end, "type", "veth", "peer", "name", &node_end,
            ])?;
            run(&["ip", "link", "set", &node_end, "netns", &ns])?;
            run(&["ip", "link", "set", &host_end, "master", &bridge])?;
            run(&["ip", "link", "set", &host_end, "up"])?;
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                &node_end,
            ])?;
            run(&["ip", "-n", &ns, "link", "set", &node_end, "up"])?;
            nodes.push(NetNode { ns, ip });
        }
        Ok(Network {
            bridge,
            host_ip,
            nodes,
            lock,
        })
    }

    /// This machine's address on the bridge, as the nodes reach it.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }

    /// Node `i`'s address.
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        self.nodes[i].ip
    }

    /// Node `i`'s namespace.
    pub fn namespace(&self, i: usize) -> &str {
        &self.nodes[i].ns
    }

    /// Deletes the namespaces, bridge and lock, then forgets them.
    pub fn destroy(&mut self, registry: &mut Registry) -> Result<()> {
        let namespaces: Vec<String> = self.nodes.iter().map(|n| n.ns.clone()).collect();
        let errors = remove(
            &namespaces,
            std::slice::from_ref(&self.bridge),
            std::slice::from_ref(&self.lock),
        )
        .into_iter()
        .filter(|l| l.starts_with("could not"))
        .collect::<Vec<_>>();
        if !errors.is_empty() {
            bail!(errors.join("; "));
        }
        self.nodes.clear();
        registry.clear_network()
    }
}

/// Removes namespaces, links and lock files that exist; says what it did.
/// Veths go with their namespace; their host ends are removed if left.
pub fn remove(namespaces: &[String], links: &[String], locks: &[PathBuf]) -> Vec<String> {
    let mut done = Vec::new();
    let exists_ns = |ns: &str| Path::new("/run/netns").join(ns).exists();
    for ns in namespaces.iter().filter(|ns| exists_ns(ns)) {
        match run(&["ip", "netns", "del", ns]) {
            Ok(()) => done.push(format!("deleted network namespace {ns}")),
            Err(e) => done.push(format!("could not delete network namespace {ns}: {e:#}")),
        }
    }
    for link in links {
        if Path::new("/sys/class/net").join(link).exists() {
            match run(&["ip", "link", "del", link]) {
                Ok(()) => done.push(format!("deleted link {link}")),
                Err(e) => done.push(format!("could not delete link {link}: {e:#}")),
            }
        }
    }
    for lock in locks.iter().filter(|l| l.exists()) {
        match std::fs::remove_file(lock) {
            Ok(()) => done.push(format!("removed {}", lock.display())),
            Err(e) => done.push(format!("could not remove {}: {e}", lock.display())),
        }
    }
    done
}
