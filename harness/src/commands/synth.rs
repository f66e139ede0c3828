//! Synthetic histories for benchmarks: a linearizable cas-register
//! history over many independent keys, with concurrency, failed cas ops
//! and crashed (`info`) ops, produced by simulating a real register.
//!
//! Each op gets an invocation, a completion and a linearization point
//! between them; effects are applied in linearization-point order, so the
//! history is linearizable by construction. It is not a fault model.

use checkers::{Function, History, Op, OpType, Process, Value};
use workloads::generator::Rng;

/// Processes working on each key at once.
const PROCS_PER_KEY: usize = 5;

struct Planned {
    process: u64,
    f: usize,
    input: Value,
    call: u64,
    lp: u64,
    ret: u64,
    crashed: bool,
}

/// A linearizable cas-register history of `ops` operations spread evenly
/// over `keys` keys.
pub fn cas_register(ops: usize, keys: usize, seed: u64) -> History {
    let names = [Function::Read, Function::Write, Function::Cas];
    let mut rng = Rng::new(seed);
    let mut next_pid = 0u64;
    let mut events: Vec<(u64, Op)> = Vec::with_capacity(ops * 2);
    let per_key = ops / keys.max(1);
    for key in 0..keys as i64 {
        let mut pids: Vec<u64> = (0..PROCS_PER_KEY as u64).map(|j| next_pid + j).collect();
        next_pid += PROCS_PER_KEY as u64;
        let mut clock: Vec<u64> = (0..PROCS_PER_KEY).map(|_| rng.below(100_000)).collect();
        let mut plan = Vec::with_capacity(per_key);
        let mut fresh = 0i64;
        for i in 0..per_key {
            let slot = i % PROCS_PER_KEY;
            let call = clock[slot] + 1_000 + rng.below(20_000);
            let ret = call + 5_000 + rng.below(200_000);
            let lp = call + rng.below(ret - call);
            let (f, input) = match rng.below(4) {
                0 | 1 => (0, Value::Nil),
                2 => {
                    fresh += 1;
                    (1, Value::Int(fresh))
                }
                _ => {
                    fresh += 1;
                    let expect = Value::Int(rng.below(fresh as u64 + 1) as i64);
                    (2, Value::List(vec![expect, Value::Int(fresh)]))
                }
            };
            let crashed = f != 0 && rng.below(100) == 0;
            plan.push(Planned {
                process: pids[slot],
                f,
                input,
                call,
                lp,
                ret,
                crashed,
            });
            clock[slot] = ret;
            if crashed {
                pids[slot] = next_pid;
                next_pid += 1;
            }
        }
        let mut order: Vec<usize> = (0..plan.len()).collect();
        order.sort_by_key(|&i| plan[i].lp);
        let mut state = Value::Nil;
        let mut outcomes = vec![(OpType::Ok, Value::Nil); plan.len()];
        for i in order {
            let p = &plan[i];
            // A crashed op took effect or not: a coin decides.
            let applies = !p.crashed || rng.below(2) == 0;
            let (kind, output) = match p.f {
                0 => (OpType::Ok, state.clone()),
                1 => {
                    if applies {
                        state = p.input.clone();
                    }
                    (OpType::Ok, p.input.clone())
                }
                _ => {
                    let (from, to) = p.input.as_pair().expect("cas input is a pair");
                    if *from == state {
                        if applies {
                            state = to.clone();
                        }
                        (OpType::Ok, p.input.clone())
                    } else {
                        (OpType::Fail, p.input.clone())
                    }
                }
            };
            outcomes[i] = if p.crashed {
                (OpType::Info, p.input.clone())
            } else {
                (kind, output)
            };
        }
        for (p, (kind, output)) in plan.into_iter().zip(outcomes) {
            let op = |kind, time, value| Op {
                index: 0,
                time,
                kind,
                process: Process::Client(p.process),
                f: names[p.f].clone(),
                key: Some(Value::Int(key)),
                value,
                error: None,
                line: 0,
            };
            events.push((p.call, op(OpType::Invoke, p.call, p.input.clone())));
            events.push((p.ret, op(kind, p.ret, output)));
        }
    }
    events.sort_by_key(|(t, _)| *t);
    let ops = events
        .into_iter()
        .enumerate()
        .map(|(i, (_, mut op))| {
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

/// Concurrent clients of the list-append history.
const TXN_CLIENTS: u64 = 10;
/// Keys appended to at any time; a key retires after `APPENDS_PER_KEY`.
const ACTIVE_KEYS: u64 = 10;
const APPENDS_PER_KEY: u64 = 32;

/// A strictly serializable list-append history of `txns` transactions,
/// as Elle's generator shapes them: 10 clients, transactions of 1–4
/// micro-ops (half appends, half reads) over 10 active keys that retire
/// after 32 appends, 2% aborted and 1% indeterminate. Each transaction
/// takes effect at one point inside its interval, in order, against a
/// simulated database.
pub fn list_append(txns: usize, seed: u64) -> History {
    let (append, read): (Value, Value) = ("append".into(), "r".into());
    let mut rng = Rng::new(seed);
    let mut lists: std::collections::HashMap<u64, Vec<Value>> = std::collections::HashMap::new();
    // Appends attempted per key: values stay unique even when a
    // transaction aborts.
    let mut attempted: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    let mut active: Vec<u64> = (0..ACTIVE_KEYS).collect();
    let mut next_key = ACTIVE_KEYS;
    let mut crashes = vec![0u64; TXN_CLIENTS as usize];
    let mut events: Vec<Op> = Vec::with_capacity(txns * 2);
    for i in 0..txns as u64 {
        let slot = i % TXN_CLIENTS;
        let call = i * 1_000 + rng.below(300);
        let ret = call + 500 + rng.below(400);
        let process = Process::Client(slot + TXN_CLIENTS * crashes[slot as usize]);
        let (kind, applies) = match rng.below(100) {
            0 => (OpType::Info, rng.below(2) == 0),
            1 | 2 => (OpType::Fail, false),
            _ => (OpType::Ok, true),
        };
        let mut invoke = Vec::new();
        let mut complete = Vec::new();
        let mut appended: Vec<(u64, Value)> = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let slot_key = rng.below(active.len() as u64) as usize;
            let k = active[slot_key];
            let list = lists.entry(k).or_default();
            let tried = attempted.entry(k).or_default();
            if rng.below(2) == 0 && *tried < APPENDS_PER_KEY {
                *tried += 1;
                let v = Value::Int(*tried as i64);
                let mop = Value::List(vec![append.clone(), Value::Int(k as i64), v.clone()]);
                invoke.push(mop.clone());
                complete.push(mop);
                appended.push((k, v));
            } else {
                let mut seen = list.clone();
                seen.extend(appended.iter().filter(|a| a.0 == k).map(|a| a.1.clone()));
                invoke.push(Value::List(vec![read.clone(), Value::Int(k as i64), Value::Nil]));
                complete.push(Value::List(vec![
                    read.clone(),
                    Value::Int(k as i64),
                    Value::List(seen),
                ]));
            }
            // A full key retires; a fresh one takes its place.
            if attempted[&k] >= APPENDS_PER_KEY {
                active[slot_key] = next_key;
                next_key += 1;
            }
        }
        if applies {
            for (k, v) in appended {
                lists.entry(k).or_default().push(v);
            }
        }
        let op = |kind, time, value| Op {
            index: 0,
            time,
            kind,
            process,
            f: Function::Txn,
            key: None,
            value,
            error: None,
            line: 0,
        };
        let result = match kind {
            OpType::Ok => Value::List(complete),
            _ => Value::List(invoke.clone()),
        };
        events.push(op(OpType::Invoke, call, Value::List(invoke)));
        events.push(op(kind, ret, result));
        if kind == OpType::Info {
            crashes[slot as usize] += 1;
        }
    }
    events.sort_by_key(|o| o.time);
    for (i, op) in events.iter_mut().enumerate() {
        op.index = i as u64;
        op.line = i + 1;
    }
    History {
        ops: events,
        timed: true,
        source: "generated".into(),
        nil_reads_empty: false,
    }
}
