//! `faultline bench`: times the checkers and prints the numbers — per
//! shared history (best of several runs), the etcd and kv totals,
//! generated cas-register histories and generated list-append
//! transaction histories of growing size with their time and peak memory. It prints; it does not judge
//! (apart from flagging a wrong verdict, which would void the timing).

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use checkers::import;
use checkers::linearizable::{check, Options, Report};
use checkers::{History, ModelKind, Verdict};

use crate::cli::BenchArgs;
use crate::commands::check::peak_rss;
use crate::commands::{client_bench, cpu_seconds, synth};
use crate::demo::node::Mode;
use crate::error::UsageError;
use crate::node::Backend;
use crate::run::controller::{self, ClusterSpec, TestConfig};
use crate::systems::demo::DemoFlags;
use crate::systems::{self, Flags};

/// Resets the peak to the current resident size (Linux `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("?".into(), |b| format!("{:.0} MiB", b as f64 / (1 << 20) as f64))
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64() * 1e3)
}

fn check_best(history: &History, kind: ModelKind, repeat: usize) -> Result<(Report, f64)> {
    let mut best: Option<(Report, f64)> = None;
    for _ in 0..repeat.max(1) {
        let (report, ms) = timed(|| check(history, kind, None, &Options::default()));
        let report = report?;
        if best.as_ref().is_none_or(|(_, b)| ms < *b) {
            best = Some((report, ms));
        }
    }
    Ok(best.expect("at least one run"))
}

pub fn run(args: BenchArgs) -> Result<u8> {
    const PARTS: [&str; 6] = ["checker", "txn", "controller", "report", "proxy", "client"];
    if let Some(other) = args.only.as_deref().filter(|o| !PARTS.contains(o)) {
        return Err(UsageError(format!("--only {other}: expected one of {}", PARTS.join(", "))).into());
    }
    let part = |name: &str| args.only.as_deref().is_none_or(|o| o == name);
    let (checker, txn, controller, report, proxy, client) = (
        part("checker"),
        part("txn"),
        part("controller"),
        part("report"),
        part("proxy"),
        part("client"),
    );
    let mut wrong = 0;
    if checker {
        if args.histories.join("EXPECTED.tsv").exists() {
            wrong += shared(&args.histories, args.repeat)?;
        } else {
            println!(
                "(no {} — skipping the shared histories)",
                args.histories.join("EXPECTED.tsv").display()
            );
        }
        generated(args.ops, args.keys)?;
    }
    if txn {
        generated_txn(args.txns)?;
    }
    if controller {
        controller_throughput(Duration::from_secs_f64(args.seconds))?;
    }
    if report {
        report_size(args.ops, args.keys)?;
    }
    if proxy {
        proxy_overhead()?;
    }
    if client {
        client_bench::run(Duration::from_secs_f64(args.seconds), args.etcd_client)?;
    }
    if wrong > 0 {
        bail!("{wrong} shared histories got the wrong verdict");
    }
    Ok(0)
}

/// The demo cluster in correct mode, no faults, 64 clients, no rate
/// limit: throughput and the controller's own CPU use, with the history
/// written, not written, and written with live metrics served
/// (`--metrics-listen` on a free loopback port), in the same run.
fn controller_throughput(seconds: Duration) -> Result<()> {
    println!();
    println!(
        "controller against the demo cluster (correct mode, no faults, 64 clients, no rate limit, {} s runs)",
        seconds.as_secs_f64()
    );
    println!("{:<18} {:>10} {:>16}", "history", "ops/s", "controller CPU");
    let store = std::env::temp_dir().join(format!("faultline-bench-store-{}", std::process::id()));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Two rounds in alternating order; the best of each setting counts,
    // as the machine's noise only ever slows a run down.
    const SETTINGS: [&str; 3] = ["written", "not written", "with metrics"];
    let mut best = [0.0f64; 3];
    for setting in [0, 1, 2, 2, 1, 0] {
        let journal = setting != 1;
        let cfg = TestConfig {
            name: format!("bench-{}", SETTINGS[setting].replace(' ', "-")),
            workload: workloads::Workload::CasRegister,
            system: DemoFlags { mode: Mode::Correct }
                .system(&systems::Context {
                    nodes: 3,
                    existing: false,
                    faults: &[],
                })?
                .into(),
            cluster: ClusterSpec::Start {
                backend: Backend::Local {
                    count: 3,
                    namespaces: false,
                },
            },
            ops_per_key: 200,
            readers_per_key: 0,
            consistency_models: Vec::new(),
            faults: Vec::new(),
            schedule: nemesis::Schedule::parse("none").expect("none parses"),
            targets: nemesis::Target::Random,
            nemesis_interval: Duration::from_secs(1),
            time_limit: seconds,
            concurrency: 64,
            rate: None,
            op_timeout: Duration::from_secs(1),
            recovery: Duration::from_secs(1),
            seed: 1,
            store: store.clone(),
            proxies: false,
            journal,
            system_metrics: true,
            client: None,
            metrics_listen: (setting == 2).then(|| ([127, 0, 0, 1], 0).into()),
        };
        let (cpu0, wall0) = (cpu_seconds(), Instant::now());
        let out = rt.block_on(controller::run(&cfg, &[]))?;
        let cpu = (cpu_seconds() - cpu0) / wall0.elapsed().as_secs_f64();
        println!(
            "{:<18} {:>10.0} {:>15.0}%",
            SETTINGS[setting],
            out.ops_per_sec,
            cpu * 100.0
        );
        best[setting] = best[setting].max(out.ops_per_sec);
    }
    let cost = |with: f64, without: f64| (1.0 - with / without).max(0.0) * 100.0;
    println!(
        "best: {:.0} ops/s written, {:.0} not written, {:.0} with metrics; writing the history costs {:.1}% of throughput, live metrics {:.1}%",
        best[0],
        best[1],
        best[2],
        cost(best[0], best[1]),
        cost(best[2], best[0])
    );
    std::fs::remove_dir_all(&store)?;
    Ok(())
}

fn shared(dir: &Path, repeat: usize) -> Result<usize> {
    let table = std::fs::read_to_string(dir.join("EXPECTED.tsv")).context("reading EXPECTED.tsv")?;
    println!("shared histories (best of {repeat} runs each)");
    println!(
        "{:<22} {:>6} {:>9} {:>10} {:>9} {:>8}",
        "file", "ops", "parse ms", "check ms", "verdict", "peak"
    );
    let (mut etcd_total, mut etcd_max, mut etcd_max_file) = (0.0f64, 0.0f64, String::new());
    let mut etcd_files = Vec::new();
    let mut wrong = 0;
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (file, expected) = line.split_once('\t').context("EXPECTED.tsv: file<TAB>verdict")?;
        reset_peak();
        let (imported, parse_ms) = timed(|| import::read_file(&dir.join(file), None));
        let (history, format) = imported?;
        let kind = ModelKind::default_for(format, std::iter::empty());
        let (report, ms) = check_best(&history, kind, repeat)?;
        let ok = report.verdict.to_string() == expected.trim();
        if !ok {
            wrong += 1;
        }
        if file.starts_with("jepsen/") {
            etcd_files.push(dir.join(file));
            etcd_total += ms;
            if ms > etcd_max {
                etcd_max = ms;
                etcd_max_file = file.to_string();
            }
        }
        let undecided = report
            .partitions
            .iter()
            .filter(|p| p.verdict == Verdict::Unknown)
            .count();
        println!(
            "{:<22} {:>6} {:>9.2} {:>10.3} {:>9} {:>8}{}{}",
            file,
            report.ops,
            parse_ms,
            ms,
            report.verdict,
            mib(peak_rss()),
            if ok { "" } else { "  WRONG VERDICT" },
            if undecided > 0 {
                format!("  {undecided} keys undecided")
            } else {
                String::new()
            }
        );
    }
    println!("etcd logs: {etcd_total:.2} ms in total, slowest {etcd_max_file} at {etcd_max:.3} ms");
    // What a user sees: all the logs in one `faultline check` process,
    // start-up, reading, checking and printing included.
    let exe = std::env::current_exe().context("locating faultline")?;
    let mut best = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let status = std::process::Command::new(&exe)
            .arg("check")
            .args(&etcd_files)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        best = best.min(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(
            status.code() == Some(1),
            "faultline check of the etcd logs ended {status}"
        );
    }
    println!(
        "the {} etcd logs as one `faultline check` process: {best:.1} ms, {:.2}x the in-process check time",
        etcd_files.len(),
        best / etcd_total
    );
    Ok(wrong)
}

/// Writes each generated history to a file and checks it with a child
/// `faultline check`, as a user would: the time includes reading and
/// parsing, and the peak memory is the child's own.
/// A generated history checked by a child `faultline check`: its wall
/// time, peak memory and verdict.
struct ChildRun {
    ms: f64,
    /// The check alone, as the child timed it.
    check_ms: Option<f64>,
    peak: Option<u64>,
    verdict: &'static str,
    stdout: String,
    stderr: String,
}

/// Writes `history` as JSONL to `file` and checks it with a child
/// `faultline check --json ARGS FILE` for each set of ARGS in `runs`,
/// `CHILD_RUNS` times each; the fastest run of each (a short run's time
/// swings with whatever else the machine does). The child says its own
/// peak: the kernel's count for children starts from the parent's size
/// at the spawn, and this parent holds the generated history.
fn check_in_child(history: &History, file: &Path, runs: &[Vec<&str>]) -> Result<Vec<ChildRun>> {
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
        for op in &history.ops {
            serde_json::to_writer(&mut out, op)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    let mut fastest = Vec::with_capacity(runs.len());
    for args in runs {
        let mut best: Option<ChildRun> = None;
        for _ in 0..CHILD_RUNS {
            let run = child_check(file, args)?;
            if best.as_ref().is_none_or(|b| run.ms < b.ms) {
                best = Some(run);
            }
        }
        fastest.push(best.expect("CHILD_RUNS is at least 1"));
    }
    std::fs::remove_file(file)?;
    Ok(fastest)
}

/// The thread counts every generated history is checked with: the
/// whole process on one core, then on two.
const THREADS: [&str; 2] = ["1", "2"];

/// `args` with each of [`THREADS`].
fn thread_runs<'a>(args: &[&'a str]) -> Vec<Vec<&'a str>> {
    THREADS
        .iter()
        .map(|t| [args, &["--threads", t]].concat())
        .collect()
}

/// The lines under a bigger history's runs: how time grew with size at
/// each thread count, and what the second thread bought.
fn scaling(what: &str, n: usize, small: &[ChildRun], big: &[ChildRun]) -> String {
    format!(
        "10x the {what} cost {:.1}x the time on 1 thread, {:.1}x on 2\n\
         {n} {what}: --threads 2 is {:.2}x as fast as --threads 1 (whole process, same run)",
        big[0].ms / small[0].ms,
        big[1].ms / small[1].ms,
        big[0].ms / big[1].ms
    )
}

/// How often `check_in_child` checks each file.
const CHILD_RUNS: usize = 3;

/// One child `faultline check --json ARGS FILE`.
fn child_check(file: &Path, args: &[&str]) -> Result<ChildRun> {
    let exe = std::env::current_exe().context("locating faultline")?;
    let started = Instant::now();
    let child = std::process::Command::new(&exe)
        .args(["check", "--json"])
        .args(args)
        .arg(file)
        .output()
        .context("running faultline check")?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let out: serde_json::Value = serde_json::from_slice(&child.stdout).unwrap_or_default();
    let peak = out["peak_rss"].as_u64();
    let check_ms = out["files"][0]["elapsed_ms"].as_f64();
    let verdict = match child.status.code() {
        Some(0) => "valid",
        Some(1) => "invalid",
        Some(2) => "unknown",
        _ => "error",
    };
    Ok(ChildRun {
        ms,
        check_ms,
        peak,
        verdict,
        stdout: String::from_utf8_lossy(&child.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&child.stderr).into_owned(),
    })
}

fn generated(ops: usize, keys: usize) -> Result<()> {
    println!();
    println!("generated cas-register histories over {keys} keys, checked by a child `faultline check` (best of {CHILD_RUNS})");
    println!(
        "{:>9} {:>8} {:>10} {:>9} {:>11}",
        "ops", "threads", "total ms", "verdict", "peak RSS"
    );
    let dir = std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut small = None;
    for n in [ops / 10, ops] {
        let history = synth::cas_register(n, keys, 42);
        let runs = check_in_child(
            &history,
            &dir.join(format!("cas-{n}.jsonl")),
            &thread_runs(&["--model", "cas-register"]),
        )?;
        for (run, threads) in runs.iter().zip(THREADS) {
            println!(
                "{n:>9} {threads:>8} {:>10.0} {:>9} {:>11}",
                run.ms,
                run.verdict,
                mib(run.peak)
            );
            if run.verdict != "valid" {
                bail!(
                    "the generated history is linearizable by construction but faultline check said {}: {}",
                    run.verdict,
                    run.stderr
                );
            }
        }
        match &small {
            None => small = Some(runs),
            Some(s) => println!("{}", scaling("ops", n, s, &runs)),
        }
    }
    std::fs::remove_dir(&dir)?;
    Ok(())
}

/// Generated list-append histories of `txns / 10` and `txns`
/// transactions, checked for strict serializability by a child
/// `faultline check`: wall time (reading the file included), the check's
/// own time, and peak memory.
fn generated_txn(txns: usize) -> Result<()> {
    println!();
    println!("generated list-append histories (strict serializable), checked by a child `faultline check` (best of {CHILD_RUNS})");
    println!(
        "{:>9} {:>8} {:>10} {:>10} {:>12} {:>9} {:>11}",
        "txns", "threads", "total ms", "check ms", "txns/s", "verdict", "peak RSS"
    );
    let dir = std::env::temp_dir().join(format!("faultline-bench-txn-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut small = None;
    for n in [txns / 10, txns] {
        let history = synth::list_append(n, 42);
        let runs = check_in_child(
            &history,
            &dir.join(format!("append-{n}.jsonl")),
            &thread_runs(&["--model", "list-append"]),
        )?;
        for (run, threads) in runs.iter().zip(THREADS) {
            println!(
                "{n:>9} {threads:>8} {:>10.0} {:>10} {:>12.0} {:>9} {:>11}",
                run.ms,
                run.check_ms.map_or("?".into(), |m| format!("{m:.0}")),
                n as f64 / (run.ms / 1e3),
                run.verdict,
                mib(run.peak)
            );
            if run.verdict != "valid" {
                bail!(
                    "the generated history is strictly serializable by construction but faultline check said {}: {}{}",
                    run.verdict,
                    run.stdout,
                    run.stderr
                );
            }
        }
        match &small {
            None => small = Some(runs),
            Some(s) => println!("{}", scaling("transactions", n, s, &runs)),
        }
    }
    std::fs::remove_dir(&dir)?;
    Ok(())
}

/// Report generation for a generated history: the time to write
/// report.html, the plots and junit.xml, and their sizes.
fn report_size(ops: usize, keys: usize) -> Result<()> {
    println!();
    println!("reports for a generated {ops}-operation history over {keys} keys");
    let history = synth::cas_register(ops, keys, 7);
    let report = check(&history, ModelKind::CasRegister, None, &Options::default())?;
    let dir = std::env::temp_dir().join(format!("faultline-bench-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let checker = reports::CheckerView {
        name: "linearizable".into(),
        verdict: report.verdict,
        sentence: crate::run::verdicts::linearizable_sentence(&report),
    };
    let details = serde_json::to_value(&report)?;
    let started = Instant::now();
    crate::run::verdicts::write_reports(
        &dir,
        "bench".into(),
        None,
        &history,
        checker,
        details,
        crate::run::verdicts::Detail::Linearizable(&report),
    )?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let mut total = 0;
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let size = entry.metadata()?.len();
        total += size;
        println!(
            "  {:<24} {:>9.1} KiB",
            entry.file_name().to_string_lossy(),
            size as f64 / 1024.0
        );
    }
    println!(
        "written in {ms:.0} ms, {:.1} MiB in all",
        total as f64 / (1 << 20) as f64
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// What a proxy (`nemesis::proxy`, no fault set) costs a connection to
/// an echo server on loopback: round-trip latency of small messages and
/// bulk throughput, against the same server reached directly, in one
/// run.
fn proxy_overhead() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const ROUND_TRIPS: usize = 20_000;
    const BULK: usize = 256 << 20;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let server = TcpListener::bind("127.0.0.1:0").await?;
        let target = server.local_addr()?;
        tokio::spawn(async move {
            while let Ok((s, _)) = server.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let proxy =
            nemesis::proxy::Proxy::start("127.0.0.1:0".parse()?, target, &tokio::runtime::Handle::current())?;
        println!(
            "\nproxy overhead: echo server on loopback, {ROUND_TRIPS} round trips of 64 bytes, {} MiB echoed",
            BULK >> 20
        );
        println!(
            "{:<10} {:>12} {:>12} {:>12}",
            "path", "median RTT", "p99 RTT", "MiB/s"
        );
        let mut medians = Vec::new();
        for (name, addr) in [("direct", target), ("proxy", proxy.addr())] {
            let mut s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let msg = [7u8; 64];
            let mut got = [0u8; 64];
            let mut rtts = Vec::with_capacity(ROUND_TRIPS);
            for _ in 0..ROUND_TRIPS {
                let t = Instant::now();
                s.write_all(&msg).await?;
                s.read_exact(&mut got).await?;
                rtts.push(t.elapsed().as_secs_f64() * 1e6);
            }
            rtts.sort_by(f64::total_cmp);
            let (median, p99) = (rtts[rtts.len() / 2], rtts[rtts.len() * 99 / 100]);
            medians.push(median);
            let (mut r, mut w) = s.into_split();
            let t = Instant::now();
            let writer = tokio::spawn(async move {
                let chunk = vec![1u8; 64 << 10];
                for _ in 0..BULK / chunk.len() {
                    w.write_all(&chunk).await?;
                }
                anyhow::Ok(())
            });
            let mut buf = vec![0u8; 64 << 10];
            let mut read = 0;
            while read < BULK {
                let n = r.read(&mut buf).await?;
                if n == 0 {
                    bail!("the echo server closed the connection");
                }
                read += n;
            }
            writer.await??;
            let mibs = (BULK >> 20) as f64 / t.elapsed().as_secs_f64();
            println!("{name:<10} {median:>9.1} us {p99:>9.1} us {mibs:>12.0}");
        }
        println!(
            "the proxy adds {:.1} us to the median round trip",
            medians[1] - medians[0]
        );
        Ok(())
    })
}
