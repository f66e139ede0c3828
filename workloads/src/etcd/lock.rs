//! etcd's lock service (`/v3/lock/lock`, `/v3/lock/unlock`) for the lock
//! workload, as an etcd client library uses it: each process has one
//! lease of `--lease-ttl` seconds, kept alive every third of its TTL
//! while the process runs; a lock is a key under `faultline/lock/<key>/`
//! owned by that lease, and `lock` returns once every lower revision has
//! gone. Losing the lease (expiry, revocation) loses the lock, and the
//! holder learns it from nothing but a failed keepalive it never reads —
//! which is why a paused holder may go on as if it held it.
//!
//! Each holder also does a guarded write in two steps: `fetch` reads the
//! list at `faultline/guard/<key>`, `add` writes it back with a unique
//! element appended, unconditionally, trusting the lock to keep others
//! out. A final `read` returns every guarded list's elements; an
//! acknowledged `add` missing from them was overwritten by a second
//! holder that fetched before it wrote.
//!
//! Classification: an `acquire` that times out revokes the process's lease
//! (which deletes its lock key, if the server made one) and is a `fail`
//! when that revocation succeeds — the lock was never held past it — and
//! `info` otherwise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use checkers::Value;
use serde_json::{json, Value as Json};

use super::{decode_list, encode_list, EtcdClient};
use crate::client::Completion;

/// One process's locks: its lease, the lock keys etcd made for the locks
/// it holds, and the guarded lists it has fetched.
pub(super) struct Locks {
    ttl: Duration,
    lease: Option<Lease>,
    held: HashMap<Option<Value>, String>,
    fetched: HashMap<Option<Value>, Vec<Value>>,
}

impl Locks {
    pub(super) fn new(ttl: Duration) -> Self {
        Locks {
            ttl,
            lease: None,
            held: HashMap::new(),
            fetched: HashMap::new(),
        }
    }

    /// Stops (or restarts) the keepalives, as a paused process would.
    pub(super) fn pause(&self, paused: bool) {
        if let Some(l) = &self.lease {
            l.paused.store(paused, Ordering::Relaxed);
        }
    }
}

/// A lease and the task keeping it alive.
struct Lease {
    id: String,
    keepalive: tokio::task::JoinHandle<()>,
    /// Set while the process is paused: no keepalives are sent.
    paused: Arc<AtomicBool>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        // A crashed process's lease expires on its own.
        self.keepalive.abort();
    }
}

fn lock_name(key: &Option<Value>) -> String {
    let k = key.as_ref().map_or("nil".to_string(), |k| k.to_string());
    B64.encode(format!("faultline/lock/{k}"))
}

fn guard_key(key: &Option<Value>) -> String {
    let k = key.as_ref().map_or("nil".to_string(), |k| k.to_string());
    B64.encode(format!("faultline/guard/{k}"))
}

impl EtcdClient {
    fn locks(&mut self) -> &mut Locks {
        self.locks.as_mut().expect("a lock client has lock state")
    }

    /// This process's lease, granted on first use.
    async fn lease(&mut self) -> Result<String, (bool, String)> {
        if let Some(l) = &self.locks().lease {
            return Ok(l.id.clone());
        }
        let ttl = self.locks().ttl;
        let resp = self
            .post("/v3/lease/grant", json!({"TTL": ttl.as_secs().max(1)}))
            .await?;
        let id = match &resp["ID"] {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            _ => return Err((true, format!("lease grant answered without an ID: {resp}"))),
        };
        let paused = Arc::new(AtomicBool::new(false));
        let keepalive = {
            let (http, url, id, paused) = (
                self.http.clone(),
                format!("{}/v3/lease/keepalive", self.base),
                id.clone(),
                paused.clone(),
            );
            let every = (ttl / 3).max(Duration::from_millis(300));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if !paused.load(Ordering::Relaxed) {
                        // A failed keepalive goes unnoticed, as in a
                        // client that never checks its session.
                        let _ = http.post(&url).json(&json!({"ID": id})).send().await;
                    }
                }
            })
        };
        self.locks().lease = Some(Lease {
            id: id.clone(),
            keepalive,
            paused,
        });
        Ok(id)
    }

    /// Revokes this process's lease (its locks go with it); whether the
    /// server confirmed it.
    async fn revoke(&mut self) -> bool {
        let locks = self.locks();
        locks.held.clear();
        let Some(l) = locks.lease.take() else {
            return true;
        };
        self.post("/v3/lease/revoke", json!({"ID": l.id})).await.is_ok()
    }

    pub(super) async fn acquire(&mut self, key: &Option<Value>) -> Completion {
        let lease = match self.lease().await {
            Ok(id) => id,
            // No lease, no lock.
            Err((_, e)) => return Completion::fail(Value::Nil, format!("granting a lease: {e}")),
        };
        match self
            .post("/v3/lock/lock", json!({"name": lock_name(key), "lease": lease}))
            .await
        {
            Ok(resp) => match resp["key"].as_str() {
                Some(k) => {
                    self.locks().held.insert(key.clone(), k.to_string());
                    Completion::ok(Value::Nil)
                }
                None => Completion::info(Value::Nil, format!("lock answered without a key: {resp}")),
            },
            Err((false, e)) => Completion::fail(Value::Nil, e),
            Err((true, e)) => {
                if self.revoke().await {
                    Completion::fail(Value::Nil, format!("{e}; the lease was revoked"))
                } else {
                    Completion::info(Value::Nil, format!("{e}; the lease could not be revoked"))
                }
            }
        }
    }

    pub(super) async fn release(&mut self, key: &Option<Value>) -> Completion {
        let Some(lock) = self.locks().held.remove(key) else {
            return Completion::fail(Value::Nil, "this process does not hold the lock");
        };
        // Unlocking a key the lease already lost deletes nothing and
        // succeeds: etcd does not tell a late holder.
        match self.post("/v3/lock/unlock", json!({"key": lock})).await {
            Ok(_) => Completion::ok(Value::Nil),
            Err((true, e)) => Completion::info(Value::Nil, e),
            Err((false, e)) => {
                self.locks().held.insert(key.clone(), lock);
                Completion::fail(Value::Nil, e)
            }
        }
    }

    /// The guarded write's read: the list at the lock's guard key.
    pub(super) async fn fetch(&mut self, key: &Option<Value>) -> Completion {
        let resp = match self.post("/v3/kv/range", json!({"key": guard_key(key)})).await {
            Ok(r) => r,
            Err((_, e)) => return Completion::fail(Value::Nil, e),
        };
        let list = match resp["kvs"][0]["value"].as_str().map(decode_list) {
            Some(Ok(l)) => l,
            Some(Err(e)) => return Completion::fail(Value::Nil, e),
            None => Vec::new(),
        };
        self.locks().fetched.insert(key.clone(), list.clone());
        Completion::ok(Value::List(list))
    }

    /// The guarded write: the fetched list with `element` added, written
    /// back whatever the key holds now.
    pub(super) async fn add(&mut self, key: &Option<Value>, element: &Value) -> Completion {
        let Some(mut list) = self.locks().fetched.remove(key) else {
            return Completion::fail(element.clone(), "nothing fetched to add to");
        };
        list.push(element.clone());
        match self
            .post(
                "/v3/kv/put",
                json!({"key": guard_key(key), "value": encode_list(&list)}),
            )
            .await
        {
            Ok(_) => Completion::ok(element.clone()),
            Err((true, e)) => Completion::info(element.clone(), e),
            Err((false, e)) => Completion::fail(element.clone(), e),
        }
    }

    /// Every guarded list's elements, together.
    pub(super) async fn read_guards(&self) -> Completion {
        let body = json!({
            "key": B64.encode("faultline/guard/"),
            // The prefix's end: '/' + 1.
            "range_end": B64.encode("faultline/guard0"),
        });
        match self.post("/v3/kv/range", body).await {
            Ok(resp) => {
                let mut all = Vec::new();
                for kv in resp["kvs"].as_array().map_or(&[][..], |a| a) {
                    match decode_list(kv["value"].as_str().unwrap_or("")) {
                        Ok(l) => all.extend(l),
                        Err(e) => return Completion::fail(Value::Nil, e),
                    }
                }
                Completion::ok(Value::List(all))
            }
            Err((_, e)) => Completion::fail(Value::Nil, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_and_guards_have_prefixes_of_their_own() {
        let k = Some(Value::Int(3));
        assert_eq!(B64.decode(lock_name(&k)).unwrap(), b"faultline/lock/3");
        assert_eq!(B64.decode(guard_key(&k)).unwrap(), b"faultline/guard/3");
    }
}
