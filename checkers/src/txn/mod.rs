//! Transactional checking in the manner of Elle (Kingsbury & Alvaro,
//! VLDB 2020): infer dependencies between transactions from what they read
//! and wrote, find cycles in the dependency graph, name each anomaly, and
//! say which consistency models the history rules out.
//!
//! [`check`] is the centre. The workloads' inferences
//! ([`list_append`], [`rw_register`]) say what the history proves; the
//! [`order`] of processes and real time says which transactions came
//! first; the [`graph`] finds the cycles; [`consistency`] knows which
//! model forbids what. Everything is explained in words, edge by edge; drawing is the
//! `reports` crate's job. This is not a linearizability checker: a
//! transaction is judged by the order it must take among the others.

pub mod consistency;
pub mod graph;
pub mod list_append;
pub mod order;
pub mod rw_register;
pub mod transaction;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::InputError;
use crate::history::{History, Outcome};
use crate::verdict::Verdict;
pub use consistency::{Anomaly, Kind, Model, Scope};
pub use graph::Dep;
use graph::{Cycle, DepGraph};
pub use transaction::{Txns, Workload};

/// What to check for.
#[derive(Clone, Debug)]
pub struct Options {
    /// The models the history must satisfy; any anomaly one of them
    /// forbids makes the history invalid.
    pub models: Vec<Model>,
    /// How many anomalies of each kind the report explains in full.
    pub examples_per_kind: usize,
    /// Threads a big graph's layers may be searched on (at least 1).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            models: vec![Model::StrictSerializable],
            examples_per_kind: 8,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// An anomaly that is a fact about a few transactions, not a cycle.
#[derive(Clone, Debug)]
pub struct Finding {
    /// What it is.
    pub anomaly: Anomaly,
    /// The transactions involved.
    pub txns: Vec<u32>,
    /// Why, in one sentence.
    pub why: String,
}

impl Finding {
    fn new(kind: Kind, txns: Vec<u32>, why: String) -> Finding {
        Finding {
            anomaly: Anomaly::data(kind),
            txns,
            why,
        }
    }
}

/// Remembers which (key, kind) was already reported, so a key read wrong
/// a thousand times is one finding.
#[derive(Default)]
struct Once(hashbrown::HashSet<(u32, Kind)>);

impl Once {
    fn first(&mut self, key: u32, kind: Kind) -> bool {
        self.0.insert((key, kind))
    }
}

/// Why an edge exists, asked of the inference that added it.
pub trait Inference {
    /// `a < b` because of `dep`, as a sentence beginning "Ta < Tb because".
    fn why(&self, a: u32, b: u32, dep: Dep) -> String;
}

/// Process and real-time order, the same for every workload.
fn explain_order(txns: &Txns, a: u32, b: u32, dep: Dep) -> String {
    let (ta, tb) = (&txns.txns[a as usize], &txns.txns[b as usize]);
    if dep == Dep::Process {
        return format!(
            "T{} < T{} because process {} ran T{} before T{}",
            a + 1,
            b + 1,
            ta.process,
            a + 1,
            b + 1
        );
    }
    let at = |t: u64| {
        if txns.timed {
            format!("{:.6} s", t as f64 / 1e9)
        } else {
            format!("event {t}")
        }
    };
    format!(
        "T{} < T{} because T{} completed (at {}) before T{} began (at {})",
        a + 1,
        b + 1,
        a + 1,
        ta.ret.map_or("?".into(), at),
        b + 1,
        at(tb.call)
    )
}

/// One transaction as a report shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TxnView {
    /// `T12`: its number in invocation order.
    pub id: String,
    /// Who ran it.
    pub process: String,
    /// `ok`, `info` or `fail`.
    pub outcome: String,
    /// The line of its invocation.
    pub line: usize,
    /// Its micro-ops, as read back: `[[append 7 3] [r 9 [1 2]]]`.
    pub mops: String,
}

/// One edge of a drawn cycle.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Step {
    /// The transaction before.
    pub from: String,
    /// The transaction after.
    pub to: String,
    /// `ww`, `wr`, `rw`, `process` or `realtime`.
    pub dep: String,
    /// Why, in a sentence.
    pub why: String,
}

/// One anomaly, explained.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    /// Its name (`G-single`, `G1a`, ...).
    pub anomaly: Anomaly,
    /// The anomaly in a line: the finding, or the cycle with its edges
    /// (`T1 < T2 < T1 (rw, rw)`).
    pub summary: String,
    /// The explanation: one sentence per step, ending in the
    /// contradiction for a cycle.
    pub explanation: Vec<String>,
    /// The cycle's edges, in order; empty for non-cycle anomalies.
    pub cycle: Vec<Step>,
    /// The transactions involved, in full.
    pub txns: Vec<TxnView>,
}

/// What the transactional checker found.
#[derive(Clone, Debug, Serialize)]
pub struct TxnReport {
    /// Invalid if an anomaly is forbidden by a requested model.
    pub verdict: Verdict,
    /// The finding in one sentence.
    pub sentence: String,
    /// `list-append` or `rw-register`.
    pub workload: String,
    /// The models checked.
    pub models: Vec<Model>,
    /// Transactions by outcome.
    pub committed: usize,
    /// Indeterminate transactions.
    pub indeterminate: usize,
    /// Failed (aborted) transactions.
    pub aborted: usize,
    /// Edges of the dependency graph.
    pub edges: usize,
    /// How many of each anomaly, by name.
    pub anomalies: BTreeMap<String, usize>,
    /// The anomalies a requested model forbids.
    pub forbidden: Vec<String>,
    /// Every model the history rules out, weakest first.
    pub ruled_out: Vec<Model>,
    /// Of those, the weakest: the history is "not" these.
    pub not: Vec<Model>,
    /// Anomalies explained in full (at most `examples_per_kind` each).
    pub examples: Vec<Example>,
    /// What was left out, what had to be assumed.
    pub notes: Vec<String>,
    /// How long the check took (reading the history not included).
    pub elapsed_ms: f64,
}

/// Checks a transactional history against the requested models.
pub fn check(history: &History, workload: Workload, opts: &Options) -> Result<TxnReport, InputError> {
    let txns = Txns::parse(history, workload)?;
    check_txns(&txns, workload, opts)
}

/// As [`check`], for transactions already parsed.
pub fn check_txns(txns: &Txns, workload: Workload, opts: &Options) -> Result<TxnReport, InputError> {
    let started = std::time::Instant::now();
    let mut graph = DepGraph::new(txns.txns.len());
    let mut findings = Vec::new();
    let inference: Box<dyn Inference + '_> = match workload {
        Workload::ListAppend => Box::new(list_append::ListAppend::infer(txns, &mut graph, &mut findings)?),
        Workload::RwRegister => Box::new(rw_register::RwRegister::infer(txns, &mut graph, &mut findings)?),
    };
    graph.add_process_order(txns);
    graph.add_realtime_order(txns);
    let mut notes = Vec::new();
    let cycles = graph.cycles(opts.threads, &mut notes);
    let mut report = report(
        txns,
        workload,
        opts,
        &*inference,
        findings,
        cycles,
        graph.edges(),
        notes,
    );
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn report(
    txns: &Txns,
    workload: Workload,
    opts: &Options,
    inference: &dyn Inference,
    findings: Vec<Finding>,
    cycles: Vec<Cycle>,
    edges: usize,
    mut notes: Vec<String>,
) -> TxnReport {
    let mut counts: BTreeMap<Anomaly, usize> = BTreeMap::new();
    for a in findings
        .iter()
        .map(|f| f.anomaly)
        .chain(cycles.iter().map(|c| c.anomaly))
    {
        *counts.entry(a).or_default() += 1;
    }
    let found: Vec<Anomaly> = counts.keys().copied().collect();
    let forbidden: Vec<Anomaly> = found
        .iter()
        .copied()
        .filter(|a| opts.models.iter().any(|m| m.forbids(*a)))
        .collect();
    let ruled_out = Model::ruled_out(&found);
    let not = Model::weakest(&ruled_out);
    let mut examples = Vec::new();
    let mut shown: BTreeMap<Anomaly, usize> = BTreeMap::new();
    // Forbidden anomalies first, worst (by kind order) first.
    let mut order: Vec<(bool, Anomaly, usize, bool)> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        order.push((!forbidden.contains(&f.anomaly), f.anomaly, i, false));
    }
    for (i, c) in cycles.iter().enumerate() {
        order.push((!forbidden.contains(&c.anomaly), c.anomaly, i, true));
    }
    order.sort();
    for (_, anomaly, i, is_cycle) in order {
        let n = shown.entry(anomaly).or_default();
        if *n >= opts.examples_per_kind {
            continue;
        }
        *n += 1;
        examples.push(if is_cycle {
            explain_cycle(txns, inference, &cycles[i])
        } else {
            let f = &findings[i];
            Example {
                anomaly,
                summary: f.why.clone(),
                explanation: vec![f.why.clone()],
                cycle: Vec::new(),
                txns: f.txns.iter().map(|t| view(txns, *t)).collect(),
            }
        });
    }
    let left_out: usize = counts
        .iter()
        .map(|(a, n)| n.saturating_sub(shown.get(a).copied().unwrap_or(0)))
        .sum();
    if left_out > 0 {
        notes.push(format!(
            "{left_out} anomalies are counted but not explained here (at most {} of each kind are)",
            opts.examples_per_kind
        ));
    }
    let verdict = if forbidden.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    let count = |o: Outcome| txns.txns.iter().filter(|t| t.outcome == o).count();
    let requested: Vec<&str> = opts.models.iter().map(|m| m.name()).collect();
    let tally: Vec<String> = counts.iter().map(|(a, n)| format!("{a} ×{n}")).collect();
    let names = |ms: &[Model]| ms.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ");
    let sentence = match (examples.first(), verdict) {
        (None, _) => format!(
            "no anomaly in {} transactions: consistent with {}",
            txns.txns.len(),
            requested.join(", ")
        ),
        (Some(first), Verdict::Invalid) => format!(
            "{}: {} — not {} ({})",
            first.anomaly,
            first.summary,
            names(&not),
            tally.join(", ")
        ),
        (Some(_), _) => format!(
            "consistent with {}, which allows what was found ({}); the history is not {}",
            requested.join(", "),
            tally.join(", "),
            names(&not)
        ),
    };
    TxnReport {
        verdict,
        sentence,
        workload: workload.name().into(),
        models: opts.models.clone(),
        committed: count(Outcome::Ok),
        indeterminate: count(Outcome::Info),
        aborted: count(Outcome::Fail),
        edges,
        anomalies: counts.iter().map(|(a, n)| (a.to_string(), *n)).collect(),
        forbidden: forbidden.iter().map(|a| a.to_string()).collect(),
        ruled_out,
        not,
        examples,
        notes,
        elapsed_ms: 0.0,
    }
}

fn view(txns: &Txns, t: u32) -> TxnView {
    let x = &txns.txns[t as usize];
    TxnView {
        id: format!("T{}", t + 1),
        process: x.process.to_string(),
        outcome: match x.outcome {
            Outcome::Ok => "ok",
            Outcome::Info => "info",
            Outcome::Fail => "fail",
        }
        .into(),
        line: x.line,
        mops: txns.show(t),
    }
}

fn explain_cycle(txns: &Txns, inference: &dyn Inference, c: &Cycle) -> Example {
    let n = c.steps.len();
    let mut explanation = Vec::with_capacity(n + 1);
    let mut cycle = Vec::with_capacity(n);
    for (i, &(a, dep)) in c.steps.iter().enumerate() {
        let b = c.steps[(i + 1) % n].0;
        let why = inference.why(a, b, dep);
        explanation.push(format!("{why};"));
        cycle.push(Step {
            from: format!("T{}", a + 1),
            to: format!("T{}", b + 1),
            dep: dep.label().into(),
            why,
        });
    }
    let ring: Vec<String> = c
        .steps
        .iter()
        .chain(c.steps.first())
        .map(|(t, _)| format!("T{}", t + 1))
        .collect();
    explanation.push(format!("so {}: a contradiction.", ring.join(" < ")));
    let deps: Vec<&str> = c.steps.iter().map(|s| s.1.label()).collect();
    Example {
        anomaly: c.anomaly,
        summary: format!("{} ({})", ring.join(" < "), deps.join(", ")),
        explanation,
        cycle,
        txns: c.steps.iter().map(|(t, _)| view(txns, *t)).collect(),
    }
}
