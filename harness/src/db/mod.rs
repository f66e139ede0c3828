//! `Db`: a cluster the controller can drive — Jepsen's DB protocol: a
//! client for each node, teardown, and the nemesis powers it has (each
//! optional, `nemesis::Powers`). Implemented by the clusters faultline
//! starts (`cluster::Cluster`) and by existing ones (`existing`).
//!
//! The database layer: `systems/` builds on it (a system describes its
//! daemons and starts a `Cluster`), and it builds on the node layer.

pub mod cluster;
pub mod corrupt;
pub mod existing;

use anyhow::Result;
use nemesis::Powers;

/// A running cluster.
pub trait Db: Powers + Send {
    /// How a client program (`--client`) finds `node`: what its `open`
    /// message says of it.
    fn reach(&self, node: usize) -> Reach;

    /// Stops every node faultline started and removes everything the
    /// run created (processes, rules, namespaces, state file). Idempotent.
    fn teardown(&mut self) -> Result<()>;
}

/// One node as a client program is told of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reach {
    /// Its name (`n1`).
    pub node: String,
    /// Its address (IP or host).
    pub address: String,
    /// Its endpoint in the system's form (`http://10.80.0.1:2379`,
    /// `127.0.0.1:4711`), the form `--endpoints` takes.
    pub endpoint: String,
}
