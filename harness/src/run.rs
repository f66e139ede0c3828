//! `faultline test`, `faultline analyze` and `faultline cleanup`: turn
//! flags into a validated `TestConfig`, run it, and print the verdict, the
//! anomaly in one sentence and the run folder.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use checkers::Verdict;
use workloads::Workload;

use crate::cli::{AnalyzeArgs, ServeArgs, TestArgs, UsageError};
use crate::controller::{self, DbChoice, TestConfig};
use crate::existing::{Remote, TlsFiles};
use crate::{cleanup, netns, store, verdicts};
use workloads::consul::Consistency;
use workloads::etcd::Reads;
use workloads::zookeeper::Reads as ZkReads;

fn seconds(flag: &str, v: f64) -> Result<Duration, UsageError> {
    if v.is_finite() && v > 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(UsageError(format!(
            "--{flag} {v}: expected a positive number of seconds"
        )))
    }
}

fn config(args: &TestArgs) -> Result<TestConfig, UsageError> {
    let workload: Workload = args.workload.parse().map_err(UsageError)?;
    let existing = !args.endpoints.is_empty();
    let nemesis = args
        .nemesis
        .as_deref()
        .unwrap_or(if existing { "none" } else { "kill,pause" });
    let faults = nemesis::parse_faults(nemesis).map_err(|e| UsageError(format!("--nemesis: {e}")))?;
    if existing && !faults.is_empty() {
        return Err(UsageError(
            "--nemesis with --endpoints: faultline did not start that cluster and cannot kill, pause or \
             partition its nodes; use --nemesis none, or let faultline start a cluster (drop --endpoints)"
                .into(),
        ));
    }
    let tls = TlsFiles {
        cacert: args.cacert.clone(),
        cert: args.cert.clone(),
        key: args.key.clone(),
    };
    if !existing && tls != TlsFiles::default() {
        return Err(UsageError(
            "--cacert, --cert and --key go with --endpoints".into(),
        ));
    }
    let targets = args
        .nemesis_targets
        .parse()
        .map_err(|e| UsageError(format!("--nemesis-targets: {e}")))?;
    let network_faults = faults.iter().any(|f| f.is_network());
    if faults.contains(&nemesis::Fault::Clock) {
        if args.db != "zookeeper" {
            return Err(UsageError(format!(
                "--nemesis clock: faultline moves a node's clock with libfaketime, which only JVMs honour; \
                 use --db zookeeper (--db {} cannot take it; the machine's own clock is never touched)",
                args.db
            )));
        }
        if let Some(why) = crate::zookeeper::clock_unavailable() {
            return Err(UsageError(format!("--nemesis clock: {why}")));
        }
    }
    let supported: &[Workload] = match args.db.as_str() {
        "demo" => &[Workload::Register, Workload::CasRegister, Workload::Set],
        "etcd" => &[Workload::Register, Workload::CasRegister],
        // Redis has no compare-and-set here.
        "redis" => &[Workload::Register, Workload::Set],
        "zookeeper" | "consul" => &[Workload::Register, Workload::CasRegister, Workload::Lock],
        _ => &Workload::ALL,
    };
    if !supported.contains(&workload) {
        let names: Vec<&str> = supported.iter().map(|w| w.name()).collect();
        return Err(UsageError(format!(
            "--db {} runs the {} workloads, not {workload}",
            args.db,
            names.join(", ")
        )));
    }
    // Local clusters get a namespace per node when this machine allows
    // it; network faults need them.
    let namespaces = || match netns::unavailable() {
        Some(why) if network_faults => Err(UsageError(format!("--nemesis partition/loss: {why}"))),
        why => Ok(why.is_none()),
    };
    let (db, variant) = match args.db.as_str() {
        "demo" if existing => {
            return Err(UsageError(
                "--endpoints: faultline talks to existing etcd, zookeeper, redis or consul clusters; \
                 add --db with the system"
                    .into(),
            ))
        }
        "demo" => {
            if network_faults {
                return Err(UsageError(
                    "--nemesis partition/loss: the demo cluster runs on loopback without network namespaces; \
                     use --db etcd for network faults, or --nemesis kill,pause"
                        .into(),
                ));
            }
            let mode = serde_json::to_value(args.mode)
                .ok()
                .and_then(|v| v.as_str().map(String::from));
            (DbChoice::Demo(args.mode), mode.unwrap_or_default())
        }
        system @ ("etcd" | "zookeeper" | "redis" | "consul") if existing => {
            let (remote, variant) = match system {
                "etcd" => (
                    Remote::Etcd(parse_reads(&args.etcd_reads)?),
                    args.etcd_reads.as_str(),
                ),
                "zookeeper" => (
                    Remote::Zookeeper(zookeeper_reads(args)?),
                    args.zookeeper_reads.as_str(),
                ),
                "redis" => (Remote::Redis(redis_wait(args)?), "sentinel"),
                _ => (Remote::Consul(consul_reads(args)?), args.consul_reads.as_str()),
            };
            if tls != TlsFiles::default() && system != "etcd" {
                return Err(UsageError(format!(
                    "--cacert, --cert and --key: TLS is supported for etcd, not {system}"
                )));
            }
            (
                DbChoice::Existing {
                    endpoints: endpoints(system, &args.endpoints)?,
                    remote,
                    tls,
                },
                format!("existing-{variant}"),
            )
        }
        "etcd" => (
            DbChoice::Etcd {
                reads: parse_reads(&args.etcd_reads)?,
                namespaces: namespaces()?,
            },
            args.etcd_reads.clone(),
        ),
        "consul" => {
            let Some(bin) = crate::consul::find_binary(args.consul_bin.as_deref()) else {
                return Err(UsageError(match &args.consul_bin {
                    Some(p) => format!("--consul-bin {}: no such file", p.display()),
                    None => "--db consul: no consul binary. Consul is not packaged for Debian, so faultline cannot \
                             install it: put HashiCorp's `consul` on PATH or pass --consul-bin /path/to/consul \
                             (or test a running cluster with --endpoints)"
                        .into(),
                }));
            };
            (
                DbChoice::Consul {
                    bin,
                    reads: consul_reads(args)?,
                    namespaces: namespaces()?,
                },
                args.consul_reads.clone(),
            )
        }
        "redis" => {
            let wait = redis_wait(args)?;
            (
                DbChoice::Redis {
                    namespaces: namespaces()?,
                    wait,
                },
                wait.map_or("sentinel".to_string(), |n| format!("sentinel-wait{n}")),
            )
        }
        "zookeeper" => (
            DbChoice::Zookeeper {
                reads: zookeeper_reads(args)?,
                namespaces: namespaces()?,
            },
            args.zookeeper_reads.clone(),
        ),
        other => {
            return Err(UsageError(format!(
                "--db {other}: expected demo, etcd, zookeeper, redis or consul"
            )))
        }
    };
    if args.concurrency == 0 || args.nodes == 0 || args.test_count == 0 || args.ops_per_key == 0 {
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
    if args.nodes > 200 {
        return Err(UsageError(format!("--nodes {}: at most 200", args.nodes)));
    }
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        return Err(UsageError(format!(
            "--rate {}: expected operations per second, or 0",
            args.rate
        )));
    }
    Ok(TestConfig {
        name: args
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{workload}-{variant}", args.db)),
        workload,
        db,
        nodes: args.nodes,
        faults,
        targets,
        nemesis_interval: seconds("nemesis-interval", args.nemesis_interval)?,
        time_limit: seconds("time-limit", args.time_limit)?,
        concurrency: args.concurrency,
        rate: (args.rate > 0.0).then_some(args.rate),
        op_timeout: seconds("op-timeout", args.op_timeout)?,
        recovery: seconds(
            "recovery",
            args.recovery
                .unwrap_or(if args.db == "redis" { 12.0 } else { 2.0 }),
        )?,
        ops_per_key: args.ops_per_key,
        readers_per_key: args.readers_per_key,
        seed: args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        }),
        // Absolute, so node command lines (and cleanup) do not depend on
        // the working directory.
        store: std::path::absolute(&args.store)
            .map_err(|e| UsageError(format!("--store {}: {e}", args.store.display())))?,
        journal: !args.no_journal,
    })
}

fn parse_reads(s: &str) -> Result<Reads, UsageError> {
    match s {
        "linearizable" => Ok(Reads::Linearizable),
        "serializable" => Ok(Reads::Serializable),
        other => Err(UsageError(format!(
            "--etcd-reads {other}: expected linearizable or serializable"
        ))),
    }
}

fn zookeeper_reads(args: &TestArgs) -> Result<ZkReads, UsageError> {
    match args.zookeeper_reads.as_str() {
        "plain" => Ok(ZkReads::Plain),
        "sync" => Ok(ZkReads::Sync),
        other => Err(UsageError(format!(
            "--zookeeper-reads {other}: expected sync or plain"
        ))),
    }
}

fn consul_reads(args: &TestArgs) -> Result<Consistency, UsageError> {
    match args.consul_reads.as_str() {
        "consistent" => Ok(Consistency::Consistent),
        "default" => Ok(Consistency::Default),
        "stale" => Ok(Consistency::Stale),
        other => Err(UsageError(format!(
            "--consul-reads {other}: expected consistent, default or stale"
        ))),
    }
}

fn redis_wait(args: &TestArgs) -> Result<Option<u32>, UsageError> {
    let replicas = if args.endpoints.is_empty() {
        args.nodes
    } else {
        args.endpoints.len()
    };
    match args.redis_wait {
        Some(n) if n == 0 || n as usize >= replicas => Err(UsageError(format!(
            "--redis-wait {n}: expected 1 to {} (the replicas of {replicas} nodes)",
            replicas.saturating_sub(1)
        ))),
        w => Ok(w),
    }
}

/// `--endpoints` in the form each system's client takes: URLs for etcd
/// and Consul, `host:port` for ZooKeeper, a resolved address for Redis.
fn endpoints(system: &str, given: &[String]) -> Result<Vec<String>, UsageError> {
    given
        .iter()
        .map(|e| {
            let bad = |expected: &str| UsageError(format!("--endpoints {e}: expected {expected}"));
            match system {
                "etcd" | "consul" if e.starts_with("http://") || e.starts_with("https://") => {
                    Ok(e.trim_end_matches('/').to_string())
                }
                "etcd" | "consul" => Err(bad("http://host:port or https://host:port")),
                _ => match std::net::ToSocketAddrs::to_socket_addrs(e.as_str()).map(|mut a| a.next()) {
                    Ok(Some(addr)) if system == "redis" => Ok(addr.to_string()),
                    Ok(Some(_)) => Ok(e.clone()),
                    _ => Err(bad("host:port")),
                },
            }
        })
        .collect()
}

/// The cluster in words, for the opening line.
fn describe_db(cfg: &TestConfig) -> String {
    match cfg.db {
        DbChoice::Demo(mode) => format!(
            "the demo cluster ({} nodes, {} mode)",
            cfg.nodes,
            serde_json::to_value(mode)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        ),
        DbChoice::Existing {
            ref endpoints,
            remote,
            ..
        } => format!(
            "an existing {} cluster ({} endpoint{}, {}) that faultline did not start: no faults are injected",
            remote.name(),
            endpoints.len(),
            if endpoints.len() == 1 { "" } else { "s" },
            match remote {
                Remote::Etcd(Reads::Serializable) => "serializable reads".to_string(),
                Remote::Etcd(_) => "linearizable reads".to_string(),
                Remote::Zookeeper(ZkReads::Sync) => "sync-then-read reads".to_string(),
                Remote::Zookeeper(_) => "plain reads".to_string(),
                Remote::Redis(wait) => wait.map_or("no WAIT".to_string(), |n| format!("WAIT for {n}")),
                Remote::Consul(c) => format!("{c:?} reads").to_lowercase(),
            }
        ),
        DbChoice::Redis { namespaces, wait } => format!(
            "Redis with Sentinel ({} nodes, {}{})",
            cfg.nodes,
            if namespaces {
                "each in its own network namespace"
            } else {
                "on loopback: process faults only"
            },
            wait.map_or(String::new(), |n| format!(
                ", writes WAIT for {n} replica{}",
                if n == 1 { "" } else { "s" }
            ))
        ),
        DbChoice::Consul {
            ref bin,
            reads,
            namespaces,
        } => format!(
            "Consul from {} ({} nodes, {}, {:?} reads)",
            bin.display(),
            cfg.nodes,
            if namespaces {
                "each in its own network namespace"
            } else {
                "on loopback: process faults only"
            },
            reads
        )
        .to_lowercase(),
        DbChoice::Zookeeper { reads, namespaces } => format!(
            "ZooKeeper ({} nodes, {}, {} reads)",
            cfg.nodes,
            if namespaces {
                "each in its own network namespace"
            } else {
                "on loopback: process faults only"
            },
            if reads == ZkReads::Sync {
                "sync-then-read"
            } else {
                "plain"
            }
        ),
        DbChoice::Etcd { reads, namespaces } => format!(
            "etcd ({} nodes, {}, {} reads)",
            cfg.nodes,
            if namespaces {
                "each in its own network namespace"
            } else {
                "on loopback: process faults only"
            },
            if reads == Reads::Serializable {
                "serializable"
            } else {
                "linearizable"
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

pub fn test(args: TestArgs) -> Result<u8> {
    let mut cfg = config(&args)?;
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
            describe_db(&cfg),
            if cfg.faults.is_empty() {
                "none".to_string()
            } else {
                cfg.faults
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
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
