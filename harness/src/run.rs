//! `faultline test`, `faultline analyze` and `faultline cleanup`: turn
//! flags into a validated `TestConfig`, run it, and print the verdict, the
//! anomaly in one sentence and the run folder.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use checkers::Verdict;
use workloads::Workload;

use crate::cli::{AnalyzeArgs, ServeArgs, TestArgs, UsageError};
use crate::controller::{self, Access, ClusterSpec, TestConfig};
use crate::existing::Find;
use crate::node::{ssh, Backend};
use crate::{cleanup, netns, store, systems, verdicts};

fn seconds(flag: &str, v: f64) -> Result<Duration, UsageError> {
    if v.is_finite() && v > 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(UsageError(format!(
            "--{flag} {v}: expected a positive number of seconds"
        )))
    }
}

fn config(args: &TestArgs, matches: &clap::ArgMatches) -> Result<TestConfig, UsageError> {
    let workload: Workload = args.workload.parse().map_err(UsageError)?;
    let existing = !args.endpoints.is_empty();
    let nemesis = args
        .nemesis
        .as_deref()
        .unwrap_or(if existing { "none" } else { "kill,pause" });
    let mut schedule =
        nemesis::Schedule::parse(nemesis).map_err(|e| UsageError(format!("--nemesis: {e}")))?;
    let faults = schedule.faults();
    // Nodes named by host are reached over SSH; with --endpoints they
    // are the existing cluster's, for faults.
    let ssh_nodes = args.nodes_file.is_some() || args.nodes.trim().parse::<usize>().is_err();
    if existing && !faults.is_empty() && !ssh_nodes {
        return Err(UsageError(
            "--nemesis with --endpoints: faultline did not start that cluster and cannot kill, pause or \
             partition its nodes without access to them; give them with --nodes or --nodes-file (SSH; \
             endpoint i on node i), use --nemesis none, or let faultline start a cluster (drop --endpoints)"
                .into(),
        ));
    }
    if (args.db_pid_file.is_some() || args.db_process.is_some()) && !(existing && ssh_nodes) {
        return Err(UsageError(
            "--db-pid-file and --db-process find the processes of an existing cluster (--endpoints) on its \
             nodes (--nodes or --nodes-file)"
                .into(),
        ));
    }
    let mut backend = backend(args)?;
    let nodes = if existing {
        args.endpoints.len()
    } else {
        backend.count()
    };
    if existing && ssh_nodes && backend.count() != nodes {
        return Err(UsageError(format!(
            "--endpoints gives {nodes} and --nodes {}: endpoint i must be served by node i, one each",
            backend.count()
        )));
    }
    let system = systems::configure(
        &args.db,
        matches,
        &systems::Context {
            nodes,
            existing,
            // `all` drops what the system refuses instead of failing.
            faults: if schedule.all { &[] } else { &faults },
        },
    )?;
    if let (Some(n), false) = (system.nodes(), existing) {
        let given = matches.value_source("nodes") == Some(clap::parser::ValueSource::CommandLine)
            || args.nodes_file.is_some();
        match &mut backend {
            Backend::Local { count, .. } if !given => *count = n,
            b if b.count() != n => {
                return Err(UsageError(format!(
                    "--db {} runs {n} node{}: use --nodes {n}",
                    args.db,
                    if n == 1 { "" } else { "s" }
                )))
            }
            _ => {}
        }
    }
    // Under `all`, what the system or the nodes cannot take is left out
    // (said with the rest once the cluster's own powers are known).
    schedule.leave_out(|f| {
        system
            .refuses(f)
            .or_else(|| impossible_here(f, &backend, &*system))
    });
    let faults = schedule.faults();
    local_namespaces(&mut backend, &*system, &faults)?;
    let targets = args
        .nemesis_targets
        .parse()
        .map_err(|e| UsageError(format!("--nemesis-targets: {e}")))?;
    if !system.workloads().contains(&workload) {
        let names: Vec<&str> = system.workloads().iter().map(|w| w.name()).collect();
        return Err(UsageError(format!(
            "--db {} runs the {} workloads, not {workload}",
            args.db,
            names.join(", ")
        )));
    }
    let cluster = if existing {
        let endpoints = args
            .endpoints
            .iter()
            .map(|e| {
                system
                    .endpoint(e)
                    .map_err(|expected| UsageError(format!("--endpoints {e}: expected {expected}")))
            })
            .collect::<Result<_, _>>()?;
        let find = match (&args.db_pid_file, &args.db_process) {
            (Some(f), _) => Some(Find::PidFile(f.clone())),
            (None, Some(p)) => Some(Find::Process(p.clone())),
            (None, None) => None,
        };
        let access = ssh_nodes.then_some(Access { backend, find });
        ClusterSpec::Existing { endpoints, access }
    } else {
        if let (Backend::Ssh { .. }, Some(why)) = (&backend, system.loopback_only()) {
            return Err(UsageError(format!("--nodes: {why}; it cannot run over SSH")));
        }
        ClusterSpec::Start { backend }
    };
    if args.concurrency == 0 || nodes == 0 || args.test_count == 0 || args.ops_per_key == 0 {
        return Err(UsageError(
            "--concurrency, --nodes, --test-count and --ops-per-key must be at least 1".into(),
        ));
    }
    // Groups are four workers (Plan's default); at least one must write.
    if args.readers_per_key > 3 {
        return Err(UsageError(format!(
            "--readers-per-key {}: at most 3 (each key has 4 workers, and one must write)",
            args.readers_per_key
        )));
    }
    if nodes > 200 {
        return Err(UsageError(format!("--nodes {nodes}: at most 200")));
    }
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        return Err(UsageError(format!(
            "--rate {}: expected operations per second, or 0",
            args.rate
        )));
    }
    let consistency_models = args
        .consistency_models
        .iter()
        .map(|m| m.parse::<checkers::txn::Model>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UsageError(format!("--consistency-models: {e}")))?;
    if !consistency_models.is_empty() && !matches!(workload.judge(), workloads::workload::Judge::Txn(_)) {
        return Err(UsageError(format!(
            "--consistency-models applies to the transactional workloads (list-append, rw-register), not {workload}"
        )));
    }
    let variant = if existing {
        format!("existing-{}", system.variant())
    } else {
        system.variant()
    };
    if existing && args.proxy {
        return Err(UsageError(
            "--proxy goes with clusters faultline starts: an existing cluster's peers cannot be pointed at its proxies".into(),
        ));
    }
    let proxies = args.proxy || faults.iter().any(|f| f.is_proxied());
    Ok(TestConfig {
        name: args
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{workload}-{variant}", args.db)),
        workload,
        recovery: match args.recovery {
            Some(r) => seconds("recovery", r)?,
            None => system.recovery(),
        },
        system: system.into(),
        cluster,
        faults,
        schedule,
        targets,
        nemesis_interval: seconds("nemesis-interval", args.nemesis_interval)?,
        time_limit: seconds("time-limit", args.time_limit)?,
        concurrency: args.concurrency,
        rate: (args.rate > 0.0).then_some(args.rate),
        op_timeout: seconds("op-timeout", args.op_timeout)?,
        ops_per_key: args.ops_per_key,
        readers_per_key: args.readers_per_key,
        consistency_models: if consistency_models.is_empty() {
            checkers::txn::Options::default().models
        } else {
            consistency_models
        },
        seed: args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        }),
        // Absolute, so node command lines (and cleanup) do not depend on
        // the working directory.
        store: std::path::absolute(&args.store)
            .map_err(|e| UsageError(format!("--store {}: {e}", args.store.display())))?,
        proxies,
        journal: !args.no_journal,
    })
}

/// Where the nodes are: `--nodes N` on this machine (a namespace each
/// when it allows them; network faults need them), or hosts over SSH.
/// Local nodes keep their namespaces only where the system can live in
/// them; network faults need them.
fn local_namespaces(
    backend: &mut Backend,
    system: &dyn systems::System,
    faults: &[nemesis::Fault],
) -> Result<(), UsageError> {
    let Backend::Local { namespaces, .. } = backend else {
        return Ok(());
    };
    if system.loopback_only().is_some() {
        *namespaces = false;
    } else if let Some(why) = netns::unavailable() {
        if faults.iter().any(|f| f.is_network()) {
            return Err(UsageError(format!("--nemesis partition/loss: {why}")));
        }
    }
    Ok(())
}

/// Why `fault` cannot act on nodes reached by `backend`, if it cannot (for
/// `--nemesis all`; the system's own powers are asked once it runs):
/// network faults need a namespace per node or machines of their own,
/// faultline's proxies and lossy filesystems nodes on this machine (the
/// latter root and FUSE too).
fn impossible_here(fault: nemesis::Fault, backend: &Backend, system: &dyn systems::System) -> Option<String> {
    let local = matches!(backend, Backend::Local { .. });
    if fault.is_network() && local {
        return system
            .loopback_only()
            .map(|why| why.to_string())
            .or_else(netns::unavailable);
    }
    match fault {
        f if f.is_proxied() && !local => Some("faultline's proxies serve nodes on this machine only".into()),
        nemesis::Fault::LoseUnsynced if !local => {
            Some("the lossy filesystem serves nodes on this machine only".into())
        }
        nemesis::Fault::LoseUnsynced
            if !nix::unistd::geteuid().is_root() || !std::path::Path::new("/dev/fuse").exists() =>
        {
            Some("the lossy filesystem needs root and /dev/fuse".into())
        }
        _ => None,
    }
}

/// Local nodes get namespaces where the machine allows them (and the
/// system can live in them: see `local_namespaces`).
fn backend(args: &TestArgs) -> Result<Backend, UsageError> {
    let targets = match (&args.nodes_file, args.nodes.trim().parse::<usize>()) {
        (Some(file), _) => ssh::read_nodes_file(file).map_err(|e| UsageError(format!("--nodes-file {e}")))?,
        (None, Ok(count)) => {
            return Ok(Backend::Local {
                count,
                namespaces: netns::unavailable().is_none(),
            })
        }
        (None, Err(_)) => args
            .nodes
            .split(',')
            .map(|n| ssh::Target::parse(n).map_err(|e| UsageError(format!("--nodes {e}"))))
            .collect::<Result<_, _>>()?,
    };
    if let Some(bad) = args.ssh_option.iter().find(|o| !o.contains('=')) {
        return Err(UsageError(format!(
            "--ssh-option {bad}: expected KEY=VALUE, as ssh -o takes it"
        )));
    }
    Ok(Backend::Ssh {
        targets,
        ssh: ssh::Ssh {
            user: args.ssh_user.clone(),
            port: args.ssh_port,
            key: args.ssh_key.clone(),
            options: args.ssh_option.clone(),
            control_dir: PathBuf::new(),
        },
        remote_dir: args.remote_dir.clone(),
    })
}

/// The cluster in words, for the opening line.
fn describe(cfg: &TestConfig) -> String {
    match &cfg.cluster {
        ClusterSpec::Start { backend } => format!("{} ({})", cfg.system.describe(), backend.describe()),
        ClusterSpec::Existing { endpoints, access } => format!(
            "an existing {} cluster ({} endpoint{}; {}) that faultline did not start: {}",
            cfg.system.name(),
            endpoints.len(),
            if endpoints.len() == 1 { "" } else { "s" },
            cfg.system.describe(),
            match access {
                None => "no faults are injected".to_string(),
                Some(a) => format!("faults through {}", a.backend.describe()),
            }
        ),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

pub fn test(args: TestArgs, matches: &clap::ArgMatches) -> Result<u8> {
    let mut cfg = config(&args, matches)?;
    let argv: Vec<String> = std::env::args().collect();
    let rt = runtime()?;
    let mut verdicts = Vec::new();
    for i in 0..args.test_count {
        if i > 0 {
            cfg.seed = cfg.seed.wrapping_add(1);
        }
        eprintln!(
            "faultline test: {} on {}, faults: {}, {} s, seed {}",
            cfg.workload,
            describe(&cfg),
            cfg.schedule.describe(),
            cfg.time_limit.as_secs_f64(),
            cfg.seed
        );
        let out = rt.block_on(controller::run(&cfg, &argv))?;
        println!(
            "{}: {} ({} ops, {:.0} ops/s{})",
            out.verdict,
            out.sentence,
            out.completions,
            out.ops_per_sec,
            if out.interrupted { ", interrupted" } else { "" }
        );
        println!("run folder: {}", out.dir.display());
        // The verdict stands, but a node left unhealed is an error the
        // exit code must carry.
        if let Some(left) = out.left_behind {
            eprintln!("error: tearing the cluster down: {left}");
            return Ok(crate::INTERNAL);
        }
        verdicts.push(out.verdict);
        if out.interrupted {
            break;
        }
    }
    Ok(Verdict::compose(verdicts).exit_code() as u8)
}

pub fn analyze(args: AnalyzeArgs) -> Result<u8> {
    let dir: PathBuf = match args.run {
        Some(d) => d,
        None => store::latest(&args.store)?,
    };
    let test: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join(store::TEST))
            .with_context(|| format!("reading {}", dir.join(store::TEST).display()))?,
    )?;
    let Some(workload) = test["config"]["workload"].as_str() else {
        bail!("{}: no config.workload", dir.join(store::TEST).display());
    };
    let workload: Workload = workload.parse().map_err(UsageError)?;
    let judged = verdicts::judge(&dir, workload)?;
    println!("{}: {}", judged.verdict, judged.sentence);
    println!("run folder: {}", dir.display());
    Ok(judged.verdict.exit_code() as u8)
}

pub fn serve(args: ServeArgs) -> Result<u8> {
    let addr = std::net::SocketAddr::new(args.bind, args.port);
    runtime()?.block_on(crate::serve::serve(&args.store, addr))?;
    Ok(0)
}

pub fn cleanup() -> Result<u8> {
    let done = cleanup::cleanup(true)?;
    if done.is_empty() {
        println!("nothing to clean up");
    }
    for line in done {
        println!("{line}");
    }
    Ok(0)
}
