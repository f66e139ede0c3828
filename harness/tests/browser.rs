//! Reports as a person sees them: report.html of an invalid demo run and
//! `faultline serve`'s index, rendered in headless Chromium (Debian's
//! `chromium`, started by the test); the rendered DOM must show the
//! verdict, the anomaly sentence and the operation that cannot be
//! linearized, and the index must list the run with its verdict; the
//! timeline of a run whose workers retire processes keeps one row per
//! worker; the linearization view shows what results.json holds.

mod common;
#[path = "../../checkers/tests/corpus/mod.rs"]
mod corpus;

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

/// The linearization view's rows as the browser drew them: each step's
/// op, whether it is the marked one, and the state after it.
fn drawn_steps(dom: &str) -> Vec<(u64, bool, String)> {
    let view = dom
        .split("<div id=\"lin-view\">")
        .nth(1)
        .and_then(|v| v.split("</div>").next())
        .expect("the linearization view");
    view.split("<tr data-op=\"")
        .skip(1)
        .map(|row| {
            let (op, rest) = row.split_once('"').unwrap();
            let head = rest.split('>').next().unwrap();
            let state = rest
                .split("<td class=\"state\">")
                .nth(1)
                .and_then(|t| t.split("</td>").next())
                .expect("a state per step");
            (
                op.parse().unwrap(),
                head.contains("class=\"here\""),
                unescape(state),
            )
        })
        .collect()
}

/// A linearization from results.json: the ops and states' words of the
/// path that ends at `end`.
fn path(l: &serde_json::Value, end: u64) -> Vec<(u64, String)> {
    let steps = l["steps"].as_array().unwrap();
    let mut out = Vec::new();
    let mut at = Some(end);
    while let Some(s) = at {
        let step = &steps[s as usize];
        out.push((
            step[1].as_u64().unwrap(),
            l["states"][step[2].as_u64().unwrap() as usize]
                .as_str()
                .unwrap()
                .to_string(),
        ));
        at = step[0].as_u64();
    }
    out.reverse();
    out
}

/// Porcupine's linearization view, bounded: `faultline check --report` on
/// a valid and an invalid history of the shared corpus (etcd_002, kv
/// c10-bad). The valid report opens on the complete linearization that
/// results.json holds (every op that completed ok is in it): a row per
/// step, in its order, with the model's state after each. The invalid one, opened at an operation (`#op=N`,
/// as clicking one leaves it), shows that op's longest partial
/// linearization, the op marked; its list offers every op that has one,
/// and its timeline names the same op numbers.
#[test]
fn the_linearization_view_shows_complete_and_partial_linearizations() {
    let (Some(valid), Some(invalid)) = (
        corpus::file("jepsen/etcd_002.log"),
        corpus::file("kv/c10-bad.txt"),
    ) else {
        return;
    };
    let s = store("linearizations");
    let mut results = Vec::new();
    for (file, dir, code) in [(&valid, "valid", 0), (&invalid, "invalid", 1)] {
        let out = s.join(dir);
        let o = common::faultline(&["check", file, "--report", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(code), "{}", common::text(&o));
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
        results.push(r["checkers"]["linearizable"]["partitions"].clone());
    }

    let p = &results[0][0];
    let l = &p["linearizations"];
    assert_eq!(l["complete"], true);
    let steps = l["steps"].as_array().unwrap().len();
    let expected = path(l, steps as u64 - 1);
    // Every op that completed ok is in it (indeterminate ops only if
    // they had to take effect).
    let timeline = common::timeline_data(&std::fs::read_to_string(s.join("valid/report.html")).unwrap());
    let ok: Vec<u64> = timeline["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o[3] == 0)
        .map(|o| o[5].as_u64().unwrap())
        .collect();
    assert!(ok.len() > 10 && steps as u64 <= p["ops"].as_u64().unwrap());
    for op in ok {
        assert!(
            expected.iter().any(|e| e.0 == op),
            "ok op {op} is in the complete linearization"
        );
    }
    let dom = rendered_dom(
        &format!("file://{}", s.join("valid/report.html").display()),
        &s.join("profile1"),
    );
    assert!(
        dom.contains("<section id=\"linearizations\">"),
        "the view is there"
    );
    let drawn = drawn_steps(&dom);
    assert_eq!(
        drawn
            .iter()
            .map(|(op, _, state)| (*op, state.clone()))
            .collect::<Vec<_>>(),
        expected,
        "the complete linearization, each step with its state"
    );

    // The invalid history: the op with the longest partial linearization
    // of its first invalid key, opened by its address.
    let p = results[1]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["verdict"] == "invalid")
        .unwrap();
    let l = &p["linearizations"];
    assert_eq!(l["complete"], false);
    let longest = l["longest"].as_array().unwrap();
    let (op, expected) = longest
        .iter()
        .map(|e| (e[0].as_u64().unwrap(), path(l, e[1].as_u64().unwrap())))
        .max_by_key(|(_, p)| p.len())
        .unwrap();
    assert!(expected.len() > 1, "a partial linearization of several steps");
    let report = s.join("invalid/report.html");
    let dom = rendered_dom(
        &format!("file://{}#op={op}", report.display()),
        &s.join("profile2"),
    );
    let drawn = drawn_steps(&dom);
    assert_eq!(
        drawn
            .iter()
            .map(|(o, _, state)| (*o, state.clone()))
            .collect::<Vec<_>>(),
        expected,
        "op {op}'s longest partial linearization, each step with its state"
    );
    let marked: Vec<u64> = drawn.iter().filter(|d| d.1).map(|d| d.0).collect();
    assert_eq!(marked, [op], "the op is marked");
    let list = dom
        .split("<div id=\"lin-list\">")
        .nth(1)
        .and_then(|v| v.split("</div>").next())
        .expect("the list of the key's ops");
    assert_eq!(
        list.matches("<tr data-op=").count(),
        longest.len(),
        "every op with a partial linearization is listed"
    );
    let timeline = common::timeline_data(&std::fs::read_to_string(&report).unwrap());
    let in_timeline = timeline["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o[5] == op)
        .expect("the timeline names the op by the same number");
    assert!(
        unescape(list).contains(&format!(
            "<tr data-op=\"{op}\"><td>{}</td>",
            in_timeline[4].as_str().unwrap()
        )),
        "and describes it alike"
    );
    std::fs::remove_dir_all(&s).unwrap();
}
