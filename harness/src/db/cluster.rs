//! `Cluster`: a database faultline started on a set of nodes, whichever
//! backend reaches them. It owns the nodes, the daemons it started on
//! them and the run's state file, and implements every nemesis power and
//! the `Db` protocol once, through the node-control layer; a `Service`
//! says what differs between systems (how to talk to a node, who leads,
//! when a restarted node is back, where its clock offset lives).
//!
//! Every daemon is recorded in the state file before anything relies on
//! it, and stopped only by its own PID.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nemesis::lossyfs::LossyMount;
use nemesis::{Clock, Disk, FaultError, Grudge, Kill, Links, Nodes, Partition, Pause, Powers};
use nix::sys::signal::Signal;

use crate::db::{Db, Reach};
use crate::node::firewall::Firewall;
use crate::node::ledger::{Registry, Started};
use crate::node::machines::Machines;
use crate::node::netns::Network;
use crate::node::proxies::Proxies;
use crate::node::{self, on_each, Node};

/// One daemon on one node.
pub struct Daemon {
    /// Its name in messages (`n1`, `n1-sentinel`).
    pub name: String,
    /// The node it runs on.
    pub node: usize,
    /// Its exact command line; a restart uses the same.
    pub argv: Vec<String>,
    /// Its log on the node (appended across restarts).
    pub log: PathBuf,
    /// Added to its environment (`KEY=VALUE`).
    pub env: Vec<String>,
    /// The user it runs as, if not faultline's.
    pub user: Option<String>,
    /// At teardown: the signal that stops it, and how long it has before
    /// SIGKILL (none: SIGKILL at once).
    pub stop: Option<(Signal, Duration)>,
    /// Other log files it writes, brought into the run folder at the end.
    pub logs: Vec<PathBuf>,
    pid: Option<i32>,
}

impl Daemon {
    /// A daemon not started yet.
    pub fn new(name: String, node: usize, argv: Vec<String>, log: PathBuf) -> Daemon {
        Daemon {
            name,
            node,
            argv,
            log,
            env: Vec::new(),
            user: None,
            stop: None,
            logs: Vec::new(),
            pid: None,
        }
    }

    /// The same, run as `user`.
    pub fn with_user(mut self, user: Option<String>) -> Daemon {
        self.user = user;
        self
    }

    /// The same, with `env` (`KEY=VALUE`) added to its environment.
    pub fn with_env(mut self, env: Vec<String>) -> Daemon {
        self.env = env;
        self
    }

    /// The same, stopped at teardown by `signal`, SIGKILLed after `grace`.
    pub fn with_stop(mut self, stop: Option<(Signal, Duration)>) -> Daemon {
        self.stop = stop;
        self
    }

    /// The same, with other log files it writes.
    pub fn with_logs(mut self, logs: Vec<PathBuf>) -> Daemon {
        self.logs = logs;
        self
    }

    /// Stops it at teardown: its stop signal first, if it has one, then
    /// SIGKILL for what is left after the grace.
    fn stop_on(&self, n: &mut Box<dyn Node>, pid: i32) -> Result<()> {
        if let Some((signal, grace)) = self.stop {
            n.signal(pid, signal)?;
            // A paused daemon must run to act on it.
            n.signal(pid, Signal::SIGCONT)?;
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline && n.runs(pid, &self.argv)? {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        n.stop(pid, &self.argv)?;
        Ok(())
    }
}

/// What a system adds to its daemons.
pub trait Service: Send {
    /// Where a client reaches `node`, in the form `--endpoints` takes.
    fn endpoint(&self, node: usize) -> String;
    /// The nodes acting as primary now, asking only those `running`.
    fn primaries(&self, running: &[bool]) -> Vec<usize>;
    /// Called before node `node` starts again after a crash, with which
    /// nodes run now: may prepare the node and give the command line to
    /// start it with (one that bootstraps, when no other node runs).
    fn restarting(&self, _node: usize, _on: &mut dyn Node, _running: &[bool]) -> Result<Option<Vec<String>>> {
        Ok(None)
    }
    /// Called after node `node` was restarted; may wait until it serves.
    fn restarted(&self, _node: usize) -> Result<()> {
        Ok(())
    }
    /// A script run (as root) on node `node` at teardown, once its
    /// daemons stopped.
    fn teardown_script(&self, _node: usize) -> Option<String> {
        None
    }
    /// The file (on the node) node `node`'s libfaketime reads its clock
    /// offset from, if the system runs under libfaketime.
    fn clock_file(&self, _node: usize) -> Option<&Path> {
        None
    }
}

/// A running cluster.
pub struct Cluster<S: Service> {
    nodes: Vec<Box<dyn Node>>,
    /// The daemons: one per node first (index = node), helpers after.
    daemons: Vec<Daemon>,
    registry: Option<Registry>,
    network: Option<Network>,
    nodes_dir: PathBuf,
    firewall: Option<Firewall>,
    proxies: Option<Proxies>,
    data: Vec<Option<(PathBuf, Option<LossyMount>)>>,
    /// Strobing clocks: node, daemon.
    strobes: Vec<(usize, usize)>,
    /// The system.
    pub service: S,
}

impl<S: Service> Cluster<S> {
    /// A cluster of `daemons` on `machines`, none started yet. Creates
    /// faultline's chain on every node first, if it is wanted.
    pub fn new(mut machines: Machines, daemons: Vec<Daemon>, service: S) -> Result<Cluster<S>> {
        let chain = machines.chain.take();
        let mut c = Cluster {
            nodes: std::mem::take(&mut machines.nodes),
            daemons,
            registry: machines.registry.take(),
            network: machines.network.take(),
            nodes_dir: std::mem::take(&mut machines.nodes_dir),
            firewall: None,
            proxies: machines.proxies.take().filter(|p| !p.is_empty()),
            data: std::mem::take(&mut machines.data),
            strobes: Vec::new(),
            service,
        };
        if let Some(chain) = chain {
            c.registry()?.add_chain(&chain)?;
            c.firewall = Some(Firewall::create(&mut c.nodes, &chain)?);
        }
        Ok(c)
    }

    fn registry(&mut self) -> Result<&mut Registry> {
        self.registry.as_mut().context("the cluster was torn down")
    }

    /// Starts daemon `d` and records it.
    pub fn spawn(&mut self, d: usize) -> Result<()> {
        self.spawn_all(&[d])
    }

    /// Starts daemons `ds` (on all their nodes at once: one remote round
    /// trip each, side by side) and records them.
    fn spawn_all(&mut self, ds: &[usize]) -> Result<()> {
        let mut plan: Vec<Vec<(usize, &Daemon)>> = vec![Vec::new(); self.nodes.len()];
        for &d in ds {
            let daemon = &self.daemons[d];
            if daemon.pid.is_some() {
                bail!("{} is already running", daemon.name);
            }
            plan[daemon.node].push((d, daemon));
        }
        let started = on_each(&mut self.nodes, |i, n| {
            plan[i]
                .iter()
                .map(|&(d, daemon)| {
                    n.spawn(&daemon.argv, &daemon.env, daemon.user.as_deref(), &daemon.log)
                        .map(|pid| (d, pid))
                })
                .collect::<Result<Vec<_>>>()
        });
        let mut first_error = None;
        for (i, r) in started.into_iter().enumerate() {
            match r {
                Ok(pids) => {
                    for (d, pid) in pids {
                        self.daemons[d].pid = Some(pid);
                        let node = &self.nodes[i];
                        let s = Started {
                            pid,
                            argv: self.daemons[d].argv.clone(),
                            node: node.remote().then(|| node.name().to_string()),
                        };
                        self.registry()?.add(s)?;
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops daemon `d` (continuing it first, should it be paused) and
    /// forgets it. Does nothing if it is not running.
    fn stop(&mut self, d: usize) -> Result<()> {
        let Some(pid) = self.daemons[d].pid.take() else {
            return Ok(());
        };
        let daemon = &self.daemons[d];
        self.nodes[daemon.node].stop(pid, &daemon.argv)?;
        let node = self.nodes[daemon.node].name().to_string();
        self.registry()?.remove(&node, pid)
    }

    /// Starts the first `count` daemons, then waits until `ready` holds
    /// for each (at most `timeout` per daemon; `what` says what failed).
    pub fn start_all(
        &mut self,
        count: usize,
        timeout: Duration,
        what: &str,
        ready: impl Fn(&S, usize) -> bool,
    ) -> Result<()> {
        self.spawn_all(&(0..count).collect::<Vec<_>>())?;
        for d in 0..count {
            self.wait_until(d, timeout, what, |s| ready(s, d))?;
        }
        Ok(())
    }

    /// Polls `ready` until it holds, failing if daemon `d` exits or
    /// `timeout` passes; `what` says what was awaited.
    pub fn wait_until(
        &mut self,
        d: usize,
        timeout: Duration,
        what: &str,
        ready: impl Fn(&S) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut next_check = Instant::now();
        while !ready(&self.service) {
            let now = Instant::now();
            if now >= next_check {
                // Asking a remote node costs a round trip: twice a second.
                next_check = now + Duration::from_millis(500);
                let daemon = &self.daemons[d];
                let pid = daemon.pid.context("not started")?;
                if !self.nodes[daemon.node].runs(pid, &daemon.argv)? {
                    self.daemons[d].pid = None;
                    let tail = self.log_tail(d);
                    bail!("{} exited at start{tail}", self.daemons[d].name);
                }
            }
            if now > deadline {
                let tail = self.log_tail(d);
                bail!("{} {what} within {timeout:?}{tail}", self.daemons[d].name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The end of daemon `d`'s log, for an error message.
    fn log_tail(&mut self, d: usize) -> String {
        let daemon = &self.daemons[d];
        let node = &mut self.nodes[daemon.node];
        let place = if node.remote() {
            format!("{}:{}", node.place(), daemon.log.display())
        } else {
            daemon.log.display().to_string()
        };
        let tail = node
            .read(&daemon.log)
            .map(|b| {
                let text = String::from_utf8_lossy(&b).into_owned();
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(5)..].join("\n  ")
            })
            .unwrap_or_default();
        if tail.is_empty() {
            format!("; see {place}")
        } else {
            format!("; the end of {place}:\n  {tail}")
        }
    }

    fn fault(&self, node: usize, action: &'static str, e: anyhow::Error) -> FaultError {
        FaultError {
            action,
            node: self.nodes[node].name().to_string(),
            message: format!("{e:#}"),
        }
    }

    /// Which nodes' daemons run now.
    fn running(&self) -> Vec<bool> {
        (0..self.nodes.len())
            .map(|i| self.daemons[i].pid.is_some())
            .collect()
    }

    fn signal(&mut self, node: usize, signal: Signal, action: &'static str) -> Result<(), FaultError> {
        let Some(pid) = self.daemons[node].pid else {
            return Err(self.fault(node, action, anyhow::anyhow!("not running")));
        };
        let r = self.nodes[node].signal(pid, signal);
        r.map_err(|e| self.fault(node, action, e))
    }
}

/// A network power asked of a cluster started without network faults.
fn no_network(action: &'static str) -> FaultError {
    FaultError {
        action,
        node: "all".into(),
        message: "this cluster was started without network faults".into(),
    }
}

impl<S: Service> Db for Cluster<S> {
    fn reach(&self, node: usize) -> Reach {
        Reach {
            node: self.nodes[node].name().to_string(),
            address: self.nodes[node].host().to_string(),
            endpoint: self.service.endpoint(node),
        }
    }

    /// Each node at once: its daemons stopped, faultline's chain
    /// removed, logs brought home, its folder removed. A node that cannot
    /// be reached keeps the state file, for `faultline cleanup`.
    fn teardown(&mut self) -> Result<()> {
        let Some(registry) = self.registry.take() else {
            return Ok(());
        };
        let mut plan: Vec<Vec<&Daemon>> = vec![Vec::new(); self.nodes.len()];
        for d in &self.daemons {
            plan[d.node].push(d);
        }
        let chain = self.firewall.take().map(|f| f.chain().to_string());
        let nodes_dir = &self.nodes_dir;
        let scripts: Vec<Option<String>> = (0..self.nodes.len())
            .map(|i| self.service.teardown_script(i))
            .collect();
        let done = on_each(&mut self.nodes, |i, n| {
            for d in &plan[i] {
                if let Some(pid) = d.pid {
                    d.stop_on(n, pid)?;
                }
            }
            if let Some(script) = &scripts[i] {
                if let Err(e) = n.run(script, true) {
                    eprintln!("the teardown script on {}: {e:#}", n.name());
                }
            }
            if let Some(chain) = &chain {
                n.iptables(&Firewall::removal(chain), true)?;
            }
            // Logs come home before the node's folder goes.
            for d in &plan[i] {
                for log in std::iter::once(&d.log).chain(&d.logs) {
                    let local = nodes_dir.join(n.name()).join(log.file_name().unwrap_or_default());
                    let r = if n.remote() {
                        n.collect(log, &local)
                    } else if !log.starts_with(nodes_dir) {
                        std::fs::copy(log, &local).map(|_| ()).map_err(Into::into)
                    } else {
                        Ok(())
                    };
                    if let Err(e) = r {
                        eprintln!("collecting {}'s log {}: {e:#}", d.name, log.display());
                    }
                }
            }
            n.finish()
        });
        for d in &mut self.daemons {
            d.pid = None;
        }
        // Unmounted once nothing runs on them.
        self.data.clear();
        let mut errors: Vec<String> = done
            .into_iter()
            .zip(&self.nodes)
            .filter_map(|(r, n)| r.err().map(|e| node::about(&**n, &e)))
            .collect();
        let mut registry = registry;
        if let Some(mut net) = self.network.take() {
            if let Err(e) = net.destroy(&mut registry) {
                errors.push(format!("{e:#}"));
            }
        }
        if !errors.is_empty() {
            // The state file stays, listing everything: `faultline
            // cleanup` finishes the job once it is run.
            bail!(
                "{}; what is left is listed in {} — run `faultline cleanup` once the nodes can be reached",
                errors.join("; "),
                registry.path().display()
            );
        }
        registry.close()
    }
}

/// A panic or an early return must not leave servers, rules or
/// namespaces behind.
impl<S: Service> Drop for Cluster<S> {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("tearing the cluster down: {e:#}");
        }
    }
}

impl<S: Service> Kill for Cluster<S> {
    fn kill(&mut self, node: usize) -> Result<(), FaultError> {
        self.stop(node).map_err(|e| self.fault(node, "kill", e))
    }

    fn start(&mut self, node: usize) -> Result<(), FaultError> {
        let running = self.running();
        let argv = self
            .service
            .restarting(node, &mut *self.nodes[node], &running)
            .map_err(|e| self.fault(node, "start", e))?;
        if let Some(argv) = argv {
            self.daemons[node].argv = argv;
        }
        self.spawn(node).map_err(|e| self.fault(node, "start", e))?;
        self.service
            .restarted(node)
            .map_err(|e| self.fault(node, "start", e))
    }
}

impl<S: Service> Pause for Cluster<S> {
    fn pause(&mut self, node: usize) -> Result<(), FaultError> {
        self.signal(node, Signal::SIGSTOP, "pause")
    }

    fn resume(&mut self, node: usize) -> Result<(), FaultError> {
        self.signal(node, Signal::SIGCONT, "resume")
    }
}

impl<S: Service> Partition for Cluster<S> {
    /// Peer traffic through a proxy reaches a node from this machine,
    /// where its firewall cannot tell peers apart: the proxies cut it.
    fn partition(&mut self, grudge: &Grudge) -> Result<(), FaultError> {
        let f = self.firewall.as_ref().ok_or_else(|| no_network("partition"))?;
        if let Some(p) = &self.proxies {
            p.partition(grudge);
        }
        f.partition(&mut self.nodes, grudge)
    }

    fn lose_packets(&mut self, probability: f64) -> Result<(), FaultError> {
        let f = self.firewall.as_ref().ok_or_else(|| no_network("loss"))?;
        f.lose_packets(&mut self.nodes, probability)
    }

    fn heal_network(&mut self) -> Result<(), FaultError> {
        if let Some(p) = &self.proxies {
            p.heal_partition();
        }
        match &self.firewall {
            Some(f) => f.heal(&mut self.nodes),
            None => Ok(()),
        }
    }
}

impl<S: Service> Links for Cluster<S> {
    fn slow(&mut self, delay: Duration, jitter: Duration) -> Result<(), FaultError> {
        self.proxies
            .as_ref()
            .ok_or_else(|| no_proxies("delay"))?
            .slow(delay, jitter);
        Ok(())
    }

    fn blackhole(&mut self, node: usize) -> Result<(), FaultError> {
        self.proxies
            .as_ref()
            .ok_or_else(|| no_proxies("blackhole"))?
            .blackhole(node);
        Ok(())
    }

    fn heal_links(&mut self) -> Result<(), FaultError> {
        if let Some(p) = &self.proxies {
            p.heal_links();
        }
        Ok(())
    }
}

impl<S: Service> Disk for Cluster<S> {
    fn lose_unsynced(&mut self, node: usize) -> Result<String, FaultError> {
        self.stop(node).map_err(|e| self.fault(node, "kill", e))?;
        let Some((_, Some(mount))) = self.data.get(node).and_then(Option::as_ref) else {
            return Err(self.fault(
                node,
                "lose unsynced",
                anyhow::anyhow!("no lossy filesystem there"),
            ));
        };
        let lost = mount
            .lose_unsynced()
            .map_err(|e| self.fault(node, "lose unsynced", e.into()))?;
        Ok(match lost.files {
            0 => "nothing to lose".into(),
            n => format!(
                "{n} file{} lost data: {} bytes cut, {} bytes put back",
                if n == 1 { "" } else { "s" },
                lost.truncated,
                lost.restored
            ),
        })
    }

    fn corrupt(&mut self, node: usize, seed: u64) -> Result<String, FaultError> {
        let Some((dir, mount)) = self.data.get(node).and_then(Option::as_ref) else {
            return Err(self.fault(
                node,
                "corrupt",
                anyhow::anyhow!("the system keeps no data folder"),
            ));
        };
        // Below a lossy filesystem, so that no later loss undoes it.
        let dir = match mount {
            Some(_) => dir.with_extension("synced"),
            None => dir.clone(),
        };
        self.stop(node).map_err(|e| self.fault(node, "kill", e))?;
        let r = crate::db::corrupt::corrupt(&mut *self.nodes[node], &dir, seed);
        r.map_err(|e| self.fault(node, "corrupt", e))
    }
}

/// A link power asked of a cluster whose links are direct.
fn no_proxies(action: &'static str) -> FaultError {
    FaultError {
        action,
        node: "all".into(),
        message: NO_PROXIES.into(),
    }
}

const NO_PROXIES: &str = "this cluster's links do not go through faultline's proxies";
/// A clock fault on nodes started without libfaketime (the system's own
/// refusal, with its reason, comes first where it has one).
const NO_FAKETIME: &str = "this cluster's nodes do not run under libfaketime";

impl<S: Service> Cluster<S> {
    fn clock_file(&self, node: usize, action: &'static str) -> Result<PathBuf, FaultError> {
        self.service
            .clock_file(node)
            .map(Path::to_path_buf)
            .ok_or_else(|| self.fault(node, action, anyhow::anyhow!(NO_FAKETIME)))
    }

    /// Stops the strobes on `node`'s clock.
    fn stop_strobes(&mut self, node: usize) -> Result<()> {
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.strobes)
            .into_iter()
            .partition(|&(n, _)| n == node);
        self.strobes = others;
        for (_, d) in mine {
            self.stop(d)?;
        }
        Ok(())
    }
}

impl<S: Service> Clock for Cluster<S> {
    fn set_clock(&mut self, node: usize, offset_ms: i64) -> Result<(), FaultError> {
        let file = self.clock_file(node, "set clock")?;
        self.stop_strobes(node)
            .map_err(|e| self.fault(node, "set clock", e))?;
        // libfaketime's offset in seconds, re-read by the node within a
        // second (FAKETIME_CACHE_DURATION).
        let offset = format!("{:+.3}\n", offset_ms as f64 / 1000.0);
        let r = self.nodes[node].write(&file, offset.as_bytes());
        r.map_err(|e| self.fault(node, "set clock", e))
    }

    /// A shell loop on the node rewrites the offset file: a daemon like
    /// any other, recorded and stopped by its PID, so a crashed run's
    /// strobe is stopped by cleanup.
    fn strobe(&mut self, node: usize, delta_ms: i64, period_ms: u64) -> Result<(), FaultError> {
        let file = self.clock_file(node, "strobe clock")?;
        let f = node::quote(&file.display().to_string());
        let period = format!("{:.3}", period_ms as f64 / 1000.0);
        let script = format!(
            "while :; do echo {:+.3} > {f}; sleep {period}; echo +0 > {f}; sleep {period}; done",
            delta_ms as f64 / 1000.0
        );
        let log = self.nodes[node].dir().join("strobe.log");
        let name = format!("{}-strobe", self.nodes[node].name());
        self.daemons.push(Daemon::new(
            name,
            node,
            node::args(&["/bin/sh", "-c", &script]),
            log,
        ));
        let d = self.daemons.len() - 1;
        self.spawn(d).map_err(|e| self.fault(node, "strobe clock", e))?;
        self.strobes.push((node, d));
        Ok(())
    }
}

impl<S: Service> Powers for Cluster<S> {
    fn as_kill(&mut self) -> Result<&mut dyn Kill, String> {
        Ok(self)
    }

    fn as_pause(&mut self) -> Result<&mut dyn Pause, String> {
        Ok(self)
    }

    fn as_partition(&mut self) -> Result<&mut dyn Partition, String> {
        match self.firewall {
            Some(_) => Ok(self),
            None => Err("this cluster was started without network faults".into()),
        }
    }

    fn as_disk(&mut self) -> Result<&mut dyn Disk, String> {
        match self.data.first() {
            Some(Some(_)) => Ok(self),
            _ => Err("this system does not name its data folder to faultline".into()),
        }
    }

    fn as_links(&mut self) -> Result<&mut dyn Links, String> {
        match self.proxies {
            Some(_) => Ok(self),
            None => Err(NO_PROXIES.into()),
        }
    }

    fn as_clock(&mut self) -> Result<&mut dyn Clock, String> {
        match self.service.clock_file(0) {
            Some(_) => Ok(self),
            None => Err(NO_FAKETIME.into()),
        }
    }

    fn primaries(&mut self) -> Vec<usize> {
        let running = self.running();
        self.service.primaries(&running)
    }
}

impl<S: Service> Nodes for Cluster<S> {
    fn count(&self) -> usize {
        self.nodes.len()
    }

    fn name(&self, node: usize) -> String {
        self.nodes[node].name().to_string()
    }
}
