//! The search against an exhaustive reference checker written here (no
//! memoization, no pruning, its own step functions), on thousands of tiny
//! random histories with concurrency, equal timestamps, `info` and `fail`
//! ops, processes that carry on after an `info` (as harnesses other than
//! Jepsen write them), over register, cas-register, mutex and kv; and
//! mutation tests: a linearizable history with one read changed to a
//! never-written value must become invalid. Recording linearizations
//! changes no verdict, and what it records replays legally.

use checkers::linearizable::{check, Linearize, Options, Report};
use checkers::model::{self, Flavor, Model};
use checkers::{History, ModelKind, Op, OpType, Process, Value, Verdict};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

/// One generated operation.
#[derive(Clone, Debug)]
struct Gen {
    process: u64,
    f: &'static str,
    input: Value,
    output: Value,
    kind: OpType,
    call: u64,
    /// `None`: the completion never arrived.
    ret: Option<u64>,
}

fn history(ops: &[Gen]) -> History {
    let mut events: Vec<(u64, u8, Op)> = Vec::new();
    for g in ops {
        let op = |kind, time, value: &Value| Op {
            index: 0,
            time,
            kind,
            process: Process::Client(g.process),
            f: g.f.into(),
            key: None,
            value: value.clone(),
            error: None,
            line: 0,
        };
        events.push((g.call, 0, op(OpType::Invoke, g.call, &g.input)));
        if let Some(r) = g.ret {
            events.push((r, 1, op(g.kind, r, &g.output)));
        }
    }
    // Completions before invocations at equal times keep each process's
    // own events in order; ties between processes are still concurrent.
    events.sort_by_key(|(t, k, _)| (*t, std::cmp::Reverse(*k)));
    let ops = events
        .into_iter()
        .enumerate()
        .map(|(i, (_, _, mut op))| {
            op.index = i as u64;
            op.line = i + 1;
            op
        })
        .collect();
    History {
        ops,
        timed: true,
        source: "generated".into(),
        nil_reads_empty: false,
    }
}

/// The reference: Knossos semantics, brute force.
fn reference(kind: ModelKind, ops: &[Gen]) -> bool {
    // Failed ops did nothing; drop them.
    let ops: Vec<&Gen> = ops.iter().filter(|g| g.kind != OpType::Fail).collect();
    let init = match kind {
        ModelKind::Mutex => Value::Bool(false),
        ModelKind::Kv => Value::from(""),
        _ => Value::Nil,
    };
    let mut used = vec![false; ops.len()];
    search(kind, &ops, &mut used, &init)
}

fn definite(g: &Gen) -> bool {
    g.kind == OpType::Ok && g.ret.is_some()
}

fn search(kind: ModelKind, ops: &[&Gen], used: &mut [bool], state: &Value) -> bool {
    if ops.iter().zip(used.iter()).all(|(g, u)| *u || !definite(g)) {
        return true;
    }
    for i in 0..ops.len() {
        if used[i] {
            continue;
        }
        // Every unused definite op that returned before this call must go first.
        let blocked =
            (0..ops.len()).any(|j| !used[j] && definite(ops[j]) && ops[j].ret.unwrap() < ops[i].call);
        if blocked {
            continue;
        }
        if let Some(next) = step(kind, state, ops[i]) {
            used[i] = true;
            let ok = search(kind, ops, used, &next);
            used[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}

fn step(kind: ModelKind, state: &Value, g: &Gen) -> Option<Value> {
    let known = g.kind == OpType::Ok;
    match (kind, g.f) {
        (ModelKind::Mutex, "acquire") => (*state == Value::Bool(false)).then_some(Value::Bool(true)),
        (ModelKind::Mutex, "release") => (*state == Value::Bool(true)).then_some(Value::Bool(false)),
        (ModelKind::Kv, "get") => (!known || g.output == *state).then(|| state.clone()),
        (ModelKind::Kv, "put") => Some(g.input.clone()),
        (ModelKind::Kv, "append") => Some(Value::from(
            format!("{}{}", state.as_str().unwrap(), g.input.as_str().unwrap()).as_str(),
        )),
        (_, "read") => (!known || g.output.is_nil() || g.output == *state).then(|| state.clone()),
        (_, "write") => Some(g.input.clone()),
        (_, "cas") => {
            let (from, to) = g.input.as_pair().unwrap();
            (from == state).then(|| to.clone())
        }
        other => panic!("generator made {other:?}"),
    }
}

/// Random tiny histories: up to 4 processes, up to 7 ops, small values and
/// times so that ties and collisions are common.
fn arb_history(kind: ModelKind) -> impl Strategy<Value = Vec<Gen>> {
    let op = (
        0u8..6,
        0i64..3,
        0i64..3,
        0u8..10,
        0u64..4,
        1u64..5,
        any::<bool>(),
        any::<bool>(),
    );
    prop::collection::vec(prop::collection::vec(op, 1..4), 1..5).prop_map(move |procs| {
        let mut out = Vec::new();
        let mut n = 0;
        for (p, ops) in procs.into_iter().enumerate() {
            let mut t = 0;
            for (f, a, b, outcome, gap, dur, lost, carry_on) in ops {
                if n == 7 {
                    break;
                }
                n += 1;
                let call = t + gap;
                let ret = call + dur;
                let (f, input, output) = match kind {
                    ModelKind::Kv => {
                        const SEEN: [&str; 6] = ["", "a", "ab", "ba", "p", "pa"];
                        match f % 3 {
                            0 => ("get", Value::Nil, Value::from(SEEN[(a * 2 + b) as usize % 6])),
                            1 => ("append", Value::from(["a", "b", "a"][a as usize]), Value::Nil),
                            _ => ("put", Value::from("p"), Value::Nil),
                        }
                    }
                    ModelKind::Mutex => (
                        if f % 2 == 0 { "acquire" } else { "release" },
                        Value::Nil,
                        Value::Nil,
                    ),
                    _ => match f % if kind == ModelKind::CasRegister { 3 } else { 2 } {
                        0 => (
                            "read",
                            Value::Nil,
                            if a == 2 { Value::Nil } else { Value::Int(a) },
                        ),
                        1 => ("write", Value::Int(a), Value::Int(a)),
                        _ => {
                            let pair = Value::List(vec![Value::Int(a), Value::Int(b)]);
                            ("cas", pair.clone(), pair)
                        }
                    },
                };
                let kind = match outcome {
                    0 => OpType::Fail,
                    1 | 2 => OpType::Info,
                    _ => OpType::Ok,
                };
                let crashed = kind == OpType::Info;
                out.push(Gen {
                    process: p as u64,
                    f,
                    input,
                    output,
                    kind,
                    call,
                    ret: if crashed && lost { None } else { Some(ret) },
                });
                t = ret;
                // Jepsen's processes end at an info; other harnesses' go on
                // (only once the info was written: an op never completed
                // leaves the process in flight).
                if crashed && (lost || !carry_on) {
                    break;
                }
            }
        }
        out
    })
}

fn agree(kind: ModelKind, cases: u32) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let (mut valid, mut invalid) = (0, 0);
    runner
        .run(&arb_history(kind), |ops| {
            let expected = reference(kind, &ops);
            let h = history(&ops);
            let got = check(&h, kind, None, &Options::default()).unwrap().verdict;
            prop_assert_eq!(got == Verdict::Valid, expected, "{:#?}", ops);
            prop_assert!(got != Verdict::Unknown);
            // Recording linearizations changes no verdict, and what it
            // records replays legally.
            let opts = Options {
                linearizations: Some(Linearize::default()),
                ..Options::default()
            };
            let recorded = check(&h, kind, None, &opts).unwrap();
            prop_assert_eq!(recorded.verdict, got);
            if let Err(e) = linearizations_replay(kind, &h, &recorded) {
                prop_assert!(false, "{}: {:#?}", e, ops);
            }
            Ok(())
        })
        .unwrap();
    // The generator must produce both answers, or the comparison is idle.
    let mut rng = TestRunner::deterministic();
    let mut carried_on = 0;
    for _ in 0..500 {
        let ops = arb_history(kind).new_tree(&mut rng).unwrap().current();
        carried_on += usize::from(
            ops.windows(2)
                .any(|w| w[0].process == w[1].process && w[0].kind == OpType::Info),
        );
        if reference(kind, &ops) {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    assert!(
        valid > 50 && invalid > 50,
        "{kind}: {valid} valid, {invalid} invalid of 500"
    );
    assert!(
        carried_on > 25,
        "{kind}: only {carried_on} of 500 carry on after an info"
    );
}

/// Every recorded linearization replays legally in `kind`'s model (as
/// `check` builds it), and each op's partial one contains it.
fn linearizations_replay(kind: ModelKind, h: &History, r: &Report) -> Result<(), String> {
    match kind {
        ModelKind::Register => replay(&model::Register::new(Flavor::Plain, Value::Nil), h, r),
        ModelKind::CasRegister => replay(&model::Register::new(Flavor::Cas, Value::Nil), h, r),
        ModelKind::Kv => replay(&model::Kv::new(String::new()), h, r),
        ModelKind::Mutex => replay(&model::Mutex, h, r),
        other => Err(format!("no replay for {other}")),
    }
}

fn replay<M: Model>(model: &M, h: &History, r: &Report) -> Result<(), String> {
    let operations = h.operations().map_err(|e| e.to_string())?;
    for p in &r.partitions {
        let Some(l) = &p.linearizations else {
            if p.verdict != Verdict::Unknown {
                return Err(format!("a {} partition kept no linearization", p.verdict));
            }
            continue;
        };
        let ends: Vec<(Option<u32>, u32)> = if l.complete {
            vec![(None, l.steps.len().saturating_sub(1) as u32)]
        } else {
            l.longest.iter().map(|&(op, end)| (Some(op), end)).collect()
        };
        for (op, end) in ends.into_iter().filter(|_| !l.steps.is_empty()) {
            let path = l.path(end);
            let mut state = model.init();
            for &(o, text) in &path {
                let mop = model
                    .parse(&operations[o as usize])?
                    .ok_or("a step of an op that says nothing")?;
                state = model
                    .step(&state, &mop)
                    .ok_or_else(|| format!("op {o} is illegal after {state:?} in {path:?}"))?;
                if l.states[text as usize] != model.describe(&state) {
                    return Err(format!("op {o}'s state is not {:?}", model.describe(&state)));
                }
            }
            if op.is_some_and(|op| !path.iter().any(|s| s.0 == op)) {
                return Err(format!("op {op:?}'s partial linearization lacks it"));
            }
        }
    }
    Ok(())
}

#[test]
fn register_agrees_with_the_reference() {
    agree(ModelKind::Register, 3000);
}

#[test]
fn cas_register_agrees_with_the_reference() {
    agree(ModelKind::CasRegister, 3000);
}

#[test]
fn kv_agrees_with_the_reference() {
    agree(ModelKind::Kv, 3000);
}

#[test]
fn mutex_agrees_with_the_reference() {
    agree(ModelKind::Mutex, 3000);
}

/// A linearizable cas-register history made by running a register: each
/// op takes effect at a random point inside its interval. Needs `procs` ≤ 16.
fn simulate(seed: u64, procs: u64, per_proc: usize) -> Vec<Gen> {
    let mut rng = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &{
            let mut s = [0u8; 32];
            s[..8].copy_from_slice(&seed.to_le_bytes());
            s
        }),
    );
    let mut r = |n: u64| (0..n).new_tree(&mut rng).unwrap().current();
    let mut planned = Vec::new();
    for p in 0..procs {
        let mut t = 0;
        for _ in 0..per_proc {
            let call = t + 1 + r(10);
            let ret = call + 1 + r(20);
            let lp = call + r(ret - call);
            let (f, input) = match r(3) {
                0 => ("read", Value::Nil),
                1 => ("write", Value::Int(r(5) as i64)),
                _ => (
                    "cas",
                    Value::List(vec![Value::Int(r(5) as i64), Value::Int(r(5) as i64)]),
                ),
            };
            planned.push((
                lp,
                Gen {
                    process: p,
                    f,
                    input,
                    output: Value::Nil,
                    kind: OpType::Ok,
                    // Distinct times across processes: with ties, another
                    // read at the same instant may equally be blamed.
                    call: call * 16 + p,
                    ret: Some(ret * 16 + p),
                },
            ));
            t = ret;
        }
    }
    planned.sort_by_key(|(lp, _)| *lp);
    let mut state = Value::Nil;
    planned
        .into_iter()
        .map(|(_, mut g)| {
            match g.f {
                "read" => g.output = state.clone(),
                "write" => {
                    state = g.input.clone();
                    g.output = g.input.clone();
                }
                _ => {
                    let (from, to) = g.input.as_pair().unwrap();
                    g.output = g.input.clone();
                    if *from == state {
                        state = to.clone();
                    } else {
                        g.kind = OpType::Fail;
                    }
                }
            }
            g
        })
        .collect()
}

#[test]
fn a_read_of_a_never_written_value_makes_a_valid_history_invalid() {
    let mut mutated = 0;
    for seed in 0..300 {
        let mut ops = simulate(seed, 4, 12);
        let h = history(&ops);
        assert_eq!(
            check(&h, ModelKind::CasRegister, None, &Options::default())
                .unwrap()
                .verdict,
            Verdict::Valid
        );
        let reads: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].f == "read" && !ops[i].output.is_nil())
            .collect();
        let Some(&i) = reads.get(seed as usize % reads.len().max(1)) else {
            continue;
        };
        ops[i].output = Value::Int(999);
        let report = check(&history(&ops), ModelKind::CasRegister, None, &Options::default()).unwrap();
        assert_eq!(
            report.verdict,
            Verdict::Invalid,
            "seed {seed}: read #{i} of 999 went unnoticed"
        );
        let ce = report.partitions[0].counterexample.as_ref().unwrap();
        assert!(
            ce.sentence.contains("999"),
            "seed {seed}: the counterexample should name the read: {}\n{:#?}",
            ce.sentence,
            ops
        );
        mutated += 1;
    }
    assert!(mutated > 250);
}
