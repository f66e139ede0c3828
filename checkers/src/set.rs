//! The set checker (Jepsen's `set`): every acknowledged `add` must be in
//! the final reads, and nothing may appear that was never added. It is the
//! check for lost writes; it does not ask for linearizability (see the
//! `set` model for that).
//!
//! Final reads are the successful reads invoked after every add had
//! completed. Indeterminate adds may or may not appear.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::InputError;
use crate::function::Function;
use crate::history::{History, Outcome};
use crate::value::Value;
use crate::verdict::Verdict;

/// What the set checker found.
#[derive(Clone, Debug, Serialize)]
pub struct SetReport {
    /// Valid when nothing is lost or unexpected.
    pub verdict: Verdict,
    /// The finding in one sentence.
    pub sentence: String,
    /// Adds attempted.
    pub attempted: usize,
    /// Adds acknowledged (`ok`).
    pub acknowledged: usize,
    /// Final reads used.
    pub final_reads: usize,
    /// Acknowledged adds missing from a final read.
    pub lost: Vec<Value>,
    /// How many of `lost` another final read did see: the final reads
    /// disagree, which may be replication that had not caught up.
    pub seen_elsewhere: usize,
    /// Elements read that no add attempted.
    pub unexpected: Vec<Value>,
    /// Indeterminate adds that did appear.
    pub recovered: usize,
}

fn list(items: &[Value]) -> String {
    const SHOWN: usize = 10;
    let mut s: Vec<String> = items.iter().take(SHOWN).map(|v| v.to_string()).collect();
    if items.len() > SHOWN {
        s.push(format!("and {} more", items.len() - SHOWN));
    }
    s.join(", ")
}

/// Checks a history of `add` and `read` operations on one set.
pub fn check(history: &History) -> Result<SetReport, InputError> {
    let ops = history.operations()?;
    let mut attempted = BTreeSet::new();
    let mut acknowledged = BTreeSet::new();
    let mut indeterminate = BTreeSet::new();
    let mut last_add = 0;
    for op in ops.iter().filter(|o| o.f == Function::Add) {
        attempted.insert(op.input.clone());
        match op.outcome {
            Outcome::Ok => {
                acknowledged.insert(op.input.clone());
            }
            Outcome::Info => {
                indeterminate.insert(op.input.clone());
            }
            Outcome::Fail => {}
        }
        last_add = last_add.max(op.ret.unwrap_or(op.call));
    }
    let mut lost = BTreeSet::new();
    let mut unexpected = BTreeSet::new();
    let mut recovered = BTreeSet::new();
    let mut final_reads = 0;
    let mut seen_anywhere = BTreeSet::new();
    for op in ops
        .iter()
        .filter(|o| o.f == Function::Read && o.outcome == Outcome::Ok && o.call > last_add)
    {
        let items = op.output.as_list().ok_or_else(|| {
            history.error(
                op.ret_line.unwrap_or(op.line),
                format!("read {}: expected a list of elements", op.output),
            )
        })?;
        let seen: BTreeSet<&Value> = items.iter().collect();
        final_reads += 1;
        lost.extend(acknowledged.iter().filter(|v| !seen.contains(v)).cloned());
        unexpected.extend(items.iter().filter(|v| !attempted.contains(*v)).cloned());
        recovered.extend(items.iter().filter(|v| indeterminate.contains(*v)).cloned());
        seen_anywhere.extend(items.iter().cloned());
    }
    let lost: Vec<Value> = lost.into_iter().collect();
    let seen_elsewhere = lost.iter().filter(|v| seen_anywhere.contains(*v)).count();
    let unexpected: Vec<Value> = unexpected.into_iter().collect();
    let (verdict, sentence) = if final_reads == 0 {
        (
            Verdict::Unknown,
            "no read completed after the last add, so nothing can be said about lost adds".to_string(),
        )
    } else if !lost.is_empty() {
        (
            Verdict::Invalid,
            format!(
                "{} of {} acknowledged adds are missing from the final reads: {}{}",
                lost.len(),
                acknowledged.len(),
                list(&lost),
                match seen_elsewhere {
                    0 => String::new(),
                    n => format!(
                        " ({n} of them are in another final read: the reads disagree, which may be \
                         replication still catching up — a longer recovery tells lag from loss)"
                    ),
                }
            ),
        )
    } else if !unexpected.is_empty() {
        (
            Verdict::Invalid,
            format!("the final reads hold elements never added: {}", list(&unexpected)),
        )
    } else {
        (
            Verdict::Valid,
            format!(
                "all {} acknowledged adds are in the final reads ({} of {} indeterminate adds too)",
                acknowledged.len(),
                recovered.len(),
                indeterminate.len()
            ),
        )
    };
    Ok(SetReport {
        verdict,
        sentence,
        attempted: attempted.len(),
        acknowledged: acknowledged.len(),
        final_reads,
        lost,
        seen_elsewhere,
        unexpected,
        recovered: recovered.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import;

    fn run(text: &str) -> SetReport {
        check(&import::parse(text, "set.edn", None).unwrap().0).unwrap()
    }

    const ADDS: &str = "{:type :invoke, :f :add, :value 1, :process 0}\n{:type :ok, :f :add, :value 1, :process 0}\n\
                        {:type :invoke, :f :add, :value 2, :process 1}\n{:type :info, :f :add, :value 2, :process 1}\n";

    #[test]
    fn a_lost_acknowledged_add_is_invalid() {
        let r = run(&format!(
            "{ADDS}{{:type :invoke, :f :read, :process 2}}\n{{:type :ok, :f :read, :value [2], :process 2}}\n"
        ));
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.lost, vec![Value::Int(1)]);
        assert!(
            r.sentence.starts_with("1 of 1 acknowledged adds are missing"),
            "{}",
            r.sentence
        );
    }

    #[test]
    fn final_reads_that_disagree_say_so() {
        let r = run(&format!(
            "{ADDS}{{:type :invoke, :f :read, :process 2}}\n{{:type :ok, :f :read, :value [], :process 2}}\n\
             {{:type :invoke, :f :read, :process 3}}\n{{:type :ok, :f :read, :value [1], :process 3}}\n"
        ));
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!((r.lost.len(), r.seen_elsewhere), (1, 1));
        assert!(
            r.sentence.contains("1 of them are in another final read"),
            "{}",
            r.sentence
        );
        let lost = run(&format!(
            "{ADDS}{{:type :invoke, :f :read, :process 2}}\n{{:type :ok, :f :read, :value [2], :process 2}}\n"
        ));
        assert_eq!(lost.seen_elsewhere, 0);
        assert!(!lost.sentence.contains("another final read"), "{}", lost.sentence);
    }

    #[test]
    fn indeterminate_adds_may_be_missing() {
        let r = run(&format!(
            "{ADDS}{{:type :invoke, :f :read, :process 2}}\n{{:type :ok, :f :read, :value [1], :process 2}}\n"
        ));
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.sentence);
    }

    #[test]
    fn without_a_final_read_it_is_unknown() {
        assert_eq!(run(ADDS).verdict, Verdict::Unknown);
    }

    #[test]
    fn elements_never_added_are_invalid() {
        let r = run(&format!(
            "{ADDS}{{:type :invoke, :f :read, :process 2}}\n{{:type :ok, :f :read, :value [1 9], :process 2}}\n"
        ));
        assert_eq!(r.unexpected, vec![Value::Int(9)]);
        assert_eq!(r.verdict, Verdict::Invalid);
    }
}
