//! The built-in demo cluster's wire protocol and its client.
//!
//! One JSON object per line over TCP, in both directions. Clients send
//! `read`, `write`, `cas` (registers), `sadd`, `smembers` (a set) and
//! `append`, `poll` (append-only logs);
//! nodes use the same connection format among themselves (`repl` carries
//! replicated state). A request may carry an `id` so a connection can hold
//! several requests at once; responses echo it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use checkers::{Function, Value};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::client::{BoxFuture, Client, Completion, Invocation};

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// A request line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Echoed in the response.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub id: u64,
    /// `read`, `write`, `cas`, `sadd`, `smembers`, `append` (answers the
    /// offset), `poll` (`v` is `[from max]`; answers `[[offset value] ...]`);
    /// `leader` (whom the node follows); `repl` between nodes.
    pub f: String,
    /// The key.
    #[serde(default)]
    pub k: Value,
    /// The argument.
    #[serde(default)]
    pub v: Value,
    /// How many times this request was forwarded (a forwarded request is
    /// not forwarded again).
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub hop: u8,
    /// `repl`: the sender's term.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub term: u64,
    /// `repl`: the sender's node index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<usize>,
    /// `repl`: register updates, `[key, value]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regs: Vec<(Value, Value)>,
    /// `repl`: set additions, `[key, element]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<(Value, Value)>,
    /// `repl`: log appends, `[log, value]`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<(Value, Value)>,
    /// `repl`: the updates are the sender's whole state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub snapshot: bool,
}

/// A response line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The request's id.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub id: u64,
    /// Whether the operation took effect.
    pub ok: bool,
    /// The result.
    #[serde(default, skip_serializing_if = "Value::is_nil")]
    pub v: Value,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    /// With `ok: false`: the operation definitely did not take effect.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub definite: bool,
}

impl Response {
    /// A definite refusal.
    pub fn refuse(id: u64, err: impl Into<String>) -> Self {
        Response {
            id,
            ok: false,
            v: Value::Nil,
            err: Some(err.into()),
            definite: true,
        }
    }
}

/// Which data a demo client works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Data {
    /// Registers: read, write, cas.
    Registers,
    /// One set: add, read.
    Set,
    /// Append-only logs: send, poll.
    Log,
    /// The watch workload: `txn` of puts and deletes, `watch` of a key
    /// range from a revision.
    Watch,
}

/// The most entries one poll asks for: enough for a final read of a
/// demo run's whole log in one poll.
const POLL_MAX: i64 = 1 << 20;

type Conn = (BufReader<OwnedReadHalf>, OwnedWriteHalf);

/// A client of one demo node.
pub struct DemoClient {
    addr: SocketAddr,
    timeout: Duration,
    data: Data,
    conn: Option<Conn>,
    line: String,
    /// Logs: the offset each log's next `poll` without an offset reads
    /// from (past the last entry this client's polls got).
    positions: HashMap<Value, i64>,
    /// Watch workload: the revision after the last one recorded, and
    /// whether the last watch op got through (it reads on from there).
    next: u64,
    watching: bool,
}

impl DemoClient {
    /// A client of the node at `addr`; connects on first use.
    pub fn new(addr: SocketAddr, timeout: Duration, data: Data) -> Self {
        DemoClient {
            addr,
            timeout,
            data,
            conn: None,
            line: String::new(),
            positions: HashMap::new(),
            next: 1,
            watching: false,
        }
    }

    /// After a poll: the next poll without an offset reads on past what
    /// this one got, or from where it asked if it got nothing.
    fn read_on(&mut self, req: &Request, got: &Value) {
        let last = got.as_list().and_then(|l| l.last()).and_then(|p| p.as_pair());
        let next = match last.and_then(|(o, _)| o.as_int()) {
            Some(o) => o + 1,
            None => req.v.as_pair().and_then(|(f, _)| f.as_int()).unwrap_or(0),
        };
        self.positions.insert(req.k.clone(), next);
    }

    /// A watch workload op. A watch is a long poll: `watch` asks the node
    /// for the events of keys `lo..hi` from the revision after the last
    /// one recorded, and the node answers with them (one response),
    /// waiting a little for some if there are none. A failed poll is a
    /// `fail` that records nothing; the next reopens there.
    async fn watch_op(&mut self, op: &Invocation) -> Completion {
        let args: Vec<i64> = op
            .value
            .as_list()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_int)
            .collect();
        let req = match (&op.f, &args[..]) {
            (Function::Txn, _) => Request {
                f: "txn".into(),
                v: op.value.clone(),
                ..Request::default()
            },
            (Function::Watch, [lo, hi, rest @ ..]) => {
                if let [from] = rest {
                    self.next = (*from).max(1) as u64;
                    self.watching = false;
                }
                Request {
                    f: "watch".into(),
                    k: Value::List(vec![(*lo).into(), (*hi).into()]),
                    v: Value::Int(self.next as i64),
                    ..Request::default()
                }
            }
            (f, _) => {
                return Completion::fail(
                    op.value.clone(),
                    format!("the demo watch client has no {f} {}", op.value),
                )
            }
        };
        let outcome = match tokio::time::timeout(self.timeout, self.call(&req)).await {
            Ok(r) => r,
            Err(_) => Err((true, "timed out".into())),
        };
        let resp = match outcome {
            Ok(resp) if resp.ok => resp,
            Ok(resp) => {
                self.watching = false;
                return Completion::unanswered(
                    op,
                    !resp.definite,
                    resp.err.unwrap_or_else(|| "refused".into()),
                );
            }
            Err((sent, err)) => {
                self.conn = None;
                self.watching = false;
                return Completion::unanswered(op, sent, err);
            }
        };
        if op.f == Function::Txn {
            return Completion::ok(Value::List(vec![resp.v, op.value.clone()]));
        }
        let events = resp.v.as_list().unwrap_or_default().to_vec();
        let start = if self.watching {
            Value::Nil
        } else {
            Value::Int(self.next as i64)
        };
        self.watching = true;
        if let Some(last) = events.iter().filter_map(|e| e.as_list()?.first()?.as_int()).max() {
            self.next = self.next.max(last as u64 + 1);
        }
        let responses = if events.is_empty() {
            vec![]
        } else {
            vec![Value::List(events)]
        };
        Completion::ok(Value::List(vec![start, Value::List(responses)]))
    }

    /// Sends one request and reads its response. `Err(sent, why)`.
    async fn call(&mut self, req: &Request) -> Result<Response, (bool, String)> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|e| (false, format!("connect: {e}")))?;
            stream
                .set_nodelay(true)
                .map_err(|e| (false, format!("connect: {e}")))?;
            let (r, w) = stream.into_split();
            self.conn = Some((BufReader::new(r), w));
        }
        let (reader, writer) = self.conn.as_mut().expect("connected above");
        let mut bytes = serde_json::to_vec(req).map_err(|e| (false, e.to_string()))?;
        bytes.push(b'\n');
        writer
            .write_all(&bytes)
            .await
            .map_err(|e| (true, format!("send: {e}")))?;
        self.line.clear();
        let n = reader
            .read_line(&mut self.line)
            .await
            .map_err(|e| (true, format!("receive: {e}")))?;
        if n == 0 {
            return Err((true, "connection closed before a response".into()));
        }
        serde_json::from_str(&self.line).map_err(|e| (true, format!("bad response: {e}")))
    }
}

impl Client for DemoClient {
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            if self.data == Data::Watch {
                return self.watch_op(op).await;
            }
            let (wire, is_read) = match (self.data, &op.f) {
                (Data::Registers, Function::Read) => ("read", true),
                (Data::Registers, Function::Write) => ("write", false),
                (Data::Registers, Function::Cas) => ("cas", false),
                (Data::Set, Function::Add) => ("sadd", false),
                (Data::Set, Function::Read) => ("smembers", true),
                (Data::Log, Function::Send) => ("append", false),
                (Data::Log, Function::Poll) => ("poll", true),
                (_, f) => return Completion::fail(op.value.clone(), format!("the demo client has no {f}")),
            };
            let k = op.key.clone().unwrap_or(Value::Int(0));
            let v = if op.f == Function::Poll {
                let from = match op.value.as_int() {
                    Some(o) => o,
                    None => self.positions.get(&k).copied().unwrap_or(0),
                };
                Value::List(vec![Value::Int(from), Value::Int(POLL_MAX)])
            } else {
                op.value.clone()
            };
            let req = Request {
                f: wire.into(),
                k,
                v,
                ..Request::default()
            };
            let outcome = match tokio::time::timeout(self.timeout, self.call(&req)).await {
                Ok(r) => r,
                Err(_) => Err((true, "timed out".into())),
            };
            match outcome {
                Ok(resp) if resp.ok => Completion::ok(match op.f {
                    Function::Send => Value::List(vec![resp.v, op.value.clone()]),
                    Function::Poll => {
                        self.read_on(&req, &resp.v);
                        resp.v
                    }
                    _ if is_read => resp.v,
                    _ => op.value.clone(),
                }),
                Ok(resp) => {
                    let err = resp.err.unwrap_or_else(|| "refused".into());
                    // An answer that does not say the op was not applied
                    // is as good as none.
                    Completion::unanswered(op, !resp.definite, err)
                }
                Err((sent, err)) => {
                    // The connection's state is unknown: start afresh.
                    self.conn = None;
                    Completion::unanswered(op, sent, err)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_compact_json() {
        let r = Request {
            f: "cas".into(),
            k: Value::Int(3),
            v: Value::List(vec![1.into(), 2.into()]),
            ..Request::default()
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"f":"cas","k":3,"v":[1,2]}"#
        );
        let back: Request = serde_json::from_str(r#"{"f":"cas","k":3,"v":[1,2]}"#).unwrap();
        assert_eq!(back, r);
    }

    #[tokio::test]
    async fn refused_connection_is_a_definite_failure() {
        // Bind then drop to find a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut c = DemoClient::new(port, Duration::from_secs(1), Data::Registers);
        let op = Invocation {
            f: "write".into(),
            key: None,
            value: 1.into(),
        };
        let done = c.invoke(&op).await;
        assert_eq!(done.kind, checkers::OpType::Fail);
        assert!(done.error.unwrap().starts_with("connect"));
    }
}
