//! Fault periods: the nemesis's ops in a history read back as spans of
//! time, by the verbs in [`crate::FAULTS`]. A fault is in force from its
//! start verb's completion until an undo verb of its own ends it, or to
//! the end of the history.
//!
//! Two recordings are read alike. faultline writes each event as an
//! `invoke` and an `info` completion carrying `[nodes, "what was done"]`;
//! Jepsen writes two `info` ops, the invocation and the completion. A
//! nemesis `info` op right after a nemesis op of the same verb is that
//! event's completion: it moves the event to its own time and gives it
//! its words, rather than starting (or ending) a second one.
//!
//! Undo verbs are shared (`start` ends `kill`, `lose-unsynced` and
//! `corrupt`), so an undo ends the open periods of its verb on the same
//! nodes; one that names none of them (Jepsen's `:start :all`) ends every
//! open period of its verb.

use checkers::{FaultPeriod, History, Op, OpType, Process, Value};

use crate::Fault;

/// The fault periods of a history, in start order.
pub fn periods(h: &History) -> Vec<FaultPeriod> {
    let end = h.ops.last().map_or(0, |o| o.time);
    let mut open: Vec<(&'static str, FaultPeriod)> = Vec::new();
    let mut done: Vec<FaultPeriod> = Vec::new();
    // The last nemesis op, and what acting on it touched: the period it
    // opened, or how many it closed (the last ones in `done`).
    let mut last: Option<(&Op, Touched)> = None;
    for op in h.ops.iter().filter(|o| o.process == Process::Nemesis) {
        let completes = match &last {
            Some((prev, touched)) if prev.f == op.f && op.kind == OpType::Info => Some(*touched),
            _ => None,
        };
        let touched = match (op.kind, completes) {
            // faultline's invocation: the completion acts.
            (OpType::Invoke, _) => Touched::Nothing,
            (_, Some(Touched::Opened)) => {
                if let Some((_, p)) = open.last_mut() {
                    p.start = op.time;
                    if let Some((nodes, what)) = described(op) {
                        (p.nodes, p.what) = (nodes, what);
                    }
                }
                Touched::Nothing
            }
            (_, Some(Touched::Closed(n))) => {
                let from = done.len() - n;
                done[from..].iter_mut().for_each(|p| p.end = op.time);
                Touched::Nothing
            }
            (_, Some(Touched::Nothing) | None) => act(op, end, &mut open, &mut done),
        };
        last = Some((op, touched));
    }
    done.extend(open.into_iter().map(|(_, p)| p));
    done.sort_by_key(|p| p.start);
    done
}

/// What acting on a nemesis op did to the periods.
#[derive(Clone, Copy)]
enum Touched {
    Nothing,
    Opened,
    Closed(usize),
}

/// Opens the period `op` starts, or closes those it undoes.
fn act(
    op: &Op,
    end: u64,
    open: &mut Vec<(&'static str, FaultPeriod)>,
    done: &mut Vec<FaultPeriod>,
) -> Touched {
    if let Some(fault) = Fault::started_by(op.f.name()) {
        let (nodes, what) = described(op).unwrap_or_else(|| (Vec::new(), format!("{} {}", op.f, op.value)));
        open.push((
            fault.def().undo,
            FaultPeriod {
                kind: fault.to_string(),
                nodes,
                start: op.time,
                end,
                what,
            },
        ));
        return Touched::Opened;
    }
    let nodes = described(op).map(|(n, _)| n);
    let undoes = |u: &str, p: &FaultPeriod| u == op.f.name() && nodes.as_ref().is_none_or(|n| *n == p.nodes);
    let mut closing: Vec<usize> = (0..open.len())
        .filter(|&i| undoes(open[i].0, &open[i].1))
        .collect();
    if closing.is_empty() {
        closing = (0..open.len()).filter(|&i| open[i].0 == op.f.name()).collect();
    }
    for &i in closing.iter().rev() {
        let (_, mut p) = open.remove(i);
        p.end = op.time;
        done.push(p);
    }
    if closing.is_empty() {
        Touched::Nothing
    } else {
        Touched::Closed(closing.len())
    }
}

/// The nodes and words of a faultline completion (`[["n1"], "kill n1"]`).
fn described(op: &Op) -> Option<(Vec<String>, String)> {
    let (Value::List(nodes), Value::Str(what)) = op.value.as_pair()? else {
        return None;
    };
    let nodes = nodes
        .iter()
        .map(|n| n.as_str().map(String::from))
        .collect::<Option<_>>()?;
    Some((nodes, what.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(lines: &[&str]) -> History {
        checkers::import::parse(&lines.join("\n"), "h.jsonl", None)
            .unwrap()
            .0
    }

    fn spans(h: &History) -> Vec<(String, u64, u64, String)> {
        periods(h)
            .into_iter()
            .map(|p| (p.kind, p.start, p.end, p.what))
            .collect()
    }

    #[test]
    fn each_fault_lasts_until_its_undo_or_the_end() {
        let h = history(&[
            r#"{"type":"info","process":"nemesis","f":"bump-clock","value":[["n2"],"bump n2's clock by +12.000 s"],"time":10}"#,
            r#"{"type":"info","process":"nemesis","f":"kill","value":[["n1"],"kill n1"],"time":20}"#,
            r#"{"type":"info","process":"nemesis","f":"reset-clock","value":[["n2"],"undo"],"time":30}"#,
            r#"{"type":"invoke","process":0,"f":"read","value":null,"time":40}"#,
        ]);
        assert_eq!(
            spans(&h),
            vec![
                ("clock".into(), 10, 30, "bump n2's clock by +12.000 s".into()),
                ("kill".into(), 20, 40, "kill n1".into())
            ]
        );
        assert_eq!(periods(&h)[1].nodes, vec!["n1".to_string()]);
    }

    /// Every fault in the table, as faultline records it (invoke, then
    /// info), all in force at once and healed newest first: each period
    /// ends at its own undo, though `start` and `reset-clock` are shared.
    #[test]
    fn every_fault_is_a_period_ended_by_its_own_undo() {
        let mut lines = Vec::new();
        let mut t = 0;
        let mut event = |f: &str, node: usize, what: &str, lines: &mut Vec<String>| {
            for kind in ["invoke", "info"] {
                t += 1;
                let value = if kind == "invoke" {
                    format!(r#"["n{node}"]"#)
                } else {
                    format!(r#"[["n{node}"],"{what}"]"#)
                };
                lines.push(format!(
                    r#"{{"type":"{kind}","process":"nemesis","f":"{f}","value":{value},"time":{t}}}"#
                ));
            }
            t
        };
        let mut started = Vec::new();
        for (i, d) in crate::FAULTS.iter().enumerate() {
            let at = event(d.start, i, &format!("{} on n{i}", d.name), &mut lines);
            started.push((d.name, at));
        }
        let mut ended = Vec::new();
        for (i, d) in crate::FAULTS.iter().enumerate().rev() {
            let at = event(d.undo, i, "undo", &mut lines);
            ended.push((d.name, at));
        }
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let got = spans(&history(&lines));
        assert_eq!(got.len(), crate::FAULTS.len(), "{got:?}");
        for (d, (kind, start, end, what)) in crate::FAULTS.iter().zip(&got) {
            assert_eq!(kind, d.name);
            assert_eq!(*what, format!("{} on n{}", d.name, d.fault as usize));
            assert_eq!((d.name, *start), *started.iter().find(|s| s.0 == d.name).unwrap());
            assert_eq!((d.name, *end), *ended.iter().find(|s| s.0 == d.name).unwrap());
        }
    }

    /// Jepsen's recording: invocation and completion both `info`, and a
    /// `start` of every node.
    #[test]
    fn jepsen_events_count_once_and_start_all_ends_every_kill() {
        let h = history(&[
            r#"{"type":"info","process":"nemesis","f":"kill","value":null,"time":10}"#,
            r#"{"type":"info","process":"nemesis","f":"kill","value":[["n1"],"kill n1"],"time":12}"#,
            r#"{"type":"info","process":"nemesis","f":"kill","value":null,"time":20}"#,
            r#"{"type":"info","process":"nemesis","f":"kill","value":[["n2"],"kill n2"],"time":22}"#,
            r#"{"type":"info","process":"nemesis","f":"start","value":"all","time":30}"#,
            r#"{"type":"info","process":"nemesis","f":"start","value":"all","time":33}"#,
            r#"{"type":"invoke","process":0,"f":"read","value":null,"time":40}"#,
        ]);
        assert_eq!(
            spans(&h),
            vec![
                ("kill".into(), 12, 33, "kill n1".into()),
                ("kill".into(), 22, 33, "kill n2".into())
            ]
        );
    }

    #[test]
    fn other_nemesis_ops_are_no_periods() {
        let h = history(&[
            r#"{"type":"info","process":"nemesis","f":"check-offsets","value":null,"time":10}"#,
            r#"{"type":"info","process":"nemesis","f":"stop-partition","value":null,"time":20}"#,
        ]);
        assert!(periods(&h).is_empty());
    }
}
