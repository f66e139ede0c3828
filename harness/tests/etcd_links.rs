//! Link faults on real etcd (Debian's etcd-server, three nodes in
//! namespaces): clients and peers reach each node through faultline's
//! proxies, which slow every link (`--nemesis delay`), hold all traffic
//! toward one node (`blackhole`) or cut peers apart (`partition`, which
//! the nodes' own firewalls cannot do for traffic that arrives from a
//! proxy). etcd must stay linearizable through all of it, and the faults
//! must visibly happen: slower operations while links are slow, and
//! leaders lost while peers are cut.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{faultline, latest, text};
use serde_json::Value;

fn run(name: &str, extra: &[&str]) -> (Option<i32>, String, std::path::PathBuf) {
    let s = common::store("etcd-links", name);
    let mut args = vec!["test", "--db", "etcd", "--store", s.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = faultline(&args);
    (o.status.code(), text(&o), latest(&s))
}

fn history(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn median(mut v: Vec<u64>) -> u64 {
    assert!(!v.is_empty());
    v.sort_unstable();
    v[v.len() / 2]
}

/// The times from each `start` event (f, type) to the next `stop` one.
fn spans_between(nemesis: &[&Value], start: (&str, &str), stop: (&str, &str)) -> Vec<(u64, u64)> {
    let mut spans = Vec::new();
    let mut from = None;
    for o in nemesis {
        let t = o["time"].as_u64().unwrap();
        let what = (o["f"].as_str().unwrap_or(""), o["type"].as_str().unwrap_or(""));
        if what == start {
            from = Some(t);
        } else if what == stop {
            spans.extend(from.take().map(|f| (f, t)));
        }
    }
    spans
}

/// Every member URL node n1's etcd was given, as its log names them.
fn member_urls(dir: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join("nodes/n1/etcd.log")).unwrap();
    log.lines()
        .filter(|l| l.contains("added member"))
        .filter_map(|l| Some(l.split('[').nth(1)?.split(']').next()?.to_string()))
        .collect()
}

#[test]
fn delay_and_blackhole_slow_and_hold_links_and_etcd_stays_linearizable() {
    let (code, out, dir) = run(
        "delay",
        &[
            "--nemesis",
            "delay,blackhole",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "14",
        ],
    );
    assert_eq!(code, Some(0), "{out}");

    // Peers were told each other's proxies (on the namespaces' bridge,
    // .254), not each other's own addresses.
    let urls = member_urls(&dir);
    assert_eq!(urls.len(), 3, "{urls:?}");
    assert!(urls.iter().all(|u| u.contains(".254:")), "{urls:?}");

    let ops = history(&dir);
    let nemesis: Vec<&Value> = ops.iter().filter(|o| o["process"] == "nemesis").collect();
    assert!(nemesis.iter().all(|o| o["error"].is_null()), "{nemesis:?}");
    for f in ["start-delay", "stop-delay", "start-blackhole", "stop-blackhole"] {
        assert!(
            nemesis.iter().any(|o| o["f"] == f && o["type"] == "info"),
            "no {f}: {nemesis:?}"
        );
    }
    // Spans of slow links: from the delay in force to its undoing begun;
    // spans of held links: from the blackhole begun to its undoing done.
    let spans = spans_between(&nemesis, ("start-delay", "info"), ("stop-delay", "invoke"));
    assert!(!spans.is_empty());
    let held = spans_between(
        &nemesis,
        ("start-blackhole", "invoke"),
        ("stop-blackhole", "info"),
    );
    // Latency of successful client operations, by whether they began on
    // slow links (blackholes left out: they hold, not slow).
    let mut invoked: HashMap<u64, u64> = HashMap::new();
    let (mut slow, mut fast) = (Vec::new(), Vec::new());
    for o in &ops {
        let Some(p) = o["process"].as_u64() else { continue };
        let t = o["time"].as_u64().unwrap();
        match o["type"].as_str() {
            Some("invoke") => {
                invoked.insert(p, t);
            }
            Some("ok") => {
                let start = invoked[&p];
                if held
                    .iter()
                    .any(|&(a, b)| start + 1_000_000_000 >= a && start <= b)
                {
                    continue;
                }
                let latency = t - start;
                if spans.iter().any(|&(a, b)| start >= a && t <= b) {
                    slow.push(latency);
                } else if spans.iter().all(|&(a, b)| t < a || start > b) {
                    fast.push(latency);
                }
            }
            _ => {}
        }
    }
    let (slow, fast) = (median(slow), median(fast));
    // 50-100 ms each way on every link a request crosses.
    assert!(slow >= 100_000_000, "median latency on slow links {slow} ns");
    assert!(
        slow > 5 * fast,
        "median latency {slow} ns slow vs {fast} ns otherwise"
    );
}

#[test]
fn partitions_cut_peers_that_talk_through_proxies() {
    let (code, out, dir) = run(
        "partition",
        &[
            "--proxy",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "10",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(member_urls(&dir).iter().all(|u| u.contains(".254:")));
    // Peer traffic reaches each node from the bridge, so only the
    // proxies can cut it: a leader is lost only if they did.
    let lost: usize = ["n1", "n2", "n3"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(dir.join("nodes").join(n).join("etcd.log"))
                .unwrap()
                .matches("lost leader")
                .count()
        })
        .sum();
    assert!(lost > 0, "no node lost its leader under partitions\n{out}");
}

#[test]
fn all_faults_take_turns_some_at_once_and_etcd_stays_linearizable() {
    let (code, out, dir) = run(
        "all",
        &[
            "--nemesis",
            "all",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "26",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    // etcd cannot take the clock faults: dropped, with the reason.
    assert!(out.contains("--nemesis all: without clock ("), "{out}");
    let ops = history(&dir);
    let nemesis: Vec<&Value> = ops.iter().filter(|o| o["process"] == "nemesis").collect();
    assert!(nemesis.iter().all(|o| o["error"].is_null()), "{nemesis:?}");
    let started = |f: &str| nemesis.iter().any(|o| o["f"] == f && o["type"] == "info");
    // Six steps fit in 26 s: partition, kill, partition+pause, pause,
    // delay, partition+kill.
    for f in ["start-partition", "kill", "pause", "start-delay"] {
        assert!(started(f), "no {f}: {nemesis:?}");
    }
    // A pause begun while a partition is in force: two faults at once.
    let mut partitioned = false;
    let mut both = false;
    for o in nemesis.iter().filter(|o| o["type"] == "info") {
        match o["f"].as_str() {
            Some("start-partition") => partitioned = true,
            Some("stop-partition") => partitioned = false,
            Some("pause") | Some("kill") if partitioned => both = true,
            _ => {}
        }
    }
    assert!(both, "no fault joined a partition: {nemesis:?}");
}
