//! `faultline bench --only client`: what the client protocol
//! (docs/client-protocol.md) costs. First a trivial program
//! (`examples/clients/echo.py`, no database: it answers at once) driven
//! directly — workers invoking through the protocol as fast as it
//! answers, no cluster, no history, no checker — so the figure is the
//! protocol's own ceiling. Then the same etcd workload through an etcd
//! client program and through the built-in Rust client, in one run, as
//! `faultline test` runs them (3 nodes, no faults, no rate limit).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use checkers::OpType;
use clap::{CommandFactory, FromArgMatches};
use workloads::external::{External, Open};
use workloads::generator::{Generator, Plan};
use workloads::Workload;

use crate::cli::{Cli, Command};
use crate::commands::cpu_seconds;
use crate::run::controller;

/// Workers of each trivial-client run.
const WORKERS: [usize; 2] = [10, 50];

/// A file shipped in the repository: under the working directory (the
/// repository root), else where this faultline was built from.
fn shipped(path: &str) -> Option<PathBuf> {
    [
        PathBuf::from(path),
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(path),
    ]
    .into_iter()
    .find(|p| p.exists())
    .and_then(|p| std::path::absolute(p).ok())
}

/// Both parts, `seconds` each run.
pub fn run(seconds: Duration, etcd_client: Option<String>) -> Result<()> {
    let Some(echo) = shipped("examples/clients/echo.py") else {
        bail!("examples/clients/echo.py is missing: run faultline bench from the repository root");
    };
    let rt = super::runtime()?;
    let dir = std::env::temp_dir().join(format!("faultline-bench-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let echo = External::new(format!("python3 {}", echo.display()), &dir);
    println!();
    println!(
        "client protocol: {} (answers at once, no database), driven directly: workers invoke cas-register \
         ops through the protocol as fast as it answers (no cluster, no history), {} s each",
        echo.command(),
        seconds.as_secs_f64()
    );
    println!("{:<8} {:>10} {:>15}", "workers", "ops/s", "faultline CPU");
    for workers in WORKERS {
        let (rate, cpu) = rt.block_on(drive(&echo, workers, seconds))?;
        println!("{workers:<8} {rate:>10.0} {:>14.0}%", cpu * 100.0);
    }
    std::fs::remove_dir_all(&dir)?;
    let program = etcd_client
        .or_else(|| shipped("examples/etcd/client.py").map(|p| format!("python3 {}", p.display())));
    match program {
        Some(program) => etcd(&rt, seconds, &program),
        None => {
            println!(
                "(no examples/etcd/client.py and no --etcd-client: the etcd comparison needs a client program)"
            );
            Ok(())
        }
    }
}

/// `workers` clients of `program`, each invoking its own generator's ops
/// for `seconds` once every program has started: completions per
/// second, and faultline's own CPU share meanwhile.
async fn drive(program: &External, workers: usize, seconds: Duration) -> Result<(f64, f64)> {
    let started = Arc::new(tokio::sync::Barrier::new(workers + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let mut client = program.client(Open {
            process: w as u64,
            node: "n1".into(),
            address: "127.0.0.1".into(),
            endpoint: "none".into(),
            endpoints: vec!["none".into()],
            workload: Workload::CasRegister,
            timeout: Duration::from_secs(5),
        });
        let (started, stop) = (started.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut ops = Generator::new(
                Workload::CasRegister,
                Plan {
                    seed: w as u64,
                    ..Plan::default()
                },
            );
            // The first op starts and opens the program.
            let first = client.invoke(&ops.next(0)).await;
            started.wait().await;
            let mut done = 0u64;
            let mut broken = (first.kind == OpType::Info).then_some(first.error);
            while broken.is_none() && !stop.load(Ordering::Relaxed) {
                let c = client.invoke(&ops.next(0)).await;
                if c.kind == OpType::Info || client.spent() {
                    broken = Some(c.error);
                }
                done += 1;
            }
            client.close().await;
            (done, broken.map(Option::unwrap_or_default))
        }));
    }
    started.wait().await;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    tokio::time::sleep(seconds).await;
    stop.store(true, Ordering::Relaxed);
    let (elapsed, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let mut total = 0;
    for t in tasks {
        let (done, broken) = t.await?;
        if let Some(why) = broken {
            bail!("a trivial client broke: {why}");
        }
        total += done;
    }
    Ok((total as f64 / elapsed, cpu / elapsed))
}

/// The etcd cas-register workload, 3 nodes, no faults, no rate limit, 10
/// workers: the built-in client and `program`, twice each in alternating
/// order (the best of each counts: the machine's noise only slows).
fn etcd(rt: &tokio::runtime::Runtime, seconds: Duration, program: &str) -> Result<()> {
    let store = std::env::temp_dir().join(format!("faultline-bench-etcd-{}", std::process::id()));
    let time = seconds.as_secs_f64().to_string();
    let store_arg = store.display().to_string();
    println!();
    println!("etcd cas-register, 3 nodes, no faults, 10 workers, no rate limit, {time} s runs");
    println!("{:<40} {:>10}  verdict", "client", "ops/s");
    let mut best = [0.0f64; 2];
    for (i, external) in [false, true, true, false].into_iter().enumerate() {
        let mut argv = vec!["faultline", "test", "--db", "etcd", "--nemesis", "none"];
        argv.extend(["--rate", "0", "--concurrency", "10", "--time-limit", &time]);
        argv.extend(["--store", &store_arg, "--seed", "1"]);
        if external {
            argv.extend(["--client", program]);
        }
        let name = format!("bench-etcd-{i}");
        argv.extend(["--name", &name]);
        let matches = Cli::command()
            .mut_subcommand("test", crate::systems::augment)
            .try_get_matches_from(&argv)?;
        let Command::Test(args) = Cli::from_arg_matches(&matches)?.command else {
            bail!("the bench's own command line is a test");
        };
        let cfg = crate::cli::config::config(&args, matches.subcommand_matches("test").expect("test"))?;
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        let out = rt.block_on(controller::run(&cfg, &argv))?;
        let label = if external { program } else { "built-in (Rust)" };
        println!("{label:<40} {:>10.0}  {}", out.ops_per_sec, out.verdict);
        let slot = &mut best[usize::from(external)];
        *slot = slot.max(out.ops_per_sec);
    }
    println!(
        "best: built-in {:.0} ops/s, client program {:.0} ops/s ({:.0}% of the built-in's)",
        best[0],
        best[1],
        best[1] / best[0].max(1e-9) * 100.0
    );
    std::fs::remove_dir_all(&store)?;
    Ok(())
}
