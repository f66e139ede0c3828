//! faultline's native JSON Lines history: one op per line with the fields
//! of DESIGN §1 (`index`, `time`, `type`, `process`, `f`, `key`, `value`,
//! `error`). Unknown fields are ignored so newer writers stay readable.

use std::borrow::Cow;

use serde::Deserialize;

use super::{too_long, Clock, Names, MAX_OP_BYTES};
use crate::error::{excerpt, InputError};
use crate::history::{History, Op, OpType, Process};
use crate::value::Value;

#[derive(Deserialize)]
struct Line<'a> {
    index: Option<u64>,
    time: Option<u64>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    process: Value,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

pub(super) fn parse(text: &str, source: &str, hook: super::Hook<'_>) -> Result<History, InputError> {
    let mut names = Names::default();
    let mut clock = Clock::new();
    let mut ops = Vec::new();
    let err = |line: usize, message: String| InputError::at(source, line, message);
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        if raw.len() > MAX_OP_BYTES {
            return Err(too_long(source, line, raw.len()));
        }
        let l: Line = serde_json::from_str(raw).map_err(|e| {
            // serde_json says where on the line; the column goes in its field.
            let text = e.to_string();
            let what = text.rfind(" at line ").map_or(&*text, |i| &text[..i]);
            err(
                line,
                format!(
                    "expected one JSON object with type, process, f and value: {}",
                    excerpt(what, 100)
                ),
            )
            .with_column(e.column())
        })?;
        let kind = OpType::parse(&l.kind).ok_or_else(|| {
            err(
                line,
                format!(
                    "unknown type {:?}; expected invoke, ok, fail or info",
                    excerpt(&l.kind, 40)
                ),
            )
        })?;
        let process = match &l.process {
            Value::Int(p) if *p >= 0 => Process::Client(*p as u64),
            Value::Str(s) if &**s == "nemesis" => Process::Nemesis,
            other => {
                return Err(err(
                    line,
                    format!(
                        "process {}: expected a non-negative integer or \"nemesis\"",
                        other.short()
                    ),
                ))
            }
        };
        let n = ops.len();
        let time = clock.time(l.time, n).map_err(|m| err(line, m))?;
        let mut op = Op {
            index: l.index.unwrap_or(n as u64),
            time,
            kind,
            process,
            f: names.get(&l.f),
            key: l.key,
            value: l.value,
            error: l.error.map(|e| match e {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            line,
        };
        hook(&mut op)?;
        ops.push(op);
    }
    Ok(History {
        ops,
        timed: clock.timed(),
        source: source.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, source: &str) -> Result<History, InputError> {
        super::parse(text, source, &mut |_| Ok(()))
    }

    #[test]
    fn reads_every_field() {
        let h = parse(
            r#"{"index":0,"time":5,"type":"invoke","process":2,"f":"cas","key":"k","value":[1,2]}
{"index":1,"time":9,"type":"fail","process":2,"f":"cas","key":"k","value":[1,2],"error":"mismatch"}
{"index":2,"time":10,"type":"info","process":"nemesis","f":"start-partition","value":null}"#,
            "h.jsonl",
        )
        .unwrap();
        assert!(h.timed);
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[1].kind, OpType::Fail);
        assert_eq!(h.ops[1].error.as_deref(), Some("mismatch"));
        assert_eq!(h.ops[2].process, Process::Nemesis);
        assert_eq!(h.ops[0].key, Some(Value::from("k")));
    }

    #[test]
    fn truncated_line_names_the_line() {
        let e = parse(
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"value\":null}\n{\"type\":\"ok\",\"proc",
            "h.jsonl",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("expected one JSON object"), "{e}");
        assert!(!e.message.contains("at line"), "{e}");
        assert!(e.column > 0, "{e:?}");
    }

    #[test]
    fn deep_values_are_an_error() {
        let deep = format!(
            "{{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":{}{}}}",
            "[".repeat(30_000),
            "]".repeat(30_000)
        );
        let e = parse(&deep, "h.jsonl").unwrap_err();
        assert!(e.message.contains("recursion limit"), "{e}");
    }

    #[test]
    fn unknown_type_is_rejected() {
        let e = parse(
            r#"{"type":"done","process":0,"f":"read","value":null}"#,
            "h.jsonl",
        )
        .unwrap_err();
        assert!(e.message.contains("unknown type \"done\""), "{e}");
    }

    #[test]
    fn mixed_time_fields_are_rejected() {
        let e = parse(
            "{\"time\":1,\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":0,\"f\":\"read\"}",
            "h.jsonl",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("missing time"), "{e}");
    }
}
