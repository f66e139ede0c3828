//! `faultline test` against the real demo cluster (separate OS processes,
//! real SIGKILL / SIGSTOP): the correct mode stays valid under faults, the
//! buggy modes are caught, and a SIGKILLed faultline loses no reported
//! completion and leaves nothing running after `faultline cleanup`.

mod common;

use common::{faultline, latest, processes_mentioning, text};

fn store(name: &str) -> std::path::PathBuf {
    common::store("demo", name)
}

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn history(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every journal line is complete JSON"))
        .collect()
}

#[test]
fn correct_mode_is_valid_under_kill_and_pause_in_repeated_runs() {
    let s = store("correct");
    let o = faultline(&[
        "test",
        "--store",
        s.to_str().unwrap(),
        "--time-limit",
        "8",
        "--nemesis",
        "kill,pause",
        "--nemesis-interval",
        "1.5",
        "--test-count",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let runs: Vec<_> = std::fs::read_dir(s.join("demo-cas-register-correct"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 2, "one folder per run");
    let h = history(&latest(&s));
    let faults: Vec<&str> = h
        .iter()
        .filter(|op| op["process"] == "nemesis")
        .map(|op| op["f"].as_str().unwrap())
        .collect();
    assert!(
        faults.contains(&"kill") && faults.contains(&"pause"),
        "faults were injected: {faults:?}"
    );
    assert!(
        faults.contains(&"start") && faults.contains(&"resume"),
        "and healed: {faults:?}"
    );
    assert!(
        h.iter().filter(|op| op["type"] == "ok").count() > 500,
        "clients made progress"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest(&s).join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "valid");
    assert!(
        processes_mentioning(s.to_str().unwrap()).is_empty(),
        "no node outlives the test"
    );
}

#[test]
fn stale_reads_are_caught_within_ten_seconds() {
    let s = store("stale");
    let o = faultline(&[
        "test",
        "--store",
        s.to_str().unwrap(),
        "--mode",
        "stale-reads",
        "--nemesis",
        "none",
        "--time-limit",
        "10",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("invalid: key "), "{}", text(&o));
    // analyze re-checks the stored run to the same verdict.
    let a = faultline(&["analyze", "--store", s.to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
}

#[test]
fn lost_writes_are_caught_by_the_set_checker() {
    let s = store("lost");
    let o = faultline(&[
        "test",
        "--store",
        s.to_str().unwrap(),
        "--mode",
        "lost-writes",
        "--workload",
        "set",
        "--nemesis",
        "kill",
        "--nemesis-targets",
        "primary",
        "--nemesis-interval",
        "2",
        "--time-limit",
        "10",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("acknowledged adds are missing from the final reads"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_sigkilled_run_loses_no_reported_completion_and_cleanup_removes_its_nodes() {
    let s = store("sigkill");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--store",
            s.to_str().unwrap(),
            "--time-limit",
            "60",
            "--nemesis",
            "pause",
        ])
        .args(["--nemesis-interval", "1"])
        .env("FAULTLINE_STATE_DIR", common::state_dir(&s))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Not a terminal: a progress line every 5 s with the completions counted.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = Instant::now();
    let mut reported = 0u64;
    while let Some(Ok(line)) = lines.next() {
        if let Some(rest) = line.split("ok ").nth(1) {
            let num = |s: &str, key: &str| -> u64 {
                s.split(key)
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            reported = num(&line, "ok ") + num(rest, "fail ") + num(rest, "info ");
            if reported > 100 {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no progress line");
    }
    assert!(reported > 100, "a progress line with completions arrived");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let run = latest(&s);
    let completions = history(&run).iter().filter(|op| op["type"] != "invoke").count() as u64;
    assert!(
        completions >= reported,
        "reported {reported} completions, journal has {completions}"
    );
    let needle = run.to_str().unwrap().to_string();
    assert!(
        !processes_mentioning(&needle).is_empty(),
        "the killed run left its nodes running"
    );

    // Cleanup needs neither this store nor any: the state is per machine.
    let elsewhere = store("sigkill-elsewhere");
    let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("cleanup")
        .current_dir(&elsewhere)
        .env("FAULTLINE_STATE_DIR", common::state_dir(&s))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("stopped process"), "{}", text(&o));
    assert!(
        processes_mentioning(&needle).is_empty(),
        "cleanup left demo nodes running"
    );
    let o = common::cleanup(&s);
    assert!(text(&o).contains("nothing to clean up"), "{}", text(&o));

    // The killed run is no pass, whatever its history says.
    let o = faultline(&["analyze", "--store", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).starts_with("unknown: incomplete run"), "{}", text(&o));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "unknown");
}

#[test]
fn two_runs_started_together_in_one_store_both_run() {
    let s = store("together");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args([
                "test",
                "--store",
                s.to_str().unwrap(),
                "--time-limit",
                "2",
                "--nemesis",
                "none",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let folder = |o: &std::process::Output| {
        assert_eq!(o.status.code(), Some(0), "{}", text(o));
        text(o)
            .lines()
            .find_map(|l| l.strip_prefix("run folder: ").map(String::from))
            .expect("the run folder is printed")
    };
    let (fa, fb) = (folder(&a), folder(&b));
    assert_ne!(fa, fb, "each run has its own folder");
    for f in [fa, fb] {
        assert!(Path::new(&f).join("results.json").exists(), "{f}");
    }
}

#[test]
fn with_no_arguments_the_default_test_runs_and_ends_valid() {
    let cwd = store("default");
    let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("test")
        .current_dir(&cwd)
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("cas-register on the demo cluster, correct mode (3 nodes"),
        "{out}"
    );
    assert!(out.contains("faults: kill, pause, 30 s"), "{out}");
    let folder = out
        .lines()
        .find_map(|l| l.strip_prefix("run folder: "))
        .expect("the run folder is printed");
    assert!(Path::new(folder).join("results.json").exists());
    assert!(Path::new(folder).starts_with(cwd.join("store")), "{folder}");
}

#[test]
fn ctrl_c_heals_tears_down_and_checks_what_was_recorded() {
    let s = store("ctrl-c");
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--store",
            s.to_str().unwrap(),
            "--time-limit",
            "60",
            "--nemesis",
            "pause",
        ])
        .args(["--nemesis-interval", "1"])
        .env("FAULTLINE_STATE_DIR", common::state_dir(&s))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Past the first pause, so a node is likely stopped when Ctrl-C comes.
    std::thread::sleep(Duration::from_millis(4500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let started = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "Ctrl-C ends the test promptly"
    );
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a run that did not run its course is unknown: {out}"
    );
    assert!(out.contains("interrupted"), "{out}");
    let run = latest(&s);
    assert!(run.join("results.json").exists(), "what was recorded is checked");
    let h = history(&run);
    let paused = h
        .iter()
        .filter(|op| op["f"] == "pause" && op["type"] == "info")
        .count();
    let resumed = h
        .iter()
        .filter(|op| op["f"] == "resume" && op["type"] == "info")
        .count();
    assert!(
        paused >= 1 && paused == resumed,
        "every pause is healed: {paused} pauses, {resumed} resumes"
    );
    assert!(
        processes_mentioning(run.to_str().unwrap()).is_empty(),
        "no node outlives the test"
    );
    assert_eq!(
        std::fs::read_dir(common::state_dir(&s)).unwrap().count(),
        0,
        "no state file is left"
    );
}

fn results(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap()
}

#[test]
fn log_workload_is_valid_without_faults_and_under_kill_and_pause() {
    for (name, nemesis) in [("log-none", "none"), ("log-kill", "kill,pause")] {
        let s = store(name);
        let o = faultline(&[
            "test",
            "--store",
            s.to_str().unwrap(),
            "--workload",
            "log",
            "--nemesis",
            nemesis,
            "--nemesis-interval",
            "1.5",
            "--time-limit",
            "8",
        ]);
        assert_eq!(o.status.code(), Some(0), "{nemesis}: {}", text(&o));
        let r = results(&latest(&s));
        let log = &r["checkers"]["log"];
        assert!(log["sends"]["acknowledged"].as_u64().unwrap() > 500, "{log}");
        assert_eq!(log["logs"], 3, "{log}");
        assert!(
            log["final_reads"].as_u64().unwrap() >= 3,
            "every log read whole: {log}"
        );
        assert_eq!(log["anomalies"], serde_json::json!([]), "{log}");
    }
}

#[test]
fn lossy_log_loses_acknowledged_sends_when_its_leader_is_killed() {
    let s = store("lossy-log");
    let o = faultline(&[
        "test",
        "--store",
        s.to_str().unwrap(),
        "--mode",
        "lossy-log",
        "--workload",
        "log",
        "--nemesis",
        "kill",
        "--nemesis-targets",
        "primary",
        "--nemesis-interval",
        "2",
        "--time-limit",
        "8",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A killed leader comes back with empty logs: what it had is lost
    // where later appends reach past it, unseen where none do.
    let out = text(&o);
    assert!(out.contains(" lost") || out.contains(" unseen"), "{out}");
    let run = latest(&s);
    let r = results(&run);
    let gone: Vec<&serde_json::Value> = r["checkers"]["log"]["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "lost" || a["kind"] == "unseen")
        .collect();
    assert!(
        gone.iter().map(|a| a["count"].as_u64().unwrap()).sum::<u64>() > 0,
        "{gone:?}"
    );
    assert!(
        gone[0]["findings"][0]["sentence"]
            .as_str()
            .unwrap()
            .contains("offset"),
        "{gone:?}"
    );
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("id=\"log\"") && report.contains("log-anomalies"));
    assert!(run.join("log-anomalies.png").exists());
}
