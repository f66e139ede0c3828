//! Golden verdicts: every history in ../shared/histories/porcupine gets the
//! verdict its EXPECTED.tsv gives, with every partition decided.

mod corpus;

use checkers::import;
use checkers::linearizable::{check, Options};
use checkers::{ModelKind, Verdict};

#[test]
fn every_porcupine_history_gets_its_expected_verdict() {
    let Some(dir) = corpus::available() else {
        return;
    };
    let table = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (file, expected) = line.split_once('\t').expect("file<TAB>verdict");
        let expected = match expected.trim() {
            "valid" => Verdict::Valid,
            "invalid" => Verdict::Invalid,
            other => panic!("unexpected verdict {other}"),
        };
        let (history, format) = import::read_file(&dir.join(file), None).unwrap();
        let kind = ModelKind::default_for(format, std::iter::empty());
        let report = check(&history, kind, None, &Options::default()).unwrap();
        assert!(
            report.partitions.iter().all(|p| p.verdict != Verdict::Unknown),
            "{file}: a partition was left undecided"
        );
        if report.verdict != expected {
            wrong.push(format!("{file}: expected {expected}, got {}", report.verdict));
        }
        if expected == Verdict::Invalid {
            let bad = report
                .partitions
                .iter()
                .find(|p| p.verdict == Verdict::Invalid)
                .unwrap();
            assert!(
                bad.counterexample.is_some(),
                "{file}: invalid without a counterexample"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 108, "EXPECTED.tsv lists 102 etcd and 6 kv logs");
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
