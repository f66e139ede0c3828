//! `Db`: a cluster the controller can drive — Jepsen's DB protocol with its
//! powers as the nemesis traits (kill/start, pause/resume, partition,
//! primaries), plus a client for each node. Implemented by the demo
//! cluster and by local etcd clusters.

use std::time::Duration;

use anyhow::Result;
use nemesis::{Clock, Kill, Nodes, Partition, Pause, Primaries};
use workloads::{Client, Workload};

/// A running cluster.
pub trait Db: Kill + Pause + Partition + Clock + Nodes + Primaries + Send {
    /// A client of `node` for one process, for `workload`'s operations.
    fn client(&self, node: usize, timeout: Duration, workload: Workload) -> Box<dyn Client>;

    /// Stops every node and removes everything the cluster created
    /// (processes, namespaces, state file). Idempotent.
    fn teardown(&mut self) -> Result<()>;
}
