//! The linearizability checker: pairs a history's operations, reads them
//! into a model, splits them by key (P-compositionality: a history is
//! linearizable iff each key's sub-history is), and searches the parts in
//! parallel on every core, each within the time and memory budgets.
//!
//! Every partition is decided and reported unless `fail_fast` is set; a
//! partition that runs out of budget is `unknown` with the reason while the
//! others still finish. Bad input is found before any search starts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::counterexample::Counterexample;
use crate::error::InputError;
use crate::history::{History, Operation};
use crate::linearization::{Linearizations, MAX_KEYS};
use crate::model::{self, Flavor, Model, ModelKind};
use crate::value::Value;
use crate::verdict::Verdict;
use crate::wgl::{self, Entry, Limits, Search, STOPPED, TOTAL_SPENT};

/// How to run the checker.
#[derive(Clone, Debug)]
pub struct Options {
    /// The longest any one partition may search.
    pub time_limit: Option<Duration>,
    /// When the whole check must end (every history and key it covers):
    /// partitions still undecided then are unknown, with that reason.
    pub total_deadline: Option<Instant>,
    /// Bytes all concurrent searches together may hold.
    pub memory_limit: u64,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Stop at the first invalid partition; the rest become unknown.
    pub fail_fast: bool,
    /// A successful read of nil means the register was empty, not that
    /// the value is unknown (Knossos' reading): true for histories
    /// faultline's own clients recorded, where nil is a missing key.
    pub nil_reads_empty: bool,
    /// Keep linearizations for the report's view (see `linearization`).
    /// `None`: the search does not record them.
    pub linearizations: Option<Linearize>,
}

/// Which keys keep their linearizations: the first `MAX_KEYS` invalid
/// keys (in key order) their partial ones; the first valid key, and the
/// valid `keys` asked for, their complete one.
#[derive(Clone, Debug, Default)]
pub struct Linearize {
    /// Valid keys whose complete linearization is kept besides the first.
    pub keys: Vec<Value>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            time_limit: None,
            total_deadline: None,
            memory_limit: u64::MAX,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            fail_fast: false,
            nil_reads_empty: false,
            linearizations: None,
        }
    }
}

/// The result for one key (or the whole history when it has no keys).
#[derive(Clone, Debug, Serialize)]
pub struct Partition {
    /// The key; `None` for an unkeyed history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// Operations checked (after the model dropped those that say nothing).
    pub ops: usize,
    /// This partition's verdict.
    pub verdict: Verdict,
    /// Why it is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why it is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    /// Its linearizations, when `Options::linearizations` asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linearizations: Option<Linearizations>,
    /// Wall time of its search.
    pub elapsed_ms: f64,
    /// Configurations the search entered.
    pub configurations: u64,
    /// Distinct model states it met.
    pub states: u64,
}

/// The checker's answer for a whole history.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The model used.
    #[serde(serialize_with = "as_name")]
    pub model: ModelKind,
    /// All partitions composed.
    pub verdict: Verdict,
    /// Operations in the history (client operations, before dropping).
    pub ops: usize,
    /// Per-key results, sorted by key.
    pub partitions: Vec<Partition>,
    /// Wall time of the check.
    pub elapsed_ms: f64,
    /// What reading the history had to assume, in sentences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn as_name<S: serde::Serializer>(m: &ModelKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.name())
}

/// Checks `history` against the model `kind`. `init` is the initial value
/// for the register-like models (and the string for kv); other models
/// ignore it.
pub fn check(
    history: &History,
    kind: ModelKind,
    init: Option<Value>,
    opts: &Options,
) -> Result<Report, InputError> {
    let init = init.unwrap_or_default();
    match kind {
        ModelKind::Register | ModelKind::CasRegister => {
            let flavor = if kind == ModelKind::Register {
                Flavor::Plain
            } else {
                Flavor::Cas
            };
            let model = model::Register::new(flavor, init).nil_reads_empty(opts.nil_reads_empty);
            check_with(&model, kind, history, opts)
        }
        ModelKind::Etcd => check_with(&model::Register::new(Flavor::Etcd, init), kind, history, opts),
        ModelKind::Kv => {
            let s = match init {
                Value::Nil => String::new(),
                Value::Str(s) => s.into(),
                other => other.to_string(),
            };
            check_with(&model::Kv::new(s), kind, history, opts)
        }
        ModelKind::MultiRegister => check_with(&model::MultiRegister { init }, kind, history, opts),
        ModelKind::Mutex => check_with(&model::Mutex, kind, history, opts),
        ModelKind::Set => check_with(&model::Set, kind, history, opts),
        ModelKind::UnorderedQueue => check_with(&model::UnorderedQueue, kind, history, opts),
        ModelKind::FifoQueue => check_with(&model::FifoQueue, kind, history, opts),
    }
}

/// One key's operations, read into the model, and each one's position
/// among the history's operations.
struct Part<O> {
    key: Option<Value>,
    ops: Vec<(Operation, O)>,
    positions: Vec<u32>,
}

/// Checks `history` against any `Model`.
pub fn check_with<M: Model>(
    model: &M,
    kind: ModelKind,
    history: &History,
    opts: &Options,
) -> Result<Report, InputError> {
    let started = Instant::now();
    let paired = history.pair()?;
    let (operations, notes) = (paired.operations, paired.notes);
    let total = operations.len();
    let mut by_key: BTreeMap<Option<Value>, Part<M::Op>> = BTreeMap::new();
    for (position, op) in operations.into_iter().enumerate() {
        let parsed = model
            .parse(&op)
            .map_err(|m| history.error(op.ret_line.unwrap_or(op.line), m))?;
        if let Some(mop) = parsed {
            let part = by_key.entry(op.key.clone()).or_insert_with(|| Part {
                key: op.key.clone(),
                ops: Vec::new(),
                positions: Vec::new(),
            });
            part.ops.push((op, mop));
            part.positions.push(position as u32);
        }
    }
    let parts: Vec<Part<M::Op>> = by_key.into_values().collect();
    let mut results = run_parallel(model, &parts, history.timed, opts);
    results.sort_by_key(|r| r.0);
    if let Some(which) = &opts.linearizations {
        keep_linearizations(model, &parts, &mut results, which);
    }
    let partitions: Vec<Partition> = results.into_iter().map(|(_, p, _)| p).collect();
    Ok(Report {
        model: kind,
        verdict: Verdict::compose(partitions.iter().map(|p| p.verdict)),
        ops: total,
        partitions,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        notes,
    })
}

/// Each part's index, its result, and the linearization a valid one found
/// (kept when `Options::linearizations` asks).
type Checked = (usize, Partition, Option<Vec<u32>>);

/// Builds the complete linearizations `which` asks for and drops the
/// partial ones past `MAX_KEYS` invalid keys. `results` are in key order.
fn keep_linearizations<M: Model>(
    model: &M,
    parts: &[Part<M::Op>],
    results: &mut [Checked],
    which: &Linearize,
) {
    let mut first_valid = true;
    let mut invalid = 0;
    for (i, p, order) in results.iter_mut() {
        match (p.verdict, order.take()) {
            (Verdict::Valid, Some(order)) => {
                let asked = p.key.as_ref().is_some_and(|k| which.keys.contains(k));
                if std::mem::take(&mut first_valid) || asked {
                    let part = &parts[*i];
                    p.linearizations = Some(Linearizations::complete(
                        model,
                        &part.ops,
                        &part.positions,
                        &order,
                    ));
                }
            }
            (Verdict::Invalid, _) => {
                invalid += 1;
                if invalid > MAX_KEYS {
                    p.linearizations = None;
                }
            }
            _ => {}
        }
    }
}

fn run_parallel<M: Model>(model: &M, parts: &[Part<M::Op>], timed: bool, opts: &Options) -> Vec<Checked> {
    // Largest first, so one big key does not start last and finish alone.
    let mut todo: Vec<usize> = (0..parts.len()).collect();
    todo.sort_by_key(|&i| std::cmp::Reverse(parts[i].ops.len()));
    let next = AtomicUsize::new(0);
    let memory_used = AtomicU64::new(0);
    let cancel = AtomicBool::new(false);
    let results = Mutex::new(Vec::with_capacity(parts.len()));
    let workers = opts.threads.max(1).min(parts.len().max(1));
    let work = || loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let Some(&i) = todo.get(n) else { break };
        let own = opts.time_limit.map(|t| Instant::now() + t);
        let (deadline, total) = match (own, opts.total_deadline) {
            (Some(o), Some(t)) if t < o => (Some(t), true),
            (None, Some(t)) => (Some(t), true),
            (o, _) => (o, false),
        };
        let limits = Limits {
            deadline,
            deadline_is_total: total,
            memory_limit: opts.memory_limit,
            memory_used: &memory_used,
            cancel: &cancel,
        };
        let (p, order) = if cancel.load(Ordering::Relaxed) {
            (skipped(&parts[i], STOPPED), None)
        } else if opts.total_deadline.is_some_and(|t| Instant::now() >= t) {
            (skipped(&parts[i], TOTAL_SPENT), None)
        } else {
            check_part(model, &parts[i], timed, &limits, opts.linearizations.is_some())
        };
        if opts.fail_fast && p.verdict == Verdict::Invalid {
            cancel.store(true, Ordering::Relaxed);
        }
        results
            .lock()
            .expect("no worker panics while holding the lock")
            .push((i, p, order));
    };
    // One partition (an etcd log, an unkeyed history) needs no threads:
    // spawning them costs more than checking most such histories.
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(work);
            }
        });
    }
    results.into_inner().expect("workers have finished")
}

/// A partition never searched: `fail_fast` stopped the check, or the
/// total budget was spent.
fn skipped<O>(part: &Part<O>, reason: &str) -> Partition {
    Partition {
        key: part.key.clone(),
        ops: part.ops.len(),
        verdict: Verdict::Unknown,
        reason: Some(reason.into()),
        counterexample: None,
        linearizations: None,
        elapsed_ms: 0.0,
        configurations: 0,
        states: 0,
    }
}

fn check_part<M: Model>(
    model: &M,
    part: &Part<M::Op>,
    timed: bool,
    limits: &Limits,
    linearizations: bool,
) -> (Partition, Option<Vec<u32>>) {
    let started = Instant::now();
    let entries: Vec<Entry<M::Op>> = part
        .ops
        .iter()
        .enumerate()
        .map(|(i, (op, mop))| Entry {
            op: mop,
            call: op.call,
            ret: op.ret,
            id: i as u32,
        })
        .collect();
    let (search, stats) = wgl::search(model, &entries, limits, linearizations);
    let mut p = Partition {
        key: part.key.clone(),
        ops: part.ops.len(),
        verdict: Verdict::Valid,
        reason: None,
        counterexample: None,
        linearizations: None,
        elapsed_ms: 0.0,
        configurations: stats.nodes,
        states: stats.states,
    };
    let mut valid_order = None;
    match search {
        Search::Linearizable { order } => {
            valid_order = linearizations.then_some(order);
        }
        Search::NotLinearizable {
            prefix,
            blocked,
            concurrent,
            partials,
        } => {
            p.linearizations =
                partials.map(|t| Linearizations::partial(model, &part.ops, &part.positions, &t));
            p.verdict = Verdict::Invalid;
            p.counterexample = Some(Counterexample::new(
                model,
                &part.ops,
                &prefix,
                blocked,
                &concurrent,
                timed,
            ));
        }
        Search::Unknown { reason } => {
            p.verdict = Verdict::Unknown;
            p.reason = Some(reason);
        }
    }
    p.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    (p, valid_order)
}
