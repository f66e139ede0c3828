//! A local etcd cluster from Debian's `/usr/bin/etcd` (3.4): each node in
//! its own network namespace (`netns`) when faultline runs as root, so
//! partitions and packet loss act for real; otherwise on loopback with
//! free ports, and only process faults. Each node's log and data folder
//! live under the run folder.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use workloads::etcd::{Connection, EtcdClient, Reads, Tls};
use workloads::{Client, Workload};

use crate::cleanup::Registry;
use crate::local::{node_addresses, require_installed, Local, Service};
use crate::netns::Network;
use crate::process::{Group, Supervised};

/// How long a node may take to serve a read.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The etcd binary.
pub const ETCD: &str = "/usr/bin/etcd";

/// What etcd adds to its processes: client URLs and how reads are served.
pub struct Etcd {
    /// Client URLs, `http://ip:port`.
    urls: Vec<String>,
    reads: Reads,
    http: reqwest::Client,
}

impl Etcd {
    /// Starts `count` etcd nodes and waits until every one serves a read.
    pub fn start(
        count: usize,
        nodes_dir: &Path,
        mut registry: Registry,
        namespaces: bool,
        reads: Reads,
    ) -> Result<Local<Etcd>> {
        require_installed(ETCD, "etcd-server")?;
        let network = Network::create_if(namespaces, count, &mut registry)?;
        // Per node: host, [client port, peer port].
        let addrs = node_addresses(&network, count, [2379, 2380])?;
        let cluster: Vec<String> = addrs
            .iter()
            .enumerate()
            .map(|(i, (h, [_, p]))| format!("n{}=http://{h}:{p}", i + 1))
            .collect();
        let token = format!("faultline-{}", std::process::id());
        let mut nodes = Vec::with_capacity(count);
        let mut urls = Vec::with_capacity(count);
        for (i, (host, [cport, pport])) in addrs.iter().enumerate() {
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
        let mut c = Local {
            group: Group::new(nodes, registry),
            network,
            count,
            service: Etcd {
                urls,
                reads,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(1))
                    .build()?,
            },
        };
        c.start_all(READY_TIMEOUT, "did not serve a read", |etcd, i| {
            etcd.post(i, "/v3/kv/range", json!({"key": "cmVhZHk="})).is_some()
        })?;
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
}

impl Service for Etcd {
    fn client(&self, node: usize, timeout: Duration, _workload: Workload) -> Box<dyn Client> {
        let conn = Connection {
            timeout,
            reads: self.reads,
            tls: Tls::default(),
        };
        let http = conn.http().expect("a plain HTTP client builds");
        Box::new(EtcdClient::new(self.urls[node].clone(), http, self.reads))
    }

    /// The nodes that report themselves leader (`/v3/maintenance/status`).
    /// A restarted node is not awaited: it may not serve linearizable
    /// reads while another fault holds the majority away.
    fn primaries(&self, group: &Group) -> Vec<usize> {
        (0..self.urls.len())
            .filter(|&i| group.nodes[i].is_running())
            .filter(|&i| {
                self.post(i, "/v3/maintenance/status", json!({}))
                    .is_some_and(|s| s["leader"].is_string() && s["leader"] == s["header"]["member_id"])
            })
            .collect()
    }
}
