//! `faultline test --db redis` against real Redis servers with Sentinel
//! (Debian's redis-server), each node in its own network namespace:
//! without faults the set workload is valid; with the primary cut off in
//! a minority while its clients keep writing, Sentinel promotes a replica
//! and acknowledged adds are lost — caught every time, by the set checker
//! and by the register checker, and still with `WAIT` for a replica.

mod common;

use common::{faultline, latest, text};

fn store(name: &str) -> std::path::PathBuf {
    common::store("redis", name)
}

#[test]
fn without_faults_redis_keeps_every_acknowledged_add() {
    let s = store("calm");
    let o = faultline(&[
        "test",
        "--db",
        "redis",
        "--workload",
        "set",
        "--nemesis",
        "none",
        "--time-limit",
        "5",
        "--store",
        s.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("Redis with Sentinel, no WAIT, no AOF (3 nodes, each in its own network namespace)"),
        "{out}"
    );
    assert!(out.contains("valid: all"), "{out}");
}

/// A set test with the primary stranded in a minority for 9 s (long
/// enough for the majority's Sentinels to fail over on a loaded 2-core
/// machine; 6 s was seen to be too short once); returns
/// the exit code, the output and the history.
fn partitioned(name: &str, workload: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let s = store(name);
    let mut args = vec![
        "test",
        "--db",
        "redis",
        "--workload",
        workload,
        "--nemesis",
        "partition",
        "--nemesis-targets",
        "primary",
        "--nemesis-interval",
        "9",
        "--time-limit",
        "19",
        "--store",
        s.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = faultline(&args);
    let history = std::fs::read_to_string(latest(&s).join("history.jsonl")).unwrap();
    (o.status.code(), text(&o), history)
}

/// Every final read saw the same set: the cluster had converged, so what
/// is missing is lost, not merely not yet replicated.
fn final_reads_agree(history: &str) {
    let sizes: std::collections::BTreeSet<usize> = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|op| op["f"] == "read" && op["type"] == "ok")
        .map(|op| op["value"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes.len(), 1, "final reads disagree: sizes {sizes:?}");
}

#[test]
fn a_primary_partitioned_into_a_minority_loses_acknowledged_adds() {
    let (code, out, history) = partitioned("partition", "set", &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("acknowledged adds are missing from the final reads"),
        "{out}"
    );
    assert!(
        history.contains("partition majority/minority: n1 | n2,n3"),
        "the primary n1 was cut off alone"
    );
    final_reads_agree(&history);
}

#[test]
fn wait_for_one_replica_does_not_save_writes_stranded_with_it() {
    // Five nodes: the primary keeps one replica in its minority, which
    // confirms its writes; the majority promotes another and the two
    // discard them when they rejoin.
    let (code, out, history) = partitioned("wait", "set", &["--nodes", "5", "--redis-wait", "1"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("writes WAIT for 1 replica"), "{out}");
    assert!(
        out.contains("acknowledged adds are missing from the final reads"),
        "{out}"
    );
    assert!(
        history.contains("partition majority/minority: n1,"),
        "the primary n1 was stranded with a replica"
    );
    final_reads_agree(&history);
}

#[test]
fn the_register_checker_catches_the_same_failover() {
    let (code, out, _) = partitioned("register", "register", &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("invalid: key "), "{out}");
}

#[test]
fn cleanup_recognises_redis_servers_left_by_a_killed_run() {
    let s = store("sigkill");
    let run = common::sigkill_when(
        &s,
        &[
            "test",
            "--db",
            "redis",
            "--workload",
            "set",
            "--nemesis",
            "none",
            "--time-limit",
            "60",
        ],
        std::time::Duration::from_secs(30),
        |h| !h.is_empty(),
    );
    let needle = run.to_str().unwrap().to_string();
    assert_eq!(
        common::processes_mentioning(&needle).len(),
        6,
        "3 servers and 3 Sentinels outlived faultline"
    );
    let o = common::cleanup(&s);
    assert!(text(&o).contains("stopped process"), "{}", text(&o));
    assert!(
        common::processes_mentioning(&needle).is_empty(),
        "cleanup left Redis running: {}",
        text(&o)
    );
}
