//! Disk faults on real servers. `lose-unsynced` runs each node's data
//! folder on faultline's lossy filesystem, kills every node at once and
//! drops what they wrote but did not fsync — a power cut. etcd fsyncs its
//! log before it acknowledges, so it must stay valid; Redis with
//! `appendfsync no` acknowledges writes its AOF never synced, so it must
//! be caught losing them, and with `appendfsync always` must not be.
//! `corrupt` damages a stopped node's files. A faultline SIGKILLed while
//! its filesystems are mounted leaves nothing mounted after cleanup.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{faultline, latest, text};
use serde_json::Value;

fn run(name: &str, args: &[&str]) -> (Option<i32>, String, std::path::PathBuf) {
    let s = common::store("durability", name);
    let mut all = vec!["test", "--store", s.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = faultline(&all);
    (o.status.code(), text(&o), latest(&s))
}

/// The nemesis's completions.
fn faults(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|o| o["process"] == "nemesis" && o["type"] == "info")
        .collect()
}

/// Lossy filesystems mounted below `store`.
fn lossy_mounts(store: &Path) -> usize {
    let store = store.to_str().unwrap();
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("faultline-lossy ") && l.contains(store))
        .count()
}

#[test]
fn etcd_survives_losing_what_it_did_not_fsync() {
    let (code, out, dir) = run(
        "etcd",
        &[
            "--db",
            "etcd",
            "--nemesis",
            "lose-unsynced",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "14",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let f = faults(&dir);
    let losses: Vec<&Value> = f.iter().filter(|o| o["f"] == "lose-unsynced").collect();
    assert!(losses.len() >= 2, "{f:?}");
    assert!(f.iter().all(|o| o["error"].is_null()), "{f:?}");
    // Every node was killed each time, and something unsynced was
    // really dropped (etcd preallocates its next log file unsynced).
    for l in &losses {
        assert_eq!(l["value"][0].as_array().unwrap().len(), 3, "{l}");
        assert!(l["value"][1].as_str().unwrap().contains("bytes cut"), "{l}");
    }
}

#[test]
fn redis_without_fsync_loses_acknowledged_writes_and_with_it_does_not() {
    let args = |fsync| {
        vec![
            "--db",
            "redis",
            "-w",
            "set",
            "--redis-appendfsync",
            fsync,
            "--nemesis",
            "lose-unsynced",
            "--nemesis-interval",
            "4",
            "--time-limit",
            "10",
        ]
    };
    let (code, out, dir) = run("redis-no", &args("no"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("acknowledged adds are missing from the final reads"),
        "{out}"
    );
    assert!(faults(&dir).iter().all(|o| o["error"].is_null()));

    let (code, out, dir) = run("redis-always", &args("always"));
    assert_eq!(code, Some(0), "{out}");
    let f = faults(&dir);
    assert!(f.iter().any(|o| o["f"] == "lose-unsynced"), "{f:?}");
    assert!(f.iter().all(|o| o["error"].is_null()), "{f:?}");
}

#[test]
fn corruption_is_done_to_a_stopped_node_and_recorded() {
    let (code, out, dir) = run(
        "corrupt",
        &[
            "--db",
            "etcd",
            "--nemesis",
            "corrupt",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "8",
        ],
    );
    assert!(matches!(code, Some(0..=2)), "{out}");
    let f = faults(&dir);
    let corrupt: Vec<&Value> = f.iter().filter(|o| o["f"] == "corrupt").collect();
    assert!(!corrupt.is_empty(), "{f:?}");
    for c in corrupt {
        assert!(c["error"].is_null(), "{c}");
        let words = c["value"][1].as_str().unwrap();
        assert!(
            words.contains(" bytes of member/") || words.contains("flipped a bit"),
            "{words}"
        );
    }
}

#[test]
fn a_sigkilled_run_leaves_no_lossy_filesystem_after_cleanup() {
    let s = common::store("durability", "sigkill");
    common::sigkill_when(
        &s,
        &[
            "test",
            "--db",
            "etcd",
            "--nemesis",
            "lose-unsynced",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "60",
        ],
        Duration::from_secs(40),
        |h| common::fault_in_force(h, "start"),
    );
    assert_eq!(lossy_mounts(&s), 3, "the mounts outlived faultline");
    let o = common::cleanup(&s);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("unmounted "), "{out}");
    assert_eq!(lossy_mounts(&s), 0, "{out}");
}
