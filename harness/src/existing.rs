//! An existing etcd cluster, given by its endpoints: faultline runs the
//! workload and the checker against it but did not start it, so it cannot
//! kill, pause or partition its nodes — no nemesis, and the output says so.
//! `https://` endpoints use the CA, certificate and key given.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nemesis::{Clock, FaultError, Grudge, Kill, Nodes, Partition, Pause, Primaries};
use serde::Serialize;
use workloads::etcd::{Connection, EtcdClient, Reads, Tls};
use workloads::{Client, Workload};

use crate::cleanup::Registry;
use crate::cli::UsageError;
use crate::db::Db;

/// Where the TLS material is, as given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TlsFiles {
    /// `--cacert`.
    pub cacert: Option<PathBuf>,
    /// `--cert`.
    pub cert: Option<PathBuf>,
    /// `--key`.
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// Reads the files.
    pub fn load(&self) -> Result<Tls> {
        let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        let identity = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => {
                let mut pem = read(c)?;
                pem.push(b'\n');
                pem.extend(read(k)?);
                Some(pem)
            }
            (None, None) => None,
            _ => bail!("--cert and --key go together"),
        };
        Ok(Tls {
            ca: self.cacert.as_deref().map(read).transpose()?,
            identity,
        })
    }
}

/// A cluster faultline only talks to.
pub struct Existing {
    urls: Vec<String>,
    reads: Reads,
    tls: Tls,
    registry: Option<Registry>,
}

impl Existing {
    /// Checks that every endpoint answers a read before the test starts.
    pub fn connect(
        urls: Vec<String>,
        reads: Reads,
        files: &TlsFiles,
        registry: Registry,
    ) -> Result<Existing> {
        let tls = files.load()?;
        let conn = Connection {
            timeout: Duration::from_secs(5),
            reads,
            tls: tls.clone(),
        };
        let http = conn.http().map_err(anyhow::Error::msg)?;
        for url in &urls {
            let probe = http
                .post(format!("{url}/v3/kv/range"))
                .json(&serde_json::json!({"key": "cmVhZHk="}));
            let answer = tokio::runtime::Handle::current().block_on(async {
                let resp = probe.send().await.map_err(|e| workloads::etcd::explain(&e))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("HTTP {}", resp.status()))
                }
            });
            if let Err(e) = answer {
                return Err(UsageError(format!("--endpoints: cannot read from {url}: {e}")).into());
            }
        }
        Ok(Existing {
            urls,
            reads,
            tls,
            registry: Some(registry),
        })
    }
}

fn not_ours(action: &'static str) -> FaultError {
    FaultError {
        action,
        node: "all".into(),
        message: "faultline did not start this cluster and does not control its nodes".into(),
    }
}

impl Db for Existing {
    fn client(&self, node: usize, timeout: Duration, _workload: Workload) -> Box<dyn Client> {
        let conn = Connection {
            timeout,
            reads: self.reads,
            tls: self.tls.clone(),
        };
        let http = conn.http().expect("the same settings built a client in connect");
        Box::new(EtcdClient::new(self.urls[node].clone(), http, self.reads))
    }

    fn teardown(&mut self) -> Result<()> {
        match self.registry.take() {
            Some(r) => r.close(),
            None => Ok(()),
        }
    }
}

impl Kill for Existing {
    fn kill(&mut self, _node: usize) -> Result<(), FaultError> {
        Err(not_ours("kill"))
    }
    fn start(&mut self, _node: usize) -> Result<(), FaultError> {
        Err(not_ours("start"))
    }
}

impl Pause for Existing {
    fn pause(&mut self, _node: usize) -> Result<(), FaultError> {
        Err(not_ours("pause"))
    }
    fn resume(&mut self, _node: usize) -> Result<(), FaultError> {
        Err(not_ours("resume"))
    }
}

impl Partition for Existing {
    fn partition(&mut self, _grudge: &Grudge) -> Result<(), FaultError> {
        Err(not_ours("partition"))
    }
    fn lose_packets(&mut self, _probability: f64) -> Result<(), FaultError> {
        Err(not_ours("loss"))
    }
    fn heal_network(&mut self) -> Result<(), FaultError> {
        Ok(())
    }
}

impl Clock for Existing {
    fn set_clock(&mut self, _node: usize, _offset_ms: i64) -> Result<(), FaultError> {
        Err(not_ours("set clock"))
    }
}

impl Primaries for Existing {
    fn primaries(&mut self) -> Vec<usize> {
        Vec::new()
    }
}

impl Nodes for Existing {
    fn count(&self) -> usize {
        self.urls.len()
    }
    fn name(&self, node: usize) -> String {
        self.urls[node].clone()
    }
}
