//! A local etcd cluster from Debian's `/usr/bin/etcd` (3.4): each node in
//! its own network namespace (`netns`) when faultline runs as root, so
//! partitions and packet loss act for real; otherwise on loopback with
//! free ports, and only process faults. Each node's log and data folder
//! live under the run folder.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use nemesis::{FaultError, Grudge, Kill, Nodes, Partition, Pause, Primaries};
use serde_json::json;
use workloads::etcd::{Connection, EtcdClient, Reads, Tls};
use workloads::{Client, Workload};

use crate::cleanup::Registry;
use crate::db::Db;
use crate::netns::{self, Network};
use crate::process::{Group, Supervised};

/// How long a node may take to serve a read.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The etcd binary.
pub const ETCD: &str = "/usr/bin/etcd";

/// A running etcd cluster.
pub struct EtcdCluster {
    group: Group,
    /// Client URLs, `http://ip:port`.
    urls: Vec<String>,
    network: Option<Network>,
    reads: Reads,
    http: reqwest::Client,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl EtcdCluster {
    /// Starts `count` etcd nodes and waits until every one serves a read.
    pub fn start(
        count: usize,
        nodes_dir: &Path,
        mut registry: Registry,
        namespaces: bool,
        reads: Reads,
    ) -> Result<EtcdCluster> {
        if !Path::new(ETCD).exists() {
            bail!("{ETCD} is missing: install Debian's etcd-server (apt-get install etcd-server)");
        }
        let network = if namespaces {
            Some(Network::create(count, &mut registry)?)
        } else {
            None
        };
        // Per node: (host, client port, peer port). In namespaces every node
        // has its own address, so etcd's own ports are free by construction.
        let mut addrs = Vec::with_capacity(count);
        for i in 0..count {
            match &network {
                Some(net) => addrs.push((net.ip(i).to_string(), 2379, 2380)),
                None => addrs.push(("127.0.0.1".to_string(), free_port()?, free_port()?)),
            }
        }
        let cluster: Vec<String> = addrs
            .iter()
            .enumerate()
            .map(|(i, (h, _, p))| format!("n{}=http://{h}:{p}", i + 1))
            .collect();
        let token = format!("faultline-{}", std::process::id());
        let mut nodes = Vec::with_capacity(count);
        let mut urls = Vec::with_capacity(count);
        for (i, (host, cport, pport)) in addrs.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let dir = nodes_dir.join(&name);
            std::fs::create_dir_all(&dir)?;
            let client = format!("http://{host}:{cport}");
            let peer = format!("http://{host}:{pport}");
            let argv: Vec<String> = [
                ETCD,
                "--name",
                &name,
                "--data-dir",
                &dir.join("data").display().to_string(),
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &cluster.join(","),
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                &token,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let wrapper = network.as_ref().map_or_else(Vec::new, |net| net.wrapper(i));
            nodes.push(Supervised::new(name, wrapper, argv, dir.join("etcd.log")));
            urls.push(client);
        }
        let mut c = EtcdCluster {
            group: Group::new(nodes, registry),
            urls,
            network,
            reads,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .build()?,
        };
        for i in 0..count {
            c.group.spawn(i)?;
        }
        for i in 0..count {
            c.wait_ready(i)?;
        }
        Ok(c)
    }

    /// Blocks on an HTTP POST to node `i` (called from blocking sections).
    fn post(&self, i: usize, path: &str, body: serde_json::Value) -> Option<serde_json::Value> {
        let req = self.http.post(format!("{}{path}", self.urls[i])).json(&body);
        tokio::runtime::Handle::current().block_on(async {
            let resp = req.send().await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            resp.json().await.ok()
        })
    }

    /// Waits until node `i` serves a linearizable read (it has a leader).
    fn wait_ready(&mut self, i: usize) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self.post(i, "/v3/kv/range", json!({"key": "cmVhZHk="})).is_some() {
                return Ok(());
            }
            self.group.nodes[i].check_alive()?;
            if Instant::now() > deadline {
                bail!(
                    "{} did not serve a read within {READY_TIMEOUT:?}; see {}",
                    self.group.nodes[i].name,
                    self.group.nodes[i].log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Db for EtcdCluster {
    fn client(&self, node: usize, timeout: Duration, _workload: Workload) -> Box<dyn Client> {
        let conn = Connection {
            timeout,
            reads: self.reads,
            tls: Tls::default(),
        };
        let http = conn.http().expect("a plain HTTP client builds");
        Box::new(EtcdClient::new(self.urls[node].clone(), http, self.reads))
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
impl Drop for EtcdCluster {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("tearing the etcd cluster down: {e:#}");
        }
    }
}

impl Kill for EtcdCluster {
    fn kill(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.kill(node)
    }

    /// Only the process is awaited: a restarted node may not serve
    /// linearizable reads while another fault holds the majority away.
    fn start(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.restart(node)
    }
}

impl Pause for EtcdCluster {
    fn pause(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.pause(node)
    }

    fn resume(&mut self, node: usize) -> Result<(), FaultError> {
        self.group.resume(node)
    }
}

impl Partition for EtcdCluster {
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

impl Primaries for EtcdCluster {
    /// The nodes that report themselves leader (`/v3/maintenance/status`).
    fn primaries(&mut self) -> Vec<usize> {
        (0..self.group.nodes.len())
            .filter(|&i| self.group.nodes[i].is_running())
            .filter(|&i| {
                self.post(i, "/v3/maintenance/status", json!({}))
                    .is_some_and(|s| s["leader"].is_string() && s["leader"] == s["header"]["member_id"])
            })
            .collect()
    }
}

impl Nodes for EtcdCluster {
    fn count(&self) -> usize {
        self.group.nodes.len()
    }

    fn name(&self, node: usize) -> String {
        self.group.nodes[node].name.clone()
    }
}
