//! `--metrics-listen`, scraped by the real thing: Debian's `prometheus`
//! scrapes a demo-cluster run under kill and pause every second, and its
//! query API must show the ok-operation counter rising and a fault gauge
//! at 1 while that fault was in force, and every query of the shipped
//! Grafana dashboard (docs/grafana/faultline.json) must return series
//! for that run. Also: a bad or taken address is refused before anything
//! starts (254, one sentence).

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{faultline, free_port, text};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The `prometheus` binary, or `None` after saying loudly that the test
/// was skipped (a failure under `CI=true`).
fn prometheus_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("prometheus"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !in_ci(),
            "the `prometheus` binary is not on PATH, and CI=true: install Debian's package `prometheus` (scripts/install-deps)"
        );
        // Straight to the terminal: `eprintln!` would be captured and hidden.
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED live metrics: the `prometheus` binary is not on PATH (package `prometheus`, scripts/install-deps; set CI=true to make this a failure)"
        );
    }
    found
}

/// A Prometheus process of this test's own, stopped by PID when dropped.
struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Prometheus {
    /// Starts `binary` on a free loopback port, with its config and
    /// storage under `dir`, scraping `target` every second.
    fn start(binary: &Path, dir: &Path, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: faultline\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let log = dir.join("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address={listen}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starts prometheus");
        Prometheus {
            child,
            url: format!("http://{listen}"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until Prometheus answers that it is ready.
    async fn ready(&self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = http.get(format!("{}/-/ready", self.url)).send().await;
            if up.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus was not ready within 30 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many series `promql` gives over the last two minutes, one
    /// point a second.
    async fn series_over_time(&self, http: &reqwest::Client, promql: &str) -> usize {
        let end = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let range = [
            ("query", promql.to_string()),
            ("start", (end - 120).to_string()),
            ("end", end.to_string()),
            ("step", "1".to_string()),
        ];
        let answer = self.api(http, "query_range", &range, promql).await;
        answer["data"]["result"].as_array().map_or(0, Vec::len)
    }

    /// Prometheus' answer to `GET /api/v1/{endpoint}?{params}`, which
    /// must be a success (`promql` names the query when it is not).
    async fn api(
        &self,
        http: &reqwest::Client,
        endpoint: &str,
        params: &[(&str, String)],
        promql: &str,
    ) -> serde_json::Value {
        let answer: serde_json::Value = http
            .get(format!("{}/api/v1/{endpoint}", self.url))
            .query(params)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        answer
    }

    /// The instant query's result vector: (labels, value) per series.
    async fn query(&self, http: &reqwest::Client, promql: &str) -> Vec<(serde_json::Value, f64)> {
        let answer = self
            .api(http, "query", &[("query", promql.to_string())], promql)
            .await;
        answer["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{promql}: {answer}"))
            .iter()
            .map(|s| {
                let v = s["value"][1].as_str().unwrap().parse().unwrap();
                (s["metric"].clone(), v)
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // Its own child, by PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many `kind` completions of clients the history holds.
fn completions(run: &Path, kind: &str) -> usize {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(&format!("\"type\":\"{kind}\"")) && !l.contains("\"process\":\"nemesis\""))
        .count()
}

#[test]
fn prometheus_scrapes_a_run_and_sees_operations_and_faults() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let store = common::store("metrics", "prometheus");
    let target = format!("127.0.0.1:{}", free_port());
    let prometheus = Prometheus::start(&binary, &store, &target);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    rt.block_on(prometheus.ready(&http));

    let o = faultline(&[
        "test",
        "--db",
        "demo",
        "--store",
        store.to_str().unwrap(),
        "--time-limit",
        "20",
        "--nemesis",
        "kill,pause",
        "--nemesis-interval",
        "2",
        "--seed",
        "25",
        "--metrics-listen",
        &target,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("live metrics at http://{target}/metrics")),
        "{}",
        text(&o)
    );
    let run = common::latest(&store);
    let stamp = run.file_name().unwrap().to_str().unwrap().to_string();
    let series = format!("job=\"faultline\",run=\"{stamp}\",seed=\"25\",test=\"demo-cas-register-correct\"");

    rt.block_on(async {
        // The whole run lies inside the last two minutes.
        let ok = format!("faultline_operations_total{{{series},outcome=\"ok\"}}");
        let rose = prometheus.query(&http, &format!("sum(increase({ok}[2m]))")).await;
        assert!(
            rose.first().is_some_and(|(_, v)| *v > 100.0),
            "the ok counter rose over the run: {rose:?}\n{}",
            prometheus.log()
        );
        // Scraped values never exceed what the history recorded.
        let last = prometheus
            .query(&http, &format!("sum(max_over_time({ok}[2m]))"))
            .await;
        let recorded = completions(&run, "ok") as f64;
        assert!(
            last.first().is_some_and(|(_, v)| *v > 0.0 && *v <= recorded),
            "the ok counter as scraped ({last:?}) is at most the history's {recorded} ok completions"
        );

        let gauge = format!("faultline_fault_active{{{series}}}");
        let highest = prometheus
            .query(&http, &format!("max_over_time({gauge}[2m])"))
            .await;
        let faults: Vec<&str> = highest
            .iter()
            .map(|(labels, _)| labels["fault"].as_str().unwrap())
            .collect();
        assert_eq!(faults.len(), 2, "a gauge per fault of the run: {highest:?}");
        assert!(
            faults.contains(&"kill") && faults.contains(&"pause"),
            "{highest:?}"
        );
        let in_force: Vec<&str> = highest
            .iter()
            .filter(|(_, v)| *v == 1.0)
            .map(|(labels, _)| labels["fault"].as_str().unwrap())
            .collect();
        assert!(
            !in_force.is_empty(),
            "a fault gauge was 1 during a fault: {highest:?}"
        );
        for fault in &in_force {
            assert!(
                common::nemesis_ops(&run).iter().any(|f| f == fault),
                "{fault} was 1 and the history shows it injected"
            );
        }
        // And 0 between faults: the gauges follow heals too.
        let lowest = prometheus
            .query(&http, &format!("max(min_over_time({gauge}[2m]))"))
            .await;
        assert_eq!(
            lowest.first().map(|(_, v)| *v),
            Some(0.0),
            "every gauge was 0 at some scrape"
        );

        // The dashboard draws this run: each panel's queries, with its
        // variables set to the run, give series.
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana/faultline.json");
        let dashboard: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let panels = dashboard["panels"].as_array().unwrap();
        assert!(panels.len() >= 3, "{}", file.display());
        for panel in panels {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$test", "demo-cas-register-correct")
                    .replace("$run", &stamp)
                    // Four scrapes, as Grafana's $__rate_interval gives.
                    .replace("$__rate_interval", "4s");
                let found = prometheus.series_over_time(&http, &expr).await;
                assert!(found > 0, "panel {}: {expr} gives no series", panel["title"]);
            }
        }
    });
}

#[test]
fn a_bad_or_taken_metrics_address_is_refused_before_anything_starts() {
    let store = common::store("metrics", "refused");
    let o = faultline(&[
        "test",
        "--store",
        store.to_str().unwrap(),
        "--metrics-listen",
        "localhost:9464",
    ]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(
        text(&o).contains(
            "--metrics-listen localhost:9464: expected an address to listen on as IP:PORT (127.0.0.1:9464)"
        ),
        "{}",
        text(&o)
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = faultline(&[
        "test",
        "--store",
        store.to_str().unwrap(),
        "--metrics-listen",
        &addr,
    ]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "--metrics-listen {addr}: cannot listen there: Address already in use"
        )),
        "{}",
        text(&o)
    );
    assert!(
        std::fs::read_dir(&store).unwrap().next().is_none(),
        "no run was started"
    );
}
