//! The linearization view's data (`checkers::linearization`): a valid
//! key's complete linearization replays in the model; on an invalid key,
//! every op in some partial linearization has its longest, which replays
//! legally step by step, contains it, and is the longest kept through it —
//! on small histories and on the shared Porcupine corpus.

mod corpus;

use std::collections::{BTreeSet, HashMap};

use checkers::linearizable::{check, check_with, Linearize, Options, Partition};
use checkers::model::{self, Flavor, Model, ModelKind};
use checkers::{import, History, Value, Verdict};

fn options() -> Options {
    Options {
        linearizations: Some(Linearize::default()),
        ..Options::default()
    }
}

/// Replays `path` (`[op, state]` pairs) in `model` from its initial
/// state: every step must be legal, on this key, with the state's words
/// recorded. Returns the ops in order.
fn replay<M: Model>(model: &M, history: &History, p: &Partition, path: &[(u32, u32)]) -> Vec<u32> {
    let l = p.linearizations.as_ref().unwrap();
    let operations = history.operations().unwrap();
    let mut state = model.init();
    for (i, &(op, text)) in path.iter().enumerate() {
        let o = &operations[op as usize];
        assert_eq!(o.key, p.key, "step {i}: op {op} belongs to this key");
        let mop = model.parse(o).unwrap().expect("a linearized op says something");
        state = model
            .step(&state, &mop)
            .unwrap_or_else(|| panic!("step {i} ({op}: {o:?}) is illegal after {state:?}"));
        assert_eq!(
            l.states[text as usize],
            model.describe(&state),
            "step {i}'s state"
        );
    }
    path.iter().map(|&(op, _)| op).collect()
}

const VALID: &str = r#"{"time":0,"type":"invoke","process":0,"f":"write","key":1,"value":1}
{"time":1,"type":"invoke","process":1,"f":"read","key":1,"value":null}
{"time":2,"type":"ok","process":1,"f":"read","key":1,"value":1}
{"time":3,"type":"ok","process":0,"f":"write","key":1,"value":1}
{"time":4,"type":"invoke","process":0,"f":"cas","key":1,"value":[1,2]}
{"time":5,"type":"invoke","process":2,"f":"write","key":2,"value":7}
{"time":6,"type":"info","process":2,"f":"write","key":2,"value":7}
{"time":7,"type":"ok","process":0,"f":"cas","key":1,"value":[1,2]}
{"time":8,"type":"invoke","process":1,"f":"read","key":2,"value":null}
{"time":9,"type":"ok","process":1,"f":"read","key":2,"value":7}
{"time":10,"type":"invoke","process":1,"f":"read","key":1,"value":null}
{"time":11,"type":"ok","process":1,"f":"read","key":1,"value":2}"#;

#[test]
fn a_valid_key_has_a_complete_linearization_that_replays_in_the_model() {
    let (history, _) = import::parse(VALID, "v.jsonl", None).unwrap();
    let model = model::Register::new(Flavor::Cas, Value::Nil);
    // The first valid key keeps its linearization; key 2 only if asked.
    let first = check_with(&model, ModelKind::CasRegister, &history, &options()).unwrap();
    assert!(first.partitions[0].linearizations.is_some() && first.partitions[1].linearizations.is_none());
    let both = Options {
        linearizations: Some(Linearize {
            keys: vec![Value::Int(2)],
        }),
        ..Options::default()
    };
    let report = check_with(&model, ModelKind::CasRegister, &history, &both).unwrap();
    assert_eq!(report.verdict, Verdict::Valid);
    for p in &report.partitions {
        let l = p.linearizations.as_ref().expect("recorded when asked");
        assert!(l.complete && l.longest.is_empty() && l.omitted == 0);
        let path = l.path(l.steps.len() as u32 - 1);
        assert_eq!(path.len(), l.steps.len(), "one chain");
        let ops = replay(&model, &history, p, &path);
        // Every op of the key is in it (key 2's indeterminate write too:
        // the read of 7 needs it).
        assert_eq!(ops.len(), p.ops, "key {:?}: {ops:?}", p.key);
    }
    // Key 1 (ops 0, 1, 2, 5 in invocation order): the read of 1 after the
    // write, the read of 2 after the cas.
    let key1 = report.partitions[0].linearizations.as_ref().unwrap();
    assert_eq!(key1.path(3).iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2, 5]);
    assert_eq!(key1.states[key1.steps[3].2 as usize], "the register holds 2");
}

#[test]
fn nothing_is_recorded_unless_asked() {
    let (history, _) = import::parse(VALID, "v.jsonl", None).unwrap();
    let report = check(&history, ModelKind::CasRegister, None, &Options::default()).unwrap();
    assert!(report.partitions.iter().all(|p| p.linearizations.is_none()));
}

/// Every op of every invalid key that is in some kept partial
/// linearization has its longest, which replays legally, contains it once,
/// and is at least as long as any kept one through it. Returns how many
/// ops had one, of how many.
fn check_partials<M: Model>(model: &M, kind: ModelKind, history: &History) -> (usize, usize) {
    let report = check_with(model, kind, history, &options()).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid, "{}", history.source);
    let (mut with, mut of) = (0, 0);
    for p in report.partitions.iter().filter(|p| p.verdict == Verdict::Invalid) {
        let l = p.linearizations.as_ref().expect("an invalid key records");
        assert!(!l.complete);
        assert_eq!(l.omitted, 0, "nothing here reaches the cap");
        let longest: HashMap<u32, usize> = l
            .longest
            .iter()
            .map(|&(op, end)| (op, l.path(end).len()))
            .collect();
        assert_eq!(longest.len(), l.longest.len(), "one entry per op");
        for &(op, end) in &l.longest {
            let ops = replay(model, history, p, &l.path(end));
            assert!(ops.contains(&op), "op {op}'s partial linearization contains it");
            assert_eq!(
                ops.iter().collect::<BTreeSet<_>>().len(),
                ops.len(),
                "no op twice"
            );
            // Every kept step is on some op's path, so this covers them all.
            for o in &ops {
                let own = longest
                    .get(o)
                    .unwrap_or_else(|| panic!("op {o} is in a partial linearization but has none"));
                assert!(
                    *own >= ops.len(),
                    "op {o}: its own ({own}) is shorter than one through it ({})",
                    ops.len()
                );
            }
        }
        with += l.longest.len();
        of += p.ops;
    }
    (with, of)
}

#[test]
fn an_invalid_key_gives_each_op_its_longest_legal_partial_linearization() {
    // The stale read of 1 by process 2, after the cas to 2 returned.
    let text = r#"{"time":0,"type":"invoke","process":0,"f":"write","key":0,"value":1}
{"time":1,"type":"ok","process":0,"f":"write","key":0,"value":1}
{"time":2,"type":"invoke","process":1,"f":"cas","key":0,"value":[1,2]}
{"time":3,"type":"invoke","process":0,"f":"read","key":0,"value":null}
{"time":4,"type":"ok","process":1,"f":"cas","key":0,"value":[1,2]}
{"time":5,"type":"ok","process":0,"f":"read","key":0,"value":1}
{"time":6,"type":"invoke","process":2,"f":"read","key":0,"value":null}
{"time":7,"type":"ok","process":2,"f":"read","key":0,"value":1}
{"time":8,"type":"invoke","process":1,"f":"write","key":0,"value":3}
{"time":9,"type":"ok","process":1,"f":"write","key":0,"value":3}"#;
    let (history, _) = import::parse(text, "bad.jsonl", None).unwrap();
    let model = model::Register::new(Flavor::Cas, Value::Nil);
    // The write, the concurrent read of 1 and the cas can be ordered; the
    // late read of 1 cannot, nor the write that must follow it.
    assert_eq!(check_partials(&model, ModelKind::CasRegister, &history), (3, 5));
}

#[test]
fn porcupine_invalid_histories_give_legal_partial_linearizations() {
    let Some(dir) = corpus::available() else {
        return;
    };
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let mut checked = 0;
    for line in expected.lines().filter(|l| !l.starts_with('#')) {
        let Some((file, "invalid")) = line.split_once('\t') else {
            continue;
        };
        let (history, format) = import::read_file(&dir.join(file), None).unwrap();
        // c50-bad is left out: its search takes the longest.
        let (with, of) = match ModelKind::default_for(format, std::iter::empty()) {
            ModelKind::Etcd => check_partials(
                &model::Register::new(Flavor::Etcd, Value::Nil),
                ModelKind::Etcd,
                &history,
            ),
            ModelKind::Kv if !file.contains("c50") => {
                check_partials(&model::Kv::new(String::new()), ModelKind::Kv, &history)
            }
            _ => continue,
        };
        assert!(with > 0 && with <= of, "{file}: {with} of {of}");
        checked += 1;
    }
    assert_eq!(checked, 81, "79 invalid etcd logs, kv c01-bad and c10-bad");
}
