//! Clients in any language (`--client CMD`, docs/client-protocol.md), as
//! real Python programs against real demo clusters: a good client gets
//! the built-in client's verdicts; clients that crash mid-operation,
//! print garbage, hang past the timeout or exit at open cost at most an
//! `info` (a read: `fail`), never an `ok`; the run ends with a verdict and
//! no client process outlives it; `client-pause` stops the program.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{faultline, latest, processes_mentioning, text};

/// A test client's path (`harness/tests/clients/NAME.py`).
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/clients/{name}.py"))
}

/// Its command line: the run folder is the working directory, so the
/// path is absolute. The store is an argument the script ignores, so
/// that a test finds its own clients among those of tests beside it.
fn command(name: &str, store: &Path, args: &str) -> String {
    format!("python3 {} {} {args}", script(name).display(), store.display())
        .trim_end()
        .to_string()
}

fn history(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `faultline test` on a fresh demo cluster with `client`, 300 ops/s
/// (`--time-limit 5` unless `extra` says); the output and the run folder.
fn test_with(store: &Path, client: &str, extra: &[&str]) -> (std::process::Output, PathBuf) {
    let mut args = vec![
        "test",
        "--store",
        store.to_str().unwrap(),
        "--client",
        client,
        "--workload",
        "cas-register",
        "--concurrency",
        "6",
        "--rate",
        "300",
    ];
    if !extra.contains(&"--time-limit") {
        args.extend(["--time-limit", "5"]);
    }
    args.extend(extra);
    let o = faultline(&args);
    assert!(store.join("latest").exists(), "no run: {}", text(&o));
    let run = latest(store);
    (o, run)
}

/// No client (nor anything else) of the runs in `store` is alive.
fn assert_none_left(store: &Path) {
    let left = processes_mentioning(store.to_str().unwrap());
    assert!(
        left.is_empty(),
        "processes outlived the runs in {}: {left:?}",
        store.display()
    );
}

#[test]
fn a_good_client_program_gets_the_built_in_clients_verdicts() {
    let s = common::store("client-protocol", "good");
    let client = command("demo", &s, "");
    let (o, run) = test_with(
        &s,
        &client,
        &["--nemesis", "kill,pause", "--nemesis-interval", "1"],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains(&format!("clients: {client}")), "{out}");
    let h = history(&run);
    let oks = h
        .iter()
        .filter(|op| op["type"] == "ok" && op["process"].is_u64())
        .count();
    assert!(oks > 200, "the client made progress: {oks} oks\n{out}");
    assert!(
        h.iter()
            .any(|op| op["f"] == "read" && op["type"] == "ok" && op["value"].is_i64()),
        "reads return what the cluster holds"
    );
    assert!(common::fault_happened(
        &std::fs::read_to_string(run.join("history.jsonl")).unwrap(),
        "kill"
    ));
    let test: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["config"]["client"], client.as_str());
    // One stderr file per logical process that ran.
    for p in h.iter().filter_map(|op| op["process"].as_u64()) {
        assert!(run.join(format!("clients/p{p}.stderr")).exists(), "p{p}.stderr");
    }
    assert_none_left(&s);

    // The database's bug, not the client's: stale reads are caught.
    let (o, _) = test_with(
        &s,
        &client,
        &["--nemesis", "none", "--mode", "stale-reads", "--time-limit", "8"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("invalid: key "), "{}", text(&o));
    assert_none_left(&s);
}

/// Runs `name`'s client and checks what its misbehaviour cost: every
/// operation it broke (its error contains one of `marks`) is an `info`,
/// or a `fail` for a read, and its process never performs again; there
/// are some; the run is valid; no process is left. The broken ops.
fn misbehaving(name: &str, marks: &[&str]) -> Vec<serde_json::Value> {
    let s = common::store("client-protocol", name);
    let started = Instant::now();
    let (o, run) = test_with(&s, &command(name, &s, ""), &["--nemesis", "none"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "a verdict, valid: {out}");
    assert!(started.elapsed() < Duration::from_secs(60), "{out}");
    let h = history(&run);
    let broken: Vec<&serde_json::Value> = h
        .iter()
        .filter(|op| {
            op["error"]
                .as_str()
                .is_some_and(|e| marks.iter().any(|m| e.contains(m)))
        })
        .collect();
    assert!(!broken.is_empty(), "no operation shows {marks:?}:\n{out}");
    let mut last_index: HashMap<u64, u64> = HashMap::new();
    for op in &h {
        if let Some(p) = op["process"].as_u64() {
            last_index.insert(p, op["index"].as_u64().unwrap());
        }
    }
    for op in &broken {
        let expected = if op["f"] == "read" { "fail" } else { "info" };
        assert_eq!(op["type"], expected, "{op}");
        let p = op["process"].as_u64().unwrap();
        assert_eq!(
            last_index[&p],
            op["index"].as_u64().unwrap(),
            "process {p} went on after its client broke: {op}"
        );
    }
    assert!(
        h.iter().filter(|op| op["type"] == "ok").count() > 50,
        "the run went on with fresh clients\n{out}"
    );
    assert_none_left(&s);
    broken.into_iter().cloned().collect()
}

#[test]
fn a_client_that_crashes_mid_operation_costs_an_info() {
    misbehaving("crash", &["it had ended (exit status: 3)"]);
}

#[test]
fn a_client_that_prints_garbage_costs_an_info() {
    let not_json = "not an answer (expected ident at line 1 column 2): this is not JSON {";
    let another = "an answer to message 999999 while";
    let broken = misbehaving("garbage", &[not_json, another]);
    assert!(!broken.is_empty());
}

#[test]
fn a_client_that_hangs_past_the_timeout_is_killed_for_an_info() {
    misbehaving("hang", &["no answer within 2000 ms; the client was killed"]);
}

#[test]
fn a_client_that_exits_at_open_fails_its_first_operation() {
    let s = common::store("client-protocol", "exit_at_open");
    let (o, run) = test_with(&s, &command("exit_at_open", &s, ""), &["--nemesis", "none"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let h = history(&run);
    let refused: Vec<_> = h
        .iter()
        .filter(|op| op["error"].as_str().is_some_and(|e| e.starts_with("open: ")))
        .collect();
    assert!(!refused.is_empty(), "{}", text(&o));
    for op in &refused {
        assert_eq!(op["type"], "fail", "nothing was sent: {op}");
        assert!(
            op["error"].as_str().unwrap().contains("no database today"),
            "{op}"
        );
    }
    assert!(h.iter().filter(|op| op["type"] == "ok").count() > 50);
    assert_none_left(&s);
}

/// The longest silence between heartbeats in a client's stderr, in s.
fn longest_gap(stderr: &Path) -> f64 {
    let beats: Vec<f64> = std::fs::read_to_string(stderr)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("beat ")?.parse().ok())
        .collect();
    beats.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

#[test]
fn client_pause_stops_the_client_program() {
    let s = common::store("client-protocol", "pause");
    let (o, run) = test_with(
        &s,
        &command("demo", &s, "--heartbeat"),
        &[
            "--nemesis",
            "client-pause",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "6",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let h = history(&run);
    let paused: Vec<u64> = h
        .iter()
        .filter(|op| op["f"] == "pause-client" && op["type"] == "info")
        .filter_map(|op| op["value"][0][0].as_str()?.strip_prefix("worker ")?.parse().ok())
        .collect();
    assert!(!paused.is_empty(), "{}", text(&o));
    // Worker w runs as processes w, w + 6, w + 12, … (after an info).
    let gaps: Vec<f64> = paused
        .iter()
        .flat_map(|w| {
            let run = &run;
            (0..)
                .map(move |k| run.join(format!("clients/p{}.stderr", w + 6 * k)))
                .take_while(|f| f.exists())
        })
        .map(|f| longest_gap(&f))
        .collect();
    assert!(
        gaps.iter().any(|&g| g >= 1.5),
        "a paused worker's program went on beating: longest gaps {gaps:?}"
    );
    assert_none_left(&s);
}

/// Demo nodes this test started, stopped by their PIDs when dropped.
struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn an_existing_cluster_of_any_database_is_tested_through_its_client() {
    let s = common::store("client-protocol", "existing");
    let ports: Vec<u16> = (0..3).map(|_| common::free_port()).collect();
    let peers: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let nodes = Nodes(
        (0..3)
            .map(|i| {
                Command::new(env!("CARGO_BIN_EXE_faultline"))
                    .args(["demo-node", "--id", &i.to_string(), "--mode", "correct"])
                    .args(["--peers", &peers.join(",")])
                    .arg("--dir")
                    .arg(s.join(format!("node{i}")))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let started = Instant::now();
    while ports
        .iter()
        .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_err())
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the demo nodes never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (o, run) = test_with(&s, &command("demo", &s, ""), &["--endpoints", &peers.join(",")]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("an existing database cluster (3 endpoints"), "{out}");
    let test: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["config"]["system"]["name"], "database");
    assert!(
        history(&run).iter().filter(|op| op["type"] == "ok").count() > 200,
        "{out}"
    );
    drop(nodes);
    assert_none_left(&s);
}

#[test]
fn an_empty_client_command_is_refused() {
    let o = faultline(&["test", "--client", " ", "--time-limit", "1"]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(text(&o).contains("--client: expected a command"), "{}", text(&o));
}
