//! `Machines`: the nodes a run will use, reached and recorded, before
//! any database runs there — with what the database layer may ask of
//! them first (data folders, lossy filesystems, proxies, addresses,
//! required files). A `Cluster` (db/) takes them over.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nemesis::lossyfs::LossyMount;

use super::ledger::Registry;
use super::netns::Network;
use super::proxies::Proxies;
use super::{on_each, Node};

/// The nodes a cluster will run on, before anything runs there. Dropped
/// without becoming a `Cluster` (a system failed to start), it gives the
/// nodes up again.
pub struct Machines {
    /// The nodes, in order (`n1` first).
    pub nodes: Vec<Box<dyn Node>>,
    /// The run's state file; `None` once a cluster has it.
    pub(crate) registry: Option<Registry>,
    pub(crate) network: Option<Network>,
    pub(crate) nodes_dir: PathBuf,
    pub(crate) chain: Option<String>,
    pub(crate) proxies: Option<Proxies>,
    /// Whether data folders get a lossy filesystem.
    pub(crate) lossy: bool,
    /// Per node, its data folder and the lossy filesystem there.
    pub(crate) data: Vec<Option<(PathBuf, Option<LossyMount>)>>,
}

impl Machines {
    /// `nodes` recorded in `registry`; `network` is the namespaces the
    /// local backend made, `nodes_dir` the run folder's `nodes/` (where
    /// logs end up), `chain` faultline's iptables chain when network
    /// faults are wanted.
    pub fn new(
        nodes: Vec<Box<dyn Node>>,
        registry: Registry,
        network: Option<Network>,
        nodes_dir: PathBuf,
        chain: Option<String>,
    ) -> Machines {
        Machines {
            nodes,
            registry: Some(registry),
            network,
            nodes_dir,
            chain,
            proxies: None,
            lossy: false,
            data: Vec::new(),
        }
    }

    /// From now on `data_dir` mounts a lossy filesystem there (for
    /// `--nemesis lose-unsynced`): one of faultline's own, in its
    /// process, so only for nodes on this machine.
    pub fn use_lossy_disks(&mut self) -> Result<()> {
        if let Some(n) = self.nodes.iter().find(|n| n.remote()) {
            return Err(crate::error::UsageError(format!(
                "--nemesis lose-unsynced needs nodes on this machine: the filesystem that forgets unsynced writes runs in faultline's own process, and {} is reached over SSH",
                n.name()
            ))
            .into());
        }
        if !nix::unistd::geteuid().is_root() || !Path::new("/dev/fuse").exists() {
            return Err(crate::error::UsageError(
                "--nemesis lose-unsynced mounts a FUSE filesystem: it needs root and /dev/fuse".into(),
            )
            .into());
        }
        self.lossy = true;
        Ok(())
    }

    /// Node `node` keeps its data in `dir` (created here): where
    /// corruption aims, and where a lossy filesystem goes when the run
    /// has them (its files really live in `dir.synced`).
    pub fn data_dir(&mut self, node: usize, dir: &Path) -> Result<()> {
        if self.data.len() < self.nodes.len() {
            self.data.resize_with(self.nodes.len(), || None);
        }
        let mount = if self.lossy {
            let registry = self.registry.as_mut().context("the machines were given up")?;
            registry.add_mount(dir)?;
            let backing = dir.with_extension("synced");
            let m = LossyMount::mount(&backing, dir)
                .with_context(|| format!("mounting a lossy filesystem on {}", dir.display()))?;
            Some(m)
        } else {
            let n = &mut self.nodes[node];
            n.run(
                &format!("mkdir -p {}", super::quote(&dir.display().to_string())),
                false,
            )?;
            None
        };
        self.data[node] = Some((dir.to_path_buf(), mount));
        Ok(())
    }

    /// From now on `through_proxy` puts a proxy of faultline's in front
    /// of the ports a system routes through it (for the link faults).
    /// The proxies live in this process, so only nodes on this machine
    /// can have them.
    pub fn use_proxies(&mut self) -> Result<()> {
        if let Some(n) = self.nodes.iter().find(|n| n.remote()) {
            return Err(crate::error::UsageError(format!(
                "--nemesis delay/blackhole and --proxy need nodes on this machine: faultline's proxies run in its own process, and {} is reached over SSH",
                n.name()
            ))
            .into());
        }
        let listen = match &self.network {
            Some(net) => std::net::IpAddr::V4(net.host_ip()),
            None => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        };
        let sources = self
            .nodes
            .iter()
            .map(|n| super::resolve(n.ip()))
            .collect::<Result<_>>()?;
        self.proxies = Some(Proxies::new(listen, sources));
        Ok(())
    }

    /// Where peers should reach node `node`, and the port it must listen
    /// on there (the same), when proxies are in use and every node has
    /// ports of its own; else None.
    pub fn mirrored_proxy(&mut self, node: usize) -> Result<Option<(String, u16)>> {
        if !self.nodes.iter().all(|n| n.own_ports()) {
            return Ok(None);
        }
        let Some(p) = self.proxies.as_mut() else {
            return Ok(None);
        };
        let addr = p.add_mirrored(node)?;
        Ok(Some((addr.ip().to_string(), addr.port())))
    }

    /// Where clients and peers should reach node `node`'s `port` at
    /// `host`: a new proxy in front of it when proxies are in use, else
    /// the port itself.
    pub fn through_proxy(&mut self, node: usize, host: &str, port: u16) -> Result<(String, u16)> {
        let Some(p) = self.proxies.as_mut() else {
            return Ok((host.to_string(), port));
        };
        let target = std::net::SocketAddr::new(super::resolve(host)?, port);
        let addr = p.add(node, target)?;
        Ok((addr.ip().to_string(), addr.port()))
    }

    /// Each node's host and ports: the system's own `ports` where the
    /// node has a port space of its own, else free ones on loopback.
    pub fn addresses<const N: usize>(&self, ports: [u16; N]) -> Result<Vec<(String, [u16; N])>> {
        Ok(self
            .addresses_of(&ports)?
            .into_iter()
            .map(|(host, p)| (host, p.try_into().expect("as many ports as asked")))
            .collect())
    }

    /// `addresses`, for as many ports as a system file names.
    pub fn addresses_of(&self, ports: &[u16]) -> Result<Vec<(String, Vec<u16>)>> {
        self.nodes
            .iter()
            .map(|n| {
                if n.own_ports() {
                    return Ok((n.host().to_string(), ports.to_vec()));
                }
                let free = ports
                    .iter()
                    .map(|_| Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()))
                    .collect::<Result<_>>()?;
                Ok((n.host().to_string(), free))
            })
            .collect()
    }

    /// The nodes, the state file and the chain's name, for a cluster that
    /// is not started but taken as it is (`existing`).
    pub fn into_parts(mut self) -> (Vec<Box<dyn Node>>, Registry, Option<String>) {
        let registry = self.registry.take().expect("machines not yet given up");
        (std::mem::take(&mut self.nodes), registry, self.chain.take())
    }

    /// Records a folder of this machine for the run to remove at its
    /// end (or `faultline cleanup` after a crash).
    pub fn scratch(&mut self, dir: &std::path::Path) -> Result<()> {
        match self.registry.as_mut() {
            Some(r) => r.add_scratch(dir),
            None => bail!("the machines were given up"),
        }
    }

    /// Fails, naming the node and the package, if `path` is missing on
    /// any node.
    pub fn require(&mut self, path: &str, package: &str) -> Result<()> {
        let errors: Vec<String> = on_each(&mut self.nodes, |_, n| n.require(path, package))
            .into_iter()
            .filter_map(|r| r.err().map(|e| format!("{e:#}")))
            .collect();
        if !errors.is_empty() {
            return Err(crate::error::UsageError(errors.join("\n")).into());
        }
        Ok(())
    }
}

impl Drop for Machines {
    fn drop(&mut self) {
        let Some(mut registry) = self.registry.take() else {
            return;
        };
        for n in &mut self.nodes {
            if let Err(e) = n.finish() {
                eprintln!("leaving {}: {e:#}", n.name());
            }
        }
        if let Some(net) = self.network.as_mut() {
            if let Err(e) = net.destroy(&mut registry) {
                eprintln!("removing the namespaces: {e:#}");
            }
        }
        if let Err(e) = registry.close() {
            eprintln!("{e:#}");
        }
    }
}
