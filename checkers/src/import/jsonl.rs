//! faultline's native JSON Lines history: one op per line with the fields
//! `index`, `time` (ns since the test began), `type`, `process`, `f`,
//! `key`, `value` and `error`, as `faultline test` writes them. Unknown fields are ignored so newer writers stay readable.
//!
//! A first line `{"meta": {...}}` (no `type`) says what the values mean:
//! `"nil_reads": "empty"` that a read of nil found the key empty, as
//! [`NIL_READS_EMPTY`] says in every history `faultline test` writes.
//! Without one nil is Knossos' "unknown", so histories without it (older
//! ones, other writers') read as they always did.

use std::borrow::Cow;
use std::iter::Enumerate;
use std::str::Lines;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{too_long, Clock, Names, MAX_OP_BYTES};
use crate::error::{excerpt, InputError};
use crate::history::{History, Op, OpType, Process};
use crate::value::Value;

#[derive(Deserialize)]
struct Line<'a, V> {
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
    value: V,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// The first line of a history whose reads of nil found the key empty.
pub const NIL_READS_EMPTY: &str = r#"{"meta":{"nil_reads":"empty"}}"#;

/// Texts from which lines are parsed on a thread of their own while the
/// caller's hook takes the ops already parsed.
const PIPELINE_BYTES: usize = 16 << 20;
/// Ops handed over at once.
const BATCH: usize = 2048;

/// An op, and its value's JSON text when the hook wants that instead.
type Read<'t> = (Op, Option<&'t str>);

pub(super) fn parse(text: &str, source: &str, hook: &mut dyn super::Hook) -> Result<History, InputError> {
    let mut lines = text.lines().enumerate();
    let mut ahead = lines.clone();
    let meta = match ahead.find(|(_, raw)| !raw.trim().is_empty()) {
        Some((i, raw)) => meta(raw, source, i + 1)?,
        None => None,
    };
    if meta.is_some() {
        lines = ahead;
    }
    let (ops, timed) = read_ops(lines, text.len() >= PIPELINE_BYTES, source, hook)?;
    // A run stopped before its first op leaves its meta line alone: as
    // an empty file, no history.
    if ops.is_empty() && meta.is_some() {
        return Err(InputError::at(
            source,
            0,
            "the file has a meta line and no ops: there is no history to check",
        ));
    }
    Ok(History {
        ops,
        timed,
        source: source.into(),
        nil_reads_empty: meta == Some(true),
    })
}

/// The ops of a history's lines, and whether they carry times; parsed on
/// a thread of their own if `pipeline`.
fn read_ops<'t>(
    lines: Enumerate<Lines<'t>>,
    pipeline: bool,
    source: &'t str,
    hook: &mut dyn super::Hook,
) -> Result<(Vec<Op>, bool), InputError> {
    let mut reader = Reader {
        text: lines,
        source,
        names: Names::default(),
        clock: Clock::new(),
        n: 0,
        json_values: hook.wants_json(),
    };
    let mut ops = Vec::new();
    if !pipeline {
        for read in &mut reader {
            let (mut op, raw) = read?;
            hook.take(&mut op, raw)?;
            ops.push(op);
        }
        return Ok((ops, reader.clock.timed()));
    }
    // Two stages on two cores: parsing JSON, and whatever the hook does.
    let timed = std::thread::scope(|s| -> Result<bool, InputError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Result<Read, InputError>>>(16);
        let parser = s.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            for read in reader.by_ref() {
                let stop = read.is_err();
                batch.push(read);
                if (batch.len() == BATCH || stop)
                    && tx
                        .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .is_err()
                {
                    break;
                }
                if stop {
                    break;
                }
            }
            let _ = tx.send(batch);
            reader.clock.timed()
        });
        for batch in rx {
            for read in batch {
                let (mut op, raw) = read?;
                hook.take(&mut op, raw)?;
                ops.push(op);
            }
        }
        Ok(parser.join().expect("the JSON parser panicked"))
    })?;
    Ok((ops, timed))
}

/// Reads a history's first line as its `meta` line, if it is one: whether
/// it says a read of nil found the key empty.
fn meta(raw: &str, source: &str, line: usize) -> Result<Option<bool>, InputError> {
    // An op may mention "meta" in its value; only an object without a
    // type is a meta line, and most first lines are told apart unparsed
    // (an op too long to read is the op reader's to refuse).
    if raw.len() > MAX_OP_BYTES || !raw.contains("\"meta\"") {
        return Ok(None);
    }
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(raw) else {
        return Ok(None);
    };
    let Some(meta) = fields.get("meta").filter(|_| !fields.contains_key("type")) else {
        return Ok(None);
    };
    let err = |message: String| InputError::at(source, line, message);
    let Some(meta) = meta.as_object() else {
        return Err(err(format!(
            "meta {}: expected an object such as {{\"nil_reads\": \"empty\"}}",
            excerpt(&meta.to_string(), 60)
        )));
    };
    match meta.get("nil_reads") {
        None => Ok(Some(false)),
        Some(v) if v == "empty" => Ok(Some(true)),
        Some(v) if v == "unknown" => Ok(Some(false)),
        Some(v) => Err(err(format!(
            "meta nil_reads {}: expected \"empty\" (a read of nil found the key empty) or \"unknown\"",
            excerpt(&v.to_string(), 60)
        ))),
    }
}

/// Parses a text's lines into ops, one by one.
struct Reader<'t, I> {
    text: I,
    source: &'t str,
    names: Names,
    clock: Clock,
    /// Ops read so far.
    n: usize,
    /// Values are left as JSON text for the hook.
    json_values: bool,
}

impl<'t, I: Iterator<Item = (usize, &'t str)>> Iterator for Reader<'t, I> {
    type Item = Result<Read<'t>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (i, raw) = self.text.by_ref().find(|(_, raw)| !raw.trim().is_empty())?;
        let read = self.op(i + 1, raw);
        if read.is_ok() {
            self.n += 1;
        }
        Some(read)
    }
}

impl<'t, I> Reader<'t, I> {
    fn op(&mut self, line: usize, raw: &'t str) -> Result<Read<'t>, InputError> {
        let source = self.source;
        let err = |line: usize, message: String| InputError::at(source, line, message);
        if raw.len() > MAX_OP_BYTES {
            return Err(too_long(source, line, raw.len()));
        }
        let (l, value, json) = if self.json_values {
            let l: Line<Option<&RawValue>> = self.line(line, raw)?;
            let json = l.value.map_or("null", RawValue::get);
            (l.without_value(), Value::Nil, Some(json))
        } else {
            let mut l: Line<Value> = self.line(line, raw)?;
            let value = std::mem::take(&mut l.value);
            (l.without_value(), value, None)
        };
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
        let n = self.n;
        let time = self.clock.time(l.time, n).map_err(|m| err(line, m))?;
        let op = Op {
            index: l.index.unwrap_or(n as u64),
            time,
            kind,
            process,
            f: self.names.get(&l.f),
            key: l.key,
            value,
            error: l.error.map(|e| match e {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            line,
        };
        Ok((op, json))
    }

    fn line<'a, V: Deserialize<'a> + Default>(
        &self,
        line: usize,
        raw: &'a str,
    ) -> Result<Line<'a, V>, InputError> {
        serde_json::from_str(raw).map_err(|e| {
            // serde_json says where on the line; the column goes in its field.
            let text = e.to_string();
            let what = text.rfind(" at line ").map_or(&*text, |i| &text[..i]);
            InputError::at(
                self.source,
                line,
                format!(
                    "expected one JSON object with type, process, f and value: {}",
                    excerpt(what, 100)
                ),
            )
            .with_column(e.column())
        })
    }
}

impl<'a, V> Line<'a, V> {
    /// The op's fields but its value.
    fn without_value(self) -> Line<'a, ()> {
        Line {
            index: self.index,
            time: self.time,
            kind: self.kind,
            process: self.process,
            f: self.f,
            key: self.key,
            value: (),
            error: self.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, source: &str) -> Result<History, InputError> {
        super::parse(text, source, &mut ())
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
    fn a_meta_line_says_what_nil_means() {
        let op = r#"{"type":"invoke","process":0,"f":"read","value":null}"#;
        let h = parse(&format!("\n{NIL_READS_EMPTY}\n{op}\n"), "h.jsonl").unwrap();
        assert!(h.nil_reads_empty);
        assert_eq!((h.ops.len(), h.ops[0].line), (1, 3));
        let h = parse(
            &format!("{{\"meta\":{{\"nil_reads\":\"unknown\",\"writer\":\"x\"}}}}\n{op}"),
            "h.jsonl",
        )
        .unwrap();
        assert!(!h.nil_reads_empty);
        let e = parse(&format!("{NIL_READS_EMPTY}\n\n"), "h.jsonl").unwrap_err();
        assert!(e.message.contains("no history to check"), "{e}");
        // No meta line: nil is unknown, as before there were meta lines.
        let h = parse(op, "h.jsonl").unwrap();
        assert!(!h.nil_reads_empty && h.ops.len() == 1);
        let e = parse(
            &format!("{{\"meta\":{{\"nil_reads\":\"absent\"}}}}\n{op}"),
            "h.jsonl",
        )
        .unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("expected \"empty\""), "{e}");
        // Only the first line may be one.
        let e = parse(&format!("{op}\n{NIL_READS_EMPTY}"), "h.jsonl").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("missing field `type`"), "{e}");
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
