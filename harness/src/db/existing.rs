//! An existing cluster, given by its endpoints: faultline runs the
//! workload and the checker against it but did not start it. Without
//! access to its nodes it has no powers — no nemesis, and the output says
//! so. With SSH access to them (endpoint i on node i) it can partition
//! them, and pause or kill the database's process, found by a PID file
//! or its name; a killed process is started again as it ran (its command
//! line, folder, user and environment, read before the kill) unless a
//! service manager already has. Every process it disturbs is recorded
//! first, so `faultline cleanup` can put it back. Every endpoint must
//! answer a read before the test starts, unless a client program
//! (`--client`) makes the clients: then its `open` is the first contact.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use checkers::{Function, OpType, Value};
use nemesis::{Clock, FaultError, Grudge, Kill, Nodes, Partition, Pause, Powers};
use serde::Serialize;
use workloads::{Client, Invocation};

use crate::db::{Db, Reach};
use crate::error::UsageError;
use crate::node::firewall::Firewall;
use crate::node::ledger::{Disturbed, Registry};
use crate::node::machines::Machines;
use crate::node::process::{capture, settle};
use crate::node::{on_each, quote, Node};

/// A client of node i, for the probe that every node answers a read.
pub type Probe<'a> = &'a dyn Fn(usize) -> Result<Box<dyn Client>>;

/// A cluster faultline did not start.
pub struct Existing {
    endpoints: Vec<String>,
    /// The system's name, for messages.
    system: String,
    /// The state file, when faultline has no access to the nodes.
    registry: Option<Registry>,
    /// Access to the nodes, if given.
    control: Option<Control>,
}

impl Existing {
    /// Checks that every endpoint answers a read before the test starts
    /// (with the system's client, if it has one here); then `alone` or
    /// `control` says what else faultline has.
    /// `probe` makes a client of node i (the system's, handed down by the
    /// layer that knows the system: systems sit above this one).
    pub fn connect(endpoints: Vec<String>, system: &str, probe: Option<Probe>) -> Result<Existing> {
        let cluster = Existing {
            endpoints,
            system: system.to_string(),
            registry: None,
            control: None,
        };
        let Some(client_of) = probe else {
            return Ok(cluster);
        };
        // A read of a key no workload uses: it changes nothing anywhere.
        let probe = Invocation {
            f: Function::Read,
            key: Some(Value::Int(-1)),
            value: Value::Nil,
        };
        // A server still starting refuses connections for a moment: each
        // endpoint gets a few seconds to answer.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        for (i, endpoint) in cluster.endpoints.iter().enumerate() {
            let mut client = client_of(i)?;
            loop {
                let done = tokio::runtime::Handle::current().block_on(client.invoke(&probe));
                if done.kind == OpType::Ok {
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    return Err(UsageError(format!(
                        "--endpoints: cannot read from {} at {endpoint}: {}",
                        cluster.system,
                        done.error.unwrap_or_default()
                    ))
                    .into());
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        Ok(cluster)
    }

    /// No access to the nodes: the state file is the run's only trace.
    pub fn alone(mut self, registry: Registry) -> Existing {
        self.registry = Some(registry);
        self
    }

    /// Takes the nodes (node i serves endpoint i) as the way to inject
    /// faults: `find` names the database's process there, if processes
    /// are to be paused or killed.
    pub fn control(mut self, machines: Machines, find: Option<Find>) -> Result<Existing> {
        let (mut nodes, mut registry, chain) = machines.into_parts();
        let firewall = match chain {
            Some(chain) => {
                registry.add_chain(&chain)?;
                Some(Firewall::create(&mut nodes, &chain)?)
            }
            None => None,
        };
        let count = nodes.len();
        let mut control = Control {
            nodes,
            registry,
            firewall,
            find,
            disturbed: vec![None; count],
        };
        // Each node must show its process before the workload starts.
        if control.find.is_some() {
            for i in 0..count {
                control.pid(i).map_err(|e| UsageError(format!("{e:#}")))?;
            }
        }
        self.control = Some(control);
        Ok(self)
    }
}

impl Db for Existing {
    fn reach(&self, node: usize) -> Reach {
        let (name, address) = match &self.control {
            Some(c) => (c.nodes[node].name().to_string(), c.nodes[node].host().to_string()),
            None => (
                format!("n{}", node + 1),
                host_of(&self.endpoints[node]).to_string(),
            ),
        };
        Reach {
            node: name,
            address,
            endpoint: self.endpoints[node].clone(),
        }
    }

    /// Puts back what is still disturbed, removes faultline's chain and
    /// folders from the nodes; the database keeps running.
    fn teardown(&mut self) -> Result<()> {
        if let Some(r) = self.registry.take() {
            r.close()?;
        }
        let Some(mut c) = self.control.take() else {
            return Ok(());
        };
        let mut errors = Vec::new();
        for i in 0..c.nodes.len() {
            if c.disturbed[i].is_some() {
                if let Err(e) = c.undo(i) {
                    errors.push(format!("{e:#}"));
                }
            }
        }
        let chain = c.firewall.take().map(|f| f.chain().to_string());
        let done = on_each(&mut c.nodes, |_, n| {
            if let Some(chain) = &chain {
                n.iptables(&Firewall::removal(chain), true)?;
            }
            n.finish()
        });
        errors.extend(
            done.into_iter()
                .zip(&c.nodes)
                .filter_map(|(r, n)| r.err().map(|e| crate::node::about(&**n, &e))),
        );
        if !errors.is_empty() {
            bail!(
                "{}; what is left is listed in {} — run `faultline cleanup` once the nodes can be reached",
                errors.join("; "),
                c.registry.path().display()
            );
        }
        c.registry.close()
    }
}

/// Powers only with access to the nodes: process faults with a way to
/// find the process, network faults with faultline's chain there.
impl Powers for Existing {
    fn as_kill(&mut self) -> Result<&mut dyn Kill, String> {
        match &self.control {
            Some(Control { find: Some(_), .. }) => Ok(self),
            Some(_) => Err(NO_FIND.into()),
            None => Err(NO_ACCESS.into()),
        }
    }

    fn as_pause(&mut self) -> Result<&mut dyn Pause, String> {
        match &self.control {
            Some(Control { find: Some(_), .. }) => Ok(self),
            Some(_) => Err(NO_FIND.into()),
            None => Err(NO_ACCESS.into()),
        }
    }

    fn as_partition(&mut self) -> Result<&mut dyn Partition, String> {
        match &self.control {
            Some(Control {
                firewall: Some(_), ..
            }) => Ok(self),
            _ => Err(NO_ACCESS.into()),
        }
    }

    fn as_clock(&mut self) -> Result<&mut dyn Clock, String> {
        Err("faultline moves clocks only of servers it starts under libfaketime".into())
    }
}

const NO_ACCESS: &str =
    "faultline did not start this cluster and has no access to its nodes; give them with \
                         --nodes or --nodes-file (SSH), endpoint i on node i";
const NO_FIND: &str =
    "say how to find the database's process on each node: --db-pid-file PATH or --db-process NAME";

impl Nodes for Existing {
    fn count(&self) -> usize {
        self.endpoints.len()
    }
    fn name(&self, node: usize) -> String {
        self.endpoints[node].clone()
    }
}

/// The host of an endpoint (`http://10.0.0.1:2379`, `db1:5432`,
/// `[::1]:5432`), or the endpoint itself if it has no recognisable host.
fn host_of(endpoint: &str) -> &str {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = match authority.rsplit_once('@') {
        Some((_, h)) => h,
        None => authority,
    };
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.parse::<u16>().is_ok() => h,
        _ if host.is_empty() => endpoint,
        _ => host,
    }
}

/// How to find the database's process on a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Find {
    /// A file on the node holding its PID.
    PidFile(String),
    /// Its process name, as `pgrep -x` matches it, among the processes
    /// in the node's network namespace (the oldest, if several).
    Process(String),
}

impl Find {
    fn script(&self) -> String {
        match self {
            Find::PidFile(path) => format!("cat {}", quote(path)),
            Find::Process(name) => format!("pgrep --ns $$ --nslist net -x -o {}", quote(name)),
        }
    }

    fn describe(&self) -> String {
        match self {
            Find::PidFile(path) => format!("no PID in {path}"),
            Find::Process(name) => format!("no process named {name}"),
        }
    }
}

/// What faultline may do to the nodes of a cluster it did not start,
/// reached over SSH: pause, kill and start again the database's own
/// process (found afresh each time), and change the firewall.
struct Control {
    nodes: Vec<Box<dyn Node>>,
    registry: Registry,
    firewall: Option<Firewall>,
    find: Option<Find>,
    /// Per node, the process faultline paused or killed, and how to start
    /// it again.
    disturbed: Vec<Option<Disturbed>>,
}

impl Control {
    fn fault(&self, node: usize, action: &'static str, e: anyhow::Error) -> FaultError {
        FaultError {
            action,
            node: self.nodes[node].name().to_string(),
            message: format!("{e:#}"),
        }
    }

    /// The database's PID on `node` now.
    fn pid(&mut self, node: usize) -> Result<i32> {
        let find = self
            .find
            .as_ref()
            .context("no --db-pid-file or --db-process was given")?;
        let out = self.nodes[node]
            .run(&find.script(), true)
            .ok()
            .unwrap_or_default();
        String::from_utf8_lossy(&out)
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{} on {}", find.describe(), self.nodes[node].name()))
    }

    /// Pauses or kills the database's process on `node`, recording it
    /// first (with how to start it again, for a kill).
    fn disturb(&mut self, node: usize, kill: bool) -> Result<()> {
        if self.disturbed[node].is_some() {
            bail!("already paused or killed");
        }
        let pid = self.pid(node)?;
        let restart = if kill {
            Some(capture(&mut *self.nodes[node], pid)?)
        } else {
            None
        };
        let d = Disturbed {
            node: self.nodes[node].name().to_string(),
            pid,
            restart,
        };
        self.registry.disturb(d.clone())?;
        let signal = if kill { "KILL" } else { "STOP" };
        self.nodes[node].run(&format!("kill -{signal} {pid}"), true)?;
        self.disturbed[node] = Some(d);
        Ok(())
    }

    /// Continues or starts again what `disturb` paused or killed.
    fn undo(&mut self, node: usize) -> Result<()> {
        let Some(d) = self.disturbed[node].take() else {
            bail!("nothing paused or killed there");
        };
        settle(&mut *self.nodes[node], &d)?;
        self.registry.settle(&d.node, d.pid)
    }
}

impl Existing {
    /// The access to the nodes; the powers exist only with it.
    fn access(&mut self) -> &mut Control {
        self.control
            .as_mut()
            .expect("powers only with access to the nodes")
    }
}

impl Kill for Existing {
    fn kill(&mut self, node: usize) -> Result<(), FaultError> {
        let c = self.access();
        c.disturb(node, true).map_err(|e| c.fault(node, "kill", e))
    }

    fn start(&mut self, node: usize) -> Result<(), FaultError> {
        let c = self.access();
        c.undo(node).map_err(|e| c.fault(node, "start", e))
    }
}

impl Pause for Existing {
    fn pause(&mut self, node: usize) -> Result<(), FaultError> {
        let c = self.access();
        c.disturb(node, false).map_err(|e| c.fault(node, "pause", e))
    }

    fn resume(&mut self, node: usize) -> Result<(), FaultError> {
        let c = self.access();
        c.undo(node).map_err(|e| c.fault(node, "resume", e))
    }
}

impl Partition for Existing {
    fn partition(&mut self, grudge: &Grudge) -> Result<(), FaultError> {
        let c = self.access();
        c.firewall
            .as_ref()
            .expect("checked by as_partition")
            .partition(&mut c.nodes, grudge)
    }

    fn lose_packets(&mut self, probability: f64) -> Result<(), FaultError> {
        let c = self.access();
        c.firewall
            .as_ref()
            .expect("checked by as_partition")
            .lose_packets(&mut c.nodes, probability)
    }

    fn heal_network(&mut self) -> Result<(), FaultError> {
        match self.control.as_mut() {
            Some(Control {
                firewall: Some(f),
                nodes,
                ..
            }) => f.heal(nodes),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn an_endpoints_host_is_its_address() {
        assert_eq!(host_of("http://10.0.0.1:2379"), "10.0.0.1");
        assert_eq!(host_of("https://user@db1.example:8501/v1"), "db1.example");
        assert_eq!(host_of("db1:5432"), "db1");
        assert_eq!(host_of("[::1]:5432"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }
}
