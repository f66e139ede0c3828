//! Porcupine's Jepsen etcd logs: `INFO  jepsen.util - <proc> :<type> :<f> <value>`
//! with tabs or runs of spaces between the fields. Lines from other
//! loggers are skipped, as Jepsen interleaves them; a `jepsen.util` line
//! that does not parse is an error, and so is a last line cut off before
//! its newline (a log copied while Jepsen still wrote it), which would
//! otherwise read as fewer ops. A keyword in a completion's value
//! (`:timed-out`) is its error, not its value.

use super::edn::reader::{Edn, Reader};
use super::edn::to_value;
use super::{too_long, Names, MAX_OP_BYTES};
use crate::error::InputError;
use crate::history::{History, Op, OpType, Process};
use crate::value::Value;

const MARK: &str = "jepsen.util - ";
/// How Jepsen's own lines begin.
const MARK_LINE: &str = "INFO  jepsen.util - ";

pub(super) fn parse_etcd(text: &str, source: &str) -> Result<History, InputError> {
    let mut names = Names::default();
    let mut ops = Vec::new();
    if let Some(last) = text.rsplit('\n').next().filter(|l| !l.trim().is_empty()) {
        let trimmed = last.trim_start();
        if last.contains(MARK) || MARK_LINE.starts_with(trimmed) {
            return Err(InputError::at(
                source,
                text.lines().count(),
                "the last line has no newline: the log was cut off mid-line (if the line is complete, end it with a newline)",
            ));
        }
    }
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.len() > MAX_OP_BYTES {
            return Err(too_long(source, line, raw.len()));
        }
        // Jepsen's own lines start with the mark; others are searched.
        let at = if raw.starts_with(MARK_LINE) {
            MARK_LINE.len() - MARK.len()
        } else {
            match raw.find(MARK) {
                Some(at) => at,
                None => continue,
            }
        };
        let err = |message: String| InputError::at(source, line, message);
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
        if rest.is_empty() {
            return Err(err(format!("truncated line: no value; {expected}")));
        }
        let column = || raw[..raw.len() - rest.len()].chars().count();
        let mut reader = Reader::new(rest);
        let form = reader
            .read()
            .and_then(|form| match reader.peek()? {
                None => Ok(form),
                Some(_) => Err(reader.error("unexpected text after the value")),
            })
            .map_err(|e| err(format!("value: {}", e.message)).with_column(column() + e.column))?;
        let (value, error) = match (&form, kind) {
            (Edn::Keyword(k), OpType::Fail | OpType::Info) => (Value::Nil, Some(k.to_string())),
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
        nil_reads_empty: false,
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
        let e = parse_etcd("INFO  jepsen.util - 2\t:invoke\n", "etcd.log").unwrap_err();
        assert!(e.message.contains("truncated"), "{e}");
        let e = parse_etcd("INFO  jepsen.util - x\t:invoke\t:read\tnil\n", "etcd.log").unwrap_err();
        assert!(e.message.contains("process \"x\""), "{e}");
        let e = parse_etcd("\nINFO  jepsen.util - 1\t:begin\t:read\tnil\n", "etcd.log").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unknown type"), "{e}");
        let e = parse_etcd("INFO  jepsen.util - 1\t:ok\t:read\t[1 2\n", "etcd.log").unwrap_err();
        assert_eq!((e.line, e.column), (1, 33));
        assert!(e.message.contains("never closed"), "{e}");
    }

    #[test]
    fn a_log_cut_off_mid_line_is_an_error() {
        let whole = "INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t12\n";
        assert_eq!(parse_etcd(whole, "etcd.log").unwrap().ops.len(), 2);
        for cut in [whole.len() - 2, whole.len() - 5, 50, 48] {
            let e = parse_etcd(&whole[..cut], "etcd.log").unwrap_err();
            assert_eq!(e.line, 2, "cut at {cut}");
            assert!(e.message.contains("cut off"), "cut at {cut}: {e}");
        }
    }
}
