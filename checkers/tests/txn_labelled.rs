//! A labelled set for the transactional checkers: for every anomaly the
//! checkers name, a small Jepsen EDN history that shows it and a near miss
//! (one read changed, or two transactions made concurrent) that does not.
//! Histories have no times, so line order is real-time order.

use checkers::import::{self, Format};
use checkers::txn::{self, Model, Options, TxnReport, Workload};
use checkers::Verdict;

/// `"0 invoke [[:append :x 1]]"` lines to EDN ops.
fn edn(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (p, ty, v) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            format!("{{:process {p}, :type :{ty}, :f :txn, :value {v}}}\n")
        })
        .collect()
}

fn check_with(workload: Workload, lines: &[&str], models: &[Model]) -> TxnReport {
    let text = edn(lines);
    let (history, _) = import::parse(&text, "labelled.edn", Some(Format::Edn)).unwrap();
    let opts = Options {
        models: models.to_vec(),
        ..Options::default()
    };
    txn::check(&history, workload, &opts).unwrap()
}

fn check(workload: Workload, lines: &[&str]) -> TxnReport {
    check_with(workload, lines, &[Model::StrictSerializable])
}

/// The history shows `anomaly`; the near miss shows nothing.
fn labelled(workload: Workload, anomaly: &str, shows: &[&str], near_miss: &[&str]) {
    let r = check(workload, shows);
    assert!(
        r.anomalies.contains_key(anomaly) && r.verdict == Verdict::Invalid,
        "{anomaly}: expected it, found {:?} ({})",
        r.anomalies,
        r.sentence
    );
    let e = r
        .examples
        .iter()
        .find(|e| e.anomaly.to_string() == anomaly)
        .unwrap();
    assert!(
        !e.explanation.is_empty() && !e.txns.is_empty(),
        "{anomaly}: {e:?}"
    );
    let r = check(workload, near_miss);
    assert!(
        r.anomalies.is_empty() && r.verdict == Verdict::Valid,
        "{anomaly} near miss: found {:?} ({})",
        r.anomalies,
        r.sentence
    );
}

use Workload::{ListAppend as LA, RwRegister as RW};

#[test]
fn g0_write_cycle() {
    let shows = [
        "0 invoke [[:append :x 1] [:append :y 1]]",
        "1 invoke [[:append :x 2] [:append :y 2]]",
        "0 ok [[:append :x 1] [:append :y 1]]",
        "1 ok [[:append :x 2] [:append :y 2]]",
        "2 invoke [[:r :x nil] [:r :y nil]]",
        "2 ok [[:r :x [1 2]] [:r :y [2 1]]]",
    ];
    let mut near = shows;
    near[5] = "2 ok [[:r :x [1 2]] [:r :y [1 2]]]";
    labelled(LA, "G0", &shows, &near);
}

#[test]
fn g1a_aborted_read() {
    let shows = [
        "0 invoke [[:append :x 1]]",
        "0 fail [[:append :x 1]]",
        "1 invoke [[:r :x nil]]",
        "1 ok [[:r :x [1]]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :x []]]";
    labelled(LA, "G1a", &shows, &near);
    let shows = [
        "0 invoke [[:w :x 1]]",
        "0 fail [[:w :x 1]]",
        "1 invoke [[:r :x nil]]",
        "1 ok [[:r :x 1]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :x nil]]";
    labelled(RW, "G1a", &shows, &near);
}

#[test]
fn g1b_intermediate_read() {
    let shows = [
        "0 invoke [[:append :x 1] [:append :x 2]]",
        "0 ok [[:append :x 1] [:append :x 2]]",
        "1 invoke [[:r :x nil]]",
        "1 ok [[:r :x [1]]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :x [1 2]]]";
    labelled(LA, "G1b", &shows, &near);
    let shows = [
        "0 invoke [[:w :x 1] [:w :x 2]]",
        "0 ok [[:w :x 1] [:w :x 2]]",
        "1 invoke [[:r :x nil]]",
        "1 ok [[:r :x 1]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :x 2]]";
    labelled(RW, "G1b", &shows, &near);
}

#[test]
fn g1c_circular_information_flow() {
    let shows = [
        "0 invoke [[:append :x 1] [:r :y nil]]",
        "1 invoke [[:append :y 1] [:r :x nil]]",
        "0 ok [[:append :x 1] [:r :y [1]]]",
        "1 ok [[:append :y 1] [:r :x [1]]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:append :y 1] [:r :x []]]";
    labelled(LA, "G1c", &shows, &near);
}

#[test]
fn g_single_read_skew() {
    let shows = [
        "0 invoke [[:append :x 1] [:append :y 1]]",
        "1 invoke [[:r :x nil] [:r :y nil]]",
        "0 ok [[:append :x 1] [:append :y 1]]",
        "1 ok [[:r :x []] [:r :y [1]]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :x [1]] [:r :y [1]]]";
    labelled(LA, "G-single", &shows, &near);
    let shows = [
        "0 invoke [[:w :x 1] [:w :y 1]]",
        "1 invoke [[:r :x nil] [:r :y nil]]",
        "0 ok [[:w :x 1] [:w :y 1]]",
        "1 ok [[:r :x nil] [:r :y 1]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :x 1] [:r :y 1]]";
    labelled(RW, "G-single", &shows, &near);
}

#[test]
fn g2_item_write_skew_is_allowed_by_snapshot_isolation_only() {
    let shows = [
        "0 invoke [[:r :x nil] [:append :y 1]]",
        "1 invoke [[:r :y nil] [:append :x 1]]",
        "0 ok [[:r :x []] [:append :y 1]]",
        "1 ok [[:r :y []] [:append :x 1]]",
        "2 invoke [[:r :x nil] [:r :y nil]]",
        "2 ok [[:r :x [1]] [:r :y [1]]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :y [1]] [:append :x 1]]";
    labelled(LA, "G2-item", &shows, &near);
    let r = check_with(LA, &shows, &[Model::SnapshotIsolation]);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.sentence);
    assert_eq!(r.not, vec![Model::RepeatableRead], "{}", r.sentence);
    assert!(r.sentence.contains("not repeatable-read"), "{}", r.sentence);
    let r = check_with(LA, &shows, &[Model::Serializable]);
    assert_eq!(r.verdict, Verdict::Invalid);
    let e = &r.examples[0];
    assert_eq!(e.cycle.len(), 2);
    assert!(
        e.explanation.iter().any(|s| s.contains("did not see")),
        "{:?}",
        e.explanation
    );
    assert!(
        e.explanation.last().unwrap().contains("contradiction"),
        "{:?}",
        e.explanation
    );

    let shows = [
        "0 invoke [[:r :x nil] [:w :y 1]]",
        "1 invoke [[:r :y nil] [:w :x 1]]",
        "0 ok [[:r :x nil] [:w :y 1]]",
        "1 ok [[:r :y nil] [:w :x 1]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :y 1] [:w :x 1]]";
    labelled(RW, "G2-item", &shows, &near);
}

#[test]
fn internal_inconsistency() {
    let shows = [
        "0 invoke [[:append :x 1] [:r :x nil]]",
        "0 ok [[:append :x 1] [:r :x []]]",
    ];
    let near = [
        "0 invoke [[:append :x 1] [:r :x nil]]",
        "0 ok [[:append :x 1] [:r :x [1]]]",
    ];
    labelled(LA, "internal", &shows, &near);
    let shows = ["0 invoke [[:w :x 1] [:r :x nil]]", "0 ok [[:w :x 1] [:r :x nil]]"];
    let near = ["0 invoke [[:w :x 1] [:r :x nil]]", "0 ok [[:w :x 1] [:r :x 1]]"];
    labelled(RW, "internal", &shows, &near);
}

#[test]
fn dirty_update() {
    let shows = [
        "0 invoke [[:append :x 1]]",
        "0 fail [[:append :x 1]]",
        "1 invoke [[:append :x 2]]",
        "1 ok [[:append :x 2]]",
        "2 invoke [[:r :x nil]]",
        "2 ok [[:r :x [1 2]]]",
    ];
    let mut near = shows;
    near[5] = "2 ok [[:r :x [2]]]";
    labelled(LA, "dirty-update", &shows, &near);
}

#[test]
fn lost_update() {
    let shows = [
        "0 invoke [[:r :x nil] [:append :x 1]]",
        "1 invoke [[:r :x nil] [:append :x 2]]",
        "0 ok [[:r :x []] [:append :x 1]]",
        "1 ok [[:r :x []] [:append :x 2]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :x [1]] [:append :x 2]]";
    labelled(LA, "lost-update", &shows, &near);
    let shows = [
        "0 invoke [[:r :x nil] [:w :x 1]]",
        "1 invoke [[:r :x nil] [:w :x 2]]",
        "0 ok [[:r :x nil] [:w :x 1]]",
        "1 ok [[:r :x nil] [:w :x 2]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :x 1] [:w :x 2]]";
    labelled(RW, "lost-update", &shows, &near);
}

#[test]
fn duplicate_elements() {
    let shows = [
        "0 invoke [[:append :x 1]]",
        "0 ok [[:append :x 1]]",
        "1 invoke [[:r :x nil]]",
        "1 ok [[:r :x [1 1]]]",
    ];
    let mut near = shows;
    near[3] = "1 ok [[:r :x [1]]]";
    labelled(LA, "duplicate-elements", &shows, &near);
}

#[test]
fn incompatible_order_and_garbage_reads() {
    let shows = [
        "0 invoke [[:append :x 1]]",
        "1 invoke [[:append :x 2]]",
        "0 ok [[:append :x 1]]",
        "1 ok [[:append :x 2]]",
        "2 invoke [[:r :x nil]]",
        "2 ok [[:r :x [1 2]]]",
        "3 invoke [[:r :x nil]]",
        "3 ok [[:r :x [2 1]]]",
    ];
    let mut near = shows;
    near[7] = "3 ok [[:r :x [1 2]]]";
    labelled(LA, "incompatible-order", &shows, &near);
    let shows = ["0 invoke [[:r :x nil]]", "0 ok [[:r :x [9]]]"];
    let near = ["0 invoke [[:r :x nil]]", "0 ok [[:r :x []]]"];
    labelled(LA, "garbage-read", &shows, &near);
}

#[test]
fn a_transactions_own_appends_out_of_order() {
    // One transaction appends 4, 5 and 6; a later read shows [... 4 6 5]:
    // no serial order builds that list.
    let shows = [
        "0 invoke [[:append :x 1]]",
        "0 ok [[:append :x 1]]",
        "1 invoke [[:append :x 4] [:append :x 5] [:append :x 6]]",
        "1 ok [[:append :x 4] [:append :x 5] [:append :x 6]]",
        "2 invoke [[:r :x nil]]",
        "2 ok [[:r :x [1 4 6 5]]]",
    ];
    let mut near = shows;
    near[5] = "2 ok [[:r :x [1 4 5 6]]]";
    labelled(LA, "internal-order", &shows, &near);
    let r = check_with(LA, &shows, &[Model::ReadUncommitted]);
    assert_eq!(r.verdict, Verdict::Invalid, "{}", r.sentence);
    assert_eq!(r.not, vec![Model::ReadUncommitted]);
    let e = &r.examples[0];
    assert_eq!(
        e.summary,
        "T3 read key \"x\" with T2's appends as [4 6 5], but T2 appended [4 5 6] in that order: no serial order shows \
         them otherwise"
    );
    assert_eq!(
        e.txns.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["T2", "T3"]
    );
    // One left out between two others, or the first left out.
    for read in ["2 ok [[:r :x [1 4 6]]]", "2 ok [[:r :x [1 5 6]]]"] {
        let mut skips = shows;
        skips[5] = read;
        let r = check(LA, &skips);
        assert!(
            r.anomalies.contains_key("internal-order"),
            "{read}: {:?}",
            r.anomalies
        );
    }
    // The transaction's own read after its appends: it contradicts its
    // own writes, and shows an order no serial execution has.
    let own = [
        "1 invoke [[:append :x 4] [:append :x 5] [:append :x 6] [:r :x nil]]",
        "1 ok [[:append :x 4] [:append :x 5] [:append :x 6] [:r :x [4 6 5]]]",
    ];
    let r = check(LA, &own);
    assert!(
        r.anomalies.contains_key("internal-order") && r.anomalies.contains_key("internal"),
        "{:?}",
        r.anomalies
    );
    let near = [
        "1 invoke [[:append :x 4] [:append :x 5] [:append :x 6] [:r :x nil]]",
        "1 ok [[:append :x 4] [:append :x 5] [:append :x 6] [:r :x [4 5 6]]]",
    ];
    assert_eq!(check(LA, &near).verdict, Verdict::Valid);
}

#[test]
fn process_and_realtime_variants() {
    // A process that does not read its own append.
    let shows = [
        "0 invoke [[:append :x 1]]",
        "0 ok [[:append :x 1]]",
        "0 invoke [[:r :x nil]]",
        "0 ok [[:r :x []]]",
    ];
    let near = [
        "0 invoke [[:append :x 1]]",
        "0 ok [[:append :x 1]]",
        "0 invoke [[:r :x nil]]",
        "0 ok [[:r :x [1]]]",
    ];
    labelled(LA, "G-single-process", &shows, &near);
    // A read that misses an append completed before it began.
    let shows = [
        "0 invoke [[:append :x 1]]",
        "0 ok [[:append :x 1]]",
        "1 invoke [[:r :x nil]]",
        "1 ok [[:r :x []]]",
    ];
    let near = [
        "0 invoke [[:append :x 1]]",
        "1 invoke [[:r :x nil]]",
        "0 ok [[:append :x 1]]",
        "1 ok [[:r :x []]]",
    ];
    labelled(LA, "G-single-realtime", &shows, &near);
    // An append ordered before one that completed before it began.
    let shows = [
        "0 invoke [[:append :x 1]]",
        "0 ok [[:append :x 1]]",
        "1 invoke [[:append :x 2]]",
        "1 ok [[:append :x 2]]",
        "2 invoke [[:r :x nil]]",
        "2 ok [[:r :x [2 1]]]",
    ];
    let near = [
        "0 invoke [[:append :x 1]]",
        "1 invoke [[:append :x 2]]",
        "0 ok [[:append :x 1]]",
        "1 ok [[:append :x 2]]",
        "2 invoke [[:r :x nil]]",
        "2 ok [[:r :x [2 1]]]",
    ];
    labelled(LA, "G0-realtime", &shows, &near);
    // A read of an append that began only after the read completed.
    let shows = [
        "0 invoke [[:r :x nil]]",
        "0 ok [[:r :x [1]]]",
        "1 invoke [[:append :x 1]]",
        "1 ok [[:append :x 1]]",
    ];
    let near = [
        "0 invoke [[:r :x nil]]",
        "1 invoke [[:append :x 1]]",
        "0 ok [[:r :x [1]]]",
        "1 ok [[:append :x 1]]",
    ];
    labelled(LA, "G1c-realtime", &shows, &near);
    // The same by one process: it read its next transaction's append.
    let shows = [
        "0 invoke [[:r :x nil]]",
        "0 ok [[:r :x [1]]]",
        "0 invoke [[:append :x 1]]",
        "0 ok [[:append :x 1]]",
    ];
    let r = check(LA, &shows);
    assert!(r.anomalies.contains_key("G1c-process"), "{:?}", r.anomalies);
    // Process and real-time anomalies rule out strict serializability only.
    let r = check_with(LA, &shows, &[Model::Serializable]);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.sentence);
    assert_eq!(r.not, vec![Model::StrictSerializable]);
}

#[test]
fn bad_micro_ops_name_file_line_and_micro_op() {
    let text = edn(&[
        "0 invoke [[:append :x 1] [:frob :x 2]]",
        "0 ok [[:append :x 1] [:frob :x 2]]",
    ]);
    let (history, _) = import::parse(&text, "bad.edn", Some(Format::Edn)).unwrap();
    let e = txn::check(&history, LA, &Options::default()).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("bad.edn", 1), "{e}");
    assert!(
        e.message.contains("micro-op 2") && e.message.contains("[append key value]"),
        "{e}"
    );
    let text = edn(&[
        "0 invoke [[:append :x 1]]",
        "0 ok [[:append :x 1]]",
        "1 invoke [[:append :x 1]]",
    ]);
    let (history, _) = import::parse(&text, "twice.edn", Some(Format::Edn)).unwrap();
    let e = txn::check(&history, LA, &Options::default()).unwrap_err();
    assert!(
        e.to_string().starts_with("twice.edn:3:") && e.message.contains("line 1"),
        "{e}"
    );
    let text = "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",1,null]]}\n\
                {\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",1,7]]}\n";
    let (history, _) = import::parse(text, "h.jsonl", Some(Format::Jsonl)).unwrap();
    let e = txn::check(&history, LA, &Options::default()).unwrap_err();
    assert!(
        e.to_string().starts_with("h.jsonl:2:") && e.message.contains("expected a list"),
        "{e}"
    );
}
