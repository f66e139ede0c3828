//! Fuzzing every importer, in CI for a bounded number of cases
//! (`FAULTLINE_FUZZ_CASES`, default 20,000 per target): random bytes, random
//! text in each format's alphabet, and real histories mutated (cut, spliced,
//! bytes replaced by delimiters). Whatever comes in, the importers and the
//! checker behind them return a verdict or an error with a line — never a
//! panic, never a stack overflow.

mod corpus;

use std::path::Path;
use std::time::Duration;

use checkers::import::{self, Format};
use checkers::linearizable::{check, Options};
use checkers::ModelKind;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases() -> u32 {
    std::env::var("FAULTLINE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// Parses `text` as every format (and detected), checks what parses.
fn exercise(text: &str) {
    let formats = [
        None,
        Some(Format::Jsonl),
        Some(Format::Edn),
        Some(Format::EtcdLog),
        Some(Format::KvLog),
    ];
    for format in formats {
        match import::parse(text, "fuzz", format) {
            Ok((history, format)) => {
                let kind = ModelKind::default_for(format, history.ops.iter().map(|o| &o.f));
                let opts = Options {
                    time_limit: Some(Duration::from_millis(50)),
                    threads: 1,
                    ..Options::default()
                };
                if let Err(e) = check(&history, kind, None, &opts) {
                    assert!(e.line > 0 || !e.message.is_empty(), "{e:?}");
                }
            }
            Err(e) => assert!(!e.message.is_empty() && e.message.len() < 2000, "{e:?}"),
        }
    }
}

fn run(strategy: impl Strategy<Value = String>) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |text| {
            exercise(&text);
            Ok(())
        })
        .unwrap();
}

#[test]
fn random_bytes() {
    run(prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| String::from_utf8_lossy(&b).into_owned()));
}

#[test]
fn random_text_in_the_formats_alphabets() {
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "#{",
        "#_",
        "#tag ",
        "^:m ",
        ";c\n",
        "\n",
        " ",
        ",",
        "\"",
        "\\",
        "\\n",
        ":type",
        ":invoke",
        ":ok",
        ":fail",
        ":info",
        ":f",
        ":read",
        ":write",
        ":cas",
        ":process",
        ":value",
        ":time",
        ":index",
        ":key",
        ":nemesis",
        ":get",
        ":put",
        ":append",
        "nil",
        "0",
        "1",
        "-3",
        "99999999999999999999",
        "1.5",
        "\"x\"",
        "INFO  jepsen.util - ",
        "\t",
        "{\"type\":\"invoke\",",
        "\"process\":0,",
        "\"f\":\"read\",",
        "\"value\":",
        "null",
        "}\n",
    ];
    run(prop::collection::vec(prop::sample::select(PIECES), 0..120).prop_map(|p| p.concat()));
}

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Real logs from the corpus when it is there; the EDN fixtures always.
    let mut files: Vec<_> = corpus::available()
        .into_iter()
        .flat_map(|shared| {
            ["jepsen/etcd_000.log", "jepsen/etcd_002.log", "kv/c01-bad.txt"].map(|f| shared.join(f))
        })
        .collect();
    for entry in std::fs::read_dir(root.join("tests/fixtures/edn")).unwrap() {
        files.push(entry.unwrap().path());
    }
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .chain([
            "{\"index\":0,\"time\":5,\"type\":\"invoke\",\"process\":2,\"f\":\"cas\",\"key\":\"k\",\"value\":[1,2]}\n\
             {\"index\":1,\"time\":9,\"type\":\"ok\",\"process\":2,\"f\":\"cas\",\"key\":\"k\",\"value\":[1,2]}\n"
                .to_string(),
        ])
        .collect()
}

#[test]
fn mutated_real_histories() {
    let corpus = corpus();
    let n = corpus.len();
    const DELIMS: &[u8] = b"[]{}()#;:\"\\\n \t,^_";
    let strategy = (
        0..n,
        prop::collection::vec((0u8..4, any::<usize>(), any::<usize>(), any::<u8>()), 1..6),
    )
        .prop_map(move |(i, edits)| {
            let mut b = corpus[i].clone().into_bytes();
            for (kind, at, len, byte) in edits {
                let at = at % (b.len() + 1);
                match kind {
                    0 => b.truncate(at),
                    1 => {
                        let end = (at + len % 64).min(b.len());
                        b.drain(at..end);
                    }
                    2 => b.insert(at, DELIMS[byte as usize % DELIMS.len()]),
                    _ => {
                        let end = (at + len % 256).min(b.len());
                        let copy = b[at..end].to_vec();
                        b.splice(at..at, copy);
                    }
                }
            }
            String::from_utf8_lossy(&b).into_owned()
        });
    run(strategy);
}

#[test]
fn deep_nesting_in_every_format_is_an_error() {
    let deep = "[".repeat(30_000);
    for text in [
        format!("{{:type :invoke, :f :read, :process 0, :value {deep}"),
        format!("{{:process 0, :type :invoke, :f :get, :key \"1\", :value {deep}}}"),
        format!("INFO  jepsen.util - 0\t:invoke\t:read\t{deep}\n"),
        format!("{{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"value\":{deep}}}\n"),
        format!("[{deep}"),
    ] {
        let e = import::parse(&text, "deep", None).unwrap_err();
        assert!(
            e.message.contains("deeper than") || e.message.contains("recursion limit"),
            "{e}"
        );
    }
}
