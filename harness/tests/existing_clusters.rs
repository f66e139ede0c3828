//! `--endpoints` for systems other than etcd (whose TLS case is in
//! etcd_cluster.rs): the test starts a real server itself on a free
//! loopback port — a Redis server, a standalone ZooKeeper — and faultline,
//! which did not start it, runs a workload against it without faults.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{faultline, text};

/// A server this test started, stopped by its PID when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(argv: &[&str], log: &std::path::Path, port: u16) -> Server {
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} never listened",
            argv[0]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

#[test]
fn an_existing_redis_server_is_tested_without_faults() {
    let s = common::store("existing", "redis");
    let port = common::free_port();
    let _redis = start(
        &[
            "/usr/bin/redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        &s.join("redis.log"),
        port,
    );
    let endpoint = format!("127.0.0.1:{port}");
    let o = faultline(&[
        "test",
        "--db",
        "redis",
        "--endpoints",
        &endpoint,
        "-w",
        "set",
        "--time-limit",
        "3",
        "--store",
        s.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("an existing redis cluster (1 endpoint"), "{out}");
    assert!(out.contains("acknowledged adds are in the final reads"), "{out}");
}

#[test]
fn an_existing_zookeeper_server_is_tested_without_faults() {
    let s = common::store("existing", "zookeeper");
    let port = common::free_port();
    let cfg = s.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
            s.join("data").display()
        ),
    )
    .unwrap();
    let _zookeeper = start(
        &[
            "/usr/bin/java",
            "-Xmx128m",
            "-Dzookeeper.admin.enableServer=false",
            "-cp",
            "/usr/share/java/zookeeper.jar",
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            cfg.to_str().unwrap(),
        ],
        &s.join("zookeeper.log"),
        port,
    );
    let endpoint = format!("127.0.0.1:{port}");
    for workload in ["cas-register", "lock"] {
        let o = faultline(&[
            "test",
            "--db",
            "zookeeper",
            "--endpoints",
            &endpoint,
            "-w",
            workload,
            "--time-limit",
            "3",
            "--store",
            s.to_str().unwrap(),
        ]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert!(
            out.contains("an existing zookeeper cluster (1 endpoint; ZooKeeper, sync-then-read reads)"),
            "{out}"
        );
    }
}

#[test]
fn an_endpoint_that_does_not_answer_is_refused_before_the_test() {
    let s = common::store("existing", "refused");
    let endpoint = format!("127.0.0.1:{}", common::free_port());
    let o = faultline(&[
        "test",
        "--db",
        "redis",
        "--endpoints",
        &endpoint,
        "-w",
        "register",
        "--store",
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("cannot read from redis at {endpoint}")),
        "{}",
        text(&o)
    );
}
