//! README.md's commands, as written, from the repository root: every
//! `faultline check` it shows is run (in a transcript, `$ ` lines in a
//! fenced block, its output must be the lines that follow, timings aside);
//! every other command — in an `sh` block, or after a `$ ` — is listed in
//! `NOT_RUN` with the reason, so a command the README gains fails here
//! until it is run or listed. Also: the example histories give the
//! verdicts examples/histories/README.md states.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A README command this test does not run.
struct NotRun {
    /// The command as the README shows it (continuation lines joined).
    command: &'static str,
    /// Why it cannot run here.
    reason: &'static str,
    /// The test (file in harness/tests, function) that runs it, or the
    /// same steps, instead.
    covered_by: Option<(&'static str, &'static str)>,
}

const NOT_RUN: &[NotRun] = &[
    NotRun {
        command: "faultline test --nemesis kill,pause --time-limit 300 --metrics-listen 127.0.0.1:9464",
        reason: "a five-minute run, for a Prometheus of the reader's own to scrape",
        covered_by: Some((
            "metrics.rs",
            "prometheus_scrapes_a_run_and_sees_operations_and_faults",
        )),
    },
    NotRun {
        command: "faultline test --system examples/etcd/system.toml --nemesis partition,kill,pause",
        reason: "a 30-second run of a real etcd cluster",
        covered_by: Some((
            "system_file.rs",
            "etcd_from_its_file_under_partition_kill_and_pause_is_valid",
        )),
    },
    NotRun {
        command: "faultline test --system examples/galera/system.toml -w list-append \
                  --nemesis kill,lose-unsynced --nemesis-interval 5",
        reason: "a 30-second run of a real Galera cluster",
        covered_by: Some((
            "system_file.rs",
            "galera_from_its_file_under_kill_and_lost_writes_is_caught_not_serializable",
        )),
    },
    NotRun {
        command: "cargo install --path harness",
        reason: "installs into the user's ~/.cargo/bin; the tests run the binary cargo built",
        covered_by: None,
    },
    NotRun {
        command: "sudo scripts/install-deps",
        reason: "installs system packages (root, the network); .ci/run runs it",
        covered_by: None,
    },
    NotRun {
        command: "faultline test",
        reason: "the 30-second default test",
        covered_by: Some((
            "demo_cluster.rs",
            "with_no_arguments_the_default_test_runs_and_ends_valid",
        )),
    },
    NotRun {
        command: "cargo test --workspace --release",
        reason: "the test suite this test is part of (.ci/run runs it)",
        covered_by: None,
    },
    NotRun {
        command: "faultline test --mode stale-reads --time-limit 10",
        reason: "a 10-second run whose seed, counts and anomaly differ every time",
        covered_by: Some((
            "demo_cluster.rs",
            "stale_reads_are_caught_within_ten_seconds",
        )),
    },
    NotRun {
        command: "faultline test --db etcd --endpoints http://10.0.0.11:2379,http://10.0.0.12:2379,http://10.0.0.13:2379 \
                  --nodes-file nodes --db-process etcd --nemesis kill,pause,partition",
        reason: "needs the user's own etcd cluster on SSH nodes at those addresses",
        covered_by: Some((
            "ssh_cluster.rs",
            "an_existing_cluster_over_ssh_takes_faults_and_keeps_running",
        )),
    },
    NotRun {
        command: r"printf 'root@10.0.0.11\nroot@10.0.0.12\nroot@10.0.0.13\n' > nodes",
        reason: "writes a nodes file naming the user's own machines",
        covered_by: None,
    },
    NotRun {
        command: "faultline test --db etcd --nodes-file nodes --ssh-key ~/.ssh/id_ed25519 \
                  --nemesis partition,kill,pause --time-limit 60",
        reason: "needs the user's own SSH nodes",
        covered_by: Some((
            "ssh_cluster.rs",
            "etcd_over_ssh_under_partition_kill_and_pause_is_valid",
        )),
    },
    NotRun {
        command: "sudo scripts/ssh-nodes up 3 /tmp/nodes",
        reason: "needs root and sshd, and leaves test nodes running until `down`",
        covered_by: Some((
            "ssh_cluster.rs",
            "etcd_over_ssh_under_partition_kill_and_pause_is_valid",
        )),
    },
    NotRun {
        command: "faultline test --db etcd --nodes-file /tmp/nodes/nodes --ssh-key /tmp/nodes/id_ed25519 \
                  --ssh-option UserKnownHostsFile=/tmp/nodes/known_hosts --nemesis partition,kill,pause",
        reason: "needs the test nodes `scripts/ssh-nodes up` starts as root",
        covered_by: Some((
            "ssh_cluster.rs",
            "etcd_over_ssh_under_partition_kill_and_pause_is_valid",
        )),
    },
    NotRun {
        command: "sudo scripts/ssh-nodes down /tmp/nodes",
        reason: "needs root, and the nodes `up` started",
        covered_by: Some((
            "ssh_cluster.rs",
            "etcd_over_ssh_under_partition_kill_and_pause_is_valid",
        )),
    },
];

/// A command found in the README.
struct Shown {
    /// The README line it starts on.
    line: usize,
    command: String,
    /// The output lines a transcript shows after it; `None` in an `sh`
    /// block, which shows commands only.
    output: Option<Vec<String>>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every command in the fenced blocks of `text`: each line of an `sh`
/// block, each `$ ` line of any other block, `\` continuations joined.
fn commands(text: &str) -> Vec<Shown> {
    let mut shown: Vec<Shown> = Vec::new();
    let mut block: Option<&str> = None;
    // The last command goes on onto this line (it ended in `\`).
    let mut continued = false;
    // Lines that are no command are the last command's output (a
    // transcript's command, in this block).
    let mut output = false;
    for (i, line) in text.lines().enumerate() {
        if let Some(fence) = line.trim_start().strip_prefix("```") {
            block = match block {
                None => Some(fence.trim()),
                Some(_) => None,
            };
            (continued, output) = (false, false);
            continue;
        }
        let Some(lang) = block else { continue };
        if let (true, Some(last)) = (continued, shown.last_mut()) {
            continued = line.ends_with('\\');
            last.command.push(' ');
            last.command
                .push_str(line.trim().trim_end_matches('\\').trim_end());
            continue;
        }
        let sh = matches!(lang, "sh" | "bash" | "shell");
        let command = if sh {
            Some(line.trim()).filter(|l| !l.is_empty() && !l.starts_with('#'))
        } else {
            line.strip_prefix("$ ")
        };
        if let Some(c) = command {
            continued = c.ends_with('\\');
            output = !sh;
            shown.push(Shown {
                line: i + 1,
                command: c.trim_end_matches('\\').trim_end().to_string(),
                output: output.then(Vec::new),
            });
        } else if output {
            if let Some(Some(lines)) = shown.last_mut().map(|s| &mut s.output) {
                lines.push(line.to_string());
            }
        }
    }
    shown
}

/// A line with its check time (`, 0.9 ms` at the end) made `, <time>`:
/// the one part of `faultline check`'s output that changes run to run.
fn without_timing(line: &str) -> String {
    for unit in [" µs", " ms", " s"] {
        if let Some(rest) = line.strip_suffix(unit) {
            let head = rest.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
            if head.len() < rest.len() && head.ends_with(", ") {
                return format!("{head}<time>");
            }
        }
    }
    line.to_string()
}

/// Runs a command as `sh` would from the repository root, `faultline`
/// being the binary under test; returns the exit code and what it printed
/// (stderr and stdout together, as a terminal shows them).
fn run(command: &str) -> (Option<i32>, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_faultline"));
    let path = std::env::join_paths(std::iter::once(bin.parent().unwrap().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{command}"))
        .current_dir(root())
        .env("PATH", path)
        .output()
        .expect("runs sh");
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The exit code a verdict word gives.
fn exit_code(verdict: &str) -> Option<i32> {
    match verdict {
        "valid" => Some(0),
        "invalid" => Some(1),
        "unknown" => Some(2),
        _ => None,
    }
}

#[test]
fn every_readme_command_is_run_or_listed_with_its_reason() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let shown = commands(&readme);
    let mut problems = Vec::new();
    let mut checked = 0;
    for s in &shown {
        if !s.command.starts_with("faultline check ") {
            if !NOT_RUN.iter().any(|n| n.command == s.command) {
                problems.push(format!(
                    "README.md:{}: `{}` is neither run by this test nor listed in NOT_RUN with the reason",
                    s.line, s.command
                ));
            }
            continue;
        }
        checked += 1;
        let (code, out) = run(&s.command);
        let Some(want) = &s.output else {
            if !matches!(code, Some(0..=2)) {
                problems.push(format!(
                    "README.md:{}: `{}` exited {code:?}, not with a verdict:\n{out}",
                    s.line, s.command
                ));
            }
            continue;
        };
        let want: Vec<String> = want.iter().map(|l| without_timing(l)).collect();
        let got: Vec<String> = out.lines().map(without_timing).collect();
        if got != want {
            problems.push(format!(
                "README.md:{}: `{}` prints (timings as <time>):\n{}\nbut the README shows:\n{}",
                s.line,
                s.command,
                got.join("\n"),
                want.join("\n")
            ));
            continue;
        }
        let verdict = want.last().and_then(|l| l.split(':').next()).and_then(exit_code);
        if code != verdict {
            problems.push(format!(
                "README.md:{}: `{}` exited {code:?}; its last line's verdict says {verdict:?}",
                s.line, s.command
            ));
        }
    }
    for n in NOT_RUN {
        if !shown.iter().any(|s| s.command == n.command) {
            problems.push(format!(
                "NOT_RUN lists `{}`, which README.md no longer shows: remove it",
                n.command
            ));
        }
        if let Some((file, test)) = n.covered_by {
            let text = std::fs::read_to_string(root().join("harness/tests").join(file)).unwrap_or_default();
            if !text.contains(&format!("fn {test}(")) {
                problems.push(format!(
                    "NOT_RUN says harness/tests/{file} runs `{}` in {test}, which is not there",
                    n.command
                ));
            }
        }
        assert!(!n.reason.is_empty(), "every NOT_RUN entry says why");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(
        checked >= 2,
        "the README shows faultline check at work ({checked} commands run)"
    );
}

#[test]
fn example_histories_give_the_verdicts_their_readme_states() {
    let dir = root().join("examples/histories");
    let table = std::fs::read_to_string(dir.join("README.md")).unwrap();
    // Rows: | `file` | format | verdict ... | why |
    let rows: Vec<(String, &str)> = table
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((file.to_string(), cells.get(3)?.split(' ').next()?))
        })
        .collect();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f != "README.md")
        .collect();
    files.sort();
    let mut listed: Vec<String> = rows.iter().map(|(f, _)| f.clone()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "every example history has one row in its README, and no more"
    );
    for (file, verdict) in &rows {
        let (code, out) = run(&format!("faultline check examples/histories/{file}"));
        let want = exit_code(verdict).unwrap_or_else(|| panic!("{file}: verdict {verdict:?}"));
        assert_eq!(code, Some(want), "{file} should be {verdict}:\n{out}");
        assert!(
            out.starts_with(&format!("examples/histories/{file}  {verdict}  ")),
            "{out}"
        );
    }
}

#[test]
fn transcripts_and_sh_blocks_are_read_as_commands() {
    let text = "```sh\ncargo build \\\n  --release\n# a comment\n```\n\
                prose $ not a command\n\
                ```text\n$ faultline check a b\na  valid  x, 0.9 ms\nvalid: 1 file\n$ echo\n```\n\
                ```text\nnot output of echo\n```\n";
    let shown = commands(text);
    let got: Vec<_> = shown
        .iter()
        .map(|s| (s.line, s.command.as_str(), s.output.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "cargo build --release", None),
            (
                8,
                "faultline check a b",
                Some(vec!["a  valid  x, 0.9 ms".into(), "valid: 1 file".into()])
            ),
            (11, "echo", Some(vec![])),
        ]
    );
    assert_eq!(without_timing("a  valid  x, 0.9 ms"), "a  valid  x, <time>");
    assert_eq!(without_timing("a  valid  x, 12 s"), "a  valid  x, <time>");
    assert_eq!(
        without_timing("read 1 between t=3.000 ms and t=3.300 ms"),
        "read 1 between t=3.000 ms and t=3.300 ms"
    );
}
