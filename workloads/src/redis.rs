//! A Redis client speaking RESP directly, for the register workloads
//! (GET, SET) and the set workload (SADD, SMEMBERS on one key).
//!
//! A replica refuses writes with `-READONLY`: a definite failure, as is
//! any error reply to a write (Redis applies a command or refuses it).
//! A timeout or a dropped connection is `info` for writes, `fail` for
//! reads. Nothing is retried.
//!
//! With `wait`, every write is followed by `WAIT n <timeout>`: the write
//! is `ok` only once `n` replicas have it, and `info` if fewer confirm in
//! time (the primary applied it; whether it survives is unknown).

use std::net::SocketAddr;
use std::time::Duration;

use checkers::{Function, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::client::{BoxFuture, Client, Completion, Invocation};

/// A RESP reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`.
    Error(String),
    /// `:1`.
    Int(i64),
    /// `$3\r\nabc` (None for `$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...` (None for `*-1`).
    Array(Option<Vec<Reply>>),
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one reply.
pub async fn read_reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Reply> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad reply {line:?}"));
    let (kind, rest) = line.split_at(line.len().min(1));
    Ok(match kind {
        "+" => Reply::Simple(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Int(rest.parse().map_err(|_| bad())?),
        "$" => {
            let n: i64 = rest.parse().map_err(|_| bad())?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let mut buf = vec![0; n as usize + 2];
                r.read_exact(&mut buf).await?;
                buf.truncate(n as usize);
                Reply::Bulk(Some(buf))
            }
        }
        "*" => {
            let n: i64 = rest.parse().map_err(|_| bad())?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(Box::pin(read_reply(r)).await?);
                }
                Reply::Array(Some(items))
            }
        }
        _ => return Err(bad()),
    })
}

fn int(bytes: &[u8]) -> Result<Value, String> {
    let s = String::from_utf8_lossy(bytes);
    s.parse::<i64>()
        .map(Value::Int)
        .map_err(|_| format!("{s:?} is not an integer"))
}

/// How a write ended when the server answered.
enum Written {
    /// Applied (and confirmed by the replicas asked for, if any).
    Durable,
    /// Applied by the primary; fewer replicas confirmed than asked.
    Unconfirmed(String),
    /// Refused with an error reply: not applied.
    Refused(String),
}

/// A client of one Redis server.
pub struct RedisClient {
    addr: SocketAddr,
    timeout: Duration,
    /// Replicas each write must reach (`WAIT`), if any.
    wait: Option<u32>,
    conn: Option<BufReader<TcpStream>>,
}

impl RedisClient {
    /// A client of the server at `addr`; connects on first use. Writes
    /// wait for `wait` replicas if given.
    pub fn new(addr: SocketAddr, timeout: Duration, wait: Option<u32>) -> Self {
        RedisClient {
            addr,
            timeout,
            wait,
            conn: None,
        }
    }

    /// A write, then `WAIT` if configured.
    async fn write(&mut self, args: &[&str]) -> Result<Written, (bool, String)> {
        if let Reply::Error(e) = self.call(args).await? {
            return Ok(Written::Refused(e));
        }
        let Some(n) = self.wait else {
            return Ok(Written::Durable);
        };
        // Half the op's budget: the reply must still arrive in time.
        let ms = (self.timeout.as_millis() / 2).max(1).to_string();
        Ok(
            match self
                .call(&["WAIT", &n.to_string(), &ms])
                .await
                .map_err(|(_, e)| (true, e))?
            {
                Reply::Int(k) if k >= i64::from(n) => Written::Durable,
                Reply::Int(k) => Written::Unconfirmed(format!("WAIT: {k} of {n} replicas confirmed")),
                other => Written::Unconfirmed(format!("WAIT: unexpected reply {other:?}")),
            },
        )
    }

    /// Sends one command; `Err(sent, why)`.
    async fn call(&mut self, args: &[&str]) -> Result<Reply, (bool, String)> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .map_err(|e| (false, format!("connect: {e}")))?;
            s.set_nodelay(true).map_err(|e| (false, e.to_string()))?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().expect("connected above");
        conn.get_mut()
            .write_all(&encode(args))
            .await
            .map_err(|e| (true, format!("send: {e}")))?;
        read_reply(conn)
            .await
            .map_err(|e| (true, format!("receive: {e}")))
    }
}

impl Client for RedisClient {
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let key = format!(
                "faultline:{}",
                op.key.as_ref().map_or("set".into(), |k| k.to_string())
            );
            let value = op.value.to_string();
            let args: Vec<&str> = match op.f {
                Function::Read if op.key.is_some() => vec!["GET", &key],
                Function::Write => vec!["SET", &key, &value],
                Function::Add => vec!["SADD", &key, &value],
                Function::Read => vec!["SMEMBERS", &key],
                ref f => return Completion::fail(op.value.clone(), format!("the redis client has no {f}")),
            };
            if op.changes_state() {
                return match tokio::time::timeout(self.timeout, self.write(&args)).await {
                    Ok(Ok(Written::Durable)) => Completion::ok(op.value.clone()),
                    Ok(Ok(Written::Unconfirmed(why))) => Completion::info(op.value.clone(), why),
                    Ok(Ok(Written::Refused(why))) => Completion::fail(op.value.clone(), why),
                    Ok(Err((sent, e))) => {
                        self.conn = None;
                        Completion::unanswered(op, sent, e)
                    }
                    Err(_) => {
                        self.conn = None;
                        Completion::unanswered(op, true, "timed out")
                    }
                };
            }
            let outcome = match tokio::time::timeout(self.timeout, self.call(&args)).await {
                Ok(r) => r,
                Err(_) => Err((true, "timed out".into())),
            };
            match outcome {
                Ok(Reply::Error(e)) => Completion::fail(op.value.clone(), e),
                Ok(reply) => {
                    let v = match reply {
                        Reply::Bulk(None) => Ok(Value::Nil),
                        Reply::Bulk(Some(b)) => int(&b),
                        Reply::Array(Some(items)) => items
                            .iter()
                            .map(|i| match i {
                                Reply::Bulk(Some(b)) => int(b),
                                other => Err(format!("unexpected member {other:?}")),
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .map(|mut v| {
                                v.sort();
                                Value::List(v)
                            }),
                        other => Err(format!("unexpected reply {other:?}")),
                    };
                    match v {
                        Ok(v) => Completion::ok(v),
                        Err(e) => Completion::fail(Value::Nil, e),
                    }
                }
                Err((sent, e)) => {
                    self.conn = None;
                    Completion::unanswered(op, sent, e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_encode_as_bulk_arrays() {
        assert_eq!(
            encode(&["SADD", "k", "12"]),
            b"*3\r\n$4\r\nSADD\r\n$1\r\nk\r\n$2\r\n12\r\n".to_vec()
        );
    }

    #[tokio::test]
    async fn replies_parse() {
        let raw: &[u8] =
            b"*2\r\n$1\r\n3\r\n$-1\r\n-READONLY You can't write against a read only replica.\r\n:1\r\n";
        let mut r = BufReader::new(raw);
        assert_eq!(
            read_reply(&mut r).await.unwrap(),
            Reply::Array(Some(vec![Reply::Bulk(Some(b"3".to_vec())), Reply::Bulk(None)]))
        );
        assert!(matches!(read_reply(&mut r).await.unwrap(), Reply::Error(e) if e.starts_with("READONLY")));
        assert_eq!(read_reply(&mut r).await.unwrap(), Reply::Int(1));
    }
}
