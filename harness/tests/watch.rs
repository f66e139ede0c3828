//! The watch workload against real servers: Debian's etcd, three nodes,
//! stays valid through partitions and kills, its watchers resuming where
//! they left off; the demo cluster's watch is valid, and its lossy-watch
//! mode (events dropped or reordered) is caught with the guarantee it
//! broke named.

mod common;

use common::{assert_nemesis_did, faultline, latest, text};

/// Runs `faultline test -w watch` with `extra`; its exit code, output,
/// and `results.json`'s watch checker.
fn run(name: &str, extra: &[&str]) -> (Option<i32>, String, serde_json::Value, std::path::PathBuf) {
    let s = common::store("watch", name);
    let mut args = vec!["test", "-w", "watch", "--store", s.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = faultline(&args);
    let dir = latest(&s);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    (o.status.code(), text(&o), results, dir)
}

#[test]
fn etcd_watches_survive_partitions_and_kills() {
    let (code, out, results, dir) = run(
        "etcd",
        &[
            "--db",
            "etcd",
            "--nemesis",
            "partition,kill",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "25",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_nemesis_did(&dir, &["start-partition", "kill"]);
    let w = &results["checkers"]["watch"];
    assert_eq!(w["verdict"], "valid", "{w}");
    assert!(
        w["acknowledged"].as_u64().unwrap() > 500,
        "writers made progress: {w}"
    );
    assert!(w["events"].as_u64().unwrap() > 1000, "watchers saw events: {w}");
    assert!(
        w["reference_revision"].as_u64().unwrap() > 500,
        "the final watch ran: {w}"
    );
    assert!(w["events_per_second"].as_f64().unwrap() > 0.0, "{w}");
    // Faults broke streams, and watchers reopened them where they left off.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let broken = history
        .lines()
        .filter(|l| l.contains("\"f\":\"watch\"") && l.contains("\"type\":\"fail\""))
        .count();
    assert!(broken > 0, "no watch op failed under partition and kill");
    assert!(w["reconnects"].as_u64().unwrap() > 0, "{w}");
    println!(
        "etcd watch under partition,kill: {} events/s delivered, {} reconnects, {broken} failed watch ops",
        w["events_per_second"], w["reconnects"]
    );
}

#[test]
fn the_demo_watch_is_valid() {
    let (code, out, results, _) = run("demo", &["--nemesis", "none", "--time-limit", "6"]);
    assert_eq!(code, Some(0), "{out}");
    let w = &results["checkers"]["watch"];
    assert!(w["events"].as_u64().unwrap() > 500, "{w}");
    assert_eq!(w["anomalies"], serde_json::json!([]), "{w}");
}

#[test]
fn the_demo_lossy_watch_is_caught() {
    let (code, out, results, _) = run(
        "lossy",
        &["--mode", "lossy-watch", "--nemesis", "none", "--time-limit", "6"],
    );
    assert_eq!(code, Some(1), "{out}");
    let w = &results["checkers"]["watch"];
    let kinds: Vec<&str> = w["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    // Dropped events are gaps, swapped ones go back in revisions.
    assert!(
        kinds.contains(&"reliable") && kinds.contains(&"ordered"),
        "{kinds:?}"
    );
    let sentence = results["sentence"].as_str().unwrap();
    assert!(
        sentence.starts_with("ordered: ") || sentence.starts_with("reliable: "),
        "the sentence names the guarantee: {sentence}"
    );
    assert!(out.contains(sentence.split(" (").next().unwrap()), "{out}");
}
