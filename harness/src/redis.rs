//! A local Redis 7 cluster from Debian's `redis-server`: node 1 starts as
//! the primary, the others as its replicas, and every node also runs a
//! Sentinel (quorum 2) that promotes a replica when the primary is
//! unreachable. As root each node (its server and its Sentinel) lives in
//! its own network namespace, so a partition can cut the primary off;
//! otherwise everything runs on loopback with process faults only.
//!
//! This setup loses acknowledged writes by design: a primary cut off in a
//! minority keeps accepting writes from its clients while the majority
//! promotes a replica, and rejoins as a replica, discarding them. That is
//! the positive control the set checker must catch.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use workloads::redis::{encode, RedisClient};
use workloads::{Client, Workload};

use crate::cleanup::Registry;
use crate::local::{node_addresses, require_installed, Local, Service};
use crate::netns::Network;
use crate::process::{Group, Supervised};

/// The server binary.
pub const REDIS: &str = "/usr/bin/redis-server";
/// How long a node may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// What Redis adds to its processes (servers at 0..n, Sentinels at
/// n..2n): the servers' addresses.
pub struct Redis {
    addrs: Vec<SocketAddr>,
    /// Replicas each write waits for (`WAIT`), if any.
    wait: Option<u32>,
}

/// Reads one reply as text: simple, error, integer and bulk strings as
/// they are, arrays as their items one per line.
fn read_text(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let line = line.trim_end();
    match line.split_at(line.len().min(1)) {
        ("+" | "-" | ":", rest) => Some(rest.to_string()),
        ("$", n) => {
            let n: usize = n.parse().ok()?;
            let mut buf = vec![0; n + 2];
            r.read_exact(&mut buf).ok()?;
            Some(String::from_utf8_lossy(&buf[..n]).into_owned())
        }
        ("*", n) => {
            let n: usize = n.parse().ok()?;
            let items: Option<Vec<String>> = (0..n).map(|_| read_text(r)).collect();
            Some(items?.join("\n"))
        }
        _ => None,
    }
}

/// Sends one command and returns its reply as text, for administration:
/// readiness, roles, what a Sentinel knows.
fn admin(addr: SocketAddr, args: &[&str]) -> Option<String> {
    let wait = Duration::from_millis(500);
    let mut s = TcpStream::connect_timeout(&addr, wait).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    s.write_all(&encode(args)).ok()?;
    read_text(&mut BufReader::new(s))
}

/// Whether the Sentinel at `addr` knows `peers` replicas and `peers`
/// other Sentinels: only then can it fail over.
fn sentinel_ready(addr: SocketAddr, peers: usize) -> bool {
    let Some(text) = admin(addr, &["SENTINEL", "MASTER", "fl"]) else {
        return false;
    };
    let fields: Vec<&str> = text.lines().collect();
    let get = |name: &str| {
        fields
            .iter()
            .position(|f| *f == name)
            .and_then(|i| fields.get(i + 1)?.parse::<usize>().ok())
    };
    get("num-slaves") == Some(peers) && get("num-other-sentinels") == Some(peers)
}

impl Redis {
    /// Starts `count` servers and Sentinels and waits until every replica
    /// is connected to the primary and every Sentinel knows them all.
    pub fn start(
        count: usize,
        nodes_dir: &Path,
        mut registry: Registry,
        namespaces: bool,
        wait: Option<u32>,
    ) -> Result<Local<Redis>> {
        require_installed(REDIS, "redis-server")?;
        let network = Network::create_if(namespaces, count, &mut registry)?;
        // Per node: host, [server port, Sentinel port].
        let hosts = node_addresses(&network, count, [6379, 26379])?;
        let (primary_host, primary_port) = (hosts[0].0.clone(), hosts[0].1[0]);
        let mut servers = Vec::with_capacity(count);
        let mut sentinels = Vec::with_capacity(count);
        let mut addrs = Vec::with_capacity(count);
        for (i, (host, [port, sport])) in hosts.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let dir = nodes_dir.join(&name);
            std::fs::create_dir_all(dir.join("data"))?;
            let mut conf = format!(
                "bind {host}\nport {port}\nprotected-mode no\ndaemonize no\nset-proc-title no\nsave \"\"\nappendonly no\n\
                 dir {}\nrepl-diskless-sync yes\nrepl-diskless-sync-delay 0\nreplica-announce-ip {host}\n",
                dir.join("data").display()
            );
            if i > 0 {
                conf += &format!("replicaof {primary_host} {primary_port}\n");
            }
            let conf_path = dir.join("redis.conf");
            std::fs::write(&conf_path, conf)?;
            // Sentinel rewrites its file as it learns: one per node. Neither
            // process may retitle itself: cleanup recognises a process by
            // its exact command line.
            let sentinel = format!(
                "bind {host}\nport {sport}\nprotected-mode no\ndaemonize no\nset-proc-title no\ndir {}\n\
                 sentinel announce-ip {host}\nsentinel monitor fl {primary_host} {primary_port} 2\n\
                 sentinel down-after-milliseconds fl 1000\nsentinel failover-timeout fl 3000\n\
                 sentinel parallel-syncs fl 1\n",
                dir.join("data").display()
            );
            let sentinel_path = dir.join("sentinel.conf");
            std::fs::write(&sentinel_path, sentinel)?;
            let wrapper = network.as_ref().map_or_else(Vec::new, |net| net.wrapper(i));
            servers.push(Supervised::new(
                name.clone(),
                wrapper.clone(),
                vec![REDIS.into(), conf_path.display().to_string()],
                dir.join("redis.log"),
            ));
            sentinels.push(Supervised::new(
                format!("{name}-sentinel"),
                wrapper,
                vec![
                    REDIS.into(),
                    sentinel_path.display().to_string(),
                    "--sentinel".into(),
                ],
                dir.join("sentinel.log"),
            ));
            addrs.push(SocketAddr::new(host.parse()?, *port));
        }
        let sentinel_addrs: Vec<SocketAddr> = hosts
            .iter()
            .map(|(h, [_, s])| SocketAddr::new(h.parse().expect("an IP"), *s))
            .collect();
        servers.extend(sentinels);
        let mut c = Local {
            group: Group::new(servers, registry),
            network,
            count,
            service: Redis { addrs, wait },
        };
        // Servers first: a Sentinel learns of replicas from the primary's
        // INFO, which it reads only every 10 s once started.
        for i in 0..count {
            c.group.spawn(i)?;
        }
        for i in 0..count {
            let addr = c.service.addrs[i];
            c.group.wait_until(i, READY_TIMEOUT, "did not answer PING", || {
                admin(addr, &["PING"]).as_deref() == Some("PONG")
            })?;
        }
        let (primary, want) = (c.service.addrs[0], format!("connected_slaves:{}", count - 1));
        c.group
            .wait_until(0, READY_TIMEOUT, "did not see all its replicas connect", || {
                admin(primary, &["INFO", "replication"]).is_some_and(|i| i.contains(&want))
            })?;
        for i in count..count * 2 {
            c.group.spawn(i)?;
        }
        for (i, addr) in sentinel_addrs.into_iter().enumerate() {
            c.group.wait_until(
                count + i,
                READY_TIMEOUT,
                "did not learn of every replica and Sentinel",
                || sentinel_ready(addr, count - 1),
            )?;
        }
        Ok(c)
    }
}

impl Service for Redis {
    fn client(&self, node: usize, timeout: Duration, _workload: Workload) -> Box<dyn Client> {
        Box::new(RedisClient::new(self.addrs[node], timeout, self.wait))
    }

    /// The servers that call themselves master (more than one in a split).
    fn primaries(&self, group: &Group) -> Vec<usize> {
        (0..self.addrs.len())
            .filter(|&i| group.nodes[i].is_running())
            .filter(|&i| {
                admin(self.addrs[i], &["INFO", "replication"]).is_some_and(|s| s.contains("role:master"))
            })
            .collect()
    }
}
