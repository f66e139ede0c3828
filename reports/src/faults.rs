//! Fault periods, read from the nemesis's ops in the history: a fault
//! starts when its `info` completion is recorded (`kill`, `pause`,
//! `start-partition`, `start-loss`, `bump-clock`) and ends at its undo
//! (`start`, `resume`, `stop-partition`, `stop-loss`, `reset-clock`) or at
//! the end of the history.

use checkers::{History, OpType, Process, Value};

/// A span of time during which a fault was in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Period {
    /// The fault's name, as `--nemesis` spells it (`kill`, `partition`).
    pub kind: &'static str,
    /// What it was, in words (`kill n2`, `partition halves: n1 | n2,n3`).
    pub label: String,
    /// Start, nanoseconds since the test began.
    pub start: u64,
    /// End.
    pub end: u64,
}

/// The undo of a fault's verb, and the fault's name.
fn undo_of(f: &str) -> Option<(&'static str, &'static str)> {
    Some(match f {
        "kill" => ("start", "kill"),
        "pause" => ("resume", "pause"),
        "start-partition" => ("stop-partition", "partition"),
        "start-loss" => ("stop-loss", "loss"),
        "bump-clock" => ("reset-clock", "clock"),
        _ => return None,
    })
}

/// The fault periods of a history, in start order.
pub fn periods(h: &History) -> Vec<Period> {
    let end = h.ops.last().map_or(0, |o| o.time);
    let mut open: Vec<(&'static str, Period)> = Vec::new();
    let mut done = Vec::new();
    for op in h
        .ops
        .iter()
        .filter(|o| o.process == Process::Nemesis && o.kind == OpType::Info)
    {
        if let Some((undo, kind)) = undo_of(&op.f) {
            // The completion's value is [nodes, "what was done"].
            let label = match op.value.as_pair() {
                Some((_, Value::Str(what))) => what.to_string(),
                _ => format!("{} {}", op.f, op.value),
            };
            open.push((
                undo,
                Period {
                    kind,
                    label,
                    start: op.time,
                    end,
                },
            ));
        } else if let Some(i) = open.iter().position(|(u, _)| *u == &*op.f) {
            let (_, mut p) = open.remove(i);
            p.end = op.time;
            done.push(p);
        }
    }
    done.extend(open.into_iter().map(|(_, p)| p));
    done.sort_by_key(|p| p.start);
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_lasts_until_its_undo_or_the_end() {
        let jsonl = [
            r#"{"type":"info","process":"nemesis","f":"bump-clock","value":[["n2"],"bump n2's clock by +12.000 s"],"time":10}"#,
            r#"{"type":"info","process":"nemesis","f":"kill","value":[["n1"],"kill n1"],"time":20}"#,
            r#"{"type":"info","process":"nemesis","f":"reset-clock","value":[["n2"],"undo"],"time":30}"#,
            r#"{"type":"invoke","process":0,"f":"read","value":null,"time":40}"#,
        ]
        .join("\n");
        let (h, _) = checkers::import::parse(&jsonl, "h.jsonl", None).unwrap();
        let p = periods(&h);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].kind, p[0].label.as_str(), p[0].start, p[0].end),
            ("clock", "bump n2's clock by +12.000 s", 10, 30)
        );
        assert_eq!(
            (p[1].kind, p[1].label.as_str(), p[1].start, p[1].end),
            ("kill", "kill n1", 20, 40)
        );
    }
}
