//! Any database, as an existing cluster a client program reaches
//! (`--client CMD --endpoints …` without `--db`): faultline knows nothing
//! of it but its endpoints, which it hands to the program as given. Every
//! workload runs (the program answers for what it supports); faults need
//! the nodes (`--nodes`), as for every existing cluster.

use std::time::Duration;

use anyhow::{bail, Result};
use nemesis::Fault;
use workloads::{Client, Workload};

use super::System;
use crate::db::Db;
use crate::node::machines::Machines;

/// A database known only through its client program.
pub struct AnyDatabase;

impl System for AnyDatabase {
    fn name(&self) -> &'static str {
        "database"
    }

    fn workloads(&self) -> &'static [Workload] {
        &Workload::ALL
    }

    fn describe(&self) -> String {
        "known only through its client program".into()
    }

    fn variant(&self) -> String {
        "client".into()
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::json!({})
    }

    fn start(&self, _machines: Machines, _faults: &[Fault]) -> Result<Box<dyn Db>> {
        bail!("faultline cannot start a database it knows nothing of: give --db, or --endpoints of a running one")
    }

    fn endpoint(&self, given: &str) -> Result<String, String> {
        match given.trim() {
            "" => Err("an endpoint the client program understands".into()),
            e => Ok(e.to_string()),
        }
    }

    fn client(&self, _: &[String], _: usize, _: Duration, _: Workload) -> Result<Box<dyn Client>> {
        bail!("this database is reached only through --client")
    }
}
