//! Helpers shared by the integration tests that run faultline for real.
#![allow(dead_code)]

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A fresh folder for one test's store.
pub fn store(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The state folder of runs in `store` that tests kill: their own, so
/// that no other test's run reclaims what they left before they look.
pub fn state_dir(store: &Path) -> PathBuf {
    store.join("state")
}

/// `faultline cleanup` for runs whose state is in `state_dir(store)`.
pub fn cleanup(store: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("cleanup")
        .env("FAULTLINE_STATE_DIR", state_dir(store))
        .output()
        .expect("runs faultline cleanup")
}

/// Runs faultline to completion.
pub fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("runs faultline")
}

/// Standard output and error together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The run folder `store/latest` points to.
pub fn latest(store: &Path) -> PathBuf {
    store.join(std::fs::read_link(store.join("latest")).unwrap())
}

/// Live processes whose command line mentions `needle` (zombies excluded).
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if !zombie && String::from_utf8_lossy(&cmd).contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// Starts `faultline args`, waits (at most `within`) until the run's
/// history satisfies `ready`, then SIGKILLs faultline and returns the
/// run folder.
pub fn sigkill_when(
    store: &Path,
    args: &[&str],
    within: std::time::Duration,
    ready: impl Fn(&str) -> bool,
) -> PathBuf {
    sigkill_when_inspecting(store, args, within, ready, |_| {})
}

/// `sigkill_when`, calling `inspect` with faultline's PID just before
/// the kill (to look at what it runs while it is alive).
pub fn sigkill_when_inspecting(
    store: &Path,
    args: &[&str],
    within: std::time::Duration,
    ready: impl Fn(&str) -> bool,
    inspect: impl FnOnce(u32),
) -> PathBuf {
    let before = std::fs::read_link(store.join("latest")).ok();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .args(["--store", store.to_str().unwrap()])
        .env("FAULTLINE_STATE_DIR", state_dir(store))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run = wait_for_new_history(store, before.as_deref(), within, ready);
    inspect(child.id());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    run
}

/// Waits (at most `within`) until the history of the run `store/latest`
/// points to satisfies `ready`; returns the run folder.
pub fn wait_for_history(store: &Path, within: std::time::Duration, ready: impl Fn(&str) -> bool) -> PathBuf {
    wait_for_new_history(store, None, within, ready)
}

/// `wait_for_history`, passing over the run `latest` pointed at before
/// (`before`): a new run points `latest` only once its cluster serves,
/// and until then the previous run's history must not be mistaken for it.
pub fn wait_for_new_history(
    store: &Path,
    before: Option<&Path>,
    within: std::time::Duration,
    ready: impl Fn(&str) -> bool,
) -> PathBuf {
    let started = std::time::Instant::now();
    loop {
        assert!(started.elapsed() < within, "the run never got there");
        std::thread::sleep(std::time::Duration::from_millis(200));
        let Ok(link) = std::fs::read_link(store.join("latest")) else {
            continue;
        };
        if Some(link.as_path()) == before {
            continue;
        }
        let run = store.join(link);
        if std::fs::read_to_string(run.join("history.jsonl")).is_ok_and(|h| ready(&h)) {
            return run;
        }
    }
}

/// The nemesis's actions that completed without an error, in order
/// (`kill`, `start`, `start-partition`, ...).
pub fn nemesis_ops(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|op| op["process"] == "nemesis" && op["type"] == "info" && op["error"].is_null())
        .map(|op| op["f"].as_str().unwrap().to_string())
        .collect()
}

/// What a run under `--nemesis partition,kill,pause` must show done.
pub const PARTITION_KILL_PAUSE: &[&str] = &[
    "start-partition",
    "stop-partition",
    "kill",
    "start",
    "pause",
    "resume",
];

/// Fails unless the nemesis completed each of `faults` in `run`.
pub fn assert_nemesis_did(run: &Path, faults: &[&str]) {
    let done = nemesis_ops(run);
    for f in faults {
        assert!(done.iter().any(|x| x == f), "{f} missing from {done:?}");
    }
}

/// Whether a history shows the nemesis's `f` in force: its completion
/// is the nemesis's last line, so nothing has begun to undo it.
pub fn fault_in_force(history: &str, f: &str) -> bool {
    history
        .lines()
        .rfind(|l| l.contains("\"process\":\"nemesis\""))
        .is_some_and(|l| nemesis_line(l, f))
}

/// Whether the nemesis completed `f` at some point in a history.
pub fn fault_happened(history: &str, f: &str) -> bool {
    history.lines().any(|l| nemesis_line(l, f))
}

fn nemesis_line(line: &str, f: &str) -> bool {
    line.contains("\"type\":\"info\"") && line.contains(&format!("\"f\":\"{f}\""))
}

/// A port nothing listens on now, on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The data report.html's timeline is drawn from (`const DATA=...`), as
/// the page holds it or the browser's DOM shows it.
pub fn timeline_data(html: &str) -> serde_json::Value {
    let from = html.split("const DATA=").nth(1).expect("the timeline's data");
    serde_json::Deserializer::from_str(from)
        .into_iter()
        .next()
        .expect("the timeline's data")
        .expect("the timeline's data is JSON")
}

/// `faultline serve` over `store` on a free port, and the URL it prints.
pub fn serve(store: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["serve", "--store", store.to_str().unwrap(), "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .split_whitespace()
        .last()
        .expect("the URL is printed")
        .to_string();
    (child, url)
}
