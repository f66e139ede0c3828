//! An existing cluster (etcd, ZooKeeper, Redis or Consul), given by its
//! endpoints: faultline runs the workload and the checker against it but
//! did not start it, so it cannot kill, pause or partition its nodes — no
//! nemesis, and the output says so. Every endpoint must answer a read
//! before the test starts. etcd's `https://` endpoints use the CA,
//! certificate and key given.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use checkers::{OpType, Value};
use nemesis::{Clock, FaultError, Grudge, Kill, Nodes, Partition, Pause, Primaries};
use serde::Serialize;
use workloads::consul::{Consistency, ConsulClient};
use workloads::etcd::{Connection, EtcdClient, Reads, Tls};
use workloads::redis::RedisClient;
use workloads::zookeeper::{Reads as ZkReads, ZkClient};
use workloads::{Client, Invocation, Workload};

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

/// Which system an existing cluster runs, with its client settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remote {
    /// etcd at `http(s)://host:port`.
    Etcd(Reads),
    /// ZooKeeper at `host:port`.
    Zookeeper(ZkReads),
    /// Redis at `host:port`, writes optionally followed by `WAIT`.
    Redis(Option<u32>),
    /// Consul agents at `http://host:port`.
    Consul(Consistency),
}

impl Remote {
    /// The system's name, as `--db` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Remote::Etcd(_) => "etcd",
            Remote::Zookeeper(_) => "zookeeper",
            Remote::Redis(_) => "redis",
            Remote::Consul(_) => "consul",
        }
    }
}

/// A cluster faultline only talks to.
pub struct Existing {
    endpoints: Vec<String>,
    remote: Remote,
    tls: Tls,
    registry: Option<Registry>,
}

impl Existing {
    /// Checks that every endpoint answers a read before the test starts.
    pub fn connect(
        endpoints: Vec<String>,
        remote: Remote,
        files: &TlsFiles,
        registry: Registry,
    ) -> Result<Existing> {
        let tls = files.load()?;
        let cluster = Existing {
            endpoints,
            remote,
            tls,
            registry: Some(registry),
        };
        // A read of a key no workload uses: it changes nothing anywhere.
        let probe = Invocation {
            f: "read".into(),
            key: Some(Value::Int(-1)),
            value: Value::Nil,
        };
        // A server still starting refuses connections for a moment: each
        // endpoint gets a few seconds to answer.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        for (i, endpoint) in cluster.endpoints.iter().enumerate() {
            let mut client = cluster.client(i, Duration::from_secs(5), Workload::Register);
            loop {
                let done = tokio::runtime::Handle::current().block_on(client.invoke(&probe));
                if done.kind == OpType::Ok {
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    return Err(UsageError(format!(
                        "--endpoints: cannot read from {} at {endpoint}: {}",
                        remote.name(),
                        done.error.unwrap_or_default()
                    ))
                    .into());
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        Ok(cluster)
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
        let endpoint = self.endpoints[node].clone();
        match self.remote {
            Remote::Etcd(reads) => {
                let conn = Connection {
                    timeout,
                    reads,
                    tls: self.tls.clone(),
                };
                let http = conn.http().expect("the same settings built a client in connect");
                Box::new(EtcdClient::new(endpoint, http, reads))
            }
            Remote::Zookeeper(reads) => Box::new(ZkClient::new(&[endpoint], timeout, reads)),
            Remote::Redis(wait) => {
                let addr = endpoint
                    .parse()
                    .expect("run.rs resolved redis endpoints to addresses");
                Box::new(RedisClient::new(addr, timeout, wait))
            }
            Remote::Consul(reads) => Box::new(ConsulClient::new(endpoint, timeout, reads)),
        }
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
        self.endpoints.len()
    }
    fn name(&self, node: usize) -> String {
        self.endpoints[node].clone()
    }
}
