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

#[test]
fn cleanup_recognises_redis_servers_left_by_a_killed_run() {
    let s = store("sigkill");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--db",
            "redis",
            "--workload",
            "set",
            "--nemesis",
            "none",
            "--time-limit",
            "60",
        ])
        .args(["--store", s.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let run = loop {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        if let Ok(link) = std::fs::read_link(s.join("latest")) {
            let run = s.join(link);
            if std::fs::metadata(run.join("history.jsonl")).is_ok_and(|m| m.len() > 0) {
                break run;
            }
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let needle = run.to_str().unwrap().to_string();
    assert_eq!(
        common::processes_mentioning(&needle).len(),
        6,
        "3 servers and 3 Sentinels outlived faultline"
    );
    let o = faultline(&["cleanup", "--store", s.to_str().unwrap()]);
    assert!(text(&o).contains("stopped process"), "{}", text(&o));
    assert!(
        common::processes_mentioning(&needle).is_empty(),
        "cleanup left Redis running: {}",
        text(&o)
    );
}
