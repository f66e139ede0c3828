//! Histories in the grammar Jepsen and Knossos write (records, tuples,
//! lists, multi-line maps, comments, independent keys, a process that
//! carries on after an info), written here, each with its verdict.

use std::path::Path;

use checkers::import::{read_file, Format};
use checkers::linearizable::{check, Options};
use checkers::{ModelKind, Verdict};

#[test]
fn every_fixture_reads_and_gets_its_verdict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/edn");
    let cases: &[(&str, Verdict, usize, usize)] = &[
        // file, verdict, client ops, keys
        ("register-valid.edn", Verdict::Valid, 6, 1),
        ("cas-failure-invalid.edn", Verdict::Invalid, 5, 1),
        ("list-multiline-invalid.edn", Verdict::Invalid, 4, 1),
        ("independent-valid.edn", Verdict::Valid, 5, 2),
        ("carry-on-after-info-valid.edn", Verdict::Valid, 4, 1),
    ];
    for &(file, verdict, ops, keys) in cases {
        let (history, format) = read_file(&dir.join(file), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format, Format::Edn, "{file}");
        let kind = ModelKind::default_for(format, history.ops.iter().map(|o| &o.f));
        let report = check(&history, kind, None, &Options::default()).unwrap();
        assert_eq!(report.verdict, verdict, "{file}: {report:#?}");
        assert_eq!((report.ops, report.partitions.len()), (ops, keys), "{file}");
        assert_eq!(
            report.notes.len(),
            usize::from(file.starts_with("carry-on")),
            "{file}: {:?}",
            report.notes
        );
    }
}
