//! `faultline test --db redis` against real Redis servers with Sentinel
//! (Debian's redis-server), each node in its own network namespace:
//! without faults the set workload is valid; with the primary cut off in
//! a minority while its clients keep writing, Sentinel promotes a replica
//! and acknowledged adds are lost — caught every time.

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
        out.contains("Redis with Sentinel (3 nodes, each in its own network namespace)"),
        "{out}"
    );
    assert!(out.contains("valid: all"), "{out}");
}

#[test]
fn a_primary_partitioned_into_a_minority_loses_acknowledged_adds() {
    let s = store("partition");
    let o = faultline(&[
        "test",
        "--db",
        "redis",
        "--workload",
        "set",
        "--nemesis",
        "partition",
        "--nemesis-targets",
        "primary",
        "--nemesis-interval",
        "6",
        "--time-limit",
        "13",
        "--recovery",
        "6",
        "--store",
        s.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("acknowledged adds are missing from the final reads"),
        "{out}"
    );
    let history = std::fs::read_to_string(latest(&s).join("history.jsonl")).unwrap();
    assert!(
        history.contains("partition isolate one: n1 | n2,n3"),
        "the primary n1 was cut off alone"
    );
}
