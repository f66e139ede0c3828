//! An etcd cluster from Debian's `/usr/bin/etcd` (3.4), started on the
//! run's nodes (local namespaces or loopback, or machines over SSH) with
//! the binary installed there. Each node's log and data folder live in
//! the node's run folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use nemesis::Fault;
use serde::Serialize;
use serde_json::json;
use workloads::etcd::{Connection, EtcdClient, Reads, Tls};
use workloads::{Client, Workload};

use super::{Context, Flags, LocalLimit, MetricsSource, System};
use crate::error::UsageError;
use crate::db::cluster::{Cluster, Daemon, Service};
use crate::node::machines::Machines;
use crate::db::Db;

/// etcd's flags.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct EtcdFlags {
    /// etcd reads: linearizable, or serializable (served locally; stale
    /// under partition).
    #[arg(long, default_value = "linearizable", value_parser = super::named(Reads::NAMED))]
    pub etcd_reads: Reads,
    /// CA certificate (PEM) for etcd's https:// endpoints.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's https:// endpoints.
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// Client key (PEM) for etcd's https:// endpoints.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Lock workload: seconds each process's lease lives without a
    /// keepalive (a holder paused longer loses its lock unknowingly).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_ttl: u64,
}


impl Flags for EtcdFlags {
    fn system(self, ctx: &Context) -> Result<Box<dyn System>, UsageError> {
        let tls_given = self.cacert.is_some() || self.cert.is_some() || self.key.is_some();
        if tls_given && !ctx.existing {
            return Err(UsageError(
                "--cacert, --cert and --key go with --endpoints".into(),
            ));
        }
        let tls = load_tls(self.cacert.as_deref(), self.cert.as_deref(), self.key.as_deref())
            .map_err(|e| UsageError(format!("{e:#}")))?;
        let reads = self.etcd_reads;
        Ok(Box::new(EtcdSystem {
            flags: self,
            reads,
            tls,
        }))
    }
}

/// Reads the TLS files given.
fn load_tls(cacert: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> Result<Tls> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let identity = match (cert, key) {
        (Some(c), Some(k)) => {
            let mut pem = read(c)?;
            pem.push(b'\n');
            pem.extend(read(k)?);
            Some(pem)
        }
        (None, None) => None,
        _ => anyhow::bail!("--cert and --key go together"),
    };
    Ok(Tls {
        ca: cacert.map(read).transpose()?,
        identity,
    })
}

/// etcd, configured.
pub struct EtcdSystem {
    flags: EtcdFlags,
    reads: Reads,
    tls: Tls,
}

impl System for EtcdSystem {
    fn name(&self) -> &'static str {
        "etcd"
    }

    fn workloads(&self) -> &'static [Workload] {
        &[Workload::Register, Workload::CasRegister, Workload::ListAppend, Workload::Lock, Workload::Watch]
    }

    fn describe(&self) -> String {
        format!("etcd, {} reads", self.variant())
    }

    fn variant(&self) -> String {
        match self.reads {
            Reads::Linearizable => "linearizable".into(),
            Reads::Serializable => "serializable".into(),
        }
    }

    fn settings(&self) -> serde_json::Value {
        json!(self.flags)
    }

    fn guarded_locks(&self) -> bool {
        true
    }

    fn no_faketime(&self) -> Option<&'static str> {
        Some(super::GO_CLOCK)
    }

    /// Measured here (2 cores): 5 nodes served in 4.8 s, 15 in 15 s, 25
    /// in 20 s; 35 (three tries), 50, 70 and 100 never within the 30 s.
    fn local_limit(&self) -> Option<LocalLimit> {
        Some(LocalLimit {
            nodes: 25,
            why: "each new member first asks every peer for the member list, waiting up to 1 s on each \
                  peer that is still starting itself, so forming takes up to about a second per node \
                  (measured: 25 nodes served in 20 s; 35 not within the 30 s each node is given)",
        })
    }

    fn metrics(&self, endpoint: &str) -> Option<MetricsSource> {
        Some(MetricsSource {
            url: format!("{}/metrics", endpoint.trim_end_matches('/')),
            chosen: &[
                "etcd_server_leader_changes_seen_total",
                "etcd_server_proposals_failed_total",
                "etcd_server_proposals_pending",
                "etcd_disk_wal_fsync_duration_seconds",
                "etcd_server_proposals_applied_total",
            ],
        })
    }

    fn start(&self, machines: Machines, _faults: &[Fault]) -> Result<Box<dyn Db>> {
        Ok(Box::new(Etcd::start(machines)?))
    }

    fn endpoint(&self, given: &str) -> Result<String, String> {
        super::url_endpoint(given)
    }

    fn client(&self, endpoints: &[String], node: usize, timeout: Duration, workload: Workload)
        -> Result<Box<dyn Client>> {
        let endpoint = self.endpoint(&endpoints[node]).map_err(anyhow::Error::msg)?;
        let conn = Connection {
            timeout,
            reads: self.reads,
            tls: self.tls.clone(),
        };
        let http = conn.http().map_err(anyhow::Error::msg)?;
        let client = EtcdClient::new(endpoint, http, self.reads);
        Ok(Box::new(for_workload(client, workload, self.lease_ttl(), timeout)))
    }
}

impl EtcdSystem {
    fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.flags.lease_ttl)
    }
}

/// The lock workload's client takes locks on leases of `ttl`; the watch
/// workload's keeps a watch stream open.
fn for_workload(client: EtcdClient, workload: Workload, ttl: Duration, timeout: Duration) -> EtcdClient {
    match workload {
        Workload::Lock => client.with_locks(ttl),
        Workload::Watch => client.with_watch(timeout),
        _ => client,
    }
}

/// How long a node may take to serve a read.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The etcd binary.
pub const ETCD: &str = "/usr/bin/etcd";

/// What etcd adds to its processes: its client URLs.
pub struct Etcd {
    /// Client URLs, `http://ip:port`.
    urls: Vec<String>,
    http: reqwest::Client,
}

impl Etcd {
    /// Starts etcd on every node and waits until every one serves a read.
    pub fn start(mut m: Machines) -> Result<Cluster<Etcd>> {
        m.require(ETCD, "etcd-server")?;
        // Per node: host, [client port, peer port].
        let addrs = m.addresses([2379, 2380])?;
        // What clients and peers are told: through the proxies, when the
        // run has them.
        let mut advertised = Vec::with_capacity(addrs.len());
        for (i, (host, [cport, pport])) in addrs.iter().enumerate() {
            let (ch, cp) = m.through_proxy(i, host, *cport)?;
            let (ph, pp) = m.through_proxy(i, host, *pport)?;
            advertised.push((format!("http://{ch}:{cp}"), format!("http://{ph}:{pp}")));
        }
        let cluster: Vec<String> = advertised
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("n{}={peer}", i + 1))
            .collect();
        let token = format!("faultline-{}", std::process::id());
        let mut daemons = Vec::with_capacity(addrs.len());
        let mut urls = Vec::with_capacity(addrs.len());
        for (i, ((host, [cport, pport]), (client_url, peer_url))) in addrs.iter().zip(advertised).enumerate() {
            let dir = m.nodes[i].dir().to_path_buf();
            m.data_dir(i, &dir.join("data"))?;
            let name = m.nodes[i].name().to_string();
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
                &client_url,
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer_url,
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
            daemons.push(Daemon::new(name, i, argv, dir.join("etcd.log")));
            urls.push(client_url);
        }
        let count = daemons.len();
        let mut c = Cluster::new(
            m,
            daemons,
            Etcd {
                urls,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(1))
                    .build()?,
            },
        )?;
        c.start_all(count, READY_TIMEOUT, "did not serve a read", |etcd, i| {
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
    fn endpoint(&self, node: usize) -> String {
        self.urls[node].clone()
    }

    /// The nodes that report themselves leader (`/v3/maintenance/status`).
    /// A restarted node is not awaited: it may not serve linearizable
    /// reads while another fault holds the majority away.
    fn primaries(&self, running: &[bool]) -> Vec<usize> {
        (0..self.urls.len())
            .filter(|&i| running[i])
            .filter(|&i| {
                self.post(i, "/v3/maintenance/status", json!({}))
                    .is_some_and(|s| s["leader"].is_string() && s["leader"] == s["header"]["member_id"])
            })
            .collect()
    }
}
