//! Every fault reaches the report: runs on real etcd (Debian's
//! etcd-server, three nodes in namespaces) with the faults reports once
//! left out — delay, blackhole, lose-unsynced and corrupt, and
//! client-pause on the lock workload — list every fault the history
//! records in `results.json`'s `faults`, in report.html's Faults table and
//! as a labelled span in its timeline.

mod common;

use std::path::Path;

use common::{faultline, latest, text};
use nemesis::Fault;
use serde_json::Value;

fn run(name: &str, extra: &[&str]) -> (Option<i32>, String, std::path::PathBuf) {
    let s = common::store("fault-periods", name);
    let mut args = vec!["test", "--db", "etcd", "--store", s.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = faultline(&args);
    (o.status.code(), text(&o), latest(&s))
}

/// The text between `start` and the next `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    let to = s[from..].find(end).map_or(s.len(), |e| from + e);
    &s[from..to]
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Asserts that the run in `dir` shows every fault it started, and at
/// least one of each of `kinds`, in results.json, the Faults table and
/// the timeline.
fn every_fault_is_shown(dir: &Path, kinds: &[Fault]) {
    let history: Vec<Value> = std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let end = history.last().unwrap()["time"].as_u64().unwrap();
    // What the nemesis started, as the history records it.
    let started: Vec<String> = history
        .iter()
        .filter(|o| o["process"] == "nemesis" && o["type"] == "info")
        .filter_map(|o| Fault::started_by(o["f"].as_str()?).map(|f| f.to_string()))
        .collect();
    let results: Value = serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    let faults = results["faults"].as_array().expect("results.json's faults");
    let listed: Vec<&str> = faults.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), started.len(), "{listed:?} for {started:?}");
    for kind in kinds {
        assert!(
            listed.contains(&kind.to_string().as_str()),
            "no {kind} in {listed:?}"
        );
    }
    for p in faults {
        let (start, stop) = (p["start"].as_u64().unwrap(), p["end"].as_u64().unwrap());
        assert!(start < stop && stop <= end, "{p}");
        assert!(!p["nodes"].as_array().unwrap().is_empty(), "{p}");
        assert!(!p["what"].as_str().unwrap().is_empty(), "{p}");
    }

    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let table = between(&html, "<section id=\"faults\">", "</section>");
    let data = common::timeline_data(&html);
    let spans = data["faults"].as_array().expect("the timeline's fault spans");
    assert_eq!(spans.len(), faults.len());
    for p in faults {
        let nodes: Vec<&str> = p["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let what = p["what"].as_str().unwrap();
        let row = format!(
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            p["kind"].as_str().unwrap(),
            escape(&nodes.join(", ")),
            escape(what)
        );
        assert!(table.contains(&row), "no row {row} in the Faults table: {table}");
        // Shaded where it was in force, labelled with what was done.
        let ms = |ns: &Value| ns.as_u64().unwrap() as f64 / 1e6;
        assert!(
            spans.iter().any(|s| s[0].as_f64() == Some(ms(&p["start"]))
                && s[1].as_f64() == Some(ms(&p["end"]))
                && s[2]
                    .as_str()
                    .is_some_and(|l| l.starts_with(p["kind"].as_str().unwrap()) && l.contains(what))),
            "no span for {p} in {spans:?}"
        );
    }
}

#[test]
fn link_and_disk_faults_are_listed_shaded_and_labelled() {
    let (code, out, dir) = run(
        "link-disk",
        &[
            "--nemesis",
            "delay,blackhole,lose-unsynced,corrupt",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "20",
        ],
    );
    // Corruption may cost etcd a node for good; the verdict is not what
    // this test is about.
    assert!(matches!(code, Some(0..=2)), "{out}");
    every_fault_is_shown(
        &dir,
        &[
            Fault::Delay,
            Fault::Blackhole,
            Fault::LoseUnsynced,
            Fault::Corrupt,
        ],
    );
}

#[test]
fn a_client_pause_is_listed_shaded_and_labelled() {
    let (code, out, dir) = run(
        "client-pause",
        &[
            "-w",
            "lock",
            "--lease-ttl",
            "2",
            "--nemesis",
            "client-pause",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "10",
        ],
    );
    assert!(matches!(code, Some(0..=2)), "{out}");
    every_fault_is_shown(&dir, &[Fault::ClientPause]);
}
