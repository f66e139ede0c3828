//! An etcd v3 client over the JSON gateway (`/v3/kv/range`, `/v3/kv/put`,
//! `/v3/kv/txn`; keys and values base64, as the gateway wants), for register and
//! cas-register workloads.
//!
//! Keys are `faultline/<key>`, values decimal integers. A cas is a txn
//! that compares the value and puts the new one: `succeeded` false is a
//! definite failure. Reads are linearizable unless `serializable` is set
//! (served from the local node, a known source of stale reads under
//! partition: the positive control). Errors: refused connections are
//! `fail`; a timeout or a server error is `info` for writes and `fail`
//! for reads. Nothing is retried. `https://` endpoints use rustls (the
//! `tls` feature, on by default) with the CA and client certificate given.
//!
//! List-append transactions (`txn`) are optimistic, as etcd's own STM:
//! one Txn reads every key the transaction touches at one revision; the
//! micro-ops run against that snapshot; a second Txn writes the new lists
//! only if each key's mod revision (or absence) is still what was read —
//! otherwise nothing is written and the op is a `fail`. A read-only
//! transaction is its snapshot. Lists are stored as `1,2,3` under
//! `faultline/list/<key>`.

mod lock;
mod watch;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use checkers::{Function, Value};
use serde_json::{json, Value as Json};

use crate::client::{BoxFuture, Client, Completion, Invocation};

/// How reads are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reads {
    /// Through the leader, linearizable (etcd's default).
    Linearizable,
    /// From the node's local state (`serializable: true`).
    Serializable,
}

impl Reads {
    /// Each mode by name, with what it means: `--etcd-reads`' choices.
    pub const NAMED: &[(&str, &str, Reads)] = &[
        (
            "linearizable",
            "through the leader (etcd's default)",
            Reads::Linearizable,
        ),
        (
            "serializable",
            "from the node's own state: stale under partition",
            Reads::Serializable,
        ),
    ];
}

/// TLS material for `https://` endpoints, as PEM.
#[derive(Clone, Debug, Default)]
pub struct Tls {
    /// The CA that signed the servers' certificates.
    pub ca: Option<Vec<u8>>,
    /// The client certificate and its key, concatenated.
    pub identity: Option<Vec<u8>>,
}

/// How to reach an etcd cluster.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Per-request timeout.
    pub timeout: Duration,
    /// How reads are served.
    pub reads: Reads,
    /// TLS material, for `https://` endpoints.
    pub tls: Tls,
}

impl Connection {
    /// An HTTP client for these settings, or why it cannot be built (a
    /// malformed certificate, or TLS asked of a build without it).
    pub fn http(&self) -> Result<reqwest::Client, String> {
        let b = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .pool_max_idle_per_host(1);
        #[cfg(feature = "tls")]
        let b = {
            let mut b = b.use_rustls_tls().tls_built_in_root_certs(false);
            if let Some(ca) = &self.tls.ca {
                let cert =
                    reqwest::Certificate::from_pem(ca).map_err(|e| format!("the CA certificate: {e}"))?;
                b = b.add_root_certificate(cert);
            }
            if let Some(id) = &self.tls.identity {
                let id = reqwest::Identity::from_pem(id)
                    .map_err(|e| format!("the client certificate or key: {e}"))?;
                b = b.identity(id);
            }
            b
        };
        #[cfg(not(feature = "tls"))]
        if self.tls.ca.is_some() || self.tls.identity.is_some() {
            return Err("this faultline was built without the `tls` feature".into());
        }
        b.build().map_err(|e| e.to_string())
    }
}

/// A client of one etcd node.
pub struct EtcdClient {
    http: reqwest::Client,
    base: String,
    reads: Reads,
    /// The lock workload's state; `None` for other workloads.
    locks: Option<lock::Locks>,
    /// The watch workload's stream; `None` for other workloads.
    watches: Option<watch::Watches>,
}

impl EtcdClient {
    /// A client of the node whose client URL is `base` (`http://ip:port`
    /// or `https://...`), sharing `http` (from [`Connection::http`]).
    pub fn new(base: String, http: reqwest::Client, reads: Reads) -> Self {
        EtcdClient {
            http,
            base,
            reads,
            locks: None,
            watches: None,
        }
    }

    /// For the watch workload: `txn` writes puts and deletes, `watch`
    /// streams a key range; `timeout` bounds opening a stream and the
    /// final watch.
    pub fn with_watch(mut self, timeout: Duration) -> Self {
        self.watches = Some(watch::Watches::new(timeout));
        self
    }

    /// For the lock workload: locks on a lease of `ttl`, guarded writes,
    /// and `read` reads every guarded list.
    pub fn with_locks(mut self, ttl: Duration) -> Self {
        self.locks = Some(lock::Locks::new(ttl));
        self
    }

    async fn post(&self, path: &str, body: Json) -> Result<Json, (bool, String)> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                let sent = !e.is_connect();
                let what = if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    explain(&e)
                };
                (sent, what)
            })?;
        let status = resp.status();
        let body: Json = resp
            .json()
            .await
            .map_err(|e| (true, format!("reading the response: {e}")))?;
        if !status.is_success() {
            let msg = body["message"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("")
                .to_string();
            return Err((true, format!("HTTP {}: {msg}", status.as_u16())));
        }
        Ok(body)
    }
}

/// An error with its causes (`error sending request: ... : invalid peer
/// certificate: UnknownIssuer`), since the outermost says little.
pub fn explain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

fn key(k: &Option<Value>) -> String {
    let k = k.as_ref().map_or("nil".to_string(), |k| k.to_string());
    B64.encode(format!("faultline/{k}"))
}

fn encode(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// The integer stored at a range response's first key, or nil.
pub fn decode_range(body: &Json) -> Result<Value, String> {
    let Some(kv) = body["kvs"].as_array().and_then(|a| a.first()) else {
        return Ok(Value::Nil);
    };
    let raw = kv["value"].as_str().unwrap_or("");
    let bytes = B64
        .decode(raw)
        .map_err(|e| format!("value {raw:?} is not base64: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    text.parse::<i64>()
        .map(Value::Int)
        .map_err(|_| format!("value {text:?} is not an integer"))
}

/// The request body of each operation.
pub fn request(op: &Invocation, reads: Reads) -> Result<(&'static str, Json), String> {
    let k = key(&op.key);
    match op.f {
        Function::Read => Ok((
            "/v3/kv/range",
            if reads == Reads::Serializable {
                json!({"key": k, "serializable": true})
            } else {
                json!({"key": k})
            },
        )),
        Function::Write => Ok(("/v3/kv/put", json!({"key": k, "value": encode(&op.value)}))),
        Function::Cas => {
            let (from, to) = op.value.as_pair().ok_or("cas takes [from to]")?;
            Ok((
                "/v3/kv/txn",
                json!({
                    "compare": [{"key": k, "target": "VALUE", "result": "EQUAL", "value": encode(from)}],
                    "success": [{"request_put": {"key": k, "value": encode(to)}}],
                }),
            ))
        }
        ref f => Err(format!("the etcd client has read, write, cas and txn, not {f}")),
    }
}

fn list_key(k: &Value) -> String {
    B64.encode(format!("faultline/list/{k}"))
}

/// A stored list, `1,2,3` (empty: the empty list).
fn decode_list(raw: &str) -> Result<Vec<Value>, String> {
    let bytes = B64
        .decode(raw)
        .map_err(|e| format!("value {raw:?} is not base64: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map(Value::Int)
                .map_err(|_| format!("list {text:?} holds a non-integer"))
        })
        .collect()
}

fn encode_list(items: &[Value]) -> String {
    let parts: Vec<String> = items.iter().map(|v| v.to_string()).collect();
    B64.encode(parts.join(","))
}

/// What the read phase saw of one key: its list and mod revision (0:
/// absent).
struct Seen {
    key: Value,
    list: Vec<Value>,
    revision: String,
}

impl EtcdClient {
    /// A list-append transaction: read at one revision, write if nothing
    /// read has changed since.
    async fn txn(&self, op: &Invocation, mops: &[Value]) -> Completion {
        let orig = op.value.clone();
        let mut keys: Vec<Value> = Vec::new();
        for m in mops {
            match m.as_list() {
                Some([_, k, _]) if !keys.contains(k) => keys.push(k.clone()),
                Some([_, _, _]) => {}
                _ => return Completion::fail(orig, format!("micro-op {m}: expected [f key value]")),
            }
        }
        let ranges: Vec<Json> = keys
            .iter()
            .map(|k| {
                let mut r = json!({"key": list_key(k)});
                if self.reads == Reads::Serializable {
                    r["serializable"] = Json::Bool(true);
                }
                json!({"request_range": r})
            })
            .collect();
        // Reading has no effect: any error here is a definite failure.
        let snapshot = match self.post("/v3/kv/txn", json!({"success": ranges})).await {
            Ok(r) => r,
            Err((_, e)) => return Completion::fail(orig, e),
        };
        let mut seen = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let kv = &snapshot["responses"][i]["response_range"]["kvs"][0];
            let list = match kv["value"].as_str() {
                Some(raw) => match decode_list(raw) {
                    Ok(l) => l,
                    Err(e) => return Completion::fail(orig, e),
                },
                None => Vec::new(),
            };
            let revision = kv["mod_revision"].as_str().unwrap_or("0").to_string();
            seen.push(Seen {
                key: k.clone(),
                list,
                revision,
            });
        }
        let mut out = Vec::with_capacity(mops.len());
        let mut wrote = vec![false; seen.len()];
        for m in mops {
            let Some([f, k, v]) = m.as_list() else { continue };
            let i = keys.iter().position(|x| x == k).unwrap_or(0);
            match f.as_str() {
                Some("append") => {
                    seen[i].list.push(v.clone());
                    wrote[i] = true;
                    out.push(m.clone());
                }
                _ => out.push(Value::List(vec![
                    "r".into(),
                    k.clone(),
                    Value::List(seen[i].list.clone()),
                ])),
            }
        }
        if !wrote.contains(&true) {
            return Completion::ok(Value::List(out));
        }
        // Every key read or written must be as it was read.
        let compare: Vec<Json> = seen
            .iter()
            .map(|s| {
                if s.revision == "0" {
                    json!({"key": list_key(&s.key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"})
                } else {
                    json!({"key": list_key(&s.key), "target": "MOD", "result": "EQUAL", "mod_revision": s.revision})
                }
            })
            .collect();
        let puts: Vec<Json> = seen
            .iter()
            .zip(&wrote)
            .filter(|(_, w)| **w)
            .map(|(s, _)| json!({"request_put": {"key": list_key(&s.key), "value": encode_list(&s.list)}}))
            .collect();
        match self
            .post("/v3/kv/txn", json!({"compare": compare, "success": puts}))
            .await
        {
            Ok(r) if r["succeeded"] == Json::Bool(true) => Completion::ok(Value::List(out)),
            Ok(_) => Completion::fail(orig, "a key changed since it was read"),
            Err((sent, e)) => Completion::unanswered(op, sent, e),
        }
    }
}

impl Client for EtcdClient {
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            if self.locks.is_some() {
                return match &op.f {
                    Function::Acquire => self.acquire(&op.key).await,
                    Function::Release => self.release(&op.key).await,
                    Function::Fetch => self.fetch(&op.key).await,
                    Function::Add => self.add(&op.key, &op.value).await,
                    Function::Read => self.read_guards().await,
                    f => Completion::fail(op.value.clone(), format!("the etcd lock client has no {f}")),
                };
            }
            if self.watches.is_some() {
                return match &op.f {
                    Function::Txn => self.change(op).await,
                    Function::Watch => self.watch(op).await,
                    f => Completion::fail(op.value.clone(), format!("the etcd watch client has no {f}")),
                };
            }
            if op.f == Function::Txn {
                return match op.value.as_list() {
                    Some(mops) => self.txn(op, mops).await,
                    None => Completion::fail(op.value.clone(), "a txn takes a list of micro-ops"),
                };
            }
            let (path, body) = match request(op, self.reads) {
                Ok(r) => r,
                Err(e) => return Completion::fail(op.value.clone(), e),
            };
            match self.post(path, body).await {
                Ok(resp) if op.f == Function::Read => match decode_range(&resp) {
                    Ok(v) => Completion::ok(v),
                    Err(e) => Completion::fail(Value::Nil, e),
                },
                Ok(resp) if op.f == Function::Cas && resp["succeeded"] != Json::Bool(true) => {
                    Completion::fail(op.value.clone(), "compare failed")
                }
                Ok(_) => Completion::ok(op.value.clone()),
                Err((sent, e)) => Completion::unanswered(op, sent, e),
            }
        })
    }

    fn pause(&mut self, paused: bool) {
        if let Some(l) = &self.locks {
            l.pause(paused);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(f: &str, value: Value) -> Invocation {
        Invocation {
            f: f.into(),
            key: Some(Value::Int(7)),
            value,
        }
    }

    #[test]
    fn requests_follow_the_gateway_mapping() {
        let (path, body) = request(&inv("read", Value::Nil), Reads::Serializable).unwrap();
        assert_eq!(path, "/v3/kv/range");
        assert_eq!(body["key"], B64.encode("faultline/7"));
        assert_eq!(body["serializable"], true);
        let (path, body) = request(
            &inv("cas", Value::List(vec![1.into(), 2.into()])),
            Reads::Linearizable,
        )
        .unwrap();
        assert_eq!(path, "/v3/kv/txn");
        assert_eq!(body["compare"][0]["value"], B64.encode("1"));
        assert_eq!(body["compare"][0]["result"], "EQUAL");
        assert_eq!(body["success"][0]["request_put"]["value"], B64.encode("2"));
    }

    #[test]
    fn lists_round_trip_through_their_stored_form() {
        let l = vec![Value::Int(1), Value::Int(22), Value::Int(-3)];
        assert_eq!(decode_list(&encode_list(&l)).unwrap(), l);
        assert_eq!(decode_list(&encode_list(&[])).unwrap(), Vec::<Value>::new());
        assert!(decode_list(&B64.encode("1,x")).is_err());
    }

    #[test]
    fn range_responses_decode() {
        let body = json!({"header": {}, "kvs": [{"key": B64.encode("faultline/7"), "value": B64.encode("42")}], "count": "1"});
        assert_eq!(decode_range(&body).unwrap(), Value::Int(42));
        assert_eq!(decode_range(&json!({"header": {}})).unwrap(), Value::Nil);
        assert!(decode_range(&json!({"kvs": [{"value": B64.encode("x")}]})).is_err());
    }
}
