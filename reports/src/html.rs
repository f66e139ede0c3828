//! `report.html`: one self-contained file (no network fetches) that says
//! at the top whether the run is valid and, if not, why in one sentence;
//! then the counterexample opened at the failure (the longest prefix that
//! can be ordered, the model state after each step, the op that cannot
//! follow and what was concurrent with it), the timeline (see
//! `timeline`), the linearization view (see `linearizations`), the plots, fault periods, counts by operation and
//! outcome, per-key verdicts and the configuration. Long tables are cut
//! with a count.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use checkers::counterexample::{describe_op, Counterexample};
use checkers::{FaultPeriod, Operation, Process};

use crate::plot::Plot;
use crate::{escape, outcome_column, verdict_class, RunView};

/// Prefix steps shown before "the whole prefix".
const LAST_STEPS: usize = 20;
/// Rows in any table at most.
const MAX_ROWS: usize = 500;
/// Counterexamples shown in full.
const MAX_COUNTEREXAMPLES: usize = 5;

fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// What cut the run short (`Ctrl-C`, `SIGTERM`), if a signal did: its
/// `test.json` says so where the run ended.
fn interrupted<'a>(view: &'a RunView) -> Option<&'a str> {
    let ended = view.test.as_ref()?.get("ended")?;
    (ended["interrupted"] == true).then(|| ended["by"].as_str().unwrap_or("a signal"))
}

/// Renders the report.
pub fn render(view: &RunView, periods: &[FaultPeriod], plots: &[Plot]) -> String {
    let mut h = String::with_capacity(1 << 20);
    let title = escape(&view.title);
    let v = verdict_class(view.verdict);
    let span = view.history.ops.last().map_or(0, |o| o.time);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}: {v}</title><style>{CSS}</style></head><body>\n\
         <header class=\"{v}\"><h1 id=\"verdict\">{}{}</h1><p id=\"anomaly\">{}</p>\
         <p class=\"meta\">{title} · {} operations · {} nemesis events · {}</p></header>\n",
        v.to_uppercase(),
        interrupted(view).map_or(String::new(), |by| format!(
            " <span id=\"interrupted\">interrupted ({})</span>",
            escape(by)
        )),
        escape(&view.sentence),
        view.operations.len(),
        view.history.ops.iter().filter(|o| o.process == Process::Nemesis).count() / 2,
        if view.history.timed { format!("{:.1} s", span as f64 / 1e9) } else { "untimed".into() },
    );
    checkers_table(&mut h, view);
    anomalies(&mut h, view);
    log_section(&mut h, view, plots);
    let failures = counterexamples(&mut h, view);
    crate::timeline::section(&mut h, view, periods, failures.first().copied());
    crate::linearizations::section(&mut h, view);
    plots_section(&mut h, plots);
    let marks: Vec<u64> = failures.iter().map(|op| op.call).collect();
    crate::system_metrics::section(&mut h, view, periods, &marks);
    faults_table(&mut h, periods);
    counts_table(&mut h, &view.operations);
    keys_table(&mut h, view);
    config(&mut h, view);
    h.push_str("</body></html>\n");
    h
}

fn checkers_table(h: &mut String, view: &RunView) {
    h.push_str("<section id=\"checkers\"><h2>Checkers</h2><table><tr><th>checker</th><th>verdict</th><th>finding</th></tr>");
    for c in &view.checkers {
        let v = verdict_class(c.verdict);
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{v}\">{v}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(&c.sentence)
        );
    }
    h.push_str("</table></section>\n");
}

/// The transactional anomalies: counts, what they rule out, and each
/// explained example with its cycle drawn.
fn anomalies(h: &mut String, view: &RunView) {
    let Some(t) = view.transactions else { return };
    let models: Vec<&str> = t.models.iter().map(|m| m.name()).collect();
    let _ = write!(
        h,
        "<section id=\"anomalies\"><h2>Transactions</h2><p>{} {} transactions: {} committed, {} indeterminate, {} aborted; \
         {} dependency edges; checked against {}.</p>",
        t.committed + t.indeterminate + t.aborted,
        escape(&t.workload),
        t.committed,
        t.indeterminate,
        t.aborted,
        t.edges,
        escape(&models.join(", "))
    );
    if t.anomalies.is_empty() {
        h.push_str("<p>No anomaly found.</p></section>\n");
        return;
    }
    h.push_str("<table><tr><th>anomaly</th><th>count</th><th>forbidden by the models checked</th></tr>");
    for (name, n) in &t.anomalies {
        let forbidden = t.forbidden.contains(name);
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{n}</td><td class=\"{}\">{}</td></tr>",
            escape(name),
            if forbidden { "invalid" } else { "valid" },
            if forbidden { "yes" } else { "no" }
        );
    }
    let names = |ms: &[&checkers::txn::Model]| ms.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ");
    let also: Vec<_> = t.ruled_out.iter().filter(|m| !t.not.contains(m)).collect();
    let not: Vec<_> = t.not.iter().collect();
    let _ = write!(
        h,
        "</table><p>The history is not <b>{}</b>{}.</p>",
        escape(&names(&not)),
        if also.is_empty() {
            String::new()
        } else {
            format!(", so not {} either", escape(&names(&also)))
        }
    );
    for (i, e) in t.examples.iter().enumerate() {
        let _ = write!(
            h,
            "<details class=\"anomaly\"{}><summary>{}: {}</summary>",
            if i == 0 { " open" } else { "" },
            escape(&e.anomaly.to_string()),
            escape(&e.summary)
        );
        if !e.cycle.is_empty() {
            h.push_str(&crate::cycle::svg(&e.cycle));
        }
        h.push_str("<ol class=\"explanation\">");
        for line in &e.explanation {
            let _ = write!(h, "<li>{}</li>", escape(line));
        }
        h.push_str("</ol><table><tr><th>txn</th><th>process</th><th>outcome</th><th>line</th><th>micro-ops</th></tr>");
        for x in &e.txns {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&x.id),
                escape(&x.process),
                escape(&x.outcome),
                x.line,
                escape(&x.mops)
            );
        }
        h.push_str("</table></details>");
    }
    for note in &t.notes {
        let _ = write!(h, "<p class=\"note\">{}</p>", escape(note));
    }
    h.push_str("</section>\n");
}

/// The log checker's counts by kind, the first findings of each, and
/// the plot of what was lost and duplicated against the faults.
fn log_section(h: &mut String, view: &RunView, plots: &[Plot]) {
    let Some(r) = view.log else { return };
    let s = &r.sends;
    let _ = write!(
        h,
        "<section id=\"log\"><h2>Logs</h2><p>{} log{}: {} sends ({} acknowledged, {} indeterminate of which {} were \
         read, {} failed), {} polls ({} final reads).</p>",
        r.logs,
        if r.logs == 1 { "" } else { "s" },
        s.acknowledged + s.indeterminate + s.failed,
        s.acknowledged,
        s.indeterminate,
        s.recovered,
        s.failed,
        r.polls,
        r.final_reads
    );
    if r.anomalies.is_empty() {
        h.push_str("<p>No anomaly found.</p>");
    } else {
        h.push_str("<table><tr><th>anomaly</th><th>count</th><th>makes the history invalid</th></tr>");
        for a in &r.anomalies {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                a.kind.name(),
                a.count,
                if a.forbidden { "invalid" } else { "valid" },
                if a.forbidden { "yes" } else { "no (a warning)" }
            );
        }
        h.push_str("</table>");
        for a in &r.anomalies {
            let _ = write!(
                h,
                "<details class=\"anomaly\"><summary>{}: {} (first {} shown)</summary><ul>",
                a.kind.name(),
                a.count,
                a.findings.len()
            );
            for f in &a.findings {
                let _ = write!(h, "<li>{}</li>", escape(&f.sentence));
            }
            h.push_str("</ul></details>");
        }
    }
    for p in plots.iter().filter(|p| p.name == "log-anomalies") {
        figure(h, p);
    }
    h.push_str("</section>\n");
}

fn op_row(h: &mut String, n: usize, op: &Operation, state: &str, timed: bool, class: &str) {
    let when = if timed {
        format!("{} – {}", secs(op.call), op.ret.map_or("never".into(), secs))
    } else {
        format!(
            "lines {}–{}",
            op.line,
            op.ret_line.map_or("…".into(), |l| l.to_string())
        )
    };
    let _ = write!(
        h,
        "<tr class=\"{class}\"><td>{n}</td><td>{}</td><td>{}</td><td>{when}</td><td>{}</td></tr>",
        op.process,
        escape(&describe_op(op)),
        escape(state)
    );
}

fn steps_table(h: &mut String, ce: &Counterexample, from: usize, timed: bool) {
    h.push_str("<table class=\"steps\"><tr><th>#</th><th>process</th><th>operation</th><th>time</th><th>state after</th></tr>");
    for (i, s) in ce.prefix.iter().enumerate().skip(from) {
        op_row(h, i + 1, &s.op, &s.state, timed, "");
    }
    op_row(
        h,
        ce.prefix.len() + 1,
        &ce.op,
        &format!("impossible: {}", ce.reason),
        timed,
        "blocked",
    );
    h.push_str("</table>");
}

/// The counterexamples, first one open. Returns their blocked ops.
fn counterexamples<'a>(h: &mut String, view: &'a RunView) -> Vec<&'a Operation> {
    let Some(lin) = view.linearizable else {
        return Vec::new();
    };
    let bad: Vec<_> = lin
        .partitions
        .iter()
        .filter_map(|p| p.counterexample.as_ref().map(|c| (p, c)))
        .collect();
    if bad.is_empty() {
        return Vec::new();
    }
    let _ = write!(
        h,
        "<section id=\"counterexample\"><h2>Why it is not linearizable</h2><p>{} of {} key{} cannot be linearized. \
         For each: the longest sequence of operations that can be put in an order consistent with real time and \
         with the model, the model's state after each, and the operation that cannot come next.</p>",
        bad.len(),
        lin.partitions.len(),
        if lin.partitions.len() == 1 { "" } else { "s" }
    );
    for (i, (p, ce)) in bad.iter().take(MAX_COUNTEREXAMPLES).enumerate() {
        let key = p.key.as_ref().map(|k| format!("key {k}: ")).unwrap_or_default();
        let _ = write!(
            h,
            "<details{}><summary>{}</summary><p class=\"sentence\">{}</p><p>After the {} operations that can be ordered, \
             <b>{}</b>. The next operation to return, <b class=\"blocked\">{}</b>, is impossible there: {}.</p>",
            if i == 0 { " open id=\"failure\"" } else { "" },
            escape(&format!("{key}{}", ce.sentence)),
            escape(&ce.sentence),
            ce.prefix.len(),
            escape(&ce.state),
            escape(&describe_op(&ce.op)),
            escape(&ce.reason)
        );
        let from = ce.prefix.len().saturating_sub(LAST_STEPS);
        steps_table(h, ce, from, view.history.timed);
        if !ce.concurrent.is_empty() {
            h.push_str("<p>Still open when it returned (could have gone first):</p><ul>");
            for c in ce.concurrent.iter().take(50) {
                let _ = write!(h, "<li>{}</li>", escape(&describe_op(c)));
            }
            h.push_str("</ul>");
        }
        if from > 0 {
            let _ = write!(
                h,
                "<details><summary>the whole prefix ({} steps)</summary>",
                ce.prefix.len()
            );
            steps_table(h, ce, 0, view.history.timed);
            h.push_str("</details>");
        }
        h.push_str("</details>");
    }
    if bad.len() > MAX_COUNTEREXAMPLES {
        let _ = write!(
            h,
            "<p>… and {} more invalid keys (see results.json).</p>",
            bad.len() - MAX_COUNTEREXAMPLES
        );
    }
    h.push_str("</section>\n");
    bad.iter().map(|(_, c)| &c.op).collect()
}

fn plots_section(h: &mut String, plots: &[Plot]) {
    h.push_str("<section id=\"plots\"><h2>Latency and throughput</h2>");
    for p in plots.iter().filter(|p| p.name != "log-anomalies") {
        figure(h, p);
    }
    h.push_str("</section>\n");
}

/// A plot, embedded, captioned with its SVG file's name.
fn figure(h: &mut String, p: &Plot) {
    let _ = write!(
        h,
        "<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{}.svg</figcaption></figure>",
        p.name,
        B64.encode(&p.png),
        p.name
    );
}

fn faults_table(h: &mut String, periods: &[FaultPeriod]) {
    h.push_str("<section id=\"faults\"><h2>Faults</h2>");
    if periods.is_empty() {
        h.push_str("<p>No faults were injected.</p></section>\n");
        return;
    }
    h.push_str("<table><tr><th>from</th><th>to</th><th>fault</th><th>on</th><th>what was done</th></tr>");
    for p in periods.iter().take(MAX_ROWS) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            secs(p.start),
            secs(p.end),
            escape(&p.kind),
            escape(&p.nodes.join(", ")),
            escape(&p.what)
        );
    }
    if periods.len() > MAX_ROWS {
        let _ = write!(
            h,
            "<tr><td colspan=\"5\">… {} more fault periods</td></tr>",
            periods.len() - MAX_ROWS
        );
    }
    h.push_str("</table></section>\n");
}

fn counts_table(h: &mut String, ops: &[Operation]) {
    let mut counts: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for o in ops {
        counts.entry(o.f.name()).or_default()[outcome_column(o.outcome)] += 1;
    }
    h.push_str("<section id=\"counts\"><h2>Operations</h2><table><tr><th>function</th><th>ok</th><th>fail</th><th>info</th></tr>");
    for (f, [ok, fail, info]) in counts {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{ok}</td><td>{fail}</td><td>{info}</td></tr>",
            escape(f)
        );
    }
    h.push_str("</table></section>\n");
}

fn keys_table(h: &mut String, view: &RunView) {
    let Some(lin) = view.linearizable else { return };
    if lin.partitions.iter().all(|p| p.key.is_none()) {
        return;
    }
    let mut parts: Vec<_> = lin.partitions.iter().collect();
    parts.sort_by_key(|p| std::cmp::Reverse(p.verdict));
    let _ = write!(h, "<section id=\"keys\"><h2>Keys</h2><p>{} keys checked independently.</p><table><tr><th>key</th><th>operations</th><th>verdict</th><th>search</th></tr>", parts.len());
    for p in parts.iter().take(MAX_ROWS) {
        let v = verdict_class(p.verdict);
        let key = p.key.as_ref().map_or(String::new(), |k| k.to_string());
        let _ =
            write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{v}\">{v}</td><td>{:.1} ms, {} configurations{}</td></tr>",
            escape(&key),
            p.ops,
            p.elapsed_ms,
            p.configurations,
            p.reason.as_ref().map_or(String::new(), |r| format!(" — {}", escape(r)))
        );
    }
    if parts.len() > MAX_ROWS {
        let _ = write!(
            h,
            "<tr><td colspan=\"4\">… {} more valid keys</td></tr>",
            parts.len() - MAX_ROWS
        );
    }
    h.push_str("</table></section>\n");
}

fn config(h: &mut String, view: &RunView) {
    let Some(test) = &view.test else { return };
    let command = test["command"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join(" "));
    let _ = write!(
        h,
        "<section id=\"config\"><h2>Configuration</h2><pre>{}</pre><details><summary>test.json</summary><pre>{}</pre></details></section>",
        escape(command.as_deref().unwrap_or("")),
        escape(&serde_json::to_string_pretty(test).unwrap_or_default())
    );
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1240px;padding:0 16px 40px;color:#222}\
header{padding:14px 18px;margin:12px 0;border-radius:6px}header h1{margin:0;font-size:28px}\
#interrupted{font-size:15px;font-weight:normal;margin-left:10px;padding:2px 8px;border:1px solid #d68a00;border-radius:4px}\
header.valid{background:#e3f4e6;border-left:8px solid #2a8a3e}header.invalid{background:#fbe4e4;border-left:8px solid #c62828}\
header.unknown{background:#fff3d6;border-left:8px solid #d68a00}#anomaly{font-size:17px;margin:6px 0}.meta{color:#555;margin:0}\
td.valid{color:#2a8a3e;font-weight:bold}td.invalid{color:#c62828;font-weight:bold}td.unknown{color:#b06f00;font-weight:bold}\
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f4f4f4}tr.blocked td{background:#fbe4e4;font-weight:bold}b.blocked{color:#c62828}\
details{margin:8px 0}summary{cursor:pointer;font-weight:600}.sentence{font-style:italic}\
#summary{background:#f7f7f7;border-radius:6px;padding:6px 12px;margin:6px 0}#summary p{margin:2px 0}\
span.ok{color:#2a8a3e}span.fail{color:#c62828}span.info{color:#b06f00}p.valid{color:#2a8a3e}p.invalid{color:#c62828}p.unknown{color:#b06f00}\
canvas{border:1px solid #ccc;width:100%;cursor:grab}#tip{min-height:1.4em;color:#333;font-family:monospace}\
tr.here td{background:#fff3c4;font-weight:bold}#lin-list{max-height:320px;overflow:auto}#lin-list tr[data-op]{cursor:pointer}\
#lin-list tr[data-op]:hover td{background:#eef3ff}td.state{overflow-wrap:anywhere;max-width:520px}p.note{color:#555}\
figure{margin:8px 0}figure img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:8px;overflow:auto}";
