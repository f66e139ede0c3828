//! The client-pause fault: the nemesis asks a worker to stop, the worker
//! stops at its next operation boundary (in the lock workload: before the
//! next write it makes holding a lock, so the pause falls inside a hold
//! and between a guarded read and its write) and
//! stays stopped, its client's background work too, until the nemesis
//! heals. Then it carries on where it was, as a process back from a long
//! garbage-collection pause does, none the wiser.
//!
//! The nemesis reaches this power through [`WithClients`], which adds it
//! to the cluster's own powers.

use std::sync::atomic::{AtomicU8, Ordering};

use checkers::Function;
use nemesis::{Clock, Disk, FaultError, Kill, Links, Nodes, Partition, Pause, PauseClients, Powers};
use tokio::sync::Notify;
use workloads::client::{Client, Invocation};
use workloads::Workload;

use crate::db::Db;

const RUNNING: u8 = 0;
const REQUESTED: u8 = 1;
const PAUSED: u8 = 2;

/// Each worker's pause state, shared by the nemesis and the workers.
pub struct ClientPauses {
    states: Vec<AtomicU8>,
    resumed: Notify,
    /// The op a worker pauses before: any, or in the lock workload the
    /// one inside a hold that makes a late holder do harm.
    before: Option<Function>,
}

impl ClientPauses {
    /// No worker paused, for `workers` workers of `workload`; `guarded`:
    /// lock holders make guarded writes.
    pub fn new(workers: usize, workload: Workload, guarded: bool) -> Self {
        let before = match (workload, guarded) {
            // Between the guarded read and the write that trusts it.
            (Workload::Lock, true) => Some(Function::Add),
            (Workload::Lock, false) => Some(Function::Release),
            _ => None,
        };
        ClientPauses {
            states: (0..workers).map(|_| AtomicU8::new(RUNNING)).collect(),
            resumed: Notify::new(),
            before,
        }
    }

    /// Called by `worker` before it performs `next`: if a pause was
    /// asked for and this is the moment for it, stops `client` and
    /// returns when healed or when `stopping` says the run is ending.
    /// Whether it paused.
    pub async fn pause_point(
        &self,
        worker: usize,
        next: &Invocation,
        client: &mut Box<dyn Client>,
        stopping: impl Fn() -> bool,
    ) -> bool {
        let Some(state) = self.states.get(worker) else {
            return false;
        };
        let moment = self.before.as_ref().is_none_or(|f| next.f == *f);
        if !moment
            || state
                .compare_exchange(REQUESTED, PAUSED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        client.pause(true);
        loop {
            let resumed = self.resumed.notified();
            if state.load(Ordering::Acquire) == RUNNING || stopping() {
                break;
            }
            // The run's end wakes no one here: look again now and then.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(100), resumed).await;
        }
        client.pause(false);
        true
    }
}

impl PauseClients for &ClientPauses {
    fn pause_client(&mut self, pick: usize) -> Result<String, FaultError> {
        if self.states.is_empty() {
            return Err(FaultError {
                action: "pause client",
                node: "none".into(),
                message: "the run has no workers".into(),
            });
        }
        let worker = pick % self.states.len();
        self.states[worker].store(REQUESTED, Ordering::Release);
        Ok(format!("worker {worker}"))
    }

    fn resume_clients(&mut self) -> Result<(), FaultError> {
        for s in &self.states {
            s.store(RUNNING, Ordering::Release);
        }
        self.resumed.notify_waiters();
        Ok(())
    }
}

/// A cluster's powers plus the controller's client pauses, as the
/// nemesis sees them.
pub struct WithClients<'a> {
    /// The cluster.
    pub db: &'a mut dyn Db,
    /// The workers' pause states.
    pub clients: &'a ClientPauses,
}

impl Nodes for WithClients<'_> {
    fn count(&self) -> usize {
        self.db.count()
    }
    fn name(&self, node: usize) -> String {
        self.db.name(node)
    }
}

impl Powers for WithClients<'_> {
    fn as_kill(&mut self) -> Result<&mut dyn Kill, String> {
        self.db.as_kill()
    }
    fn as_pause(&mut self) -> Result<&mut dyn Pause, String> {
        self.db.as_pause()
    }
    fn as_partition(&mut self) -> Result<&mut dyn Partition, String> {
        self.db.as_partition()
    }
    fn as_clock(&mut self) -> Result<&mut dyn Clock, String> {
        self.db.as_clock()
    }
    fn as_links(&mut self) -> Result<&mut dyn Links, String> {
        self.db.as_links()
    }
    fn as_disk(&mut self) -> Result<&mut dyn Disk, String> {
        self.db.as_disk()
    }
    fn as_pause_clients(&mut self) -> Result<&mut dyn PauseClients, String> {
        Ok(&mut self.clients)
    }
    fn primaries(&mut self) -> Vec<usize> {
        self.db.primaries()
    }
}
