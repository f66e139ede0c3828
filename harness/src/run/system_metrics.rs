//! The system's own metrics, sampled while a run goes on: each node's
//! metrics endpoint (the system says where, `System::metrics`) is read
//! about once a second into `metrics/<node>.jsonl` of the run folder, and
//! read back for the report. A node that does not answer within a short
//! wait (down, paused, cut off) leaves a gap, never an error. This is not
//! faultline's own metrics (`run::metrics`).
//!
//! A line is `{"t":NS,"v":{"series":value,…}}` or `{"t":NS,"gap":"why"}`,
//! `t` in nanoseconds since the run's main phase began (the history's
//! time base). A line lists only the series that changed since the
//! node's previous line (etcd lists some 1,500, most of them still): the
//! first line, and the first after a gap, list all. `metrics/series.json`
//! names the nodes and the series the report plots first.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::systems::MetricsSource;

/// The folder in a run folder.
pub const FOLDER: &str = "metrics";
/// How often each node is read.
const EVERY: Duration = Duration::from_secs(1);
/// How long a node may take to answer before its sample is a gap: short,
/// so a paused node costs the sampler little.
const WAIT: Duration = Duration::from_millis(500);

/// What `series.json` says.
#[derive(Serialize, Deserialize)]
struct Index {
    nodes: Vec<String>,
    chosen: Vec<String>,
}

/// One line of a node's file.
#[derive(Serialize, Deserialize)]
struct Line {
    t: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    v: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gap: Option<String>,
}

/// The sampling tasks of one run, one per node.
pub struct Sampler {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sampler {
    /// Starts reading each `(node, source)` into `run`'s `metrics/`, with
    /// times since `start`.
    pub fn start(run: &Path, nodes: Vec<(String, MetricsSource)>, start: Instant) -> Result<Sampler> {
        let dir = run.join(FOLDER);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let index = Index {
            nodes: nodes.iter().map(|(n, _)| n.clone()).collect(),
            chosen: nodes
                .first()
                .map(|(_, s)| s.chosen.iter().map(|c| c.to_string()).collect())
                .unwrap_or_default(),
        };
        std::fs::write(dir.join("series.json"), serde_json::to_vec(&index)?)?;
        let http = reqwest::Client::builder().timeout(WAIT).build()?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::with_capacity(nodes.len());
        for (node, source) in nodes {
            let path = dir.join(format!("{node}.jsonl"));
            let file =
                std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            tasks.push(tokio::spawn(sample(
                file,
                path,
                source.url,
                http.clone(),
                start,
                stopped.clone(),
            )));
        }
        Ok(Sampler { stop, tasks })
    }

    /// Stops every task once its current sample is written.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Reads one node every second until told to stop.
async fn sample(
    mut file: std::fs::File,
    path: PathBuf,
    url: String,
    http: reqwest::Client,
    start: Instant,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // What the previous line left each series at; empty after a gap.
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        let t = start.elapsed().as_nanos() as u64;
        let line = match read(&http, &url).await {
            Ok(all) => {
                let v = all
                    .iter()
                    .filter(|(k, v)| last.get(*k) != Some(v))
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                last = all;
                Line { t, v, gap: None }
            }
            Err(why) => {
                last.clear();
                Line {
                    t,
                    v: BTreeMap::new(),
                    gap: Some(why),
                }
            }
        };
        let mut bytes = serde_json::to_vec(&line).expect("samples serialize");
        bytes.push(b'\n');
        if let Err(e) = file.write_all(&bytes) {
            tracing::warn!("writing {}: {e}; sampling this node stops", path.display());
            return;
        }
    }
}

/// One sample: every series the endpoint lists, by name with its labels.
async fn read(http: &reqwest::Client, url: &str) -> Result<BTreeMap<String, f64>, String> {
    let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("{url} answered {}", resp.status()));
    }
    let text = resp.text().await.map_err(|e| e.to_string())?;
    Ok(parse(&text))
}

/// The plain values of Prometheus text: counters, gauges, untyped (a
/// histogram's `_sum` and `_count` among them); buckets and quantiles
/// are left out to keep the files small.
fn parse(text: &str) -> BTreeMap<String, f64> {
    use prometheus_parse::{Scrape, Value};
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let Ok(scrape) = Scrape::parse(lines) else {
        return BTreeMap::new();
    };
    scrape
        .samples
        .into_iter()
        .filter_map(|s| {
            let v = match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                Value::Histogram(_) | Value::Summary(_) => return None,
            };
            let name = match s.labels.is_empty() {
                true => s.metric,
                false => format!("{}{{{}}}", s.metric, s.labels),
            };
            v.is_finite().then_some((name, v))
        })
        .collect()
}

/// The samples in run folder `run`, as the report plots them; `None`
/// where the run sampled none (an older run, or `--no-system-metrics`).
/// A histogram among the chosen series becomes the mean of what each
/// sample added.
pub fn view(run: &Path) -> Result<Option<reports::SystemMetrics>> {
    let dir = run.join(FOLDER);
    let index_file = dir.join("series.json");
    if !index_file.exists() {
        return Ok(None);
    }
    let index: Index = serde_json::from_slice(&std::fs::read(&index_file)?).with_context(|| {
        format!(
            "{}: expected {{\"nodes\":[…],\"chosen\":[…]}}",
            index_file.display()
        )
    })?;
    let mut series: BTreeMap<String, Vec<Vec<(u64, f64)>>> = BTreeMap::new();
    let mut gaps = Vec::with_capacity(index.nodes.len());
    for (i, node) in index.nodes.iter().enumerate() {
        let path = dir.join(format!("{node}.jsonl"));
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut lines = Vec::new();
        for (n, l) in text.lines().enumerate() {
            // The last line of a run killed mid-write may be cut short.
            match serde_json::from_str::<Line>(l) {
                Ok(line) => lines.push(line),
                Err(_) => tracing::warn!("{}:{}: expected a sample; skipped", path.display(), n + 1),
            }
        }
        gaps.push(lines.iter().filter(|l| l.gap.is_some()).map(|l| l.t).collect());
        for (name, points) in held(lines) {
            series
                .entry(name)
                .or_insert_with(|| vec![Vec::new(); index.nodes.len()])[i] = points;
        }
    }
    let mut chosen = Vec::with_capacity(index.chosen.len());
    for c in &index.chosen {
        match (series.get(&format!("{c}_sum")), series.get(&format!("{c}_count"))) {
            (Some(sum), Some(count)) if !series.contains_key(c) => {
                let name = format!("{c} (mean per sample)");
                let mean = sum
                    .iter()
                    .zip(count)
                    .map(|(s, n)| per_sample_mean(s, n))
                    .collect();
                series.insert(name.clone(), mean);
                chosen.push(name);
            }
            _ => chosen.push(c.clone()),
        }
    }
    Ok(Some(reports::SystemMetrics {
        nodes: index.nodes,
        chosen,
        series,
        gaps,
    }))
}

/// Each series of one node's lines as points a straight line between
/// consecutive ones draws exactly: where a value changed, the point
/// before it is the previous sample's time at the old value; each series
/// ends at the node's last sample before a gap and at its last sample.
fn held(lines: Vec<Line>) -> BTreeMap<String, Vec<(u64, f64)>> {
    let mut series: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    // The previous sample's time, while no gap came since.
    let mut previous: Option<u64> = None;
    let hold = |series: &mut BTreeMap<String, Vec<(u64, f64)>>, until: u64| {
        for points in series.values_mut() {
            if let Some(&(t, v)) = points.last() {
                if t < until {
                    points.push((until, v));
                }
            }
        }
    };
    for line in lines {
        if line.gap.is_some() {
            if let Some(p) = previous.take() {
                hold(&mut series, p);
            }
            continue;
        }
        for (name, v) in line.v {
            let points = series.entry(name).or_default();
            if let (Some(p), Some(&(t, old))) = (previous, points.last()) {
                if t < p {
                    points.push((p, old));
                }
            }
            points.push((line.t, v));
        }
        previous = Some(line.t);
    }
    if let Some(p) = previous {
        hold(&mut series, p);
    }
    series
}

/// Δsum/Δcount between consecutive samples where both were taken (a
/// sample without new observations has no mean).
fn per_sample_mean(sum: &[(u64, f64)], count: &[(u64, f64)]) -> Vec<(u64, f64)> {
    let count: BTreeMap<u64, f64> = count.iter().copied().collect();
    let pairs: Vec<(u64, f64, f64)> = sum
        .iter()
        .filter_map(|&(t, s)| count.get(&t).map(|&c| (t, s, c)))
        .collect();
    pairs
        .windows(2)
        .filter_map(|w| {
            let (ds, dc) = (w[1].1 - w[0].1, w[1].2 - w[0].2);
            (dc > 0.0).then(|| (w[1].0, ds / dc))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_becomes_named_values() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total 3\n\
                    # TYPE g gauge\ng{node=\"n1\",x=\"y\"} 1.5\n\
                    # TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 0.5\nh_count 3\n";
        let v = parse(text);
        assert_eq!(v.get("a_total"), Some(&3.0), "{v:?}");
        assert_eq!(v.get("g{node=\"n1\",x=\"y\"}"), Some(&1.5), "{v:?}");
        assert_eq!(v.get("h_sum"), Some(&0.5), "{v:?}");
        assert_eq!(v.get("h_count"), Some(&3.0), "{v:?}");
        assert!(!v.keys().any(|k| k.starts_with("h_bucket") || k == "h"), "{v:?}");
    }

    #[test]
    fn unchanged_series_are_held_until_they_change() {
        let line = |t, v: &[(&str, f64)], gap: bool| Line {
            t,
            v: v.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            gap: gap.then(|| "timed out".into()),
        };
        let s = held(vec![
            line(1, &[("a", 1.0), ("b", 5.0)], false),
            line(2, &[], false),
            line(3, &[("a", 2.0)], false),
            line(4, &[], true),
            line(5, &[("a", 2.0), ("b", 6.0)], false),
            line(6, &[], false),
        ]);
        assert_eq!(s["a"], vec![(1, 1.0), (2, 1.0), (3, 2.0), (5, 2.0), (6, 2.0)]);
        assert_eq!(s["b"], vec![(1, 5.0), (3, 5.0), (5, 6.0), (6, 6.0)]);
    }

    #[test]
    fn a_histograms_mean_is_per_sample() {
        let sum = [(1, 1.0), (2, 3.0), (3, 3.0), (4, 4.0)];
        let count = [(1, 1.0), (2, 3.0), (4, 7.0)];
        assert_eq!(per_sample_mean(&sum, &count), vec![(2, 1.0), (4, 0.25)]);
    }
}
