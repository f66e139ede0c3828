//! etcd's lock service under the fault Jepsen used against it in 2020: a
//! lock holder whose process stops for longer than its lease. Real etcd
//! (Debian's etcd-server), three nodes. Each holder reads the list its
//! lock guards, writes it back with an element added, and releases; the
//! client-pause fault stops a holder between that read and its write, for
//! twice the lease. etcd hands the lock to another process meanwhile, and
//! the late holder's write erases what the others wrote: the run must be
//! invalid on both counts, every time. Without pauses it must be valid.

mod common;

use common::{faultline, latest, text};

fn store(name: &str) -> std::path::PathBuf {
    common::store("etcd-lock", name)
}

fn run(name: &str, extra: &[&str]) -> (Option<i32>, String, std::path::PathBuf) {
    let s = store(name);
    let mut args = vec![
        "test",
        "--db",
        "etcd",
        "-w",
        "lock",
        "--lease-ttl",
        "2",
        "--store",
        s.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = faultline(&args);
    (o.status.code(), text(&o), latest(&s))
}

#[test]
fn a_holder_paused_past_its_lease_shares_the_lock_and_loses_writes() {
    let (code, out, dir) = run(
        "client-pause",
        &[
            "--nemesis",
            "client-pause",
            "--nemesis-interval",
            "4",
            "--time-limit",
            "17",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("two processes would hold the lock at once"), "{out}");
    assert!(
        out.contains("acknowledged adds are missing from the final reads"),
        "{out}"
    );
    // The fault is in the history like any other, with what it did.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let nemesis: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|op| op["process"] == "nemesis" && op["type"] == "info")
        .collect();
    let pauses = nemesis.iter().filter(|op| op["f"] == "pause-client").count();
    let resumes = nemesis.iter().filter(|op| op["f"] == "resume-client").count();
    assert!(pauses >= 2 && resumes == pauses, "{nemesis:?}");
    assert!(nemesis.iter().all(|op| op["error"].is_null()), "{nemesis:?}");
    assert!(
        nemesis.iter().any(|op| op["value"][1]
            .as_str()
            .is_some_and(|d| d.starts_with("pause worker "))),
        "{nemesis:?}"
    );
}

#[test]
fn without_pauses_the_lock_holds_and_no_guarded_write_is_lost() {
    let (code, out, _) = run("calm", &["--nemesis", "none", "--time-limit", "8"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("guarded writes: all "), "{out}");
}
