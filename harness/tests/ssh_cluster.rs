//! The SSH backend against real sshd servers: `scripts/ssh-nodes` puts
//! each in a network namespace of its own with its own address, and
//! faultline reaches them only over SSH (shown: the database processes
//! live in the sshd's namespace and descend from sshd, not faultline; the
//! run makes no namespace of its own). etcd under partitions, kills and
//! pauses is valid, serializable reads are caught, ZooKeeper's plain
//! reads are caught (with clock bumps too), a SIGKILLed faultline in mid-partition leaves
//! nothing after `faultline cleanup`, and bad set-ups get one sentence.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{faultline, latest, nemesis_ops, text};

/// Test nodes from `scripts/ssh-nodes`, taken down when dropped.
struct SshNodes {
    dir: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ssh-nodes")
}

impl SshNodes {
    fn up(name: &str, count: usize, hide: Option<&str>) -> SshNodes {
        let dir = common::store("ssh", name).join("nodes");
        let mut c = Command::new(script());
        c.args(["up", &count.to_string(), dir.to_str().unwrap()]);
        if let Some(h) = hide {
            c.env("SSH_NODES_HIDE", h);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "ssh-nodes up: {}", text(&o));
        SshNodes { dir }
    }

    /// Where runs on these nodes keep their folders: the test's own,
    /// so tests running side by side tell their servers apart.
    fn remote_dir(&self) -> PathBuf {
        self.dir.join("remote")
    }

    /// The flags that reach these nodes.
    fn flags(&self) -> Vec<String> {
        vec![
            "--remote-dir".into(),
            self.remote_dir().display().to_string(),
            "--nodes-file".into(),
            self.dir.join("nodes").display().to_string(),
            "--ssh-key".into(),
            self.dir.join("id_ed25519").display().to_string(),
            "--ssh-option".into(),
            format!("UserKnownHostsFile={}", self.dir.join("known_hosts").display()),
        ]
    }

    fn ip(&self, i: usize) -> String {
        let nodes = std::fs::read_to_string(self.dir.join("nodes")).unwrap();
        let line = nodes.lines().nth(i).unwrap();
        line.split('@').nth(1).unwrap().to_string()
    }

    /// Node `i`'s sshd.
    fn sshd(&self, i: usize) -> i32 {
        std::fs::read_to_string(self.dir.join(format!("n{}/sshd.pid", i + 1)))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Runs a command in node `i`'s namespace (for looking, as a person
    /// logged in there would).
    fn on(&self, i: usize, argv: &[&str]) -> String {
        let ns = format!("/proc/{}/ns/net", self.sshd(i));
        let o = Command::new("nsenter")
            .arg(format!("--net={ns}"))
            .args(argv)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for SshNodes {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["down", self.dir.to_str().unwrap()])
            .output();
    }
}

fn run(nodes: &SshNodes, store: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(nodes.flags());
    all.extend(["--store".to_string(), store.display().to_string()]);
    let argv: Vec<&str> = all.iter().map(String::as_str).collect();
    let o = faultline(&argv);
    // However it ended, nothing faultline started runs on: each server's
    // command line names the run's folder below the remote dir.
    let left = processes(&nodes.remote_dir().display().to_string());
    assert!(
        left.is_empty(),
        "processes left on the nodes: {left:?}\n{}",
        text(&o)
    );
    (o.status.code(), text(&o))
}

#[test]
fn etcd_over_ssh_under_partition_kill_and_pause_is_valid() {
    let nodes = SshNodes::up("valid", 3, None);
    let s = common::store("ssh", "valid-store");
    let (code, out) = run(
        &nodes,
        &s,
        &[
            "test",
            "--db",
            "etcd",
            "--nemesis",
            "partition,kill,pause",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "60",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("(3 nodes over SSH: root@"), "{out}");
    assert!(out.contains("ssh: ") && out.contains(" commands"), "{out}");
    let run_dir = latest(&s);
    let faults = nemesis_ops(&run_dir);
    let report = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    for f in common::PARTITION_KILL_PAUSE {
        assert!(
            faults.iter().any(|x| x == f),
            "{f} missing (or failed) in {faults:?}"
        );
    }
    // The report shades each fault period, labelled as the nemesis did.
    for label in ["\"partition ", "\"kill n", "\"pause n"] {
        assert!(report.contains(label), "no {label} period in report.html");
    }
    // Each node's log came home; nothing of the run is left on a node.
    for n in 1..=3 {
        let log = run_dir.join(format!("nodes/n{n}/etcd.log"));
        assert!(std::fs::metadata(&log).unwrap().len() > 0, "{}", log.display());
    }
    let left: Vec<_> = std::fs::read_dir(nodes.remote_dir())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    for i in 0..3 {
        assert!(
            !nodes.on(i, &["iptables", "-S"]).contains("FAULTLINE"),
            "rules left on n{}",
            i + 1
        );
    }
}

#[test]
fn serializable_reads_over_ssh_are_caught() {
    let nodes = SshNodes::up("serializable", 3, None);
    let s = common::store("ssh", "serializable-store");
    let (code, out) = run(
        &nodes,
        &s,
        &[
            "test",
            "--db",
            "etcd",
            "--etcd-reads",
            "serializable",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "20",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("invalid: key "), "{out}");
    assert!(nemesis_ops(&latest(&s)).iter().any(|f| f == "start-partition"));
}

#[test]
fn zookeeper_plain_reads_over_ssh_are_caught() {
    // As the local control (zookeeper_cluster.rs): seed 5's first
    // partition cuts off follower n1, whose reader keeps reading.
    let nodes = SshNodes::up("zookeeper", 3, None);
    let s = common::store("ssh", "zookeeper-store");
    let (code, out) = run(
        &nodes,
        &s,
        &[
            "test",
            "--db",
            "zookeeper",
            "--zookeeper-reads",
            "plain",
            "--nemesis",
            "partition,kill,clock",
            "--nemesis-interval",
            "3",
            "--readers-per-key",
            "1",
            "--ops-per-key",
            "1000",
            "--seed",
            "5",
            "--time-limit",
            "20",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("invalid: key "), "{out}");
    assert!(latest(&s).join("nodes/n1/zookeeper.log").exists());
    // The clock fault, over SSH too: libfaketime's file on the node.
    let faults = nemesis_ops(&latest(&s));
    for f in ["bump-clock", "reset-clock"] {
        assert!(
            faults.iter().any(|x| x == f),
            "{f} missing (or failed) in {faults:?}"
        );
    }
}

/// PIDs of live processes whose command line mentions `needle`.
fn processes(needle: &str) -> Vec<i32> {
    common::processes_mentioning(needle)
}

fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

fn net_namespace(pid: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn a_sigkill_in_mid_partition_over_ssh_leaves_nothing_after_cleanup() {
    let nodes = SshNodes::up("sigkill", 3, None);
    let s = common::store("ssh", "sigkill-store");
    let mut args = vec![
        "test".to_string(),
        "--db".into(),
        "etcd".into(),
        "--nemesis".into(),
        "partition".into(),
        "--nemesis-interval".into(),
        "2".into(),
        "--time-limit".into(),
        "60".into(),
    ];
    args.extend(nodes.flags());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let remote_root = nodes.remote_dir().display().to_string();
    let mut seen = Vec::new();
    let run = common::sigkill_when_inspecting(
        &s,
        &argv,
        Duration::from_secs(60),
        // Once the partition is in force (the journal says so).
        |h| common::fault_in_force(h, "start-partition"),
        |faultline_pid| {
            // The servers run in the sshd's namespace, descend from no
            // faultline, and their command lines name the node's folder.
            for pid in processes(&format!("{remote_root}/faultline-")) {
                let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    continue;
                };
                if !String::from_utf8_lossy(&cmd).starts_with("/usr/bin/etcd") {
                    continue;
                }
                let ns = net_namespace(pid);
                assert!(
                    (0..3).any(|i| net_namespace(nodes.sshd(i)) == ns),
                    "etcd {pid} is not in any sshd's namespace"
                );
                let mut p = pid;
                while let Some(pp) = parent(p).filter(|&pp| pp > 1) {
                    assert_ne!(pp as u32, faultline_pid, "etcd {pid} descends from faultline");
                    p = pp;
                }
                seen.push(pid);
            }
        },
    );
    assert_eq!(seen.len(), 3, "three etcd servers ran on the nodes");

    let state_file = std::fs::read_dir(common::state_dir(&s))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("the killed run's state file");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(
        state["namespaces"].as_array().unwrap().len(),
        0,
        "no local namespaces"
    );
    assert_eq!(state["remote"].as_array().unwrap().len(), 3);
    let chain = state["chains"][0].as_str().unwrap().to_string();
    assert!(
        (0..3).any(|i| nodes.on(i, &["iptables", "-S", &chain]).contains("-j DROP")),
        "the partition's rules are on the nodes"
    );
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
    let needle = format!(
        "{remote_root}/faultline-{}-{}-",
        name(run.parent().unwrap()),
        name(&run)
    );
    assert_eq!(processes(&needle).len(), 3, "the servers outlived faultline");

    let o = common::cleanup(&s);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("stopped process"), "{out}");
    assert!(out.contains(&format!("removed iptables chain {chain}")), "{out}");
    assert!(processes(&needle).is_empty(), "servers left: {out}");
    for i in 0..3 {
        assert!(
            !nodes.on(i, &["iptables", "-S"]).contains(&chain),
            "rules left on n{}",
            i + 1
        );
    }
    let folders: Vec<_> = std::fs::read_dir(&remote_root)
        .map(|d| d.flatten().map(|e| e.path().display().to_string()).collect())
        .unwrap_or_default();
    assert!(
        !folders.iter().any(|f: &String| f.starts_with(&needle)),
        "{folders:?}"
    );
    assert!(!state_file.exists(), "the state file is gone");
    // Cleanup again: nothing left to do.
    let again = text(&common::cleanup(&s));
    assert!(again.contains("nothing to clean up"), "{again}");
}

#[test]
fn bad_set_ups_get_one_sentence_each() {
    let nodes = SshNodes::up("bad", 3, Some("2:/usr/share/java"));
    let s = common::store("ssh", "bad-store");
    let base = [
        "test",
        "--nemesis",
        "none",
        "--time-limit",
        "1",
        "--store",
        s.to_str().unwrap(),
    ];
    let known = format!("UserKnownHostsFile={}", nodes.dir.join("known_hosts").display());
    let nodes_file = nodes.dir.join("nodes").display().to_string();
    let go = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        let o = faultline(&a);
        (o.status.code(), text(&o))
    };

    // A key the nodes do not know.
    let other = nodes.dir.join("other_key");
    let k = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(k.status.success());
    let (code, out) = go(&[
        "--db",
        "etcd",
        "--nodes-file",
        &nodes_file,
        "--ssh-key",
        other.to_str().unwrap(),
        "--ssh-option",
        &known,
    ]);
    assert_eq!(code, Some(254), "{out}");
    assert!(
        out.contains(&format!(
            "n1 (root@{}): authentication failed: check --ssh-key",
            nodes.ip(0)
        )),
        "{out}"
    );

    // A host nothing answers on (loopback, a port no sshd listens on).
    let port = common::free_port().to_string();
    let key = nodes.dir.join("id_ed25519").display().to_string();
    let (code, out) = go(&[
        "--db",
        "etcd",
        "--nodes",
        &format!("{},root@127.0.0.1:{port}", nodes.ip(0)),
        "--ssh-key",
        &key,
        "--ssh-option",
        &known,
    ]);
    assert_eq!(code, Some(254), "{out}");
    assert!(
        out.contains(&format!(
            "n2 (root@127.0.0.1:{port}): the node cannot be reached: check the address and port, and that sshd runs there"
        )),
        "{out}"
    );

    // ZooKeeper's jars are missing on n2 only.
    let (code, out) = go(&[
        "--db",
        "zookeeper",
        "--nodes-file",
        &nodes_file,
        "--ssh-key",
        &key,
        "--ssh-option",
        &known,
    ]);
    assert_eq!(code, Some(254), "{out}");
    assert!(
        out.contains(&format!(
            "n2 (root@{}): /usr/share/java/zookeeper.jar is missing there: install Debian's zookeeper on that node",
            nodes.ip(1)
        )),
        "{out}"
    );
    assert!(!out.contains("n1 (root@"), "only n2 is named: {out}");
}

/// Starts etcd on every node over SSH, as a user would have before
/// pointing faultline at it; returns the client URLs.
fn start_users_etcd(nodes: &SshNodes, data: &Path) -> Vec<String> {
    let ips: Vec<String> = (0..3).map(|i| nodes.ip(i)).collect();
    let cluster: Vec<String> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("u{}=http://{ip}:2380", i + 1))
        .collect();
    for (i, ip) in ips.iter().enumerate() {
        let dir = data.join(format!("u{}", i + 1));
        let script = format!(
            "mkdir -p {d}; cd {d} || exit 1; USERS_OWN=1 nohup setsid /usr/bin/etcd --name u{n} --data-dir {d}/data \
             --listen-client-urls http://{ip}:2379 --advertise-client-urls http://{ip}:2379 \
             --listen-peer-urls http://{ip}:2380 --initial-advertise-peer-urls http://{ip}:2380 \
             --initial-cluster {c} --initial-cluster-state new > etcd.log 2>&1 < /dev/null &",
            d = dir.display(),
            n = i + 1,
            c = cluster.join(",")
        );
        let o = Command::new("ssh")
            .args(["-i", nodes.dir.join("id_ed25519").to_str().unwrap()])
            .args([
                "-o",
                &format!("UserKnownHostsFile={}", nodes.dir.join("known_hosts").display()),
            ])
            .args(["-o", "BatchMode=yes", &format!("root@{ip}"), &script])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    ips.iter().map(|ip| format!("http://{ip}:2379")).collect()
}

/// The state of each of the user's etcd servers (`S`, `T` for stopped…).
fn users_etcd(data: &Path) -> Vec<(i32, char)> {
    processes(&data.display().to_string())
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some((pid, state))
        })
        .collect()
}

#[test]
fn an_existing_cluster_over_ssh_takes_faults_and_keeps_running() {
    let nodes = SshNodes::up("existing", 3, None);
    let data = common::store("ssh", "existing-data");
    let s = common::store("ssh", "existing-store");
    let urls = start_users_etcd(&nodes, &data).join(",");
    let users = |extra: &[&str]| {
        let mut a = vec![
            "test",
            "--db",
            "etcd",
            "--endpoints",
            &urls,
            "--db-process",
            "etcd",
        ];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };

    let args = users(&[
        "--nemesis",
        "kill,pause,partition",
        "--nemesis-interval",
        "2",
        "--time-limit",
        "20",
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = run(&nodes, &s, &argv);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("that faultline did not start: faults through 3 nodes over SSH"),
        "{out}"
    );
    let faults = nemesis_ops(&latest(&s));
    for f in [
        "kill",
        "start",
        "pause",
        "resume",
        "start-partition",
        "stop-partition",
    ] {
        assert!(
            faults.iter().any(|x| x == f),
            "{f} missing (or failed) in {faults:?}"
        );
    }
    // The cluster runs on: three servers, none stopped, the killed one
    // started again as the user ran it (its environment included).
    let servers = users_etcd(&data);
    assert_eq!(servers.len(), 3, "{servers:?}");
    assert!(servers.iter().all(|&(_, st)| st != 'T'), "{servers:?}");
    assert!(servers
        .iter()
        .all(|&(pid, _)| std::fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|e| String::from_utf8_lossy(&e).contains("USERS_OWN=1"))));

    // SIGKILL faultline while a server is paused: cleanup continues it.
    let mut args = users(&[
        "--nemesis",
        "pause",
        "--nemesis-interval",
        "2",
        "--time-limit",
        "60",
    ]);
    args.extend(nodes.flags());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    common::sigkill_when(&s, &argv, Duration::from_secs(40), |h| {
        common::fault_in_force(h, "pause")
    });
    assert_eq!(
        users_etcd(&data).iter().filter(|&&(_, st)| st == 'T').count(),
        1,
        "one server paused when faultline died"
    );
    let o = common::cleanup(&s);
    assert!(text(&o).contains("continued process"), "{}", text(&o));
    let servers = users_etcd(&data);
    assert_eq!(servers.len(), 3, "{servers:?}");
    assert!(servers.iter().all(|&(_, st)| st != 'T'), "{servers:?}");

    // Without a way to find the process, kill is refused with the reason.
    let args = ["test", "--db", "etcd", "--endpoints", &urls, "--nemesis", "kill"];
    let (code, out) = run(&nodes, &s, &args);
    assert_eq!(code, Some(254), "{out}");
    assert!(out.contains("--db-pid-file PATH or --db-process NAME"), "{out}");

    // The user's servers are the test's to stop, by PID.
    for (pid, _) in users_etcd(&data) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

#[test]
fn a_node_lost_mid_run_is_named_and_healed_by_a_later_cleanup() {
    let nodes = SshNodes::up("lost", 3, None);
    let s = common::store("ssh", "lost-store");
    let mut args: Vec<String> = [
        "test",
        "--db",
        "etcd",
        "--nemesis",
        "partition",
        "--nemesis-interval",
        "2",
        "--time-limit",
        "8",
        "--store",
        s.to_str().unwrap(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(nodes.flags());
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(&args)
        .env("FAULTLINE_STATE_DIR", common::state_dir(&s))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the partition is in force, n2 stops answering SSH (its other
    // traffic flows on).
    common::wait_for_history(&s, Duration::from_secs(40), |h| {
        common::fault_in_force(h, "start-partition")
    });
    let cut = [
        "iptables", "-I", "INPUT", "-p", "tcp", "--dport", "22", "-j", "DROP",
    ];
    nodes.on(1, &cut);
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(255), "{said}");
    // The verdict is still given; the node out of reach is named, and
    // what to do.
    assert!(said.contains("run folder: "), "{said}");
    assert!(said.contains(&format!("n2 (root@{})", nodes.ip(1))), "{said}");
    assert!(
        said.contains("run `faultline cleanup` once the nodes can be reached"),
        "{said}"
    );
    let run = latest(&s);
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
    let needle = format!(
        "{}/faultline-{}-{}-",
        nodes.remote_dir().display(),
        name(run.parent().unwrap()),
        name(&run)
    );
    let left = processes(&needle);
    assert_eq!(left.len(), 1, "n2's etcd is left, the others stopped: {left:?}");

    // n2 back: cleanup heals it.
    nodes.on(
        1,
        &[
            "iptables", "-D", "INPUT", "-p", "tcp", "--dport", "22", "-j", "DROP",
        ],
    );
    let o = common::cleanup(&s);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("on n2 ("), "{out}");
    assert!(processes(&needle).is_empty(), "{out}");
    for i in 0..3 {
        assert!(
            !nodes.on(i, &["iptables", "-S"]).contains("FAULTLINE-"),
            "rules left on n{}",
            i + 1
        );
    }
    assert_eq!(
        std::fs::read_dir(common::state_dir(&s))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count(),
        0
    );
}
