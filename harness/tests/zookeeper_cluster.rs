//! `faultline test --db zookeeper` against real ZooKeeper 3.8 servers
//! (Debian's zookeeper, one JVM per node), each node in its own network
//! namespace, under partitions and kills: sync-then-read registers are
//! valid, plain reads are caught as stale, the lock recipe is valid; and a
//! SIGKILLed faultline leaves JVMs that cleanup recognises and stops.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{faultline, latest, processes_mentioning, text};

fn store(name: &str) -> std::path::PathBuf {
    common::store("zookeeper", name)
}

/// Runs a ZooKeeper test under partitions and kills.
fn run(s: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "test",
        "--db",
        "zookeeper",
        "--nemesis",
        "partition,kill",
        "--nemesis-interval",
        "3",
        "--store",
        s.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = faultline(&args);
    (o.status.code(), text(&o))
}

/// The nemesis completions in a run's history.
fn faults(s: &Path) -> String {
    std::fs::read_to_string(latest(s).join("history.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"process\":\"nemesis\"") && l.contains("\"type\":\"info\""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_partitioned_and_killed(s: &Path) {
    let f = faults(s);
    for what in ["\"f\":\"start-partition\"", "\"f\":\"kill\"", "\"f\":\"start\""] {
        assert!(f.contains(what), "no {what} in the history:\n{f}");
    }
}

#[test]
fn sync_then_read_registers_are_linearizable_under_partitions_and_kills() {
    let s = store("sync");
    let (code, out) = run(
        &s,
        &[
            "--workload",
            "cas-register",
            "--zookeeper-reads",
            "sync",
            "--time-limit",
            "25",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ZooKeeper (3 nodes, each in its own network namespace, sync-then-read reads)"),
        "{out}"
    );
    assert!(out.contains("keys are linearizable"), "{out}");
    assert_partitioned_and_killed(&s);
}

#[test]
fn plain_reads_are_caught_as_stale() {
    let s = store("plain");
    let (code, out) = run(
        &s,
        &[
            "--workload",
            "cas-register",
            "--zookeeper-reads",
            "plain",
            "--time-limit",
            "20",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    // The anomaly is a read that returned a value already overwritten.
    assert!(out.contains("invalid: key ") && out.contains(" read "), "{out}");
}

#[test]
fn the_lock_recipe_is_a_mutex_under_partitions_and_kills() {
    let s = store("lock");
    let (code, out) = run(&s, &["--workload", "lock", "--time-limit", "25"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("mutex model"), "{out}");
    assert_partitioned_and_killed(&s);
    let history = std::fs::read_to_string(latest(&s).join("history.jsonl")).unwrap();
    let acquired = history
        .lines()
        .filter(|l| l.contains("\"type\":\"ok\"") && l.contains("\"f\":\"acquire\""))
        .count();
    assert!(acquired > 1000, "only {acquired} acquisitions");
}

#[test]
fn cleanup_recognises_zookeeper_jvms_left_by_a_killed_run() {
    let s = store("sigkill");
    let run = common::sigkill_when(
        &s,
        &[
            "test",
            "--db",
            "zookeeper",
            "--nemesis",
            "none",
            "--time-limit",
            "60",
        ],
        Duration::from_secs(60),
        |h| !h.is_empty(),
    );
    let needle = run.to_str().unwrap().to_string();
    assert_eq!(
        processes_mentioning(&needle).len(),
        3,
        "3 JVMs outlived faultline"
    );
    let o = faultline(&["cleanup", "--store", s.to_str().unwrap()]);
    assert!(text(&o).contains("stopped process"), "{}", text(&o));
    assert!(
        processes_mentioning(&needle).is_empty(),
        "cleanup left ZooKeeper running: {}",
        text(&o)
    );
}
