//! `faultline test --db etcd` against real etcd processes (Debian's
//! etcd-server), each node in its own network namespace: valid under
//! partitions, kills and pauses; serializable reads caught as stale; a
//! SIGKILLed faultline in mid-partition leaves nothing after cleanup; and
//! partitions refused, with the reason, where namespaces are unavailable.

mod common;

use common::{faultline, latest, nemesis_ops, processes_mentioning, text};

fn store(name: &str) -> std::path::PathBuf {
    common::store("etcd", name)
}

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn etcd_under_partition_kill_and_pause_is_valid() {
    let s = store("valid");
    let o = faultline(&[
        "test",
        "--db",
        "etcd",
        "--store",
        s.to_str().unwrap(),
        "--nemesis",
        "partition,kill,pause",
        "--nemesis-interval",
        "3",
        "--time-limit",
        "60",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("each in its own network namespace"), "{out}");
    common::assert_nemesis_did(&latest(&s), common::PARTITION_KILL_PAUSE);
}

#[test]
fn serializable_reads_are_caught_as_stale() {
    let s = store("serializable");
    let o = faultline(&[
        "test",
        "--db",
        "etcd",
        "--etcd-reads",
        "serializable",
        "--store",
        s.to_str().unwrap(),
        "--nemesis",
        "partition",
        "--nemesis-interval",
        "3",
        "--time-limit",
        "20",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("invalid: key "), "{out}");
    assert!(nemesis_ops(&latest(&s)).iter().any(|f| f == "start-partition"));
}

/// A list-append test of 25 s on etcd transactions (one Txn reads, a
/// second writes if nothing read has changed); returns the exit code, the
/// output and the list-append checker's result.
fn list_append(name: &str, extra: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let s = store(name);
    let mut args = vec![
        "test",
        "--db",
        "etcd",
        "--workload",
        "list-append",
        "--store",
        s.to_str().unwrap(),
        "--nemesis-interval",
        "3",
        "--time-limit",
        "25",
        "--concurrency",
        "10",
    ];
    args.extend(extra);
    let o = faultline(&args);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest(&s).join("results.json")).unwrap()).unwrap();
    (
        o.status.code(),
        text(&o),
        results["checkers"]["list-append"].clone(),
    )
}

#[test]
fn etcd_transactions_under_partition_and_kill_are_strict_serializable() {
    let (code, out, r) = list_append("txn", &["--nemesis", "partition,kill"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(r["committed"].as_u64().unwrap() > 1000, "{r}");
    assert_eq!(r["anomalies"], serde_json::json!({}), "{r}");
    assert!(out.contains("consistent with strict-serializable"), "{out}");
}

#[test]
fn etcd_transactions_with_serializable_reads_are_caught_under_partition() {
    let (code, out, r) = list_append(
        "txn-serializable",
        &["--etcd-reads", "serializable", "--nemesis", "partition"],
    );
    assert_eq!(code, Some(1), "{out}");
    // Stale snapshots break real-time order only: each node's state is
    // itself a serializable history.
    let ruled_out: Vec<&str> = r["ruled_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(ruled_out, ["strict-serializable"], "{r}");
    assert!(
        r["anomalies"]
            .as_object()
            .unwrap()
            .keys()
            .all(|a| a.ends_with("-realtime") || a.ends_with("-process")),
        "{r}"
    );
}

#[test]
fn a_sigkill_in_mid_partition_leaves_nothing_after_cleanup() {
    let s = store("sigkill");
    // Kill faultline once the partition is in force (the journal says so).
    let run = common::sigkill_when(
        &s,
        &[
            "test",
            "--db",
            "etcd",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "60",
        ],
        Duration::from_secs(40),
        |h| common::fault_in_force(h, "start-partition"),
    );

    let state: serde_json::Value = {
        let active: Vec<_> = std::fs::read_dir(common::state_dir(&s))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(active.len(), 1, "the killed run's state file is there");
        serde_json::from_slice(&std::fs::read(active[0].path()).unwrap()).unwrap()
    };
    let namespaces: Vec<String> = state["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let links: Vec<String> = state["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(namespaces.len(), 3);
    let ns_exists = |ns: &str| Path::new("/run/netns").join(ns).exists();
    assert!(
        namespaces.iter().all(|ns| ns_exists(ns)),
        "the namespaces outlived faultline"
    );
    // The partition's rules are in the namespaces, in faultline's chain.
    let chain = state["chains"][0].as_str().unwrap().to_string();
    assert!(chain.starts_with("FAULTLINE-"), "{chain}");
    let rules = Command::new("ip")
        .args(["netns", "exec", &namespaces[0], "iptables", "-S", &chain])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&rules.stdout).contains("-j DROP") || {
            // The isolated node may be another one; look in all of them.
            namespaces.iter().any(|ns| {
                let r = Command::new("ip")
                    .args(["netns", "exec", ns, "iptables", "-S", &chain])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&r.stdout).contains("-j DROP")
            })
        }
    );
    let needle = run.to_str().unwrap().to_string();
    assert_eq!(
        processes_mentioning(&needle).len(),
        3,
        "the etcd servers outlived faultline"
    );

    let o = common::cleanup(&s);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("deleted network namespace"), "{out}");
    assert!(
        processes_mentioning(&needle).is_empty(),
        "etcd servers left: {out}"
    );
    assert!(
        namespaces.iter().all(|ns| !ns_exists(ns)),
        "namespaces left: {out}"
    );
    for link in &links {
        assert!(
            !Path::new("/sys/class/net").join(link).exists(),
            "link {link} left"
        );
    }
    for lock in state["locks"].as_array().unwrap() {
        assert!(!Path::new(lock.as_str().unwrap()).exists(), "lock {lock} left");
    }
    assert_eq!(std::fs::read_dir(common::state_dir(&s)).unwrap().count(), 0);
}

#[test]
fn partitions_are_refused_where_they_cannot_work() {
    let o = faultline(&["test", "--db", "demo", "--nemesis", "partition"]);
    assert_eq!(o.status.code(), Some(254));
    assert!(
        text(&o).contains("loopback without network namespaces"),
        "{}",
        text(&o)
    );
    // As an unprivileged user, namespaces are out of reach: said at once.
    // The binary is copied where that user may run it, whatever the
    // permissions of the checkout's folders.
    let dir = store("unprivileged");
    let exe = dir.join("faultline");
    std::fs::copy(env!("CARGO_BIN_EXE_faultline"), &exe).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [&dir, &exe] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            exe.to_str().unwrap(),
        ])
        .args(["test", "--db", "etcd", "--nemesis", "partition"])
        .current_dir(&dir)
        .output()
        .expect("setpriv (util-linux) runs");
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(text(&o).contains("needs root"), "{}", text(&o));
}

/// Runs openssl; the certificates of a throwaway CA for one test.
fn make_certs(dir: &Path) {
    std::fs::write(
        dir.join("ext.cnf"),
        "[req]\ndistinguished_name = dn\n[dn]\n\
         [server]\nsubjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth, clientAuth\n\
         [client]\nextendedKeyUsage = clientAuth\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(o.status.success(), "openssl {args:?}: {}", text(&o));
    };
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
        ]
        .iter()
        .chain(&["-days", "1", "-subj", "/CN=faultline test CA"])
        .copied()
        .collect::<Vec<_>>(),
    );
    for who in ["server", "client"] {
        let (key, csr, pem) = (
            format!("{who}-key.pem"),
            format!("{who}.csr"),
            format!("{who}.pem"),
        );
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={who}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-extensions",
            who,
        ]);
    }
}

#[test]
fn an_existing_tls_cluster_is_tested_without_faults() {
    let dir = store("tls");
    make_certs(&dir);
    let (cport, pport) = (common::free_port(), common::free_port());
    let url = format!("https://127.0.0.1:{cport}");
    let peer = format!("http://127.0.0.1:{pport}");
    let mut etcd = Command::new("/usr/bin/etcd")
        .args(["--name", "tls1", "--data-dir", dir.join("data").to_str().unwrap()])
        .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .args(["--initial-cluster", &format!("tls1={peer}")])
        .args([
            "--cert-file",
            "server.pem",
            "--key-file",
            "server-key.pem",
            "--trusted-ca-file",
            "ca.pem",
        ])
        .arg("--client-cert-auth")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", cport)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "etcd did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = dir.join("store");
    let tls = |extra: &[&str]| {
        let mut args = vec![
            "test",
            "--db",
            "etcd",
            "--endpoints",
            &url,
            "--store",
            s.to_str().unwrap(),
        ];
        args.extend_from_slice(&["--time-limit", "4"]);
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    // etcd may take a moment to elect itself; the first try may be refused.
    let mut ok = tls(&[
        "--cacert",
        "ca.pem",
        "--cert",
        "client.pem",
        "--key",
        "client-key.pem",
    ]);
    if ok.status.code() == Some(254) {
        std::thread::sleep(Duration::from_secs(2));
        ok = tls(&[
            "--cacert",
            "ca.pem",
            "--cert",
            "client.pem",
            "--key",
            "client-key.pem",
        ]);
    }
    let untrusted = tls(&[]);
    let with_faults = tls(&["--cacert", "ca.pem", "--nemesis", "kill"]);
    let _ = etcd.kill();
    let _ = etcd.wait();

    let out = text(&ok);
    assert_eq!(ok.status.code(), Some(0), "{out}");
    assert!(out.contains("existing etcd cluster (1 endpoint"), "{out}");
    assert!(out.contains("did not start: no faults are injected"), "{out}");
    assert!(out.contains("valid: all"), "{out}");
    assert_eq!(untrusted.status.code(), Some(254), "{}", text(&untrusted));
    assert!(text(&untrusted).contains("UnknownIssuer"), "{}", text(&untrusted));
    assert_eq!(with_faults.status.code(), Some(254));
    assert!(
        text(&with_faults).contains("cannot kill, pause or partition"),
        "{}",
        text(&with_faults)
    );
}

#[test]
fn packet_loss_on_five_nodes_is_injected_healed_and_valid() {
    let s = store("loss");
    let o = faultline(&[
        "test",
        "--db",
        "etcd",
        "--nodes",
        "5",
        "--store",
        s.to_str().unwrap(),
        "--nemesis",
        "loss",
        "--nemesis-interval",
        "2",
        "--time-limit",
        "9",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let faults = nemesis_ops(&latest(&s));
    assert!(
        faults.iter().any(|f| f == "start-loss") && faults.iter().any(|f| f == "stop-loss"),
        "{faults:?}"
    );
}
