//! One PostgreSQL server from Debian's `postgresql`, for the transactional
//! workloads: a fresh cluster made by `initdb` in a temporary folder
//! (removed when the run ends, or by `faultline cleanup` after a crash),
//! listening on a free loopback port, no Unix socket. PostgreSQL refuses
//! to run as root, so as root faultline runs it as Debian's `postgres`
//! user. `--isolation` sets the level every transaction asks for.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use nemesis::Fault;
use serde::Serialize;
use serde_json::json;
use workloads::postgres::{self, Isolation, PostgresClient, SCHEMA};
use workloads::{Client, Workload};

use super::{Context, Flags, System};
use crate::error::UsageError;
use crate::db::cluster::{Cluster, Daemon, Service};
use crate::node::machines::Machines;
use crate::db::Db;
use crate::node::{as_user, quote, quote_all};

/// PostgreSQL's flags.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct PostgresFlags {
    /// The isolation level of every transaction.
    #[arg(long, default_value = "serializable", value_parser = super::named(Isolation::NAMED))]
    pub isolation: Isolation,
}

impl Flags for PostgresFlags {
    fn system(self, _ctx: &Context) -> Result<Box<dyn System>, UsageError> {
        Ok(Box::new(PostgresSystem { flags: self }))
    }
}

/// PostgreSQL, configured.
pub struct PostgresSystem {
    flags: PostgresFlags,
}

impl System for PostgresSystem {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn workloads(&self) -> &'static [Workload] {
        &[Workload::ListAppend, Workload::RwRegister]
    }

    fn describe(&self) -> String {
        format!("PostgreSQL, {} transactions", self.flags.isolation.sql().to_lowercase())
    }

    fn variant(&self) -> String {
        self.flags.isolation.sql().to_lowercase().replace(' ', "-")
    }

    fn settings(&self) -> serde_json::Value {
        json!(self.flags)
    }

    fn nodes(&self) -> Option<usize> {
        Some(1)
    }

    fn loopback_only(&self) -> Option<&'static str> {
        Some("faultline runs one PostgreSQL server, on this machine's loopback")
    }

    fn start(&self, machines: Machines, _faults: &[Fault]) -> Result<Box<dyn Db>> {
        Ok(Box::new(Postgres::start(machines)?))
    }

    fn endpoint(&self, given: &str) -> Result<String, String> {
        let addr = super::socket_endpoint(given).map_err(|_| "host:port".to_string())?;
        Ok(format!("host={} port={} user=postgres dbname=postgres", addr.ip(), addr.port()))
    }

    fn client(&self, endpoints: &[String], node: usize, timeout: Duration, workload: Workload)
        -> Result<Box<dyn Client>> {
        Ok(Box::new(PostgresClient::new(
            self.endpoint(&endpoints[node]).map_err(anyhow::Error::msg)?,
            self.flags.isolation,
            timeout,
            workload == Workload::ListAppend,
        )))
    }
}

/// How long the server may take to accept a query.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The server's connection settings.
pub struct Postgres {
    config: String,
    /// `host:port`, as `--endpoints` gives it.
    addr: String,
}

impl Postgres {
    /// Makes a fresh cluster on node 1, starts its server and creates the
    /// workloads' tables.
    pub fn start(mut m: Machines) -> Result<Cluster<Postgres>> {
        let node = &mut m.nodes[0];
        let bin = String::from_utf8_lossy(
            &node.run("ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n 1", false)?,
        )
        .trim()
        .to_string();
        if bin.is_empty() {
            return Err(UsageError(
                "/usr/lib/postgresql/*/bin/postgres is missing: install Debian's postgresql (apt-get install postgresql)"
                    .into(),
            )
            .into());
        }
        // PostgreSQL will not run as root; Debian's package brings a user.
        let user = nix::unistd::geteuid().is_root().then(|| "postgres".to_string());
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let data = std::env::temp_dir().join(format!("faultline-pgdata-{}-{stamp}", std::process::id()));
        m.scratch(&data)?;
        let initdb = PathBuf::from(&bin).with_file_name("initdb");
        let mut init = user.as_deref().map(as_user).unwrap_or_default();
        init.extend(
            [
                &initdb.display().to_string(),
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
            .map(String::from),
        );
        let chown = user
            .as_deref()
            .map(|u| format!("chown {u}: {} && ", quote(&data.display().to_string())))
            .unwrap_or_default();
        let node = &mut m.nodes[0];
        node.run(
            &format!(
                "mkdir -p {n} {d} && chmod 700 {d} && {chown}{} > {log} 2>&1 || {{ cat {log} >&2; exit 1; }}",
                quote_all(&init),
                n = quote(&node.dir().display().to_string()),
                d = quote(&data.display().to_string()),
                log = quote(&node.dir().join("initdb.log").display().to_string()),
            ),
            true,
        )
        .context("initdb")?;
        let (host, [port]) = m.addresses([5432])?.remove(0);
        let argv: Vec<String> = [
            bin.as_str(),
            "-D",
            &data.display().to_string(),
            "-p",
            &port.to_string(),
            "-c",
            &format!("listen_addresses={host}"),
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
            "-c",
            "fsync=on",
        ]
        .map(String::from)
        .to_vec();
        let node = &m.nodes[0];
        let daemon = Daemon::new(node.name().to_string(), 0, argv, node.dir().join("postgres.log")).with_user(user);
        let config = format!("host={host} port={port} user=postgres dbname=postgres connect_timeout=2");
        let addr = format!("{host}:{port}");
        let mut c = Cluster::new(m, vec![daemon], Postgres { config, addr })?;
        c.start_all(1, READY_TIMEOUT, "did not accept a query", |pg, _| pg.execute(SCHEMA).is_ok())?;
        Ok(c)
    }

    /// Blocks on one statement batch (called from blocking sections).
    fn execute(&self, sql: &str) -> Result<()> {
        tokio::runtime::Handle::current().block_on(postgres::execute(&self.config, sql))?;
        Ok(())
    }
}

impl Service for Postgres {
    fn endpoint(&self, _node: usize) -> String {
        self.addr.clone()
    }

    /// One server: it is the primary while it runs.
    fn primaries(&self, running: &[bool]) -> Vec<usize> {
        running.iter().enumerate().filter(|(_, r)| **r).map(|(i, _)| i).collect()
    }

    /// After a kill, the server recovers from its WAL before it serves.
    fn restarted(&self, _node: usize) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < READY_TIMEOUT {
            if self.execute("SELECT 1").is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("PostgreSQL did not serve within {READY_TIMEOUT:?} of its restart")
    }
}
