//! Reports as a person sees them: report.html of an invalid demo run and
//! `faultline serve`'s index, rendered in headless Chromium (Debian's
//! `chromium`, started by the test); the rendered DOM must show the
//! verdict, the anomaly sentence and the operation that cannot be
//! linearized, and the index must list the run with its verdict; the
//! timeline of a run whose workers retire processes keeps one row per
//! worker.

mod common;

fn store(name: &str) -> std::path::PathBuf {
    common::store("browser", name)
}

use std::path::Path;
use std::process::Command;

/// The DOM after scripts ran, as headless Chromium renders `url`.
fn rendered_dom(url: &str, profile: &Path) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .expect("chromium runs (apt-get install chromium)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn an_invalid_report_and_the_index_render_in_a_browser() {
    let s = store("report");
    let o = common::faultline(&[
        "test",
        "--store",
        s.to_str().unwrap(),
        "--mode",
        "stale-reads",
        "--nemesis",
        "none",
        "--time-limit",
        "6",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let run = s.join(std::fs::read_link(s.join("latest")).unwrap());
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    let sentence = results["sentence"].as_str().unwrap();
    let bad = results["checkers"]["linearizable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p.get("counterexample"))
        .expect("a counterexample");
    let op = &bad["op"];
    // Values as faultline writes them: a read of an empty key is nil.
    let read = match &op["output"] {
        serde_json::Value::Null => "nil".to_string(),
        v => v.to_string(),
    };
    let blocked = format!("process {} read {read}", op["process"]);

    let dom = rendered_dom(
        &format!("file://{}", run.join("report.html").display()),
        &s.join("profile1"),
    );
    assert!(dom.contains("<h1 id=\"verdict\">INVALID</h1>"), "verdict shown");
    let anomaly = dom
        .split("<p id=\"anomaly\">")
        .nth(1)
        .and_then(|r| r.split("</p>").next())
        .expect("anomaly");
    assert_eq!(unescape(anomaly), sentence, "the anomaly sentence is shown");
    let failure = dom
        .split("id=\"failure\"")
        .nth(1)
        .expect("the counterexample is open");
    assert!(
        unescape(failure).contains(&blocked),
        "the blocked op {blocked} is shown in the counterexample"
    );
    assert!(dom.contains("<canvas id=\"tl\""), "the timeline is there");

    let (mut server, url) = common::serve(&s);
    assert!(url.starts_with("http://127.0.0.1:"), "bound to loopback: {url}");
    let index = rendered_dom(&url, &s.join("profile2"));
    let report_link = rendered_dom(
        &format!(
            "{url}demo-cas-register-stale-reads/{}/report.html",
            run.file_name().unwrap().to_string_lossy()
        ),
        &s.join("profile3"),
    );
    let outside = rendered_dom(&format!("{url}..%2f..%2fetc/passwd"), &s.join("profile4"));
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        index.contains("class=\"run invalid\""),
        "the run is listed with its verdict colour"
    );
    assert!(
        index.contains("demo-cas-register-stale-reads"),
        "and its test name"
    );
    assert!(
        index.contains("/report.html\">report</a>"),
        "and a link to its report"
    );
    assert!(
        report_link.contains("<h1 id=\"verdict\">INVALID</h1>"),
        "the linked report is served"
    );
    assert!(!outside.contains("root:"), "nothing outside the store is served");
}

#[test]
fn the_timeline_keeps_a_row_per_worker_when_processes_retire() {
    // Pausing the leader for 3 s with a 1 s op timeout: every worker's
    // ops time out (info), and each carries on as a fresh process.
    let s = store("timeline");
    let o = common::faultline(&[
        "test",
        "--store",
        s.to_str().unwrap(),
        "--nemesis",
        "pause",
        "--nemesis-targets",
        "primary",
        "--time-limit",
        "8",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    let run = common::latest(&s);
    let test: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("test.json")).unwrap()).unwrap();
    let workers = test["config"]["concurrency"].as_u64().expect("the concurrency") as usize;
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let mut processes = std::collections::BTreeSet::new();
    let mut infos = 0;
    for line in history.lines() {
        let op: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(p) = op["process"].as_u64() {
            processes.insert(p);
            infos += usize::from(op["type"] == "info");
        }
    }
    assert!(
        processes.len() > workers,
        "the run retired processes: {} processes for {workers} workers",
        processes.len()
    );

    let dom = rendered_dom(
        &format!("file://{}", run.join("report.html").display()),
        &s.join("profile"),
    );
    let rows: usize = dom
        .split("<canvas id=\"tl\"")
        .nth(1)
        .and_then(|c| c.split("data-rows=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .expect("the script drew the timeline and set its row count")
        .parse()
        .unwrap();
    // Every worker's first process is live at the start, and then one at a
    // time per worker: a row each.
    assert_eq!(
        rows,
        workers,
        "{} processes in {rows} rows for {workers} workers",
        processes.len()
    );
    assert!(
        dom.contains(&format!("{} processes in {rows} rows", processes.len())),
        "the timeline says how many processes share its rows"
    );
    assert!(
        dom.contains(&format!("<span class=\"info\">{infos} info</span>")),
        "the summary counts the {infos} indeterminate ops"
    );
    std::fs::remove_dir_all(&s).unwrap();
}

/// The faults reports once left out, on real etcd (Debian's etcd-server):
/// in the browser, report.html's Faults table lists each with its nodes
/// and what was done, and the timeline is drawn with a labelled span for
/// each.
#[test]
fn every_fault_period_renders_in_the_faults_table_and_the_timeline() {
    let s = store("faults");
    let o = common::faultline(&[
        "test",
        "--db",
        "etcd",
        "--store",
        s.to_str().unwrap(),
        "--nemesis",
        "delay,blackhole,lose-unsynced,corrupt",
        "--nemesis-interval",
        "2",
        "--time-limit",
        "18",
    ]);
    assert!(
        matches!(o.status.code(), Some(0..=2)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run = s.join(std::fs::read_link(s.join("latest")).unwrap());
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    let faults = results["faults"].as_array().unwrap();
    let dom = rendered_dom(
        &format!("file://{}", run.join("report.html").display()),
        &s.join("profile"),
    );
    let table = dom
        .split("<section id=\"faults\">")
        .nth(1)
        .and_then(|t| t.split("</section>").next())
        .expect("the Faults section");
    // One row per fault period, each naming its fault and what was done.
    let rows: Vec<String> = table.split("<tr>").skip(2).map(unescape).collect();
    assert_eq!(rows.len(), faults.len(), "{table}");
    for kind in ["delay", "blackhole", "lose-unsynced", "corrupt"] {
        assert!(
            rows.iter().any(|r| r.contains(&format!("<td>{kind}</td>"))),
            "no {kind} row in {table}"
        );
    }
    for (row, p) in rows.iter().zip(faults) {
        assert!(row.contains(p["what"].as_str().unwrap()), "{row} for {p}");
    }
    assert!(dom.contains("<canvas id=\"tl\""), "the timeline is drawn");
    // A script's text is not escaped in the DOM.
    let data = common::timeline_data(&dom);
    let spans = data["faults"].as_array().unwrap();
    assert_eq!(spans.len(), faults.len());
    for (span, p) in spans.iter().zip(faults) {
        let label = span[2].as_str().unwrap();
        assert!(
            label.starts_with(p["kind"].as_str().unwrap()) && label.contains(p["what"].as_str().unwrap()),
            "{label} for {p}"
        );
    }
}
