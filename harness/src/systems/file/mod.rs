//! A database described in a file (`faultline test --system FILE`): the
//! [`System`] a system file makes, for databases faultline has no module
//! for. [`spec`] reads the file; here its nodes are started as a
//! `Cluster` like any other system's, and its clients are programs that
//! speak the client protocol (`docs/client-protocol.md`).
//!
//! What the file declares decides which faults the run may take: a data
//! folder turns on `lose-unsynced` and `corrupt`, a peer port the proxies
//! (`delay`, `blackhole`), a primary command `--nemesis-targets
//! primary`; a fault whose key is missing is refused before the run, the
//! key named. Commands that ask about the cluster (readiness, the
//! primary) run on this machine, in the file's folder; those that change
//! a node (setup, restart, teardown) run on the node, as root.

pub mod spec;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use nemesis::{Fault, Target};
use serde_json::json;
use workloads::{Client, Workload};

use self::spec::{Node, Ready, Spec, Use, Vars};
use super::System;
use crate::db::cluster::{Cluster, Daemon, Service};
use crate::db::Db;
use crate::error::UsageError;
use crate::node::machines::Machines;
use crate::node::{on_each, resolve};

/// A system file, read.
pub struct FileSystem {
    spec: Arc<Spec>,
    /// The folder the file is in, absolute (commands run there).
    here: PathBuf,
}

impl FileSystem {
    /// Reads and checks `file`.
    pub fn load(file: &Path) -> Result<FileSystem, UsageError> {
        let spec = Spec::load(file)?;
        let here = std::path::absolute(file)
            .ok()
            .and_then(|f| f.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        Ok(FileSystem {
            spec: Arc::new(spec),
            here,
        })
    }
}

impl System for FileSystem {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn workloads(&self) -> &[Workload] {
        &self.spec.workloads
    }

    fn describe(&self) -> String {
        format!("{} (described in {})", self.spec.about, self.spec.file.display())
    }

    fn variant(&self) -> String {
        "file".into()
    }

    fn settings(&self) -> serde_json::Value {
        json!({ "file": self.spec.file })
    }

    /// A fault is refused exactly when the file lacks the key it needs.
    fn refuses(&self, fault: Fault) -> Option<String> {
        let s = &self.spec;
        match fault {
            Fault::Delay | Fault::Blackhole if !s.ports.contains_key("peer") => Some(s.lacks(
                "ports.peer",
                "the port peers connect to, where faultline's proxies stand to delay and hold traffic",
            )),
            Fault::LoseUnsynced | Fault::Corrupt if s.data.is_none() => Some(s.lacks(
                "data",
                "the node's data folder, which faultline mounts to lose unsynced writes and damages to corrupt",
            )),
            Fault::Clock | Fault::Strobe => Some(format!(
                "{}: a system file's nodes do not run under libfaketime, which clock faults need",
                s.file.display()
            )),
            _ => None,
        }
    }

    fn refuses_target(&self, target: Target) -> Option<String> {
        (target == Target::Primary && self.spec.primary.is_none()).then(|| {
            self.spec.lacks(
                "primary",
                "a command that prints the name of the node acting as primary",
            )
        })
    }

    /// The file's `client`, its `{{ here }}` filled in (a command given
    /// with --client replaces it).
    fn client_command(&self) -> Option<String> {
        let t = self.spec.client.as_ref()?;
        let here = self.here.display().to_string();
        let vars = Vars {
            node: None,
            peers: &[],
            here: &here,
            dir: None,
            data: None,
            bootstrap: None,
        };
        // Rendered once when the file was read: it renders.
        self.spec.render(t, &vars, Use::Shell).ok()
    }

    fn start(&self, machines: Machines, _faults: &[Fault]) -> Result<Box<dyn Db>> {
        Ok(Box::new(start(self.spec.clone(), &self.here, machines)?))
    }

    /// The client program interprets it: taken as given.
    fn endpoint(&self, given: &str) -> Result<String, String> {
        Ok(given.to_string())
    }

    fn client(&self, _: &[String], _: usize, _: Duration, _: Workload) -> Result<Box<dyn Client>> {
        bail!("a system file's clients are its client program (`client`, or --client)")
    }
}

/// The file's cluster: its nodes as templates see them.
pub struct FileService {
    spec: Arc<Spec>,
    here: String,
    nodes: Vec<Node>,
    /// Per node: its folder, and its data folder if the file has one.
    dirs: Vec<(PathBuf, Option<String>)>,
    /// What a client is told of each node.
    endpoints: Vec<String>,
    /// Per node: whether its last restart bootstrapped.
    bootstrapping: Vec<AtomicBool>,
}

impl FileService {
    /// The variables of node `i`'s templates.
    fn vars(&self, i: usize, bootstrap: bool) -> Vars<'_> {
        Vars {
            node: Some(&self.nodes[i]),
            peers: &self.nodes,
            here: &self.here,
            dir: Some(self.dirs[i].0.display().to_string()),
            data: self.dirs[i].1.clone(),
            bootstrap: Some(bootstrap),
        }
    }

    /// Whether node `i` serves (one check).
    fn ready(&self, i: usize) -> bool {
        match &self.spec.ready {
            Ready::Port(name) => {
                let node = &self.nodes[i];
                resolve(&node.host).is_ok_and(|ip| {
                    let addr = SocketAddr::new(ip, node.ports[name]);
                    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
                })
            }
            Ready::Command(t) => {
                let ok = self
                    .spec
                    .render(t, &self.vars(i, false), Use::Shell)
                    .is_ok_and(|script| here(&self.here, &script).is_ok_and(|o| o.status.success()));
                if !ok {
                    // A command costs a process: a few a second.
                    std::thread::sleep(Duration::from_millis(200));
                }
                ok
            }
        }
    }
}

/// How long a command run here (readiness, the primary) may take.
const COMMAND_TIMEOUT: &str = "10";

/// Runs `script` on this machine, in `dir`, under `timeout`.
fn here(dir: &str, script: &str) -> std::io::Result<std::process::Output> {
    Command::new("timeout")
        .args(["--kill-after=1", COMMAND_TIMEOUT, "sh", "-c", script])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
}

/// Starts the file's database on `m`: each node's setup, then its daemon,
/// together or one after another, until each serves.
fn start(spec: Arc<Spec>, here: &Path, mut m: Machines) -> Result<Cluster<FileService>> {
    for (path, package) in &spec.requires {
        m.require(path, package)?;
    }
    let defaults: Vec<u16> = spec.ports.values().copied().collect();
    let mut nodes = Vec::new();
    for (i, (host, ports)) in m.addresses_of(&defaults)?.into_iter().enumerate() {
        let ports: std::collections::BTreeMap<String, u16> = spec.ports.keys().cloned().zip(ports).collect();
        let (ch, cp) = m.through_proxy(i, &host, ports["client"])?;
        let peer_addr = match ports.get("peer") {
            Some(&p) => {
                let (ph, pp) = m.through_proxy(i, &host, p)?;
                Some(format!("{ph}:{pp}"))
            }
            None => None,
        };
        nodes.push(Node {
            name: m.nodes[i].name().to_string(),
            id: i + 1,
            index: i,
            host,
            ports,
            client_addr: format!("{ch}:{cp}"),
            peer_addr,
        });
    }
    let mut service = FileService {
        spec: spec.clone(),
        here: here.display().to_string(),
        dirs: m.nodes.iter().map(|n| (n.dir().to_path_buf(), None)).collect(),
        bootstrapping: nodes.iter().map(|_| AtomicBool::new(false)).collect(),
        nodes,
        endpoints: Vec::new(),
    };
    for i in 0..m.nodes.len() {
        if let Some(t) = &spec.data {
            let data = spec.render(t, &service.vars(i, i == 0), Use::Plain)?;
            m.data_dir(i, Path::new(&data))?;
            service.dirs[i].1 = Some(data);
        }
        let endpoint = match &spec.endpoint {
            Some(t) => spec.render(t, &service.vars(i, i == 0), Use::Plain)?,
            None => service.nodes[i].client_addr.clone(),
        };
        service.endpoints.push(endpoint);
    }
    if let Some(t) = &spec.setup {
        let scripts = (0..m.nodes.len())
            .map(|i| spec.render(t, &service.vars(i, i == 0), Use::Shell))
            .collect::<Result<Vec<_>, _>>()?;
        let failed: Vec<String> = on_each(&mut m.nodes, |i, n| n.run(&scripts[i], true))
            .into_iter()
            .zip(&service.nodes)
            .filter_map(|(r, node)| r.err().map(|e| format!("the setup on {}: {e:#}", node.name)))
            .collect();
        if !failed.is_empty() {
            bail!("{}", failed.join("; "));
        }
    }
    let mut daemons = Vec::new();
    for i in 0..m.nodes.len() {
        let vars = service.vars(i, i == 0);
        let argv = spec.argv(&vars)?;
        let env = spec
            .env
            .iter()
            .map(|(k, t)| Ok(format!("{k}={}", spec.render(t, &vars, Use::Plain)?)))
            .collect::<Result<Vec<_>, UsageError>>()?;
        let logs = spec
            .logs
            .iter()
            .map(|t| spec.render(t, &vars, Use::Plain).map(PathBuf::from))
            .collect::<Result<Vec<_>, _>>()?;
        let dir = &service.dirs[i].0;
        daemons.push(
            Daemon::new(
                vars.node.map_or_else(String::new, |n| n.name.clone()),
                i,
                argv,
                dir.join(format!("{}.log", spec.name)),
            )
            .with_env(env)
            .with_user(spec.user.clone())
            .with_stop(spec.stop)
            .with_logs(logs),
        );
    }
    let count = daemons.len();
    let timeout = spec.ready_timeout;
    let mut c = Cluster::new(m, daemons, service)?;
    if spec.sequential {
        for i in 0..count {
            c.spawn(i)?;
            c.wait_until(i, timeout, "did not serve", |s| s.ready(i))?;
        }
    } else {
        c.start_all(count, timeout, "did not serve", |s, i| s.ready(i))?;
    }
    Ok(c)
}

impl Service for FileService {
    fn endpoint(&self, node: usize) -> String {
        self.endpoints[node].clone()
    }

    /// The node the file's `primary` command names, if it runs.
    fn primaries(&self, running: &[bool]) -> Vec<usize> {
        let Some(t) = &self.spec.primary else {
            return Vec::new();
        };
        let vars = Vars {
            node: None,
            peers: &self.nodes,
            here: &self.here,
            dir: None,
            data: None,
            bootstrap: None,
        };
        let Ok(script) = self.spec.render(t, &vars, Use::Shell) else {
            return Vec::new();
        };
        let Ok(out) = here(&self.here, &script) else {
            return Vec::new();
        };
        let said = String::from_utf8_lossy(&out.stdout);
        let name = said.lines().next().unwrap_or("").trim();
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .filter(|&i| running[i])
            .into_iter()
            .collect()
    }

    /// A node started while no other runs bootstraps (every node went
    /// down); the file's `restart` script runs first.
    fn restarting(
        &self,
        node: usize,
        on: &mut dyn crate::node::Node,
        running: &[bool],
    ) -> Result<Option<Vec<String>>> {
        let alone = !running.iter().enumerate().any(|(i, &r)| r && i != node);
        self.bootstrapping[node].store(alone, Ordering::Relaxed);
        let vars = self.vars(node, alone);
        if let Some(t) = &self.spec.restart {
            let script = self.spec.render(t, &vars, Use::Shell)?;
            on.run(&script, true).context("the restart script")?;
        }
        Ok(Some(self.spec.argv(&vars)?))
    }

    /// Waits until a node that bootstrapped serves again: the others
    /// join it. One that joins a running cluster is not awaited (a
    /// joiner may copy the whole state first), so the nemesis, and the
    /// clients that wait on it, go on.
    fn restarted(&self, node: usize) -> Result<()> {
        if !self.bootstrapping[node].load(Ordering::Relaxed) {
            return Ok(());
        }
        let deadline = Instant::now() + self.spec.ready_timeout;
        while !self.ready(node) {
            if Instant::now() > deadline {
                bail!(
                    "did not serve within {:?} of its restart",
                    self.spec.ready_timeout
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn teardown_script(&self, node: usize) -> Option<String> {
        let t = self.spec.teardown.as_ref()?;
        match self.spec.render(t, &self.vars(node, false), Use::Shell) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("{e}");
                None
            }
        }
    }
}
