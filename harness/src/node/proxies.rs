//! One cluster's proxies (`nemesis::proxy`): per node, one in front of
//! each port its system routes through them — clients' and peers' — so
//! delay and blackhole faults reach every link. They listen on the host's
//! side of the nodes (the namespaces' bridge address, or loopback) and
//! live in faultline's own process: a crash takes them with it, and
//! nothing is left to clean up.
//!
//! Peer traffic through a proxy arrives at the node from the host, where
//! the partition rules in the node's namespace do not see its source, so
//! partitions are applied here too, by the source each connection comes
//! from.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result};
use nemesis::proxy::Proxy;
use nemesis::Grudge;

/// The proxies of one cluster.
pub struct Proxies {
    /// Where they listen.
    listen: IpAddr,
    /// Each node's address, as its connections through a proxy come from.
    sources: Vec<IpAddr>,
    /// Per node, its proxies.
    per_node: Vec<Vec<Proxy>>,
}

impl Proxies {
    /// None yet, for nodes at `sources`, listening on `listen`.
    pub fn new(listen: IpAddr, sources: Vec<IpAddr>) -> Proxies {
        let per_node = sources.iter().map(|_| Vec::new()).collect();
        Proxies {
            listen,
            sources,
            per_node,
        }
    }

    /// Starts a proxy in front of `node`'s `target`; its address.
    pub fn add(&mut self, node: usize, target: SocketAddr) -> Result<SocketAddr> {
        let runtime = tokio::runtime::Handle::try_current().context("proxies run on faultline's runtime")?;
        let p = Proxy::start(SocketAddr::new(self.listen, 0), target, &runtime)
            .with_context(|| format!("starting a proxy for {target} on {}", self.listen))?;
        let addr = p.addr();
        self.per_node[node].push(p);
        Ok(addr)
    }

    /// Whether no proxy was started (the system routes nothing through
    /// them).
    pub fn is_empty(&self) -> bool {
        self.per_node.iter().all(Vec::is_empty)
    }

    /// Starts a proxy in front of `node` on a free port P of this side,
    /// forwarding to the node's own address on port P: for systems whose
    /// nodes listen on the very port their peers are told (ZooKeeper's
    /// server list). Only nodes with ports of their own can.
    pub fn add_mirrored(&mut self, node: usize) -> Result<SocketAddr> {
        let runtime = tokio::runtime::Handle::try_current().context("proxies run on faultline's runtime")?;
        let listener = std::net::TcpListener::bind(SocketAddr::new(self.listen, 0))
            .with_context(|| format!("binding a proxy on {}", self.listen))?;
        let addr = listener.local_addr()?;
        let target = SocketAddr::new(self.sources[node], addr.port());
        let p = Proxy::on(listener, target, &runtime)
            .with_context(|| format!("starting a proxy for {target}"))?;
        self.per_node[node].push(p);
        Ok(addr)
    }

    fn each(&self, mut f: impl FnMut(usize, &Proxy)) {
        for (i, ps) in self.per_node.iter().enumerate() {
            for p in ps {
                f(i, p);
            }
        }
    }

    /// Every link slowed by `delay` plus up to `jitter`.
    pub fn slow(&self, delay: Duration, jitter: Duration) {
        self.each(|_, p| {
            p.set(|f| {
                f.delay = delay;
                f.jitter = jitter;
            })
        });
    }

    /// Traffic toward `node` held.
    pub fn blackhole(&self, node: usize) {
        self.each(|i, p| p.set(|f| f.hold_in = i == node));
    }

    /// No delay, no blackhole.
    pub fn heal_links(&self) {
        self.each(|_, p| {
            p.set(|f| {
                f.delay = Duration::ZERO;
                f.jitter = Duration::ZERO;
                f.hold_in = false;
            })
        });
    }

    /// Connections into each node from the nodes its grudge names held
    /// both ways (and none other).
    pub fn partition(&self, grudge: &Grudge) {
        self.each(|i, p| {
            let cut: Vec<IpAddr> = grudge.0[i].iter().map(|&j| self.sources[j]).collect();
            p.set(|f| f.cut = cut);
        });
    }

    /// No connection held by a partition.
    pub fn heal_partition(&self) {
        self.each(|_, p| p.set(|f| f.cut.clear()));
    }
}
