//! The system's own metrics sampled during a run, on real demo-node
//! processes: every node's samples land in metrics/, a killed node leaves
//! gaps, the promoted leader's leader changes rise, and the report embeds
//! the series.

mod common;

use common::{faultline, latest, text};

#[test]
fn a_demo_run_samples_every_node_and_the_report_plots_them() {
    let s = common::store("system-metrics", "demo");
    let o = faultline(&[
        "test",
        "--db",
        "demo",
        "--store",
        s.to_str().unwrap(),
        "--mode",
        "lost-writes",
        "--workload",
        "register",
        "--nemesis",
        "kill",
        "--nemesis-targets",
        "primary",
        "--nemesis-interval",
        "2",
        "--time-limit",
        "8",
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    let run = latest(&s);
    let mut rose = false;
    let mut gaps = 0;
    for n in ["n1", "n2", "n3"] {
        let lines = std::fs::read_to_string(run.join("metrics").join(format!("{n}.jsonl"))).unwrap();
        let samples: Vec<serde_json::Value> =
            lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(samples.len() >= 6, "{n}: {} samples", samples.len());
        gaps += samples.iter().filter(|v| v.get("gap").is_some()).count();
        let changes: Vec<f64> = samples
            .iter()
            .filter_map(|v| v["v"]["demo_leader_changes_total"].as_f64())
            .collect();
        rose |= changes.windows(2).any(|w| w[1] > w[0]);
    }
    assert!(gaps > 0, "the killed primary left gaps");
    assert!(rose, "a follower saw the leader change");
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("id=\"metrics-data\"") && report.contains("demo_leader_changes_total"));

    // analyze re-reads metrics/; without it the report still renders.
    std::fs::remove_dir_all(run.join("metrics")).unwrap();
    let o = faultline(&["analyze", run.to_str().unwrap()]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(!report.contains("id=\"metrics-data\""), "no metrics, no panel");
}
