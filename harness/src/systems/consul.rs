//! A Consul cluster from a `consul` binary the user provides (HashiCorp's;
//! Debian does not package it): every node a server agent, bootstrapped
//! together and joined by `-retry-join`, with Consul's default ports
//! where each node has its own, free ones on shared loopback.
//!
//! Not run by the test suite: no Consul binary can be installed on the
//! machines faultline is built on. What is tested is the command line each
//! agent gets and the client's requests and answers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use nemesis::Fault;
use serde::Serialize;
use workloads::consul::{Consistency, ConsulClient};
use workloads::{Client, Workload};

use super::{Context, Flags, System};
use crate::error::UsageError;
use crate::db::cluster::{Cluster, Daemon, Service};
use crate::node::machines::Machines;
use crate::db::Db;

/// Consul's flags.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct ConsulFlags {
    /// Consul reads: consistent, default (the leader answers without
    /// checking it still leads) or stale (any server).
    #[arg(long, default_value = "consistent", value_parser = super::named(Consistency::NAMED))]
    pub consul_reads: Consistency,
    /// The consul binary for --db consul (default: `consul` on PATH).
    #[arg(long)]
    pub consul_bin: Option<PathBuf>,
}


impl Flags for ConsulFlags {
    fn system(self, ctx: &Context) -> Result<Box<dyn System>, UsageError> {
        let reads = self.consul_reads;
        // An existing cluster needs no binary here.
        let bin = if ctx.existing {
            PathBuf::from("consul")
        } else {
            find_binary(self.consul_bin.as_deref()).ok_or_else(|| {
                UsageError(match &self.consul_bin {
                    Some(p) => format!("--consul-bin {}: no such file", p.display()),
                    None => "--db consul: no consul binary. Consul is not packaged for Debian, so faultline cannot \
                             install it: put HashiCorp's `consul` on PATH or pass --consul-bin /path/to/consul \
                             (or test a running cluster with --endpoints)"
                        .into(),
                })
            })?
        };
        Ok(Box::new(ConsulSystem {
            flags: self,
            bin,
            reads,
        }))
    }
}

/// Consul, configured.
pub struct ConsulSystem {
    flags: ConsulFlags,
    bin: PathBuf,
    reads: Consistency,
}

impl System for ConsulSystem {
    fn name(&self) -> &'static str {
        "consul"
    }

    fn workloads(&self) -> &'static [Workload] {
        &[Workload::Register, Workload::CasRegister, Workload::Lock]
    }

    fn describe(&self) -> String {
        format!("Consul from {}, {} reads", self.bin.display(), self.variant())
    }

    fn variant(&self) -> String {
        format!("{:?}", self.reads).to_lowercase()
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::json!(self.flags)
    }

    fn no_faketime(&self) -> Option<&'static str> {
        Some(super::GO_CLOCK)
    }

    fn start(&self, machines: Machines, _faults: &[Fault]) -> Result<Box<dyn Db>> {
        Ok(Box::new(Consul::start(&self.bin, machines)?))
    }

    fn endpoint(&self, given: &str) -> Result<String, String> {
        super::url_endpoint(given)
    }

    fn client(&self, endpoints: &[String], node: usize, timeout: Duration, _: Workload) -> Result<Box<dyn Client>> {
        let url = self.endpoint(&endpoints[node]).map_err(anyhow::Error::msg)?;
        Ok(Box::new(ConsulClient::new(url, timeout, self.reads)))
    }
}

/// How long a node may take to see a leader.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One agent's addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ports {
    /// Address the agent binds and advertises.
    pub host: String,
    /// HTTP API.
    pub http: u16,
    /// Raft and RPC between servers.
    pub server: u16,
    /// Gossip inside the datacenter.
    pub serf_lan: u16,
    /// Gossip between datacenters (unused, but it must not collide).
    pub serf_wan: u16,
    /// DNS (unused, same reason).
    pub dns: u16,
}

/// Consul's own ports, in `Ports` order: HTTP, server, Serf LAN, Serf
/// WAN, DNS.
pub const STANDARD_PORTS: [u16; 5] = [8500, 8300, 8301, 8302, 8600];

impl Ports {
    /// `host` with these ports, in `STANDARD_PORTS` order.
    pub fn new(host: String, [http, server, serf_lan, serf_wan, dns]: [u16; 5]) -> Ports {
        Ports {
            host,
            http,
            server,
            serf_lan,
            serf_wan,
            dns,
        }
    }
}

/// The command line of server agent `i` of `nodes`.
pub fn agent_argv(bin: &Path, i: usize, nodes: &[Ports], data: &Path) -> Vec<String> {
    let me = &nodes[i];
    let mut argv = vec![
        bin.display().to_string(),
        "agent".into(),
        "-server".into(),
        format!("-bootstrap-expect={}", nodes.len()),
        format!("-node=n{}", i + 1),
        format!("-data-dir={}", data.display()),
        format!("-bind={}", me.host),
        format!("-advertise={}", me.host),
        format!("-client={}", me.host),
        format!("-http-port={}", me.http),
        format!("-server-port={}", me.server),
        format!("-serf-lan-port={}", me.serf_lan),
        format!("-serf-wan-port={}", me.serf_wan),
        format!("-dns-port={}", me.dns),
        "-log-level=info".into(),
    ];
    for (j, peer) in nodes.iter().enumerate() {
        if j != i {
            argv.push(format!("-retry-join={}:{}", peer.host, peer.serf_lan));
        }
    }
    argv
}

/// Where the consul binary is: `--consul-bin`, else `consul` on PATH.
pub fn find_binary(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return p.exists().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("consul"))
        .find(|p| p.exists())
}

/// What Consul adds to its processes: HTTP and server addresses.
pub struct Consul {
    urls: Vec<String>,
    /// `ip:server-port` of each node, as `/v1/status/leader` names them.
    servers: Vec<String>,
    http: reqwest::Client,
}

impl Consul {
    /// Starts a server agent on every node and waits until each sees a
    /// leader.
    pub fn start(bin: &Path, mut m: Machines) -> Result<Cluster<Consul>> {
        m.require(&bin.display().to_string(), "consul (HashiCorp's; not in Debian)")?;
        let ports: Vec<Ports> = m
            .addresses(STANDARD_PORTS)?
            .into_iter()
            .zip(&m.nodes)
            .map(|((_, ports), n)| Ports::new(n.ip().to_string(), ports))
            .collect();
        let daemons: Vec<Daemon> = m
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let argv = agent_argv(bin, i, &ports, &n.dir().join("data"));
                Daemon::new(n.name().to_string(), i, argv, n.dir().join("consul.log"))
            })
            .collect();
        let count = daemons.len();
        let service = Consul {
            urls: ports
                .iter()
                .map(|p| format!("http://{}:{}", p.host, p.http))
                .collect(),
            servers: ports.iter().map(|p| format!("{}:{}", p.host, p.server)).collect(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .build()?,
        };
        let mut c = Cluster::new(m, daemons, service)?;
        c.start_all(count, READY_TIMEOUT, "did not see a leader", |consul, i| {
            consul.leader(i).is_some()
        })?;
        Ok(c)
    }

    /// The leader node `i` names (`ip:port`), blocking; `None` if it names
    /// none or does not answer.
    fn leader(&self, i: usize) -> Option<String> {
        let req = self.http.get(format!("{}/v1/status/leader", self.urls[i]));
        tokio::runtime::Handle::current().block_on(async {
            let resp = req.send().await.ok()?;
            let leader: String = resp.json().await.ok()?;
            (!leader.is_empty()).then_some(leader)
        })
    }
}

impl Service for Consul {
    fn endpoint(&self, node: usize) -> String {
        self.urls[node].clone()
    }

    /// The nodes that name themselves leader.
    fn primaries(&self, running: &[bool]) -> Vec<usize> {
        (0..self.urls.len())
            .filter(|&i| running[i])
            .filter(|&i| self.leader(i).as_deref() == Some(self.servers[i].as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_agent_is_a_server_that_joins_the_others() {
        let nodes: Vec<Ports> = (1..=3)
            .map(|i| Ports::new(format!("198.18.0.{i}"), STANDARD_PORTS))
            .collect();
        let argv = agent_argv(Path::new("/opt/consul"), 1, &nodes, Path::new("/run/n2/data"));
        assert_eq!(argv[..3], ["/opt/consul", "agent", "-server"]);
        for want in [
            "-bootstrap-expect=3",
            "-node=n2",
            "-bind=198.18.0.2",
            "-client=198.18.0.2",
            "-data-dir=/run/n2/data",
            "-http-port=8500",
            "-retry-join=198.18.0.1:8301",
            "-retry-join=198.18.0.3:8301",
        ] {
            assert!(argv.iter().any(|a| a == want), "{want} missing from {argv:?}");
        }
        assert!(
            !argv.iter().any(|a| a == "-retry-join=198.18.0.2:8301"),
            "joins itself"
        );
    }

    #[test]
    fn a_given_binary_must_exist() {
        assert_eq!(find_binary(Some(Path::new("/nonexistent/consul"))), None);
        let here = std::env::current_exe().unwrap();
        assert_eq!(find_binary(Some(&here)), Some(here.clone()));
    }
}
