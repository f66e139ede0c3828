//! The three plots of a run, as Jepsen's perf graphs: `latency-raw` (every
//! operation's latency by function and outcome, log scale),
//! `latency-quantiles` (p50, p95, p99 and max over time) and `rate`
//! (completions per second by function and outcome). Fault periods are
//! shaded and named in the legend. A log history adds `log-anomalies`
//! (lost, unseen and duplicated values per time window, by when they
//! were sent). Each is drawn twice, PNG and SVG, with
//! an embedded font, so nothing depends on fonts installed on the machine.

use std::collections::BTreeMap;
use std::sync::Once;

use checkers::log::{Kind as LogKind, LogReport};
use checkers::{FaultPeriod, Function, Operation, Outcome, Value};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::HashMap;

use crate::ReportError;

/// Width and height of every plot, in pixels.
pub const SIZE: (u32, u32) = (1000, 480);
/// Raw-latency points drawn at most; more are thinned evenly, so a
/// million-op run still plots in a moment.
const MAX_POINTS: usize = 50_000;

/// One rendered plot.
pub struct Plot {
    /// `latency-raw`, `latency-quantiles`, `rate`, `log-anomalies`.
    pub name: &'static str,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// The SVG document.
    pub svg: String,
}

fn font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is the crate's own bytes: registration cannot fail for
        // a reason a user could fix, and plots fall back to no text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

const FAULT: RGBColor = RGBColor(250, 200, 200);

fn outcome_color(o: Outcome, shade: usize) -> RGBColor {
    let k = (shade % 3) as u8 * 40;
    match o {
        Outcome::Ok => RGBColor(30, 120u8.saturating_add(k), 60),
        Outcome::Fail => RGBColor(200u8.saturating_add(k / 2), 40, 40),
        Outcome::Info => RGBColor(230, 140u8.saturating_add(k / 2), 20),
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Info => "info",
    }
}

/// What the plots are drawn from, prepared once.
struct Data {
    /// (function, outcome) → (invocation time s, latency ms).
    points: BTreeMap<(String, Outcome), Vec<(f64, f64)>>,
    /// Seconds the history spans.
    span: f64,
    /// Latency range, ms.
    lat: (f64, f64),
    bucket: f64,
    faults: Vec<(f64, f64, String)>,
    /// Log anomalies that name sends: the kind and each send's time, s.
    log: Vec<(LogKind, Vec<f64>)>,
}

/// The log anomalies plotted, with their colours.
const LOG_KINDS: [(LogKind, RGBColor); 3] = [
    (LogKind::Lost, RGBColor(200, 30, 30)),
    (LogKind::Unseen, RGBColor(120, 60, 160)),
    (LogKind::Duplicate, RGBColor(230, 140, 20)),
];

/// When each value of `LOG_KINDS` was sent.
fn log_times(ops: &[Operation], report: &LogReport) -> Vec<(LogKind, Vec<f64>)> {
    let sent: HashMap<(&Option<Value>, &Value), u64> = ops
        .iter()
        .filter(|o| o.f == Function::Send)
        .map(|o| ((&o.key, &o.input), o.call))
        .collect();
    LOG_KINDS
        .iter()
        .map(|&(kind, _)| {
            let values = report.anomalies.iter().filter(|a| a.kind == kind);
            let times = values
                .flat_map(|a| &a.values)
                .filter_map(|(k, v)| sent.get(&(k, v)).map(|&t| t as f64 / 1e9))
                .collect();
            (kind, times)
        })
        .collect()
}

impl Data {
    fn new(ops: &[Operation], periods: &[FaultPeriod], log: Option<&LogReport>) -> Data {
        let mut points: BTreeMap<(String, Outcome), Vec<(f64, f64)>> = BTreeMap::new();
        let mut span: f64 = 1.0;
        let (mut lo, mut hi) = (f64::MAX, 0.0f64);
        for op in ops {
            let Some(ret) = op.ret else { continue };
            let t = op.call as f64 / 1e9;
            let ms = ((ret.saturating_sub(op.call)) as f64 / 1e6).max(1e-3);
            span = span.max(ret as f64 / 1e9);
            lo = lo.min(ms);
            hi = hi.max(ms);
            points
                .entry((op.f.to_string(), op.outcome))
                .or_default()
                .push((t, ms));
        }
        for p in periods {
            span = span.max(p.end as f64 / 1e9);
        }
        if lo > hi {
            (lo, hi) = (1.0, 10.0);
        }
        Data {
            points,
            span,
            lat: (lo / 1.5, hi * 1.5),
            bucket: (span / 100.0).max(0.1),
            faults: periods
                .iter()
                .map(|p| (p.start as f64 / 1e9, p.end as f64 / 1e9, p.label()))
                .collect(),
            log: log.map(|r| log_times(ops, r)).unwrap_or_default(),
        }
    }
}

type DrawResult<E> = Result<(), DrawingAreaErrorKind<E>>;

/// Shades every fault period over the full height of a chart.
fn shade<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    data: &Data,
    y: (f64, f64),
) -> DrawResult<DB::ErrorType> {
    if data.faults.is_empty() {
        return Ok(());
    }
    chart
        .draw_series(
            data.faults
                .iter()
                .map(|(a, b, _)| Rectangle::new([(*a, y.0), (*b, y.1)], FAULT.filled())),
        )?
        .label(format!("faults ({})", data.faults.len()))
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], FAULT.filled()));
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
) -> DrawResult<DB::ErrorType> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 13))
        .draw()
}

fn latency_raw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &Data) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption("Latency of every operation", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..data.span, (data.lat.0..data.lat.1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("latency (ms)")
        .label_style(("sans-serif", 12))
        .draw()?;
    shade(&mut chart, data, data.lat)?;
    let total: usize = data.points.values().map(Vec::len).sum();
    let stride = total.div_ceil(MAX_POINTS).max(1);
    for (i, ((f, o), pts)) in data.points.iter().enumerate() {
        let color = outcome_color(*o, i);
        chart
            .draw_series(
                pts.iter()
                    .step_by(stride)
                    .map(|&(x, y)| Circle::new((x, y), 2, color.filled())),
            )?
            .label(format!("{f} {}", outcome_name(*o)))
            .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
    }
    legend(&mut chart)
}

/// A quantile line: its name, the quantile, its colour and its points.
type Quantile = (&'static str, f64, RGBColor, Vec<(f64, f64)>);

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn latency_quantiles<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &Data,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let buckets = (data.span / data.bucket).ceil() as usize + 1;
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); buckets];
    for pts in data
        .points
        .iter()
        .filter(|((_, o), _)| *o != Outcome::Info)
        .map(|(_, p)| p)
    {
        for &(t, ms) in pts {
            per[(t / data.bucket) as usize].push(ms);
        }
    }
    let mut lines: [Quantile; 4] = [
        ("p50", 0.5, RGBColor(30, 90, 200), Vec::new()),
        ("p95", 0.95, RGBColor(40, 160, 90), Vec::new()),
        ("p99", 0.99, RGBColor(220, 130, 20), Vec::new()),
        ("max", 1.0, RGBColor(190, 30, 30), Vec::new()),
    ];
    for (i, b) in per.iter_mut().enumerate().filter(|(_, b)| !b.is_empty()) {
        b.sort_by(f64::total_cmp);
        let t = (i as f64 + 0.5) * data.bucket;
        for (_, q, _, pts) in lines.iter_mut() {
            pts.push((t, quantile(b, *q)));
        }
    }
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Latency quantiles ({:.1} s windows)", data.bucket),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..data.span, (data.lat.0..data.lat.1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("latency (ms)")
        .label_style(("sans-serif", 12))
        .draw()?;
    shade(&mut chart, data, data.lat)?;
    for (name, _, color, pts) in lines {
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
    }
    legend(&mut chart)
}

/// Per time window of `data`, how many of `times` fall in it, per second.
fn per_second(data: &Data, times: &[f64]) -> Vec<(f64, f64)> {
    let buckets = (data.span / data.bucket).ceil() as usize + 1;
    let mut counts = vec![0usize; buckets];
    for &t in times {
        counts[((t / data.bucket) as usize).min(buckets - 1)] += 1;
    }
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| ((i as f64 + 0.5) * data.bucket, c as f64 / data.bucket))
        .collect()
}

fn log_anomalies<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &Data,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let lines: Vec<_> = (data.log.iter())
        .map(|(kind, times)| (*kind, times.len(), per_second(data, times)))
        .collect();
    let top = (lines.iter().flat_map(|l| &l.2).map(|p| p.1)).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Lost and duplicated values, by send time ({:.1} s windows)",
                data.bucket
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..data.span, 0f64..top * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("time the value was sent (s)")
        .y_desc("values / s")
        .label_style(("sans-serif", 12))
        .draw()?;
    shade(&mut chart, data, (0.0, top * 1.1))?;
    for ((kind, count, line), (_, color)) in lines.into_iter().zip(LOG_KINDS) {
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(format!("{} ({count})", kind.name()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
    }
    legend(&mut chart)
}

fn rate<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &Data) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let mut series = Vec::new();
    let mut top: f64 = 1.0;
    for ((f, o), pts) in &data.points {
        let times: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let line = per_second(data, &times);
        top = line.iter().map(|p| p.1).fold(top, f64::max);
        series.push((format!("{f} {}", outcome_name(*o)), *o, line));
    }
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Throughput ({:.1} s windows)", data.bucket),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..data.span, 0f64..top * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("operations / s")
        .label_style(("sans-serif", 12))
        .draw()?;
    shade(&mut chart, data, (0.0, top * 1.1))?;
    for (i, (name, o, line)) in series.into_iter().enumerate() {
        let color = outcome_color(o, i);
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
    }
    legend(&mut chart)
}

/// Which plot to draw.
#[derive(Clone, Copy)]
enum Kind {
    LatencyRaw,
    LatencyQuantiles,
    Rate,
    LogAnomalies,
}

fn draw<DB: DrawingBackend>(
    kind: Kind,
    root: &DrawingArea<DB, Shift>,
    data: &Data,
) -> DrawResult<DB::ErrorType> {
    match kind {
        Kind::LatencyRaw => latency_raw(root, data),
        Kind::LatencyQuantiles => latency_quantiles(root, data),
        Kind::Rate => rate(root, data),
        Kind::LogAnomalies => log_anomalies(root, data),
    }
}

fn png(kind: Kind, data: &Data, name: &str) -> Result<Vec<u8>, ReportError> {
    let err = |e: String| ReportError::Plot(format!("{name}: {e}"));
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(kind, &root, data).map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, SIZE.0, SIZE.1);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| err(e.to_string()))?;
    w.write_image_data(&rgb).map_err(|e| err(e.to_string()))?;
    drop(w);
    Ok(out)
}

fn svg(kind: Kind, data: &Data, name: &str) -> Result<String, ReportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(kind, &root, data).map_err(|e| ReportError::Plot(format!("{name}: {e}")))?;
        root.present()
            .map_err(|e| ReportError::Plot(format!("{name}: {e}")))?;
    }
    Ok(out)
}

/// Draws every plot; `log-anomalies` only for a log history.
pub fn render_all(
    ops: &[Operation],
    periods: &[FaultPeriod],
    log: Option<&LogReport>,
) -> Result<Vec<Plot>, ReportError> {
    font();
    let data = Data::new(ops, periods, log);
    let mut plots = Vec::new();
    let kinds = [
        ("latency-raw", Kind::LatencyRaw),
        ("latency-quantiles", Kind::LatencyQuantiles),
        ("rate", Kind::Rate),
    ];
    let extra = log.map(|_| ("log-anomalies", Kind::LogAnomalies));
    for (name, kind) in kinds.into_iter().chain(extra) {
        plots.push(Plot {
            name,
            png: png(kind, &data, name)?,
            svg: svg(kind, &data, name)?,
        });
    }
    Ok(plots)
}
