//! Porcupine's Jepsen etcd logs: `INFO  jepsen.util - <proc> :<type> :<f> <value>`
//! with tabs or runs of spaces between the fields. Lines from other
//! loggers are skipped, as Jepsen interleaves them; a `jepsen.util` line
//! that does not parse is an error. A keyword in a completion's value
//! (`:timed-out`) is its error, not its value.

use clojure_reader::edn::{self, Edn};

use super::edn::to_value;
use super::Names;
use crate::error::InputError;
use crate::history::{History, Op, OpType, Process};
use crate::value::Value;

const MARK: &str = "jepsen.util - ";

pub(super) fn parse_etcd(text: &str, source: &str) -> Result<History, InputError> {
    let mut names = Names::default();
    let mut ops = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let Some(at) = raw.find(MARK) else { continue };
        let err = |message: String| InputError {
            file: source.into(),
            line,
            message,
        };
        let expected = "expected `<process> :<type> :<f> <value>` after `jepsen.util - `";
        let mut rest = raw[at + MARK.len()..].trim();
        let mut field = || {
            let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            rest = after.trim_start();
            (!word.is_empty()).then_some(word)
        };
        let (Some(p), Some(t), Some(f)) = (field(), field(), field()) else {
            return Err(err(format!("truncated line: {expected}")));
        };
        let process = match p {
            ":nemesis" => Process::Nemesis,
            _ => Process::Client(p.parse().map_err(|_| err(format!("process {p:?}: {expected}")))?),
        };
        let kind = t.strip_prefix(':').and_then(OpType::parse).ok_or_else(|| {
            err(format!(
                "unknown type {t:?}; expected :invoke, :ok, :fail or :info"
            ))
        })?;
        let f = f
            .strip_prefix(':')
            .ok_or_else(|| err(format!("function {f:?}: expected a keyword such as :read")))?;
        let form = if rest.is_empty() {
            Edn::Nil
        } else {
            edn::read_string(rest).map_err(|e| err(format!("value {rest:?}: {e}")))?
        };
        let (value, error) = match (&form, kind) {
            (Edn::Key(k), OpType::Fail | OpType::Info) => (Value::Nil, Some(k.to_string())),
            _ => (to_value(&form).map_err(|m| err(format!("value {m}")))?, None),
        };
        let n = ops.len();
        ops.push(Op {
            index: n as u64,
            time: n as u64,
            kind,
            process,
            f: names.get(f),
            key: None,
            value,
            error,
            line,
        });
    }
    Ok(History {
        ops,
        timed: false,
        source: source.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tabs_spaces_and_timeouts() {
        let h = parse_etcd(
            "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\n\
             some other logger line\n\
             INFO  jepsen.util - 2   :fail   :cas    [3 0]\n\
             INFO  jepsen.util - 4\t:info\t:write\t:timed-out\n",
            "etcd.log",
        )
        .unwrap();
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[0].value.to_string(), "[3 0]");
        assert_eq!(h.ops[1].kind, OpType::Fail);
        assert_eq!(h.ops[1].line, 3);
        assert_eq!(h.ops[2].error.as_deref(), Some("timed-out"));
        assert_eq!(h.ops[2].value, Value::Nil);
    }

    #[test]
    fn bad_lines_are_named() {
        let e = parse_etcd("INFO  jepsen.util - 2\t:invoke", "etcd.log").unwrap_err();
        assert!(e.message.contains("truncated"), "{e}");
        let e = parse_etcd("INFO  jepsen.util - x\t:invoke\t:read\tnil", "etcd.log").unwrap_err();
        assert!(e.message.contains("process \"x\""), "{e}");
        let e = parse_etcd("\nINFO  jepsen.util - 1\t:begin\t:read\tnil", "etcd.log").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unknown type"), "{e}");
    }
}
