//! `Counterexample`: why a partition is not linearizable, as data and as
//! one sentence a person reads in one pass — the op that cannot be
//! linearized, the longest linearizable prefix before it, and the model
//! state there. Rendering beyond the sentence belongs to `reports`.

use serde::Serialize;

use crate::function::Function;
use crate::history::{Operation, Outcome};
use crate::model::Model;

/// One op of the linearizable prefix and the state after it.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// The operation.
    pub op: Operation,
    /// The model state after it, in words.
    pub state: String,
}

/// Why a partition is not linearizable.
#[derive(Clone, Debug, Serialize)]
pub struct Counterexample {
    /// The whole explanation in one sentence.
    pub sentence: String,
    /// The op that had to be linearized next and could not.
    pub op: Operation,
    /// The model state at that point, in words.
    pub state: String,
    /// Why the op is impossible there.
    pub reason: String,
    /// The longest linearizable prefix, in linearization order.
    pub prefix: Vec<Step>,
    /// Ops concurrent with the blocked one that were still open.
    pub concurrent: Vec<Operation>,
}

/// "read 4", "wrote 3", "cas 3→4 (failed)": an operation's verb phrase.
pub fn describe_op(op: &Operation) -> String {
    let phrase = match &op.f {
        Function::Read => format!("read {}", result(op)),
        Function::Get => format!("got {}", result(op)),
        Function::Write => format!("wrote {}", op.input),
        Function::Put => format!("put {}", op.input),
        Function::Append => format!("appended {}", op.input),
        Function::Cas => match op.input.as_pair() {
            Some((a, b)) => format!("cas {a}→{b}"),
            None => format!("cas {}", op.input),
        },
        Function::Add => format!("added {}", op.input),
        Function::Enqueue => format!("enqueued {}", op.input),
        Function::Dequeue => format!("dequeued {}", result(op)),
        Function::Acquire => "acquired the lock".into(),
        Function::Release => "released the lock".into(),
        f if op.output.is_nil() || op.output == op.input => format!("{f} {}", op.input),
        f => format!("{f} {} → {}", op.input, op.output),
    };
    let outcome = match op.outcome {
        Outcome::Ok => "",
        Outcome::Fail => " (failed)",
        Outcome::Info => " (indeterminate)",
    };
    let key = op
        .key
        .as_ref()
        .map(|k| format!(" on key {k}"))
        .unwrap_or_default();
    format!("process {} {phrase}{key}{outcome}", op.process)
}

fn result(op: &Operation) -> String {
    match op.outcome {
        Outcome::Ok => op.output.to_string(),
        _ => "an unknown value".into(),
    }
}

/// When the op happened: seconds for timed histories, lines otherwise.
pub fn when(op: &Operation, timed: bool) -> String {
    match (timed, op.ret) {
        (true, Some(r)) => format!("between t={} and t={}", seconds(op.call), seconds(r)),
        (true, None) => format!("from t={} on", seconds(op.call)),
        (false, _) => match op.ret_line {
            Some(r) => format!("(lines {}–{r})", op.line),
            None => format!("(line {}, never completed)", op.line),
        },
    }
}

/// Milliseconds early in a test, where operations are milliseconds long;
/// seconds later.
fn seconds(ns: u64) -> String {
    if ns < 10_000_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else {
        format!("{:.3} s", ns as f64 / 1e9)
    }
}

impl Counterexample {
    /// Builds the counterexample from the search's answer. `ops` are the
    /// partition's operations, indexed by the ids the search returned.
    pub(crate) fn new<M: Model>(
        model: &M,
        ops: &[(Operation, M::Op)],
        prefix: &[u32],
        blocked: u32,
        concurrent: &[u32],
        timed: bool,
    ) -> Counterexample {
        // Replayed rather than taken from the search, which may have
        // replaced an unobservable state with a canonical one.
        let mut state = model.init();
        let steps = prefix
            .iter()
            .map(|&i| {
                let (o, m) = &ops[i as usize];
                if let Some(next) = model.step(&state, m) {
                    state = next;
                }
                Step {
                    op: o.clone(),
                    state: model.describe(&state),
                }
            })
            .collect();
        let (op, mop) = &ops[blocked as usize];
        let concurrent_ops: Vec<&M::Op> = concurrent.iter().map(|&i| &ops[i as usize].1).collect();
        let reason = model.explain(&state, mop, &concurrent_ops);
        let described = model.describe(&state);
        let count = match prefix.len() {
            0 => "before any op can be ordered".to_string(),
            1 => "after the 1 op that can be ordered".to_string(),
            n => format!("after the {n} ops that can be ordered"),
        };
        let sentence = format!(
            "{} {}, but {count} {described}; {reason}",
            describe_op(op),
            when(op, timed)
        );
        Counterexample {
            sentence,
            op: op.clone(),
            state: described,
            reason,
            prefix: steps,
            concurrent: concurrent.iter().map(|&i| ops[i as usize].0.clone()).collect(),
        }
    }
}
