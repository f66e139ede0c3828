//! A run's live metrics (`--metrics-listen`): operations by function and
//! outcome, their latency by function, the faults in force, served at
//! `/metrics` in the OpenMetrics text form Prometheus scrapes, while the
//! run goes on. Every series carries the run's test name, run folder
//! name (its start time) and seed as labels. These are for watching a run, not judging it: the
//! history is the record, and the verdict comes from it alone.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use checkers::{Function, OpType};
use nemesis::Fault;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::error::UsageError;
use crate::http::{self, Response};

/// OpenMetrics' media type, which tells Prometheus how to parse the body.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A function as a label value, by its history name (no allocation per
/// operation: the labels hold the `Function` itself).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Name(Function);

impl EncodeLabelValue for Name {
    fn encode(&self, out: &mut LabelValueEncoder) -> std::fmt::Result {
        std::fmt::Write::write_str(out, self.0.name())
    }
}

/// A completion's type as a label value (`ok`, `fail`, `info`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Outcome(OpType);

impl EncodeLabelValue for Outcome {
    fn encode(&self, out: &mut LabelValueEncoder) -> std::fmt::Result {
        std::fmt::Write::write_fmt(out, format_args!("{}", self.0))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OpLabels {
    f: Name,
    outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FnLabels {
    f: Name,
}

/// Latency buckets: 100 µs doubling to 13 s, past any `--op-timeout`
/// that makes sense, fine enough for a loopback cluster's fast path.
fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-4, 2.0, 18))
}

/// The run's metrics, updated by the controller.
pub struct Metrics {
    registry: Registry,
    ops: Family<OpLabels, Counter>,
    latency: Family<FnLabels, Histogram, fn() -> Histogram>,
    /// One gauge per fault the run may inject, 1 while it is in force.
    faults: Vec<(Fault, Gauge)>,
}

impl Metrics {
    /// Metrics for one run (`test`, its folder's name `run`, `seed`) that may
    /// inject `faults`.
    pub fn new(test: &str, run: &str, seed: u64, faults: &[Fault]) -> Metrics {
        let labels = [
            ("test", test.to_string()),
            ("run", run.to_string()),
            ("seed", seed.to_string()),
        ];
        let mut registry = Registry::with_prefix_and_labels(
            "faultline",
            labels.into_iter().map(|(k, v)| (Cow::Borrowed(k), Cow::Owned(v))),
        );
        let ops = Family::<OpLabels, Counter>::default();
        registry.register(
            "operations",
            "Client operations completed, by function and outcome",
            ops.clone(),
        );
        let latency = Family::<FnLabels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        registry.register(
            "operation_latency_seconds",
            "Client operation latency from invocation to completion, by function",
            latency.clone(),
        );
        let fault_family = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        registry.register(
            "fault_active",
            "1 while the fault is in force, 0 otherwise",
            fault_family.clone(),
        );
        let faults = faults
            .iter()
            .map(|&f| (f, fault_family.get_or_create(&[("fault", f.def().name)]).clone()))
            .collect();
        Metrics {
            registry,
            ops,
            latency,
            faults,
        }
    }

    /// Counts one client operation that completed as `outcome` after
    /// `latency`.
    pub fn completed(&self, f: &Function, outcome: OpType, latency: Duration) {
        let name = Name(f.clone());
        self.latency
            .get_or_create(&FnLabels { f: name.clone() })
            .observe(latency.as_secs_f64());
        self.ops
            .get_or_create(&OpLabels {
                f: name,
                outcome: Outcome(outcome),
            })
            .inc();
    }

    /// Sets the fault gauges: 1 for the faults in `active`, 0 for the rest.
    pub fn in_force(&self, active: impl IntoIterator<Item = Fault>) {
        let active: Vec<Fault> = active.into_iter().collect();
        for (fault, gauge) in &self.faults {
            gauge.set(active.contains(fault).into());
        }
    }

    /// Every series, in OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Binds `addr` for `--metrics-listen`; a taken or foreign address is
/// bad input, said in one sentence.
pub async fn listen(addr: SocketAddr) -> Result<TcpListener, UsageError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| UsageError(format!("--metrics-listen {addr}: cannot listen there: {e}")))
}

/// Serves `metrics` at `/metrics` on `listener` until dropped (the
/// run's end).
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> Server {
    Server(tokio::spawn(async move {
        let answer = move |path: &str| match path {
            "/metrics" => Response::ok(CONTENT_TYPE, metrics.encode().into_bytes()),
            _ => Response::not_found(),
        };
        if let Err(e) = http::serve(listener, answer).await {
            tracing::warn!("--metrics-listen: serving stopped: {e}");
        }
    }))
}

/// The task serving `/metrics`; dropping it stops it and frees the port.
pub struct Server(tokio::task::JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_carry_the_run_and_count_what_happened() {
        let m = Metrics::new("demo-cas", "20260101T000000", 7, &[Fault::Kill, Fault::Pause]);
        m.completed(&Function::Read, OpType::Ok, Duration::from_millis(3));
        m.completed(&Function::Read, OpType::Ok, Duration::from_millis(5));
        m.completed(&Function::Cas, OpType::Fail, Duration::from_micros(50));
        m.in_force([Fault::Pause]);
        let text = m.encode();
        let run = "test=\"demo-cas\",run=\"20260101T000000\",seed=\"7\"";
        assert!(
            text.contains(&format!(
                "faultline_operations_total{{{run},f=\"read\",outcome=\"ok\"}} 2"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "faultline_operations_total{{{run},f=\"cas\",outcome=\"fail\"}} 1"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "faultline_operation_latency_seconds_count{{{run},f=\"read\"}} 2"
            )),
            "{text}"
        );
        // 50 µs falls in the first bucket, 3 and 5 ms above 2.5 ms.
        assert!(
            text.contains(&format!(
                "faultline_operation_latency_seconds_bucket{{{run},le=\"0.0001\",f=\"cas\"}} 1"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("faultline_fault_active{{{run},fault=\"pause\"}} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!("faultline_fault_active{{{run},fault=\"kill\"}} 0")),
            "{text}"
        );
        m.in_force([]);
        assert!(m
            .encode()
            .contains(&format!("faultline_fault_active{{{run},fault=\"pause\"}} 0")));
    }
}
