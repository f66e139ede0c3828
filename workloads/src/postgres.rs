//! A PostgreSQL client for the transactional workloads: each `txn` op is
//! one SQL transaction at the isolation level asked for, its micro-ops
//! run in order. List-append keeps each list in a `bigint[]` row
//! (`lists`), an append is an upsert that concatenates; rw-register keeps
//! one `bigint` per row (`registers`), a write is an upsert.
//!
//! Outcomes: an error before COMMIT was sent — a serialization failure,
//! a deadlock, a refused connection, a timeout — leaves the transaction
//! uncommitted, so it is `fail` (PostgreSQL aborts an open transaction
//! whose connection goes). An error answering COMMIT itself is `fail`
//! when the server said so (it rolled back), and `info` when the
//! connection broke or timed out with COMMIT in flight: it may have
//! committed. Nothing is retried: a retry is a new op.

use std::time::Duration;

use checkers::Value;
use tokio::time::Instant;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client as PgConn, NoTls};

use crate::client::{BoxFuture, Client, Completion, Invocation};

/// PostgreSQL's isolation levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Serializable snapshot isolation.
    Serializable,
    /// Snapshot isolation, in PostgreSQL.
    RepeatableRead,
    /// A fresh snapshot per statement.
    ReadCommitted,
}

impl Isolation {
    /// Each level by name, with what it means: `--isolation`'s choices.
    pub const NAMED: &[(&str, &str, Isolation)] = &[
        ("serializable", "SERIALIZABLE", Isolation::Serializable),
        (
            "repeatable-read",
            "REPEATABLE READ: snapshot isolation in PostgreSQL",
            Isolation::RepeatableRead,
        ),
        ("read-committed", "READ COMMITTED", Isolation::ReadCommitted),
    ];

    /// As SQL spells it.
    pub fn sql(self) -> &'static str {
        match self {
            Isolation::Serializable => "SERIALIZABLE",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::ReadCommitted => "READ COMMITTED",
        }
    }
}

/// The tables both workloads use; run once before the clients start.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS lists (k bigint PRIMARY KEY, v bigint[] NOT NULL); \
                          CREATE TABLE IF NOT EXISTS registers (k bigint PRIMARY KEY, v bigint NOT NULL);";

/// Runs `sql` (statements separated by `;`) on a connection of its own,
/// outside any workload: the schema, a readiness probe. The system's
/// client crate stays here, so the harness needs none of its own.
pub async fn execute(config: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(config, NoTls).await?;
    let task = tokio::spawn(conn);
    let r = client.batch_execute(sql).await;
    drop(client);
    let _ = task.await;
    r
}

/// One process's connection (opened on its first op).
pub struct PostgresClient {
    /// `host=… port=… user=… dbname=…`.
    config: String,
    isolation: Isolation,
    timeout: Duration,
    /// Reads return lists (list-append) rather than single values.
    lists: bool,
    conn: Option<PgConn>,
}

/// Why a transaction did not complete, and whether COMMIT was in flight.
struct Failed {
    error: String,
    committing: bool,
    /// The server answered with an error: the connection is still good.
    server_said: bool,
}

impl Failed {
    fn new(committing: bool, e: Result<tokio_postgres::Error, tokio::time::error::Elapsed>) -> Failed {
        match e {
            Ok(e) => Failed {
                server_said: e.as_db_error().is_some(),
                error: describe(&e),
                committing,
            },
            Err(_) => Failed {
                server_said: false,
                error: "timed out".into(),
                committing,
            },
        }
    }
}

/// Awaits `f` until `deadline`: its error, or the timeout.
async fn by<T>(
    deadline: Instant,
    f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Result<tokio_postgres::Error, tokio::time::error::Elapsed>> {
    match tokio::time::timeout_at(deadline, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Ok(e)),
        Err(t) => Err(Err(t)),
    }
}

impl PostgresClient {
    /// A client of the server `config` names; `lists` for list-append.
    pub fn new(config: String, isolation: Isolation, timeout: Duration, lists: bool) -> PostgresClient {
        PostgresClient {
            config,
            isolation,
            timeout,
            lists,
            conn: None,
        }
    }

    async fn connect(&mut self) -> Result<PgConn, String> {
        if let Some(c) = self.conn.take() {
            return Ok(c);
        }
        let (client, connection) =
            tokio::time::timeout(self.timeout, tokio_postgres::connect(&self.config, NoTls))
                .await
                .map_err(|_| "connect timed out".to_string())?
                .map_err(|e| format!("connect: {e}"))?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Runs the micro-ops by `deadline`; returns them with reads filled
    /// in.
    async fn run(&self, conn: &PgConn, mops: &[Value], deadline: Instant) -> Result<Vec<Value>, Failed> {
        let begin = format!("BEGIN ISOLATION LEVEL {}", self.isolation.sql());
        by(deadline, conn.batch_execute(&begin))
            .await
            .map_err(|e| Failed::new(false, e))?;
        let mut out = Vec::with_capacity(mops.len());
        for m in mops {
            let done = by(deadline, self.mop(conn, m))
                .await
                .map_err(|e| Failed::new(false, e))?;
            out.push(done);
        }
        by(deadline, conn.batch_execute("COMMIT"))
            .await
            .map_err(|e| Failed::new(true, e))?;
        Ok(out)
    }

    async fn mop(&self, conn: &PgConn, m: &Value) -> Result<Value, tokio_postgres::Error> {
        let (f, k, v) = match m.as_list() {
            Some([f, k, v]) => (f.as_str().unwrap_or(""), k.as_int().unwrap_or(0), v),
            _ => ("", 0, &Value::Nil),
        };
        let arg = v.as_int().unwrap_or(0);
        match (f, self.lists) {
            ("append", _) => {
                conn.execute(
                    "INSERT INTO lists AS t (k, v) VALUES ($1, ARRAY[$2::bigint]) \
                     ON CONFLICT (k) DO UPDATE SET v = t.v || $2::bigint",
                    &[&k, &arg],
                )
                .await?;
                Ok(m.clone())
            }
            ("w", _) => {
                conn.execute(
                    "INSERT INTO registers AS t (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = $2",
                    &[&k, &arg],
                )
                .await?;
                Ok(m.clone())
            }
            (_, true) => {
                let row = conn.query_opt("SELECT v FROM lists WHERE k = $1", &[&k]).await?;
                let items: Vec<i64> = row.map(|r| r.get(0)).unwrap_or_default();
                Ok(Value::List(vec![
                    "r".into(),
                    Value::Int(k),
                    Value::List(items.into_iter().map(Value::Int).collect()),
                ]))
            }
            (_, false) => {
                let row = conn
                    .query_opt("SELECT v FROM registers WHERE k = $1", &[&k])
                    .await?;
                let v: Option<i64> = row.map(|r| r.get(0));
                Ok(Value::List(vec![
                    "r".into(),
                    Value::Int(k),
                    v.map_or(Value::Nil, Value::Int),
                ]))
            }
        }
    }
}

/// An error in one line: SQLSTATE and message when the server sent one.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) if *db.code() == SqlState::T_R_SERIALIZATION_FAILURE => {
            format!("serialization failure: {}", db.message())
        }
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

impl Client for PostgresClient {
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let Some(mops) = op.value.as_list() else {
                return Completion::fail(op.value.clone(), "not a transaction");
            };
            let deadline = Instant::now() + self.timeout;
            let conn = match self.connect().await {
                Ok(c) => c,
                Err(e) => return Completion::fail(op.value.clone(), e),
            };
            match self.run(&conn, mops, deadline).await {
                Ok(done) => {
                    self.conn = Some(conn);
                    Completion::ok(Value::List(done))
                }
                Err(f) => {
                    // A server error before COMMIT leaves an aborted
                    // transaction to end; a broken or timed-out connection
                    // is dropped (the server then aborts what was open).
                    if f.server_said && !f.committing {
                        let end = tokio::time::timeout(self.timeout, conn.batch_execute("ROLLBACK")).await;
                        if matches!(end, Ok(Ok(()))) {
                            self.conn = Some(conn);
                        }
                    } else if f.server_said {
                        self.conn = Some(conn);
                    }
                    if f.committing && !f.server_said {
                        Completion::info(op.value.clone(), f.error)
                    } else {
                        Completion::fail(op.value.clone(), f.error)
                    }
                }
            }
        })
    }
}
