//! faultline's workloads: clients for each target system and the
//! generators that decide which operations they perform.
//!
//! The centre is [`Client`] (Jepsen's protocol: opened per process, one
//! operation in flight, every error classified ok / fail / info by the
//! client itself) and [`Generator`] (which op each worker runs next, on
//! which key, at what rate). A [`Workload`] names its generator and the
//! checker that judges its history. Nothing here starts servers or
//! injects faults; that is `harness` and `nemesis`.
//!
//! Modules: [`client`] (the trait and op types), [`consul`] (Consul KV), [`demo`] (the built-in
//! demo cluster's wire protocol and client), [`etcd`] (etcd's JSON
//! gateway), [`external`] (a client program in any language, over JSON lines), [`postgres`] (SQL transactions), [`redis`] (RESP), [`zookeeper`] (sessions, versions, the lock
//! recipe), [`generator`] (mixes, independent keys, reserve, rate limit),
//! [`workload`].
#![deny(missing_docs)]

pub mod client;
pub mod consul;
pub mod demo;
pub mod etcd;
pub mod external;
pub mod generator;
pub mod postgres;
pub mod redis;
pub mod workload;
pub mod zookeeper;

pub use client::{Client, Completion, Invocation};
pub use generator::Generator;
pub use workload::Workload;
