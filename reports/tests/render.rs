//! Reports from a small history with a fault: the PNGs decode to the plot
//! size and are not blank, the SVGs shade the fault period, and the HTML
//! holds the verdict, the anomaly and the failing operation.

use checkers::linearizable::{check, Options};
use checkers::{import, ModelKind, Verdict};
use reports::{CheckerView, RunView};

/// A register history: writes and reads over 2 s with a kill from 0.5 s to
/// 1.5 s, and one read at the end that sees a value nobody wrote.
fn history_text() -> String {
    let mut lines = Vec::new();
    let mut t = 0u64;
    let mut push = |kind: &str, p: &str, f: &str, v: &str, t: u64| {
        lines.push(format!(
            r#"{{"time":{t},"type":"{kind}","process":{p},"f":"{f}","value":{v}}}"#
        ));
    };
    for i in 0..200u64 {
        let p = (i % 4).to_string();
        let (f, v) = if i % 2 == 0 {
            ("write", (i % 5).to_string())
        } else {
            ("read", "null".to_string())
        };
        push("invoke", &p, f, &v, t);
        t += 2_000_000 + (i % 7) * 300_000;
        let out = if f == "read" {
            ((i - 1) % 5).to_string()
        } else {
            v.clone()
        };
        push("ok", &p, f, &out, t);
        t += 5_000_000;
        if i == 50 {
            push("invoke", "\"nemesis\"", "kill", r#"["n1"]"#, t);
            push("info", "\"nemesis\"", "kill", r#"[["n1"],"kill n1"]"#, t);
        }
        if i == 150 {
            push("invoke", "\"nemesis\"", "start", r#"["n1"]"#, t);
            push("info", "\"nemesis\"", "start", r#"[["n1"],"undo: kill n1"]"#, t);
        }
    }
    push("invoke", "9", "read", "null", t);
    push("ok", "9", "read", "77", t + 1_000_000);
    lines.join("\n")
}

#[test]
fn plots_and_report_show_the_run() {
    let (history, _) = import::parse(&history_text(), "h.jsonl", None).unwrap();
    let report = check(&history, ModelKind::Register, None, &Options::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid);
    let ce = report.partitions[0].counterexample.as_ref().unwrap();
    let view = RunView {
        title: "render-test".into(),
        verdict: report.verdict,
        sentence: ce.sentence.clone(),
        test: Some(serde_json::json!({"command": ["faultline", "test"], "config": {}})),
        history: &history,
        operations: history.operations().unwrap(),
        faults: nemesis::periods(&history),
        checkers: vec![CheckerView {
            name: "linearizable".into(),
            verdict: report.verdict,
            sentence: ce.sentence.clone(),
        }],
        linearizable: Some(&report),
        transactions: None,
        metrics: None,
        log: None,
    };
    let dir = std::env::temp_dir().join(format!("faultline-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    reports::write_all(&dir, &view).unwrap();

    for name in ["latency-raw", "latency-quantiles", "rate"] {
        let png = std::fs::read(dir.join(format!("{name}.png"))).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), reports::plot::SIZE, "{name}");
        let pixels: std::collections::HashSet<&[u8]> = buf.chunks(3).collect();
        assert!(
            pixels.len() > 20,
            "{name} is nearly blank: {} colours",
            pixels.len()
        );
        assert!(pixels.contains(&[250u8, 200, 200][..]), "{name} shades the fault");
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert!(svg.contains(r##"fill="#FAC8C8""##), "{name}.svg shades the fault");
        assert!(
            svg.contains("faults (1)"),
            "{name}.svg names the fault in its legend"
        );
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<h1 id=\"verdict\">INVALID</h1>"));
    assert!(html.contains("process 9 read 77"), "the failing op is shown");
    assert!(html.contains("id=\"failure\""), "the counterexample is open");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained: no fetches"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure message=\"process 9 read 77"), "{junit}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_transactional_report_draws_each_cycle_and_explains_it() {
    let text = "{:process 0, :type :invoke, :f :txn, :value [[:r :x nil] [:append :y 1]]}\n\
                {:process 1, :type :invoke, :f :txn, :value [[:r :y nil] [:append :x 1]]}\n\
                {:process 0, :type :ok, :f :txn, :value [[:r :x []] [:append :y 1]]}\n\
                {:process 1, :type :ok, :f :txn, :value [[:r :y []] [:append :x 1]]}\n";
    let (history, _) = import::parse(text, "skew.edn", None).unwrap();
    let report =
        checkers::txn::check(&history, checkers::txn::Workload::ListAppend, &Default::default()).unwrap();
    let view = RunView {
        title: "skew".into(),
        verdict: report.verdict,
        sentence: report.sentence.clone(),
        test: None,
        history: &history,
        operations: history.operations().unwrap(),
        faults: Vec::new(),
        checkers: vec![CheckerView {
            name: "list-append".into(),
            verdict: report.verdict,
            sentence: report.sentence.clone(),
        }],
        linearizable: None,
        transactions: Some(&report),
        metrics: None,
        log: None,
    };
    let html = reports::html::render(&view, &[], &[]);
    assert!(
        html.contains("<section id=\"anomalies\">"),
        "no anomalies section"
    );
    assert_eq!(html.matches("<svg class=\"cycle\"").count(), 1);
    assert!(html.contains("G2-item") && html.contains("did not see"));
    assert!(
        html.contains("not <b>repeatable-read</b>"),
        "the weakest model ruled out is named"
    );
}

/// Reports draw the periods they are given, whatever the fault: each is
/// a row of the Faults table and a labelled span in the timeline's data.
#[test]
fn every_fault_period_given_is_listed_and_labelled() {
    let (history, _) = import::parse(&history_text(), "h.jsonl", None).unwrap();
    let report = check(&history, ModelKind::Register, None, &Options::default()).unwrap();
    let faults: Vec<checkers::FaultPeriod> =
        ["delay", "blackhole", "lose-unsynced", "corrupt", "client-pause"]
            .iter()
            .enumerate()
            .map(|(i, kind)| checkers::FaultPeriod {
                kind: kind.to_string(),
                nodes: vec![format!("n{i}")],
                start: i as u64 * 100_000_000,
                end: i as u64 * 100_000_000 + 50_000_000,
                what: format!("something <{kind}> did to n{i}"),
            })
            .collect();
    let view = RunView {
        title: "faults".into(),
        verdict: report.verdict,
        sentence: String::new(),
        test: None,
        history: &history,
        operations: history.operations().unwrap(),
        faults: faults.clone(),
        checkers: Vec::new(),
        linearizable: Some(&report),
        transactions: None,
        metrics: None,
        log: None,
    };
    let html = reports::html::render(&view, &view.faults, &[]);
    let table = html.split("<section id=\"faults\">").nth(1).unwrap();
    let data = html.split("const DATA=").nth(1).unwrap();
    let data: serde_json::Value = serde_json::Deserializer::from_str(data)
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    let spans = data["faults"].as_array().unwrap();
    assert_eq!(spans.len(), faults.len());
    for (p, span) in faults.iter().zip(spans) {
        let row = format!(
            "<td>{}</td><td>{}</td><td>something &lt;{}&gt; did to {}</td>",
            p.kind, p.nodes[0], p.kind, p.nodes[0]
        );
        assert!(table.contains(&row), "no row {row} in {table}");
        assert_eq!(span[2], p.label(), "{span}");
        assert!(span[2].as_str().unwrap().starts_with(&p.kind));
    }
}
