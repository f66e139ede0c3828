//! One test run, start to verdict: the controller (workers, the nemesis
//! task, final reads), the journal every operation is written to as it
//! completes, the run store, judging a recorded history, pausing the
//! test's own clients, the run's live metrics, and sampling the system's
//! own metrics. It drives a `Db` from
//! `db/`; it never names a database.

pub mod client_pause;
pub mod controller;
pub mod journal;
pub mod metrics;
pub mod store;
pub mod system_metrics;
pub mod verdicts;
