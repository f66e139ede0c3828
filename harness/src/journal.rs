//! The durable history: `history.jsonl`, written while the test runs.
//!
//! Workers timestamp their events (an invocation before the request is
//! sent, a completion after the answer arrived, so intervals only widen)
//! and send them to one writer task, which numbers them and appends one
//! JSON line each. The writer flushes to the OS whenever it has no more
//! events waiting, so every completion is in the file before the writer
//! goes idle: a faultline killed with SIGKILL loses nothing it counted.
//! Counts for the progress line are taken after the flush.

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use checkers::{Op, OpType};
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
        let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let task = tokio::spawn(async move {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
            let mut index = 0u64;
            let mut pending: Vec<OpType> = Vec::new();
            let mut open = true;
            while open {
                let Some(first) = rx.recv().await else { break };
                let mut next = Some(first);
                while let Some(msg) = next {
                    let Msg::Op(mut op) = msg else {
                        open = false;
                        break;
                    };
                    op.index = index;
                    index += 1;
                    if enabled {
                        serde_json::to_writer(&mut out, &op)?;
                        out.write_all(b"\n")?;
                    }
                    pending.push(op.kind);
                    next = rx.try_recv().ok();
                }
                out.flush()?;
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
            out.flush()?;
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

impl Writer {
    /// Waits until every event sent before `Journal::close` is written
    /// and flushed.
    pub async fn finish(self) -> Result<()> {
        self.task.await.context("the history writer panicked")?
    }
}
