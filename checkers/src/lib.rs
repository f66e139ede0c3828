//! faultline's checkers: the history model, importers, models, and the
//! checkers that judge a history — linearizability (Knossos' and
//! Porcupine's job), transactional consistency (Elle's), lost adds, and
//! logs (Jepsen's queue and Kafka checkers).
//!
//! The centre is [`Model`] (init, step, parse) and [`linearizable::check`],
//! which returns plain data ([`linearizable::Report`]); [`txn::check`]
//! does the same for transactions. Rendering is the `reports` crate's job.
//! This crate does no I/O beyond reading history files and knows nothing
//! of clusters, clients or faults.
//!
//! Modules: [`value`], [`function`] and [`history`] (the data), [`import`] (JSONL, EDN,
//! Porcupine logs), [`model`] (one model per module: register and
//! cas-register, multi-register, etcd, kv, mutex, set, queues), [`wgl`]
//! (the search), [`linearizable`] (partitioning, parallelism, budgets),
//! [`counterexample`] (why, in words), [`linearization`] (linearizations
//! for the report's view), [`txn`] (list-append and
//! rw-register: dependency graphs, cycles, anomalies, consistency
//! models), [`set`] (lost adds), [`log`] (Kafka-like logs: lost,
//! duplicated and misordered messages), [`watch`] (etcd's watch
//! guarantees), [`verdict`], [`error`] (bad input, with
//! file and line); `parallel` spreads jobs over threads, in order.
#![deny(missing_docs)]

pub mod counterexample;
pub mod error;
pub mod function;
pub mod history;
pub mod import;
pub mod linearizable;
pub mod linearization;
pub mod log;
pub mod model;
mod parallel;
pub mod set;
pub mod txn;
pub mod value;
pub mod verdict;
pub mod watch;
pub mod wgl;

pub use error::InputError;
pub use function::Function;
pub use history::{FaultPeriod, History, Op, OpType, Operation, Outcome, Paired, Process};
pub use model::{Model, ModelKind};
pub use value::Value;
pub use verdict::Verdict;
