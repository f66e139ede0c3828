//! The watch workload's etcd client, over the JSON gateway: writes are
//! one `/v3/kv/txn` of puts and deletes (keys `faultline/watch/<k>`,
//! values decimal), acknowledged with the revision etcd assigned; a
//! watch is one `/v3/watch` stream, kept open from op to op, each op
//! recording the responses that arrived within a short window.
//!
//! A stream asks for a leader (etcd's `hasleader` metadata), so a node
//! cut off from the majority cancels it instead of going quiet. When a
//! stream breaks (cancelled, closed, an error) the op is a `fail` that
//! records nothing it got, and the next op reopens the stream at the
//! revision after the last one recorded: etcd's own client resumes so.
//! A refused open waits one window before it fails, so a watcher on a
//! node without a leader retries a few times a second, not as fast as
//! it can. The final watch opens afresh at the revision asked and reads
//! until it has reached the cluster's current revision.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use checkers::Value;
use serde_json::{json, Value as Json};
use tokio::time::Instant;

use super::{explain, EtcdClient};
use crate::client::{Completion, Invocation};

/// How long a watch op waits for responses before it records what came.
const WINDOW: Duration = Duration::from_millis(300);

/// One process's watch: its open stream, and where to reopen it.
pub(super) struct Watches {
    timeout: Duration,
    stream: Option<Stream>,
    /// The revision after the last one recorded (1 before any).
    next: u64,
}

impl Watches {
    pub(super) fn new(timeout: Duration) -> Self {
        Watches {
            timeout,
            stream: None,
            next: 1,
        }
    }
}

/// An open `/v3/watch` response: newline-separated JSON messages.
struct Stream {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Stream {
    async fn message(&mut self) -> Result<Json, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return serde_json::from_slice(&line).map_err(|e| format!("a watch message: {e}"));
            }
            match self.resp.chunk().await {
                Ok(Some(c)) => self.buf.extend_from_slice(&c),
                Ok(None) => return Err("the node closed the watch stream".into()),
                Err(e) => return Err(explain(&e)),
            }
        }
    }
}

fn key(k: i64) -> String {
    B64.encode(format!("faultline/watch/{k}"))
}

fn int(v: &Json) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

/// A gateway event as `[revision key "put" value]` or `[revision key
/// "delete" nil]`.
fn event(e: &Json) -> Result<Value, String> {
    let kv = &e["kv"];
    let text = |field: &str| -> Result<String, String> {
        let raw = kv[field].as_str().unwrap_or("");
        let bytes = B64
            .decode(raw)
            .map_err(|err| format!("{field} {raw:?} is not base64: {err}"))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    let name = text("key")?;
    let k = name
        .strip_prefix("faultline/watch/")
        .and_then(|k| k.parse::<i64>().ok())
        .ok_or_else(|| format!("event for key {name:?}, not a watch workload key"))?;
    let rev = int(&kv["mod_revision"]).ok_or("an event without a mod_revision")?;
    Ok(if e["type"].as_str() == Some("DELETE") {
        Value::List(vec![rev.into(), k.into(), "delete".into(), Value::Nil])
    } else {
        let v = text("value")?;
        let v = v
            .parse::<i64>()
            .map_err(|_| format!("value {v:?} is not an integer"))?;
        Value::List(vec![rev.into(), k.into(), "put".into(), v.into()])
    })
}

impl EtcdClient {
    /// A write: its micro-ops in one txn, acknowledged as `[revision
    /// micro-ops]`.
    pub(super) async fn change(&self, op: &Invocation) -> Completion {
        let mut ops = Vec::new();
        for m in op.value.as_list().unwrap_or_default() {
            match m.as_list() {
                Some([f, Value::Int(k), v]) if f.as_str() == Some("put") => {
                    ops.push(json!({"request_put": {"key": key(*k), "value": B64.encode(v.to_string())}}))
                }
                Some([f, Value::Int(k), _]) if f.as_str() == Some("delete") => {
                    ops.push(json!({"request_delete_range": {"key": key(*k)}}))
                }
                _ => {
                    return Completion::fail(
                        op.value.clone(),
                        format!("micro-op {m}: expected [put|delete key value]"),
                    )
                }
            }
        }
        match self.post("/v3/kv/txn", json!({"success": ops})).await {
            Ok(r) => match int(&r["header"]["revision"]) {
                Some(rev) => Completion::ok(Value::List(vec![rev.into(), op.value.clone()])),
                // It was applied; only its revision is unknown.
                None => Completion::info(op.value.clone(), "a txn response without a revision"),
            },
            Err((sent, e)) => Completion::unanswered(op, sent, e),
        }
    }

    /// Opens a watch of keys `lo..hi` from revision `from`.
    async fn open(&self, lo: i64, hi: i64, from: u64, timeout: Duration) -> Result<Stream, String> {
        let body = json!({"create_request": {"key": key(lo), "range_end": key(hi), "start_revision": from}});
        let send = self
            .http
            .post(format!("{}/v3/watch", self.base))
            // A stream lives as long as the run; the client's timeout is
            // for single requests.
            .timeout(Duration::from_secs(24 * 3600))
            .header("Grpc-Metadata-hasleader", "true")
            .json(&body)
            .send();
        let resp = tokio::time::timeout(timeout, send)
            .await
            .map_err(|_| "opening the watch timed out".to_string())?
            .map_err(|e| explain(&e))?;
        if !resp.status().is_success() {
            return Err(format!("opening the watch: HTTP {}", resp.status().as_u16()));
        }
        Ok(Stream {
            resp,
            buf: Vec::new(),
        })
    }

    /// The cluster's current revision.
    async fn head(&self) -> Result<i64, String> {
        let body = json!({"key": key(0), "range_end": key(crate::generator::WATCH_KEYS), "count_only": true});
        let r = self.post("/v3/kv/range", body).await.map_err(|e| e.1)?;
        int(&r["header"]["revision"]).ok_or_else(|| "a range response without a revision".into())
    }

    /// A watch op: `[lo hi]` reads on from the open stream (opening one
    /// if there is none); `[lo hi from]` is a final watch from `from` up
    /// to the current revision.
    pub(super) async fn watch(&mut self, op: &Invocation) -> Completion {
        let fail = |e: String| Completion::fail(op.value.clone(), e);
        let args: Vec<i64> = op
            .value
            .as_list()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_int)
            .collect();
        let (lo, hi, from) = match args[..] {
            [lo, hi] => (lo, hi, None),
            [lo, hi, from] => (lo, hi, Some(from.max(1) as u64)),
            _ => return fail("a watch takes [lo hi] or [lo hi from]".into()),
        };
        let Some(w) = self.watches.as_mut() else {
            return fail("this etcd client was not made for the watch workload".into());
        };
        if let Some(from) = from {
            w.stream = None;
            w.next = from;
        }
        let (timeout, next) = (w.timeout, w.next);
        let mut start = Value::Nil;
        let mut stream = match w.stream.take() {
            Some(s) => s,
            None => match self.open(lo, hi, next, timeout).await {
                Ok(s) => {
                    start = Value::Int(next as i64);
                    s
                }
                Err(e) => {
                    // A node without a leader refuses at once: wait as
                    // long as a watch op would before trying again.
                    tokio::time::sleep(WINDOW).await;
                    return fail(e);
                }
            },
        };
        let head = match from {
            Some(_) => match self.head().await {
                Ok(h) => Some(h),
                Err(e) => return fail(e),
            },
            None => None,
        };
        let deadline = Instant::now() + if head.is_some() { timeout } else { WINDOW };
        let mut responses = Vec::new();
        let mut last = None;
        while head.is_none_or(|h| last.unwrap_or(0) < h) {
            let msg = match tokio::time::timeout_at(deadline, stream.message()).await {
                Err(_) if head.is_some() => {
                    return fail(format!("the final watch did not reach revision {head:?} in time"))
                }
                Err(_) => break,
                Ok(Err(e)) => return fail(e),
                Ok(Ok(m)) => m,
            };
            if !msg["error"].is_null() {
                return fail(format!("the watch stream failed: {}", msg["error"]));
            }
            let result = &msg["result"];
            if result["canceled"] == Json::Bool(true) {
                return fail(format!(
                    "the node cancelled the watch: {}",
                    result["cancel_reason"].as_str().unwrap_or("no reason given")
                ));
            }
            let Some(events) = result["events"].as_array().filter(|e| !e.is_empty()) else {
                continue;
            };
            let events: Result<Vec<Value>, String> = events.iter().map(event).collect();
            let events = match events {
                Ok(e) => e,
                Err(e) => return fail(e),
            };
            last = events
                .iter()
                .filter_map(|e| e.as_list()?.first()?.as_int())
                .max()
                .or(last);
            responses.push(Value::List(events));
        }
        let w = self.watches.as_mut().expect("checked above");
        if let Some(l) = last {
            w.next = l as u64 + 1;
        }
        w.stream = Some(stream);
        Completion::ok(Value::List(vec![start, Value::List(responses)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_events_become_history_events() {
        let put = json!({"kv": {"key": B64.encode("faultline/watch/3"), "mod_revision": "12", "value": B64.encode("77")}});
        assert_eq!(
            event(&put).unwrap(),
            Value::List(vec![12.into(), 3.into(), "put".into(), 77.into()])
        );
        let delete =
            json!({"type": "DELETE", "kv": {"key": B64.encode("faultline/watch/5"), "mod_revision": "13"}});
        assert_eq!(
            event(&delete).unwrap(),
            Value::List(vec![13.into(), 5.into(), "delete".into(), Value::Nil])
        );
        let foreign =
            json!({"kv": {"key": B64.encode("other/1"), "mod_revision": "2", "value": B64.encode("1")}});
        assert!(event(&foreign).unwrap_err().contains("not a watch workload key"));
    }
}
