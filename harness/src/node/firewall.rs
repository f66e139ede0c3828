//! Network faults on a set of nodes: one iptables chain of the run's own
//! on every node (`FAULTLINE-<tag>`, jumped to from INPUT), so a partition
//! or packet loss is a set of rules there that drop packets from other
//! nodes' addresses — never from this machine, whose SSH and client
//! traffic stays untouched — and healing empties the chain. Every node is
//! changed at once (one round trip each, side by side).

use anyhow::{Context, Result};
use nemesis::{FaultError, Grudge};

use super::{args, on_each, Node};

/// faultline's chain on a set of nodes.
pub struct Firewall {
    chain: String,
}

impl Firewall {
    /// Creates `chain` on every node (the caller records it first).
    pub fn create(nodes: &mut [Box<dyn Node>], chain: &str) -> Result<Firewall> {
        let rules = vec![args(&["-N", chain]), args(&["-I", "INPUT", "-j", chain])];
        for r in on_each(nodes, |_, n| n.iptables(&rules, false)) {
            r?;
        }
        Ok(Firewall { chain: chain.into() })
    }

    /// The rules that remove the chain and the jump to it, for a node's
    /// teardown (tried one by one: a half-made chain goes too).
    pub fn removal(chain: &str) -> Vec<Vec<String>> {
        vec![
            args(&["-D", "INPUT", "-j", chain]),
            args(&["-F", chain]),
            args(&["-X", chain]),
        ]
    }

    /// The chain's name.
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// Each node drops packets from the nodes its grudge names (both
    /// directions, since grudges are symmetric).
    pub fn partition(&self, nodes: &mut [Box<dyn Node>], grudge: &Grudge) -> Result<(), FaultError> {
        let ips = ips(nodes);
        let chain = &self.chain;
        self.replace(nodes, "partition", |i| {
            grudge.0[i]
                .iter()
                .map(|&p| args(&["-A", chain, "-s", &ips[p], "-j", "DROP"]))
                .collect()
        })
    }

    /// Each node drops a random share of packets from its peers.
    pub fn lose_packets(&self, nodes: &mut [Box<dyn Node>], probability: f64) -> Result<(), FaultError> {
        let ips = ips(nodes);
        let (chain, p) = (&self.chain, format!("{probability:.3}"));
        self.replace(nodes, "loss", |i| {
            (0..ips.len())
                .filter(|&j| j != i)
                .map(|j| {
                    args(&[
                        "-A",
                        chain,
                        "-s",
                        &ips[j],
                        "-m",
                        "statistic",
                        "--mode",
                        "random",
                        "--probability",
                        &p,
                        "-j",
                        "DROP",
                    ])
                })
                .collect()
        })
    }

    /// Empties the chain on every node.
    pub fn heal(&self, nodes: &mut [Box<dyn Node>]) -> Result<(), FaultError> {
        self.replace(nodes, "heal", |_| Vec::new())
    }

    /// Replaces each node's rules with `rules(i)`.
    fn replace(
        &self,
        nodes: &mut [Box<dyn Node>],
        action: &'static str,
        rules: impl Fn(usize) -> Vec<Vec<String>> + Sync,
    ) -> Result<(), FaultError> {
        let chain = self.chain.as_str();
        let errors: Vec<String> = on_each(nodes, |i, n| {
            let mut all = vec![args(&["-F", chain])];
            all.extend(rules(i));
            n.iptables(&all, false)
                .with_context(|| format!("on {}", n.name()))
        })
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect();
        if errors.is_empty() {
            return Ok(());
        }
        Err(FaultError {
            action,
            node: "all".into(),
            message: errors.join("; "),
        })
    }
}

fn ips(nodes: &[Box<dyn Node>]) -> Vec<String> {
    nodes.iter().map(|n| n.ip().to_string()).collect()
}
