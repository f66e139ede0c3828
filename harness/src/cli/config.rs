//! Raw flags to a validated `TestConfig`: the one place where `faultline
//! test`'s command line is judged (every refusal before anything starts,
//! with the flag at fault named) and turned into what the run needs.

use std::path::PathBuf;
use std::time::Duration;

use workloads::Workload;

use crate::cli::TestArgs;
use crate::db::existing::Find;
use crate::error::UsageError;
use crate::node::{netns, ssh, Backend};
use crate::run::controller::{Access, ClusterSpec, TestConfig};
use crate::systems;

fn seconds(flag: &str, v: f64) -> Result<Duration, UsageError> {
    if v.is_finite() && v > 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(UsageError(format!(
            "--{flag} {v}: expected a positive number of seconds"
        )))
    }
}

pub fn config(args: &TestArgs, matches: &clap::ArgMatches) -> Result<TestConfig, UsageError> {
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
    for (flag, n) in [
        ("nodes", nodes),
        ("concurrency", args.concurrency),
        ("test-count", args.test_count),
        ("ops-per-key", args.ops_per_key),
    ] {
        if n == 0 {
            return Err(UsageError(format!("--{flag} 0: expected at least 1")));
        }
    }
    if existing && ssh_nodes && backend.count() != nodes {
        return Err(UsageError(format!(
            "--endpoints gives {nodes} and --nodes {}: endpoint i must be served by node i, one each",
            backend.count()
        )));
    }
    let client = match args.client.as_deref().map(str::trim) {
        Some("") => return Err(UsageError("--client: expected a command".into())),
        c => c.map(String::from),
    };
    let ctx = systems::Context {
        nodes,
        existing,
        // `all` drops what the system refuses instead of failing.
        faults: if schedule.all { &[] } else { &faults },
    };
    let db_given = matches.value_source("db") == Some(clap::parser::ValueSource::CommandLine);
    let (system, chosen): (Box<dyn systems::System>, String) = match &args.system {
        Some(file) => (
            systems::from_file(file, matches, &ctx)?,
            format!("--system {}", file.display()),
        ),
        None if existing && client.is_some() && !db_given => {
            (Box::new(systems::any::AnyDatabase), "--client".to_string())
        }
        None => (
            systems::configure(&args.db, matches, &ctx)?,
            format!("--db {}", args.db),
        ),
    };
    // A client program answers for the workloads it runs.
    let client = client.or_else(|| system.client_command());
    if let (Some(file), None) = (&args.system, &client) {
        return Err(UsageError(format!(
            "--system {}: the file names no `client` command; give one with --client CMD",
            file.display()
        )));
    }
    if let (Some(n), false) = (system.nodes(), existing) {
        let given = matches.value_source("nodes") == Some(clap::parser::ValueSource::CommandLine)
            || args.nodes_file.is_some();
        match &mut backend {
            Backend::Local { count, .. } if !given => *count = n,
            b if b.count() != n => {
                return Err(UsageError(format!(
                    "{chosen} runs {n} node{}: use --nodes {n}",
                    if n == 1 { "" } else { "s" }
                )))
            }
            _ => {}
        }
    }
    if let (Backend::Local { count, .. }, Some(limit), false) = (&backend, system.local_limit(), existing) {
        if *count > limit.nodes {
            return Err(UsageError(format!(
                "--nodes {count}: {} forms a cluster of at most {} nodes on one machine: {}",
                system.name(),
                limit.nodes,
                limit.why
            )));
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
    if let Some(why) = system.refuses_target(targets) {
        return Err(UsageError(format!(
            "--nemesis-targets {}: {why}",
            args.nemesis_targets
        )));
    }
    // A system file says which workloads its client runs; any other
    // client program answers for itself.
    if (client.is_none() || args.system.is_some()) && !system.workloads().contains(&workload) {
        let names: Vec<&str> = system.workloads().iter().map(|w| w.name()).collect();
        let others = if args.system.is_some() {
            ""
        } else {
            " (a client program, --client, may run any)"
        };
        return Err(UsageError(format!(
            "{chosen} runs the {} workloads, not {workload}{others}",
            names.join(", ")
        )));
    }
    let cluster = if existing {
        let endpoints = args
            .endpoints
            .iter()
            // Kept as the user wrote them (a client program is given them
            // so); the system reads each when it makes a client.
            .map(|e| {
                system
                    .endpoint(e)
                    .map(|_| e.trim().to_string())
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
            .unwrap_or_else(|| format!("{}-{workload}-{variant}", system.name())),
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
        system_metrics: !args.no_system_metrics,
        client,
        metrics_listen: args
            .metrics_listen
            .as_deref()
            .map(|a| {
                a.parse().map_err(|_| {
                    UsageError(format!(
                        "--metrics-listen {a}: expected an address to listen on as IP:PORT (127.0.0.1:9464)"
                    ))
                })
            })
            .transpose()?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::{augment, configure, Context, System};
    use clap::{ArgMatches, CommandFactory, FromArgMatches};

    fn test_matches(args: &[&str]) -> Result<ArgMatches, clap::Error> {
        let cmd = crate::cli::Cli::command().mut_subcommand("test", augment);
        let mut argv = vec!["faultline", "test"];
        argv.extend_from_slice(args);
        let m = cmd.try_get_matches_from(argv)?;
        Ok(m.subcommand_matches("test").unwrap().clone())
    }

    fn configured(args: &[&str]) -> Result<Box<dyn System>, UsageError> {
        let m = test_matches(args).unwrap();
        let db = m.get_one::<String>("db").unwrap().clone();
        configure(
            &db,
            &m,
            &Context {
                nodes: 3,
                existing: false,
                faults: &[],
            },
        )
    }

    #[test]
    fn every_system_parses_its_own_flags() {
        assert_eq!(configured(&[]).unwrap().name(), "demo");
        let etcd = configured(&["--db", "etcd", "--etcd-reads", "serializable"]).unwrap();
        assert_eq!(etcd.variant(), "serializable");
        let zk = configured(&["--db", "zookeeper", "--zookeeper-reads", "plain"]).unwrap();
        assert!(zk.describe().contains("plain"), "{}", zk.describe());
        assert_eq!(
            configured(&["--db", "redis", "--redis-wait", "1"])
                .unwrap()
                .variant(),
            "sentinel-wait1"
        );
    }

    #[test]
    fn another_systems_flag_is_refused() {
        let e = configured(&["--db", "redis", "--etcd-reads", "serializable"])
            .err()
            .unwrap();
        assert_eq!(e.0, "--etcd-reads is a flag of --db etcd, not of --db redis");
        let e = configured(&["--db", "etcd", "--mode", "stale-reads"])
            .err()
            .unwrap();
        assert!(e.0.contains("--mode is a flag of --db demo"), "{}", e.0);
    }

    #[test]
    fn db_is_a_choice_among_the_systems() {
        let e = test_matches(&["--db", "mongodb"]).unwrap_err().to_string();
        assert!(
            e.contains("possible values: demo, etcd, zookeeper, redis, consul"),
            "{e}"
        );
        // The common flags still parse into TestArgs.
        let m = test_matches(&["--db", "etcd", "--time-limit", "5"]).unwrap();
        let args = crate::cli::TestArgs::from_arg_matches(&m).unwrap();
        assert_eq!(args.db, "etcd");
    }

    /// `faultline test ARGS` judged, as `commands::test` does it.
    fn judged(args: &[&str]) -> Result<TestConfig, UsageError> {
        let m = test_matches(args).unwrap();
        config(&crate::cli::TestArgs::from_arg_matches(&m).unwrap(), &m)
    }

    #[test]
    fn defaults_are_the_demo_cluster_under_kill_and_pause() {
        let cfg = judged(&["--seed", "7"]).unwrap();
        assert_eq!(cfg.name, "demo-cas-register-correct");
        assert_eq!(cfg.workload, Workload::CasRegister);
        assert_eq!(cfg.faults, [nemesis::Fault::Kill, nemesis::Fault::Pause]);
        assert_eq!(cfg.concurrency, 10);
        assert_eq!(cfg.seed, 7);
        assert_eq!(cfg.time_limit, Duration::from_secs(30));
        assert!(cfg.store.is_absolute(), "{}", cfg.store.display());
        match cfg.cluster {
            ClusterSpec::Start { backend } => assert_eq!(backend.count(), 3),
            ClusterSpec::Existing { .. } => panic!("the demo cluster is started"),
        }
    }

    #[test]
    fn what_cannot_work_is_refused_before_anything_starts() {
        let refused = |args: &[&str]| judged(args).err().map(|e| e.0).unwrap_or_default();
        assert!(refused(&[
            "--db",
            "etcd",
            "--endpoints",
            "http://127.0.0.1:1",
            "--nemesis",
            "kill"
        ])
        .starts_with("--nemesis with --endpoints"),);
        assert!(refused(&["--readers-per-key", "4"]).starts_with("--readers-per-key 4: at most 3"));
        assert!(refused(&["--time-limit", "0"]).starts_with("--time-limit 0: expected a positive number"));
        assert!(
            refused(&["-w", "list-append"]).contains("runs the"),
            "{}",
            refused(&["-w", "list-append"])
        );
        assert!(refused(&["--consistency-models", "serializable"]).contains("transactional workloads"));
        assert!(refused(&["--db", "zookeeper", "--nodes", "26"])
            .starts_with("--nodes 26: zookeeper forms a cluster of at most 25 nodes"));
        assert!(refused(&["--db", "redis", "-w", "set", "--nodes", "51"]).contains("at most 50"));
        assert!(judged(&["--db", "etcd", "--nodes", "25"]).is_ok());
        assert_eq!(
            refused(&["--metrics-listen", "localhost"]),
            "--metrics-listen localhost: expected an address to listen on as IP:PORT (127.0.0.1:9464)"
        );
        assert_eq!(
            judged(&["--metrics-listen", "127.0.0.1:0"])
                .unwrap()
                .metrics_listen,
            Some(([127, 0, 0, 1], 0).into())
        );
    }

    #[test]
    fn existing_clusters_take_no_faults_by_default() {
        let cfg = judged(&[
            "--db",
            "etcd",
            "--endpoints",
            "http://127.0.0.1:1,http://127.0.0.1:2",
        ])
        .unwrap();
        assert!(cfg.faults.is_empty());
        assert_eq!(cfg.name, "etcd-cas-register-existing-linearizable");
        match cfg.cluster {
            ClusterSpec::Existing { endpoints, access } => {
                assert_eq!(endpoints.len(), 2);
                assert!(access.is_none());
            }
            ClusterSpec::Start { .. } => panic!("an existing cluster is not started"),
        }
    }
}
