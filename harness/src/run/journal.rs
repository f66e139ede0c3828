//! The durable history: `history.jsonl`, written while the test runs.
//!
//! Workers timestamp their events (an invocation before the request is
//! sent, a completion after the answer arrived, so intervals only widen)
//! and send them to one writer task, which numbers them and appends one
//! JSON line each. The writer hands its buffer to the OS whenever no more
//! events are waiting (under load it first lets the workers run a few
//! more times, so one write call carries many completions), so every
//! completion is in the file before the writer goes idle: a faultline
//! killed with SIGKILL loses nothing it counted. Counts for the progress
//! line are taken after the write.
//!
//! The first line says that a read of nil found the key empty
//! ([`checkers::import::NIL_READS_EMPTY`]): faultline's clients record nil
//! only for a key that does not exist, so `faultline check` reads the file
//! as the run judged it, where Knossos' reading of nil ("unknown") would
//! pass lost writes.

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use checkers::{Op, OpType, Process, Value};
use tokio::sync::mpsc;

/// Completions written so far, by type.
#[derive(Debug, Default)]
pub struct Counts {
    /// `ok` completions.
    pub ok: AtomicU64,
    /// `fail` completions.
    pub fail: AtomicU64,
    /// `info` completions.
    pub info: AtomicU64,
}

impl Counts {
    /// Completions of any type.
    pub fn total(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.fail.load(Ordering::Relaxed)
            + self.info.load(Ordering::Relaxed)
    }
}

enum Msg {
    Op(Op),
    Close,
}

/// Times the writer yields to gather more events before one write.
const BATCH_YIELDS: usize = 4;
/// Events that are enough for one write.
const BATCH_EVENTS: usize = 512;

/// Sends events to the writer.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::UnboundedSender<Msg>,
}

/// The writer side; `finish` waits for every event to be on disk.
pub struct Writer {
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Journal {
    /// Creates `path` and starts the writer. With `enabled` false events
    /// are counted but not written (for measuring the journal's cost).
    pub fn open(path: &Path, counts: Arc<Counts>, enabled: bool) -> Result<(Journal, Writer)> {
        let mut file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        writeln!(file, "{}", checkers::import::NIL_READS_EMPTY)
            .with_context(|| format!("writing {}", path.display()))?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let task = tokio::spawn(async move {
            let mut out: Vec<u8> = Vec::with_capacity(1 << 16);
            let mut index = 0u64;
            let mut pending: Vec<OpType> = Vec::new();
            let mut open = true;
            while open {
                let Some(first) = rx.recv().await else { break };
                let mut next = Some(first);
                let mut yields = 0;
                loop {
                    while let Some(msg) = next {
                        let Msg::Op(mut op) = msg else {
                            open = false;
                            break;
                        };
                        op.index = index;
                        index += 1;
                        if enabled {
                            encode(&mut out, &op);
                        }
                        pending.push(op.kind);
                        next = rx.try_recv().ok();
                    }
                    // Under load, letting the workers run once more before
                    // writing gathers several completions per write call.
                    if !open || yields == BATCH_YIELDS || pending.len() >= BATCH_EVENTS {
                        break;
                    }
                    yields += 1;
                    tokio::task::yield_now().await;
                    next = rx.try_recv().ok();
                    if next.is_none() {
                        break;
                    }
                }
                file.write_all(&out)?;
                out.clear();
                for kind in pending.drain(..) {
                    let c = match kind {
                        OpType::Ok => &counts.ok,
                        OpType::Fail => &counts.fail,
                        OpType::Info => &counts.info,
                        OpType::Invoke => continue,
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
            file.write_all(&out)?;
            Ok(())
        });
        Ok((Journal { tx }, Writer { task }))
    }

    /// Records an event (the index is assigned by the writer).
    pub fn record(&self, op: Op) {
        // After `close` the writer is gone and late events are dropped;
        // nothing records after the run has ended.
        let _ = self.tx.send(Msg::Op(op));
    }

    /// Ends the journal after the events already sent.
    pub fn close(&self) {
        let _ = self.tx.send(Msg::Close);
    }
}

/// Appends `op` as one JSON line. Hand-written rather than derived: the
/// writer handles every event of the test, and this halves its cost.
fn encode(out: &mut Vec<u8>, op: &Op) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"{\"index\":");
    out.extend_from_slice(num.format(op.index).as_bytes());
    out.extend_from_slice(b",\"time\":");
    out.extend_from_slice(num.format(op.time).as_bytes());
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(match op.kind {
        OpType::Invoke => b"invoke",
        OpType::Ok => b"ok",
        OpType::Fail => b"fail",
        OpType::Info => b"info",
    });
    out.extend_from_slice(b"\",\"process\":");
    match op.process {
        Process::Client(p) => out.extend_from_slice(num.format(p).as_bytes()),
        Process::Nemesis => out.extend_from_slice(b"\"nemesis\""),
    }
    out.extend_from_slice(b",\"f\":");
    string(out, op.f.name());
    if let Some(k) = &op.key {
        out.extend_from_slice(b",\"key\":");
        value(out, k);
    }
    out.extend_from_slice(b",\"value\":");
    value(out, &op.value);
    if let Some(e) = &op.error {
        out.extend_from_slice(b",\"error\":");
        string(out, e);
    }
    out.extend_from_slice(b"}\n");
}

fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
    }
}

fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::Str(s) => string(out, s),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, item);
            }
            out.push(b']');
        }
    }
}

impl Writer {
    /// Waits until every event sent before `Journal::close` is written
    /// and flushed.
    pub async fn finish(self) -> Result<()> {
        self.task.await.context("the history writer panicked")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_matches_the_serde_form() {
        let op = Op {
            index: 3,
            time: 17,
            kind: OpType::Fail,
            process: Process::Client(2),
            f: "cas".into(),
            key: Some(Value::Int(-4)),
            value: Value::List(vec![Value::Int(1), Value::Nil, Value::from("a\"b")]),
            error: Some("compare failed".into()),
            line: 0,
        };
        let mut out = Vec::new();
        encode(&mut out, &op);
        let mut expected = serde_json::to_vec(&op).unwrap();
        expected.push(b'\n');
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
}
