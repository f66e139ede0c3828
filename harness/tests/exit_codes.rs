//! Exit codes and messages that tell the truth (one test per case): bad
//! input is 254 with one sentence naming what is at fault, a cluster that
//! cannot form is refused before anything starts and a failed start
//! leaves no run behind, an unreadable history is said once and counted
//! where the summary says, Ctrl-C makes a run unknown everywhere a person
//! looks, `--test-count` ends with the composed verdict — and the last
//! lines of a run name its report.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{faultline, text};

fn store(name: &str) -> std::path::PathBuf {
    common::store("exit", name)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The body `GET /` answers at `url` (`http://127.0.0.1:PORT/`).
fn index(url: &str) -> String {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// The index of `store` as `faultline serve` shows it.
fn served_index(store: &Path) -> String {
    let (mut server, url) = common::serve(store);
    let body = index(&url);
    server.kill().unwrap();
    server.wait().unwrap();
    body
}

#[test]
fn analyze_of_a_folder_that_holds_no_run_is_bad_input() {
    let o = faultline(&["analyze", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(
        stderr(&o).contains("/nonexistent: not a run folder (/nonexistent/test.json: No such file"),
        "{}",
        stderr(&o)
    );
    let empty = store("analyze-empty");
    let o = faultline(&["analyze", "--store", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(stderr(&o).contains("no run in"), "{}", stderr(&o));
}

#[test]
fn a_cluster_too_big_to_form_is_refused_and_a_failed_start_leaves_no_run() {
    let s = store("no-run");
    let started = Instant::now();
    let o = faultline(&[
        "test",
        "--db",
        "etcd",
        "--nodes",
        "100",
        "--store",
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(
        stderr(&o).contains("--nodes 100: etcd forms a cluster of at most 25 nodes on one machine"),
        "{}",
        stderr(&o)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused before anything starts"
    );
    assert_eq!(std::fs::read_dir(&s).unwrap().count(), 0, "nothing was created");

    // The demo cluster starts, then --proxy is refused: no run happened.
    let o = faultline(&[
        "test",
        "--proxy",
        "--time-limit",
        "1",
        "--store",
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(stderr(&o).contains("--proxy: "), "{}", stderr(&o));
    assert!(
        !s.join("latest").exists(),
        "latest never points at a run that did not start"
    );
    let body = served_index(&s);
    assert!(body.contains("No runs in this store yet"), "{body}");
    let o = faultline(&["analyze", "--store", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
}

#[test]
fn an_unreadable_history_is_said_once_and_the_summary_adds_up() {
    let dir = store("unreadable");
    let bad = dir.join("bad.edn");
    std::fs::write(&bad, "{:type :invoke, :f :read\n").unwrap();
    let o = faultline(&["check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{}  unreadable", bad.display()).as_str(),
            "unknown: 1 file checked: 0 valid, 0 invalid, 1 unknown (1 unreadable)",
        ],
        "one line per file, the error not among them: {out}"
    );
    assert_eq!(
        stderr(&o),
        format!(
            "error: {}:1:1: expected an EDN op map: this {{ is never closed: the text ends first\n",
            bad.display()
        ),
        "the error, once"
    );
}

#[test]
fn a_zero_names_the_one_flag_at_fault() {
    for flag in ["--nodes", "--concurrency", "--test-count", "--ops-per-key"] {
        let o = faultline(&["test", flag, "0"]);
        assert_eq!(o.status.code(), Some(254), "{flag}: {}", text(&o));
        assert_eq!(
            stderr(&o),
            format!("error: {flag} 0: expected at least 1\n"),
            "{flag}"
        );
    }
}

#[test]
fn ctrl_c_makes_the_run_unknown_in_the_output_results_report_and_index() {
    let s = store("ctrl-c");
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--store", s.to_str().unwrap(), "--time-limit", "60"])
        .env("FAULTLINE_STATE_DIR", common::state_dir(&s))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Past the first 5-second progress line, with ops recorded.
    common::wait_for_history(&s, Duration::from_secs(30), |h| h.lines().count() > 2000);
    std::thread::sleep(Duration::from_millis(5500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(
        o.status.code(),
        Some(2),
        "an interrupted valid run is unknown: {out}{err}"
    );
    assert!(err.contains("/60 s]"), "progress was shown: {err}");
    let after = err
        .split_once("interrupted (Ctrl-C)")
        .map(|(_, a)| a)
        .expect("the interruption is said");
    assert!(!after.contains(" ops/s "), "no progress line after it: {after}");
    assert!(
        out.starts_with("unknown: interrupted (Ctrl-C) "),
        "the verdict line says so: {out}"
    );

    let run = common::latest(&s);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(
        (results["verdict"].as_str(), results["interrupted"].as_bool()),
        (Some("unknown"), Some(true))
    );
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        report.contains("<span id=\"interrupted\">interrupted (Ctrl-C)</span>"),
        "the report marks it beside the verdict"
    );
    let body = served_index(&s);
    assert!(
        body.contains("class=\"run unknown\"") && body.contains("<span class=\"cut\">interrupted</span>"),
        "{body}"
    );
}

#[test]
fn test_count_ends_with_the_composed_verdict_and_each_run_names_its_report() {
    let s = store("count");
    let o = faultline(&[
        "test",
        "--nodes",
        "1",
        "--time-limit",
        "2",
        "--test-count",
        "2",
        "--store",
        s.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        out.lines().last(),
        Some("valid: 2 runs: 2 valid, 0 invalid, 0 unknown"),
        "{out}"
    );
    assert!(stderr(&o).contains("(1 node on loopback"), "{}", stderr(&o));
    let reports: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("report: ")).collect();
    assert_eq!(reports.len(), 2, "{out}");
    assert!(reports
        .iter()
        .all(|r| r.ends_with("report.html") && Path::new(r).exists()));
    for verdict in out.lines().filter(|l| l.starts_with("valid: all")) {
        assert_eq!(verdict.matches("operations").count(), 1, "one count: {verdict}");
        assert!(!verdict.contains(" ops,"), "one count: {verdict}");
    }
    assert!(
        out.lines().any(|l| l.starts_with("note: ")
            && l.contains("cas failed: a cas whose compare did not match is a fail")),
        "{out}"
    );
}
