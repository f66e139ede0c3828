//! A Consul KV client over its HTTP API, for the register, cas-register
//! and lock workloads.
//!
//! Reads are `GET /v1/kv/<key>` with `?consistent` (linearizable),
//! `?stale` (any server) or neither (Consul's default); a missing key is
//! 404. Writes are `PUT /v1/kv/<key>` with the value as the body. A cas
//! reads the key's `ModifyIndex` (consistently) and writes with
//! `?cas=<index>` (`0`: only if absent); the body `false` — or a value
//! other than the expected one — is a definite failure. Locks use a
//! session per process (`PUT /v1/session/create`, tied to the agent's
//! health, 1 s lock delay) and `PUT /v1/kv/<key>?acquire=<id>` /
//! `?release=<id>`, which answer `true` or `false` at once: `false` is a
//! definite failure (someone else holds it). Errors classify
//! as for etcd: refused connections `fail`; timeouts and server errors
//! `info` for writes, `fail` for reads.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use checkers::{Function, OpType, Value};
use serde_json::Value as Json;

use crate::client::{BoxFuture, Client, Completion, Invocation};
use crate::etcd::explain;

/// Consul's read consistency modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// `?consistent`: the leader confirms it still leads.
    Consistent,
    /// Neither flag: the leader answers without confirming.
    Default,
    /// `?stale`: any server answers from its own state.
    Stale,
}

impl Consistency {
    /// Each mode by name, with what it means: `--consul-reads`' choices.
    pub const NAMED: &[(&str, &str, Consistency)] = &[
        (
            "consistent",
            "the leader confirms it still leads",
            Consistency::Consistent,
        ),
        (
            "default",
            "the leader answers without checking it still leads",
            Consistency::Default,
        ),
        (
            "stale",
            "any server answers from its own state",
            Consistency::Stale,
        ),
    ];
}

impl Consistency {
    fn query(self) -> &'static str {
        match self {
            Consistency::Consistent => "?consistent",
            Consistency::Default => "",
            Consistency::Stale => "?stale",
        }
    }
}

/// The path of a history key.
pub fn key_path(key: &Option<Value>) -> String {
    format!(
        "/v1/kv/faultline/{}",
        key.as_ref().map_or("nil".into(), |k| k.to_string())
    )
}

/// A key's value and `ModifyIndex` from a `GET /v1/kv/...` body; `None`
/// for a missing key (404).
pub fn parse_get(status: u16, body: &str) -> Result<Option<(Value, u64)>, String> {
    if status == 404 {
        return Ok(None);
    }
    if status != 200 {
        return Err(format!("HTTP {status}: {}", body.trim()));
    }
    let json: Json = serde_json::from_str(body).map_err(|e| format!("bad body: {e}"))?;
    let entry = json
        .as_array()
        .and_then(|a| a.first())
        .ok_or("expected a list with one entry")?;
    let index = entry["ModifyIndex"].as_u64().ok_or("no ModifyIndex")?;
    let value = match entry["Value"].as_str() {
        None => Value::Nil,
        Some(raw) => {
            let bytes = B64
                .decode(raw)
                .map_err(|e| format!("value {raw:?} is not base64: {e}"))?;
            let text = String::from_utf8_lossy(&bytes);
            Value::Int(
                text.parse()
                    .map_err(|_| format!("value {text:?} is not an integer"))?,
            )
        }
    };
    Ok(Some((value, index)))
}

/// Whether a `PUT` body says the write happened (`true`/`false`).
pub fn parse_put(status: u16, body: &str) -> Result<bool, String> {
    match (status, body.trim()) {
        (200, "true") => Ok(true),
        (200, "false") => Ok(false),
        (s, b) => Err(format!("HTTP {s}: {b}")),
    }
}

/// The body of `PUT /v1/session/create`: no TTL (the session lives while
/// the agent is healthy), released locks free at once but for a short
/// lock delay.
pub const SESSION_REQUEST: &str = r#"{"Name":"faultline","LockDelay":"1s","Behavior":"release"}"#;

/// The session ID from a `PUT /v1/session/create` answer.
pub fn parse_session(status: u16, body: &str) -> Result<String, String> {
    if status != 200 {
        return Err(format!("HTTP {status}: {}", body.trim()));
    }
    let json: Json = serde_json::from_str(body).map_err(|e| format!("session answer {body:?}: {e}"))?;
    json["ID"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("session answer without an ID: {body}"))
}

/// The lock query for `acquire` or `release` with `session`.
pub fn lock_query(f: &str, session: &str) -> String {
    format!("?{f}={session}")
}

/// A client of one Consul agent.
pub struct ConsulClient {
    http: reqwest::Client,
    base: String,
    reads: Consistency,
    /// This process's session, once a lock op needed one.
    session: Option<String>,
}

impl ConsulClient {
    /// A client of the agent at `base` (`http://ip:8500`).
    pub fn new(base: String, timeout: Duration, reads: Consistency) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("a plain HTTP client builds");
        ConsulClient {
            http,
            base,
            reads,
            session: None,
        }
    }

    /// `acquire` or `release` the lock `key` for this process's session;
    /// `Ok(false)` when Consul refused.
    async fn lock(&mut self, f: &str, key: &Option<Value>) -> Result<bool, (bool, String)> {
        let session = match &self.session {
            Some(s) => s.clone(),
            None => {
                let url = format!("{}/v1/session/create", self.base);
                let (status, body) = self.send(self.http.put(url).body(SESSION_REQUEST)).await?;
                // A session nobody uses holds nothing: creating one is not
                // a lock operation that may have happened.
                let id = parse_session(status, &body).map_err(|e| (false, e))?;
                self.session = Some(id.clone());
                id
            }
        };
        let url = format!("{}{}{}", self.base, key_path(key), lock_query(f, &session));
        let (status, body) = self.send(self.http.put(url)).await?;
        parse_put(status, &body).map_err(|e| (true, e))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, String), (bool, String)> {
        let resp = req.send().await.map_err(|e| {
            (
                !e.is_connect(),
                if e.is_timeout() {
                    "timed out".into()
                } else {
                    explain(&e)
                },
            )
        })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| (true, explain(&e)))?;
        Ok((status, body))
    }

    async fn get(
        &self,
        key: &Option<Value>,
        mode: Consistency,
    ) -> Result<Option<(Value, u64)>, (bool, String)> {
        let url = format!("{}{}{}", self.base, key_path(key), mode.query());
        let (status, body) = self.send(self.http.get(url)).await?;
        parse_get(status, &body).map_err(|e| (true, e))
    }

    async fn put(
        &self,
        key: &Option<Value>,
        value: &Value,
        cas: Option<u64>,
    ) -> Result<bool, (bool, String)> {
        let query = cas.map_or(String::new(), |i| format!("?cas={i}"));
        let url = format!("{}{}{query}", self.base, key_path(key));
        let (status, body) = self.send(self.http.put(url).body(value.to_string())).await?;
        parse_put(status, &body).map_err(|e| (true, e))
    }
}

impl Client for ConsulClient {
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let result: Result<Completion, (bool, String)> = match &op.f {
                Function::Read => self
                    .get(&op.key, self.reads)
                    .await
                    .map(|v| Completion::ok(v.map_or(Value::Nil, |(v, _)| v))),
                Function::Write => self
                    .put(&op.key, &op.value, None)
                    .await
                    .map(|_| Completion::ok(op.value.clone())),
                Function::Cas => match op.value.as_pair() {
                    None => Ok(Completion::fail(op.value.clone(), "cas takes [from to]")),
                    Some((from, to)) => match self.get(&op.key, Consistency::Consistent).await {
                        // Nothing was written yet: the read has no effect.
                        Err((_, e)) => Ok(Completion::fail(op.value.clone(), e)),
                        Ok(current) => {
                            let (value, index) = current.unwrap_or((Value::Nil, 0));
                            if value != *from {
                                Ok(Completion::fail(op.value.clone(), "compare failed"))
                            } else {
                                self.put(&op.key, to, Some(index)).await.map(|done| {
                                    if done {
                                        Completion::ok(op.value.clone())
                                    } else {
                                        Completion::fail(op.value.clone(), "modified concurrently")
                                    }
                                })
                            }
                        }
                    },
                },
                f @ (Function::Acquire | Function::Release) => {
                    self.lock(f.name(), &op.key).await.map(|done| {
                        if done {
                            Completion::ok(op.value.clone())
                        } else {
                            Completion::fail(op.value.clone(), format!("consul refused to {f}"))
                        }
                    })
                }
                f => Ok(Completion::fail(
                    op.value.clone(),
                    format!("the consul client has no {f}"),
                )),
            };
            match result {
                Ok(c) => c,
                Err((sent, e)) => {
                    let done = Completion::unanswered(op, sent, e);
                    // A crashed process: its session goes, and any lock it
                    // may hold is freed (best effort; the history already
                    // allows that lock to be taken or not).
                    let session = (done.kind == OpType::Info).then(|| self.session.take()).flatten();
                    if let Some(id) = session {
                        let req = self.http.put(format!("{}/v1/session/destroy/{id}", self.base));
                        tokio::spawn(async move {
                            let _ = req.send().await;
                        });
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
    fn get_bodies_parse_as_documented() {
        let body = r#"[{"LockIndex":0,"Key":"faultline/3","Flags":0,"Value":"NDI=","CreateIndex":100,"ModifyIndex":200}]"#;
        assert_eq!(parse_get(200, body).unwrap(), Some((Value::Int(42), 200)));
        assert_eq!(parse_get(404, "").unwrap(), None);
        assert!(parse_get(500, "No cluster leader")
            .unwrap_err()
            .contains("No cluster leader"));
        let empty = r#"[{"Key":"faultline/3","Value":null,"ModifyIndex":7}]"#;
        assert_eq!(parse_get(200, empty).unwrap(), Some((Value::Nil, 7)));
    }

    #[test]
    fn put_bodies_say_whether_it_happened() {
        assert!(parse_put(200, "true\n").unwrap());
        assert!(!parse_put(200, "false").unwrap());
        assert!(parse_put(500, "rpc error").is_err());
    }

    #[test]
    fn sessions_and_locks_follow_the_session_api() {
        let req: Json = serde_json::from_str(SESSION_REQUEST).unwrap();
        assert_eq!(req["Behavior"], "release");
        assert!(req.get("TTL").is_none(), "no TTL: no renewals needed");
        assert_eq!(
            parse_session(200, r#"{"ID":"adf4238a-882b-9ddc-4a9d-5b6758e4159e"}"#).unwrap(),
            "adf4238a-882b-9ddc-4a9d-5b6758e4159e"
        );
        assert!(parse_session(500, "No cluster leader")
            .unwrap_err()
            .contains("No cluster leader"));
        assert!(parse_session(200, "{}").unwrap_err().contains("without an ID"));
        assert_eq!(lock_query("acquire", "abc"), "?acquire=abc");
        assert_eq!(lock_query("release", "abc"), "?release=abc");
    }

    #[test]
    fn requests_address_the_kv_endpoint() {
        assert_eq!(key_path(&Some(Value::Int(3))), "/v1/kv/faultline/3");
        assert_eq!(Consistency::Consistent.query(), "?consistent");
        assert_eq!(Consistency::Stale.query(), "?stale");
        assert_eq!(Consistency::Default.query(), "");
    }
}
