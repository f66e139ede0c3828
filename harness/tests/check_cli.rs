//! `faultline check` as a user runs it: exit codes, one line per file,
//! JSON output, budgets, and clear errors for bad input and arguments.

#[path = "../../checkers/tests/corpus/mod.rs"]
mod corpus;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use checkers::{Op, OpType, Process, Value, Verdict};
use harness::run::journal::Journal;
use harness::run::verdicts;
use workloads::Workload;

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("runs faultline")
}

/// A file of the history corpus beside the clone; without the corpus the
/// test says on the terminal that it was skipped, and returns (a failure
/// under `CI=true`: see checkers/tests/corpus).
macro_rules! shared {
    ($rel:expr) => {
        match corpus::file($rel) {
            Some(path) => path,
            None => return,
        }
    };
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn valid_and_invalid_logs_exit_0_and_1() {
    let valid = faultline(&["check", &shared!("jepsen/etcd_002.log")]);
    assert_eq!(valid.status.code(), Some(0), "{}", stdout(&valid));
    assert!(
        stdout(&valid).contains("etcd_002.log  valid  etcd model"),
        "{}",
        stdout(&valid)
    );

    let invalid = faultline(&["check", &shared!("jepsen/etcd_000.log")]);
    assert_eq!(invalid.status.code(), Some(1));
    let out = stdout(&invalid);
    assert!(out.contains("etcd_000.log  invalid"), "{out}");
    assert!(
        out.contains("ops that can be ordered"),
        "the anomaly sentence is printed: {out}"
    );
}

#[test]
fn several_files_give_one_line_each_and_a_summary() {
    let o = faultline(&[
        "check",
        &shared!("jepsen/etcd_002.log"),
        &shared!("jepsen/etcd_000.log"),
        &shared!("kv/c10-bad.txt"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("c10-bad.txt  invalid  kv model, 10 keys"), "{out}");
    assert!(out.contains("  key \""), "invalid keys are listed: {out}");
    assert!(
        out.contains("invalid: 3 files checked: 1 valid, 2 invalid, 0 unknown"),
        "{out}"
    );
}

#[test]
fn json_has_every_partition() {
    let o = faultline(&["check", "--json", &shared!("kv/c50-bad.txt")]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["verdict"], "invalid");
    let parts = v["files"][0]["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 10);
    assert!(
        parts.iter().all(|p| p["verdict"] != "unknown"),
        "every key is decided"
    );
    let ce = parts
        .iter()
        .find_map(|p| p.get("counterexample"))
        .expect("a counterexample");
    assert!(ce["prefix"].as_array().is_some() && ce["op"]["process"].is_u64());
}

#[test]
fn a_partition_out_of_time_is_unknown_and_exits_2() {
    let mut text = String::new();
    for i in 0..3000 {
        text += &format!("{{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":{i}}}\n");
        text += &format!("{{\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":{i}}}\n");
    }
    let file = temp("long.jsonl", &text);
    let o = faultline(&["check", "--time-limit", "0.000000001", path(&file)]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("unknown: time limit reached"),
        "{}",
        stdout(&o)
    );
    let o = faultline(&["check", path(&file)]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn knossos_edn_with_an_initial_value() {
    let file = temp(
        "cas.edn",
        "[{:type :invoke, :f :cas, :value [0 1], :process 0}\n\
          {:type :ok, :f :cas, :value [0 1], :process 0}\n\
          {:type :invoke, :f :read, :value nil, :process 1}\n\
          {:type :ok, :f :read, :value 1, :process 1}]\n",
    );
    assert_eq!(
        faultline(&["check", "--init", "0", path(&file)]).status.code(),
        Some(0)
    );
    // Without --init the register starts empty and the cas cannot succeed.
    assert_eq!(faultline(&["check", path(&file)]).status.code(), Some(1));
}

#[test]
fn bad_input_names_file_and_line_and_exits_254() {
    let cases = [
        (
            "truncated.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"pro",
            2,
            "expected one JSON object",
        ),
        (
            "type.edn",
            "{:type :invoke, :f :read, :process 0}\n{:type :done, :f :read, :process 0}\n",
            2,
            "unknown :type :done",
        ),
        (
            "orphan.edn",
            "{:type :ok, :f :read, :process 0, :value 1}\n",
            1,
            "no open invocation",
        ),
        (
            "twice.edn",
            "{:type :invoke, :f :read, :process 0}\n{:type :invoke, :f :write, :process 0, :value 1}\n",
            2,
            "still open",
        ),
        (
            "shape.edn",
            "{:type :invoke, :f :cas, :process 0, :value 3}\n{:type :ok, :f :cas, :process 0, :value 3}\n",
            2,
            "expected cas to carry [expected new]",
        ),
    ];
    for (name, text, line, expected) in cases {
        let file = temp(name, text);
        let o = faultline(&["check", path(&file)]);
        assert_eq!(o.status.code(), Some(254), "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{name}:{line}:")),
            "{name}: the error names file and line: {err}"
        );
        assert!(err.contains(expected), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn bad_arguments_exit_254() {
    for args in [
        &["check", "--model", "nope", "x"][..],
        &["check", "--format", "csv", "x"],
        &["check", "--max-memory", "lots", "x"],
        &["check", "--model", "mutex", "--init", "0", "x"],
        &["check"],
        &["check", "/no/such/file.jsonl"],
    ] {
        let o = faultline(args);
        assert_eq!(o.status.code(), Some(254), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_memory_budget_leaves_other_keys_decided() {
    let o = faultline(&[
        "check",
        "--json",
        "--max-memory",
        "1K",
        &shared!("kv/c50-bad.txt"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "invalid keys still make the file invalid"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let parts = v["files"][0]["partitions"].as_array().unwrap();
    let unknown: Vec<_> = parts.iter().filter(|p| p["verdict"] == "unknown").collect();
    assert!(!unknown.is_empty(), "the biggest key exceeds 1 KiB");
    assert!(unknown
        .iter()
        .all(|p| p["reason"].as_str().unwrap().contains("memory budget")));
    assert!(
        parts.iter().any(|p| p["verdict"] == "invalid"),
        "small keys are still decided"
    );
}

#[test]
fn models_are_guessed_from_the_functions() {
    let cases = [
        (
            "mutex.edn",
            "{:type :invoke, :f :acquire, :process 0}\n{:type :ok, :f :acquire, :process 0}\n\
             {:type :invoke, :f :acquire, :process 1}\n{:type :ok, :f :acquire, :process 1}\n",
            "mutex model",
            "two processes would hold the lock at once",
        ),
        (
            "set.edn",
            "{:type :invoke, :f :add, :value 1, :process 0}\n{:type :ok, :f :add, :value 1, :process 0}\n\
             {:type :invoke, :f :read, :process 1}\n{:type :ok, :f :read, :value #{}, :process 1}\n",
            "set model",
            "the read misses [1]",
        ),
        (
            "txn.edn",
            "{:type :invoke, :f :txn, :value [[:write :x 1]], :process 0}\n\
             {:type :ok, :f :txn, :value [[:write :x 1]], :process 0}\n\
             {:type :invoke, :f :txn, :value [[:read :x nil]], :process 1}\n\
             {:type :ok, :f :txn, :value [[:read :x 2]], :process 1}\n",
            "multi-register model",
            "reads \"x\"=2",
        ),
        (
            "queue.edn",
            "{:type :invoke, :f :enqueue, :value 1, :process 0}\n{:type :ok, :f :enqueue, :value 1, :process 0}\n\
             {:type :invoke, :f :dequeue, :process 1}\n{:type :ok, :f :dequeue, :value 2, :process 1}\n",
            "unordered-queue model",
            "2 is not in the queue",
        ),
    ];
    for (name, text, model, reason) in cases {
        let file = temp(name, text);
        let o = faultline(&["check", path(&file)]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {out}");
        assert!(out.contains(model) && out.contains(reason), "{name}: {out}");
    }
    let fifo = temp(
        "fifo.edn",
        "{:type :invoke, :f :enqueue, :value 1, :process 0}\n{:type :ok, :f :enqueue, :value 1, :process 0}\n\
         {:type :invoke, :f :enqueue, :value 2, :process 0}\n{:type :ok, :f :enqueue, :value 2, :process 0}\n\
         {:type :invoke, :f :dequeue, :process 1}\n{:type :ok, :f :dequeue, :value 2, :process 1}\n",
    );
    assert_eq!(
        faultline(&["check", path(&fifo)]).status.code(),
        Some(0),
        "unordered by default"
    );
    let o = faultline(&["check", "--model", "fifo-queue", path(&fifo)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn fail_fast_stops_at_the_first_invalid_key() {
    let all = faultline(&["check", "--json", &shared!("kv/c50-bad.txt")]);
    let v: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let decided = |v: &serde_json::Value| {
        v["files"][0]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["verdict"] != "unknown")
            .count()
    };
    assert_eq!(decided(&v), 10);
    let o = faultline(&[
        "check",
        "--json",
        "--fail-fast",
        "--threads",
        "1",
        &shared!("kv/c50-bad.txt"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(decided(&v), 1, "one thread stops after its first (invalid) key");
    assert!(stdout(&o).contains("--fail-fast stopped the check"));
}

#[test]
fn consul_without_a_binary_says_how_to_provide_it() {
    let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--db", "consul"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(254));
    assert!(
        stderr(&o).contains("put HashiCorp's `consul` on PATH or pass --consul-bin"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn workloads_and_faults_a_system_cannot_take_are_refused_at_once() {
    for (args, says) in [
        (
            &["test", "--db", "etcd", "--nemesis", "clock"][..],
            "only ZooKeeper's JVMs honour it here: Go servers (etcd, Consul) read the clock through the vDSO",
        ),
        (
            &["test", "--db", "etcd", "--nemesis", "partition+strobe"][..],
            "--nemesis strobe: clock faults need libfaketime",
        ),
        (
            &["test", "--db", "etcd", "--nemesis", "partition+partition"][..],
            "names partition twice",
        ),
        (
            &["test", "--db", "redis", "--workload", "lock"][..],
            "--db redis runs the register, set workloads",
        ),
        (
            &["test", "--db", "zookeeper", "--zookeeper-reads", "fast"][..],
            "[possible values: sync, plain]",
        ),
        (
            &["test", "--db", "redis", "-w", "set", "--redis-wait", "3"][..],
            "expected 1 to 2",
        ),
        (
            &["test", "--db", "consul", "--consul-bin", "/nonexistent/consul"][..],
            "no such file",
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(254), "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn nil_reads_count_only_when_nil_means_empty() {
    let dir = std::env::temp_dir().join(format!("faultline-nil-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("h.jsonl");
    std::fs::write(
        &file,
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":3,\"time\":1}\n\
         {\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":3,\"time\":2}\n\
         {\"type\":\"invoke\",\"process\":1,\"f\":\"read\",\"value\":null,\"time\":3}\n\
         {\"type\":\"ok\",\"process\":1,\"f\":\"read\",\"value\":null,\"time\":4}\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["check", "-m", "cas-register"])
            .args(extra)
            .arg(&file)
            .output()
            .unwrap()
    };
    // Knossos' reading: a nil read says nothing.
    assert_eq!(run(&[]).status.code(), Some(0));
    let o = run(&["--nil-reads-empty"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("read nil"), "{}", stdout(&o));
}

/// A cas-register history as the run's journal writes it: a write of 3
/// acknowledged, then a read on key 0 that returns `read`.
fn journal_history(dir: &Path, read: Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("history.jsonl");
    let op = |time, kind, process, f: &str, value| Op {
        index: 0,
        time,
        kind,
        process: Process::Client(process),
        f: f.into(),
        key: Some(Value::Int(0)),
        value,
        error: None,
        line: 0,
    };
    let ops = [
        op(1, OpType::Invoke, 0, "write", Value::Int(3)),
        op(2, OpType::Ok, 0, "write", Value::Int(3)),
        op(3, OpType::Invoke, 1, "read", Value::Nil),
        op(4, OpType::Ok, 1, "read", read),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (journal, writer) = Journal::open(&file, Default::default(), true).unwrap();
        for o in ops {
            journal.record(o);
        }
        journal.close();
        writer.finish().await.unwrap();
    });
    file
}

#[test]
fn a_history_a_run_wrote_gets_the_runs_verdict_without_flags() {
    let root = std::env::temp_dir().join(format!("faultline-cli-journal-{}", std::process::id()));
    // A read of nil after the acknowledged write is a lost write to the
    // run, and to `check` only when it knows nil means empty.
    for (name, read, verdict) in [
        ("lost", Value::Nil, Verdict::Invalid),
        ("kept", Value::Int(3), Verdict::Valid),
    ] {
        let dir = root.join(name);
        let file = journal_history(&dir, read);
        let run = verdicts::judge(&dir, Workload::CasRegister).unwrap();
        assert_eq!(run.verdict, verdict, "{name}: {}", run.sentence);
        for flags in [&[][..], &["--nil-reads-empty"][..]] {
            let o = faultline(&[&["check"][..], flags, &[path(&file)]].concat());
            assert_eq!(
                o.status.code(),
                Some(verdict.exit_code()),
                "{name} {flags:?}: {}",
                stdout(&o)
            );
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_unreadable_file_makes_the_summary_unknown_but_never_hides_an_invalid_one() {
    let bad = temp("unreadable.edn", "{:type :invoke, :f :read\n");
    let valid = shared!("jepsen/etcd_002.log");
    let o = faultline(&["check", &valid, path(&bad)]);
    assert_eq!(o.status.code(), Some(254), "{}", stdout(&o));
    let last = stdout(&o).lines().last().unwrap().to_string();
    assert_eq!(
        last, "unknown: 2 files checked: 1 valid, 0 invalid, 1 unknown (1 unreadable)",
        "the unreadable file is among the unknown"
    );
    let o = faultline(&["check", "--json", &valid, path(&bad)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["verdict"].as_str(), v["unreadable"].as_u64()),
        (Some("unknown"), Some(1))
    );

    let o = faultline(&["check", &shared!("jepsen/etcd_000.log"), path(&bad)]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a finding is never hidden: {}",
        stdout(&o)
    );
    assert!(
        stdout(&o).lines().last().unwrap().starts_with("invalid: "),
        "{}",
        stdout(&o)
    );
    let help = faultline(&["check", "--help"]);
    assert!(
        stdout(&help).contains("a finding is never hidden"),
        "{}",
        stdout(&help)
    );
}

#[test]
fn a_closed_stdout_ends_the_check_quietly() {
    let log = shared!("jepsen/etcd_000.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--json"])
        .args((0..40).map(|_| &log))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe, as `| head -c1` does.
    use std::io::Read;
    let mut out = child.stdout.take().unwrap();
    out.read_exact(&mut [0u8; 1]).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        o.status.signal() == Some(13) || o.status.code() == Some(1),
        "ends by SIGPIPE (or had finished): {:?}",
        o.status
    );
}

#[test]
fn damaged_files_get_one_clear_error_each() {
    let mut utf8 =
        b"{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value \"".to_vec();
    utf8.extend([0xff, 0xfe]);
    utf8.extend(b"\"}\n");
    let dir = std::env::temp_dir().join(format!("faultline-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("latin1.edn"), &utf8).unwrap();
    let log = std::fs::read_to_string(shared!("jepsen/etcd_002.log")).unwrap();
    let cut = &log[..log.len() - 7];
    let deep = format!(
        "{{:type :invoke, :f :read, :process 0, :value {}}}\n",
        "[".repeat(20_000)
    );
    let cases: Vec<(PathBuf, &str)> = vec![
        (dir.join("latin1.edn"), "latin1.edn:2:43: byte 0xff is not UTF-8"),
        (temp("cut.log", cut), "the log was cut off mid-line"),
        (temp("deep.edn", &deep), "nested deeper than 200 levels"),
        (temp("empty.edn", "\n\n"), "the file is empty"),
    ];
    for (file, says) in cases {
        let o = faultline(&["check", path(&file)]);
        assert_eq!(o.status.code(), Some(254), "{}: {}", file.display(), stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(says), "{}: {err}", file.display());
        assert_eq!(err.lines().count(), 1, "one sentence: {err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn a_total_time_limit_bounds_the_whole_check() {
    let o = faultline(&[
        "check",
        "--json",
        "--threads",
        "1",
        "--time-limit",
        "30",
        "--total-time-limit",
        // Spent before the first key starts: every key is undecided, and
        // says why.
        "0.000001",
        &shared!("kv/c50-bad.txt"),
        &shared!("kv/c50-ok.txt"),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let reasons: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["partitions"].as_array().unwrap())
        .filter_map(|p| p["reason"].as_str())
        .collect();
    assert_eq!(
        reasons.len(),
        20,
        "every key of both files is undecided: {reasons:?}"
    );
    assert_eq!(o.status.code(), Some(2), "unknown");
    assert!(
        reasons.iter().all(|r| r.contains("--total-time-limit")),
        "{reasons:?}"
    );
    assert!(
        faultline(&["check", "--total-time-limit", "0", "x"])
            .status
            .code()
            == Some(254)
    );
}

#[test]
fn edn_starting_with_a_comment_and_a_process_going_on_after_info_are_read() {
    let file = temp(
        "carry-on.edn",
        ";; from another harness\n\
         ({:type :invoke, :f :write, :value 1, :process 0}\n \
          {:type :info, :f :write, :value 1, :process 0}\n \
          {:type :invoke, :f :read, :value nil, :process 0}\n \
          {:type :ok, :f :read, :value 1, :process 0})\n",
    );
    let o = faultline(&["check", path(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("note: process 0 invokes again on line 4"),
        "{}",
        stdout(&o)
    );
}

/// Write skew between two transactions, in Jepsen's EDN.
const WRITE_SKEW: &str = "{:process 0, :type :invoke, :f :txn, :value [[:r :x nil] [:append :y 1]]}\n\
                          {:process 1, :type :invoke, :f :txn, :value [[:r :y nil] [:append :x 1]]}\n\
                          {:process 0, :type :ok, :f :txn, :value [[:r :x []] [:append :y 1]]}\n\
                          {:process 1, :type :ok, :f :txn, :value [[:r :y []] [:append :x 1]]}\n";

#[test]
fn transactional_histories_are_recognised_and_judged_by_the_models_asked_for() {
    let file = temp("skew.edn", WRITE_SKEW);
    let o = faultline(&["check", path(&file)]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("skew.edn  invalid  list-append, 2 transactions"),
        "{out}"
    );
    assert!(
        out.contains("G2-item") && out.contains("a contradiction"),
        "{out}"
    );

    let o = faultline(&["check", "--consistency-models", "snapshot-isolation", path(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("not repeatable-read"), "{}", stdout(&o));

    // With a report the values are kept for it; the verdict is the same.
    let dir = std::env::temp_dir().join(format!("faultline-cli-report-{}", std::process::id()));
    let o = faultline(&["check", "--json", "--report", path(&dir), path(&file)]);
    assert_eq!(o.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["files"][0]["anomalies"]["G2-item"], 1, "{json}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg class=\"cycle\""));
    std::fs::remove_dir_all(&dir).unwrap();

    let o = faultline(&["check", "--consistency-models", "linearizable", path(&file)]);
    assert_eq!(o.status.code(), Some(254));
    assert!(
        stderr(&o).contains("expected one of strict-serializable"),
        "{}",
        stderr(&o)
    );
    let o = faultline(&[
        "check",
        "-m",
        "register",
        "--consistency-models",
        "serializable",
        path(&file),
    ]);
    assert_eq!(o.status.code(), Some(254));
}

#[test]
fn transactions_that_only_read_nil_are_checked_as_transactions() {
    let edn = temp(
        "reads.edn",
        "{:type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]], :process 0}\n\
         {:type :ok, :f :txn, :value [[:r :x nil] [:r :y nil]], :process 0}\n",
    );
    let jsonl = temp(
        "reads.jsonl",
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",\"x\",null],[\"r\",\"y\",null]]}\n\
         {\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",\"x\",null],[\"r\",\"y\",null]]}\n",
    );
    for file in [&edn, &jsonl] {
        let o = faultline(&["check", path(file)]);
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
        assert!(
            stdout(&o).contains("valid  rw-register, 1 transaction ("),
            "{}",
            stdout(&o)
        );
    }
    // A file whose first 256 KiB only read nil is judged by what follows:
    // here, appends.
    let mut text = String::new();
    let mut p = 0;
    while text.len() < 300 << 10 {
        for ty in ["invoke", "ok"] {
            text +=
                &format!("{{\"type\":\"{ty}\",\"process\":{p},\"f\":\"txn\",\"value\":[[\"r\",1,null]]}}\n");
        }
        p += 1;
    }
    text += &format!("{{\"type\":\"invoke\",\"process\":{p},\"f\":\"txn\",\"value\":[[\"append\",1,5]]}}\n");
    text += &format!("{{\"type\":\"ok\",\"process\":{p},\"f\":\"txn\",\"value\":[[\"append\",1,5]]}}\n");
    let long = temp("long-reads.jsonl", &text);
    let o = faultline(&["check", path(&long)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("valid  list-append"), "{}", stdout(&o));
}

#[test]
fn a_damaged_transaction_names_its_line_and_micro_op() {
    let file = temp(
        "damaged.jsonl",
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",1,2]]}\n\
         {\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",1,2],[\"r\",1,\"oops\"]]}\n",
    );
    let o = faultline(&["check", "-m", "list-append", path(&file)]);
    assert_eq!(o.status.code(), Some(254), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("damaged.jsonl:2: micro-op 2 of the txn") && err.contains("expected a list"),
        "{err}"
    );
}

#[test]
fn help_describes_the_commands_not_the_last_systems_flags() {
    let top = stdout(&faultline(&["--help"]));
    assert!(top.starts_with("A Jepsen-style testing harness"), "{top}");
    assert!(top.contains("test     Run a test: start a cluster"), "{top}");
    let test = stdout(&faultline(&["test", "--help"]));
    assert!(test.starts_with("Run a test:"), "{test}");
    // Every system's flags are still there.
    for flag in [
        "--etcd-reads",
        "--zookeeper-reads",
        "--redis-appendfsync",
        "--isolation",
    ] {
        assert!(test.contains(flag), "{flag} missing:\n{test}");
    }
}

#[test]
fn send_and_poll_histories_are_checked_as_logs() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/histories");
    let valid = examples.join("log-valid.jsonl");
    let o = faultline(&["check", path(&valid)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(
            "log-valid.jsonl  valid  log, 2 logs, 4 sends (3 acknowledged, 1 indeterminate, 0 failed)"
        ),
        "{}",
        stdout(&o)
    );

    let lost = examples.join("log-lost.jsonl");
    let o = faultline(&["check", "-m", "log", path(&lost)]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for said in [
        "lost: log \"a\": 2, acknowledged at offset 1 (sent on line 3), is missing from the final reads",
        "inconsistent-offset: log \"a\": reads disagree on offset 1: 2 (line 6) and 4 (line 12)",
        "duplicate: log \"a\": 4 is at offsets 1 and 3",
    ] {
        assert!(out.contains(said), "{said}: {out}");
    }

    // Duplicates allowed, the lost send still makes it invalid; the
    // duplicate is a warning.
    let o = faultline(&["check", "--allow-duplicates", path(&lost)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("1 lost, 1 inconsistent-offset; allowed: 1 duplicate")
            && stdout(&o).contains("duplicate (allowed): log \"a\": 4 is at offsets 1 and 3"),
        "{}",
        stdout(&o)
    );

    let dir = std::env::temp_dir().join(format!("faultline-cli-log-report-{}", std::process::id()));
    let o = faultline(&["check", "--json", "--report", path(&dir), path(&lost)]);
    assert_eq!(o.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let anomalies = &json["files"][0]["anomalies"];
    let counts: Vec<(&str, u64)> = anomalies
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["kind"].as_str().unwrap(), a["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        counts,
        [("lost", 1), ("inconsistent-offset", 1), ("duplicate", 1)],
        "{json}"
    );
    assert_eq!(anomalies[0]["findings"][0]["offsets"], serde_json::json!([1]));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "invalid");
    assert_eq!(
        results["checkers"]["log"]["anomalies"][0]["kind"], "lost",
        "{results}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let bad = temp(
        "bad-poll.jsonl",
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"poll\",\"key\":\"a\",\"value\":0}\n\
         {\"type\":\"ok\",\"process\":0,\"f\":\"poll\",\"key\":\"a\",\"value\":[1,2]}\n",
    );
    let o = faultline(&["check", path(&bad)]);
    assert_eq!(o.status.code(), Some(254), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("bad-poll.jsonl:2: poll ok [1 2]: expected a list of [offset value] pairs"),
        "{}",
        stderr(&o)
    );
}
