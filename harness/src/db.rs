//! `Db`: a cluster the controller can drive — Jepsen's DB protocol: a
//! client for each node, teardown, and the nemesis powers it has (each
//! optional, `nemesis::Powers`). Implemented by the clusters faultline
//! starts (`cluster::Cluster`) and by existing ones (`existing`).

use std::time::Duration;

use anyhow::Result;
use nemesis::Powers;
use workloads::{Client, Workload};

/// A running cluster.
pub trait Db: Powers + Send {
    /// A client of `node` for one process, for `workload`'s operations.
    fn client(&self, node: usize, timeout: Duration, workload: Workload) -> Box<dyn Client>;

    /// Stops every node faultline started and removes everything the
    /// run created (processes, rules, namespaces, state file). Idempotent.
    fn teardown(&mut self) -> Result<()>;
}
