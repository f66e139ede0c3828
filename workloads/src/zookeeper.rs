//! A ZooKeeper client (the `zookeeper-client` crate, one session per
//! process) for the register, cas-register and lock workloads.
//!
//! Registers are znodes `/faultline/r<key>` holding a decimal integer; a
//! missing znode reads as nil. A compare-and-set reads the znode and
//! writes with the version it read (`setData` with an expected version),
//! so a stale read can only make it fail. Reads are plain `getData` —
//! served by whichever server the session is on, stale by design — or
//! `sync` then `getData`. The lock is the recipe on ephemeral sequential
//! znodes under `/faultline/l<key>` (Curator's naming, so a create lost to
//! a dropped connection is found again).
//!
//! Classification: ZooKeeper's error codes are definite (`BadVersion`,
//! `NoNode`, `NodeExists`, `NotReadOnly`, an expired session): `fail`. A
//! lost connection or a timeout after sending is `info` for mutations
//! and `fail` for reads. Nothing is retried after an indeterminate error.

use std::collections::HashMap;
use std::time::Duration;

use checkers::{Function, OpType, Value};
use zookeeper_client as zk;

use crate::client::{BoxFuture, Client, Completion, Invocation};

/// How reads are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reads {
    /// `getData` from the session's server: may be stale.
    Plain,
    /// `sync` first, so the server has caught up with the leader.
    Sync,
}

impl Reads {
    /// Each mode by name, with what it means: `--zookeeper-reads`' choices.
    pub const NAMED: &[(&str, &str, Reads)] = &[
        ("sync", "sync, then read", Reads::Sync),
        (
            "plain",
            "read what the session's server has: may be stale",
            Reads::Plain,
        ),
    ];
}

const ROOT: &str = "/faultline";

/// One process's session.
pub struct ZkClient {
    /// `host:port,host:port`: the crate shuffles it and moves to another
    /// server when one stops answering.
    ensemble: String,
    timeout: Duration,
    reads: Reads,
    session: Option<zk::Client>,
    /// Locks this process holds, by key.
    held: HashMap<String, zk::OwnedLockClient>,
}

/// An operation's failure: whether it may have taken effect, and why.
struct Failed {
    maybe_applied: bool,
    why: String,
}

impl Failed {
    fn definite(why: impl Into<String>) -> Self {
        Failed {
            maybe_applied: false,
            why: why.into(),
        }
    }

    /// What ZooKeeper answered: its error codes say the request was
    /// refused; a lost connection leaves the outcome unknown.
    fn from_zk(e: zk::Error) -> Self {
        let maybe_applied = matches!(
            e,
            zk::Error::ConnectionLoss
                | zk::Error::Timeout
                | zk::Error::Custom(_)
                | zk::Error::UnexpectedError(_)
        );
        Failed {
            maybe_applied,
            why: e.to_string(),
        }
    }
}

fn int(data: &[u8]) -> Result<Value, Failed> {
    let s = String::from_utf8_lossy(data);
    s.parse::<i64>()
        .map(Value::Int)
        .map_err(|_| Failed::definite(format!("znode holds {s:?}, not an integer")))
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// The path of a register or lock key.
pub fn path(kind: char, key: Option<&Value>) -> String {
    format!("{ROOT}/{kind}{}", key.map_or("0".into(), |k| k.to_string()))
}

impl ZkClient {
    /// A client of the ensemble at `hosts`; connects on first use.
    pub fn new(hosts: &[String], timeout: Duration, reads: Reads) -> Self {
        ZkClient {
            ensemble: hosts.join(","),
            timeout,
            reads,
            session: None,
            held: HashMap::new(),
        }
    }

    async fn session(&mut self) -> Result<zk::Client, Failed> {
        if let Some(s) = &self.session {
            if !s.state().is_terminated() {
                return Ok(s.clone());
            }
        }
        // Read-only sessions allowed: a server cut off from the quorum in
        // read-only mode may answer reads, as ZooKeeper intends.
        let connect = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(6))
            .with_readonly(true)
            .connect(&self.ensemble);
        let s = connect
            .await
            .map_err(|e| Failed::definite(format!("connect: {e}")))?;
        self.session = Some(s.clone());
        Ok(s)
    }

    async fn read(&mut self, path: &str) -> Result<Value, Failed> {
        let s = self.session().await?;
        if self.reads == Reads::Sync {
            s.sync(path)
                .await
                .map_err(|e| Failed::definite(format!("sync: {e}")))?;
        }
        match s.get_data(path).await {
            Ok((data, _)) => int(&data),
            Err(zk::Error::NoNode) => Ok(Value::Nil),
            Err(e) => Err(Failed::definite(e.to_string())),
        }
    }

    async fn write(&mut self, path: &str, value: &Value) -> Result<(), Failed> {
        let s = self.session().await?;
        let data = value.to_string().into_bytes();
        // A definite NoNode or NodeExists did nothing, so trying the other
        // call is not a retry of something that may have applied.
        for _ in 0..3 {
            match s.set_data(path, &data, None).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NoNode) => {}
                Err(e) => return Err(Failed::from_zk(e)),
            }
            match s.create(path, &data, &persistent()).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NodeExists) => {}
                Err(zk::Error::NoNode) => match s.create(ROOT, b"", &persistent()).await {
                    Ok(_) | Err(zk::Error::NodeExists) => {}
                    Err(e) => return Err(Failed::from_zk(e)),
                },
                Err(e) => return Err(Failed::from_zk(e)),
            }
        }
        Err(Failed::definite("the znode kept appearing and vanishing"))
    }

    async fn cas(&mut self, path: &str, from: &Value, to: &Value) -> Result<(), Failed> {
        let s = self.session().await?;
        let (data, stat) = match s.get_data(path).await {
            Ok(r) => r,
            Err(zk::Error::NoNode) => return Err(Failed::definite("no such register")),
            Err(e) => return Err(Failed::definite(format!("read before cas: {e}"))),
        };
        let current = int(&data)?;
        if current != *from {
            return Err(Failed::definite(format!("value is {current}")));
        }
        s.set_data(path, to.to_string().as_bytes(), Some(stat.version))
            .await
            .map(|_| ())
            .map_err(Failed::from_zk)
    }

    async fn acquire(&mut self, dir: &str) -> Result<(), Failed> {
        let s = self.session().await?;
        let options = zk::LockOptions::new(zk::Acls::anyone_all())
            .with_ancestor_options(persistent())
            .map_err(|e| Failed::definite(e.to_string()))?;
        let prefix =
            zk::LockPrefix::new_curator(dir, "lock-").map_err(|e| Failed::definite(e.to_string()))?;
        // The recipe finds its own znode again after a lost connection and
        // deletes it if dropped unfinished: an error here never leaves
        // this process holding the lock.
        let lock = s
            .lock(prefix, b"", options)
            .await
            .map_err(|e| Failed::definite(e.to_string()))?;
        self.held.insert(dir.to_string(), lock.into_owned());
        Ok(())
    }

    async fn release(&mut self, dir: &str) -> Result<(), Failed> {
        let Some(lock) = self.held.get(dir) else {
            return Err(Failed::definite("this process does not hold the lock"));
        };
        let result = match lock.client().delete(lock.lock_path(), None).await {
            Ok(()) => Ok(()),
            // Someone else's session cannot delete it: ours expired, and
            // the lock was lost at some moment we never saw.
            Err(zk::Error::NoNode) => Err(Failed {
                maybe_applied: true,
                why: "the lock znode was already gone: the session expired while holding it".into(),
            }),
            Err(e) => Err(Failed::from_zk(e)),
        };
        // Refused (say by a read-only server): still held. Dropping the
        // handle would delete the znode later, behind the history's back.
        if !matches!(&result, Err(f) if !f.maybe_applied) {
            self.held.remove(dir);
        }
        result
    }

    async fn perform(&mut self, op: &Invocation) -> Result<Value, Failed> {
        let key = op.key.as_ref();
        match (&op.f, &op.value) {
            (Function::Read, _) => self.read(&path('r', key)).await,
            (Function::Write, v) => self.write(&path('r', key), v).await.map(|()| v.clone()),
            (Function::Cas, Value::List(ft)) if ft.len() == 2 => self
                .cas(&path('r', key), &ft[0], &ft[1])
                .await
                .map(|()| op.value.clone()),
            (Function::Acquire, v) => self.acquire(&path('l', key)).await.map(|()| v.clone()),
            (Function::Release, v) => self.release(&path('l', key)).await.map(|()| v.clone()),
            (f, _) => Err(Failed::definite(format!("the zookeeper client has no {f}"))),
        }
    }
}

impl Client for ZkClient {
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let outcome = match tokio::time::timeout(self.timeout, self.perform(op)).await {
                Ok(r) => r,
                // An acquire dropped unfinished removes its znode itself.
                Err(_) => Err(Failed {
                    maybe_applied: op.f != Function::Acquire,
                    why: "timed out".into(),
                }),
            };
            match outcome {
                Ok(v) => Completion::ok(v),
                Err(f) => {
                    let done = Completion::unanswered(op, f.maybe_applied, f.why);
                    if done.kind == OpType::Info {
                        // A crashed process: its session goes, and with it
                        // any lock it holds (the next client opens a new one).
                        self.held.clear();
                        self.session = None;
                    }
                    done
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_znodes() {
        assert_eq!(path('r', Some(&Value::Int(7))), "/faultline/r7");
        assert_eq!(path('l', None), "/faultline/l0");
    }

    #[test]
    fn zookeeper_error_codes_are_definite_and_lost_connections_are_not() {
        for e in [
            zk::Error::BadVersion,
            zk::Error::NoNode,
            zk::Error::NotReadOnly,
            zk::Error::SessionExpired,
        ] {
            assert!(!Failed::from_zk(e).maybe_applied);
        }
        for e in [zk::Error::ConnectionLoss, zk::Error::Timeout] {
            assert!(Failed::from_zk(e).maybe_applied);
        }
    }

    #[test]
    fn znode_data_must_be_an_integer() {
        assert_eq!(int(b"42").ok(), Some(Value::Int(42)));
        assert!(int(b"x").unwrap_err().why.contains("\"x\""));
    }
}
