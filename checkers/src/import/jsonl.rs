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

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{too_long, Clock, Hook, Names, MAX_OP_BYTES};
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

/// Texts from which stretches of lines are read on several threads at
/// once (when the caller allows more than one): below it a thread costs
/// more than it saves.
const PARALLEL_BYTES: usize = 4 << 20;
/// Stretches per thread: more than one, so a thread whose stretch reads
/// slowly does not leave the others idle at the end.
const STRETCHES_PER_THREAD: usize = 4;

/// An op, and its value's JSON text when the hook wants that instead.
type Read<'t> = (Op, Option<&'t str>);

pub(super) fn parse<H: Hook + Send + Sync>(
    text: &str,
    source: &str,
    threads: usize,
    hook: &mut H,
) -> Result<History, InputError> {
    parse_in(text, source, threads, PARALLEL_BYTES, hook)
}

/// As [`parse`], with stretches read in parallel from `parallel_bytes`
/// of text (tests make small texts take that path).
fn parse_in<H: Hook + Send + Sync>(
    text: &str,
    source: &str,
    threads: usize,
    parallel_bytes: usize,
    hook: &mut H,
) -> Result<History, InputError> {
    let (meta, body, first_line) = split_meta(text, source)?;
    let (ops, timed) = if threads > 1 && body.len() >= parallel_bytes {
        read_parallel(body, first_line, threads, source, hook)?
    } else {
        let mut reader = Reader::new((first_line..).zip(body.lines()), source, 0, hook.wants_json());
        let mut ops = Vec::new();
        for read in &mut reader {
            let (mut op, raw) = read?;
            hook.take(&mut op, raw)?;
            ops.push(op);
        }
        (ops, reader.clock.timed())
    };
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

/// The history's meta line, if its first line is one (see [`meta`]), and
/// the text after it with the number of its first line.
fn split_meta<'t>(text: &'t str, source: &str) -> Result<(Option<bool>, &'t str, usize), InputError> {
    let mut at = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        if raw.trim().is_empty() {
            at += raw.len();
            continue;
        }
        return Ok(match meta(raw.trim_end(), source, i + 1)? {
            Some(m) => (Some(m), &text[at + raw.len()..], i + 2),
            None => (None, text, 1),
        });
    }
    Ok((None, text, 1))
}

/// One stretch of a history's lines, read on a thread of its own.
struct Stretch<H> {
    /// Its ops, or the first error in it.
    ops: Result<Vec<Op>, InputError>,
    /// Whether its first op had a time field, and that op's line.
    first: Option<(bool, usize)>,
    /// The hook that took its ops.
    hook: H,
}

/// Reads `body` (its first line numbered `first_line`) in stretches on
/// `threads` threads, each with a [fork](Hook::fork) of `hook`, then
/// joins them in order: the ops, errors and hook's data are those of a
/// reading from start to end.
fn read_parallel<H: Hook + Send + Sync>(
    body: &str,
    first_line: usize,
    threads: usize,
    source: &str,
    hook: &mut H,
) -> Result<(Vec<Op>, bool), InputError> {
    let stretches = stretches(body, threads * STRETCHES_PER_THREAD);
    // Where each stretch starts: its first line's number and how many ops
    // come before it (an op's default index and time). Counting is a
    // quick pass of its own so that every op is read with its final
    // numbers, as a hook expects.
    let counts = crate::parallel::map(stretches.len(), threads, |j| {
        let (mut lines, mut ops) = (0, 0);
        for line in stretches[j].split_inclusive('\n') {
            lines += 1;
            ops += usize::from(!line.trim().is_empty());
        }
        (lines, ops)
    });
    let mut starts = Vec::with_capacity(stretches.len());
    let (mut line, mut n) = (first_line, 0);
    for &(lines, ops) in &counts {
        starts.push((line, n));
        line += lines;
        n += ops;
    }
    let json_values = hook.wants_json();
    let template: &H = hook;
    let read = crate::parallel::map(stretches.len(), threads, |j| {
        let (line, n) = starts[j];
        let mut hook = template.fork();
        let mut reader = Reader::new((line..).zip(stretches[j].lines()), source, n, json_values);
        let mut ops = Vec::with_capacity(counts[j].1);
        let mut first = None;
        let result = loop {
            let Some(read) = reader.next() else { break Ok(()) };
            let (mut op, raw) = match read {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            first = first.or(Some((reader.clock.timed(), op.line)));
            if let Err(e) = hook.take(&mut op, raw) {
                break Err(e);
            }
            ops.push(op);
        };
        Stretch {
            ops: result.map(|()| ops),
            first,
            hook,
        }
    });
    let mut ops = Vec::with_capacity(n);
    let mut timed: Option<bool> = None;
    for stretch in read {
        if let (Some(t), Some((has, line))) = (timed, stretch.first) {
            if has != t {
                return Err(InputError::at(source, line, Clock::mismatch(t)));
            }
        }
        timed = timed.or(stretch.first.map(|(has, _)| has));
        ops.extend(stretch.ops?);
        hook.join(stretch.hook);
    }
    Ok((ops, timed.unwrap_or(false)))
}

/// `body` cut at line ends into `k` stretches of about equal length.
fn stretches(body: &str, k: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(k);
    let mut rest = body;
    for left in (1..k).rev() {
        let aim = rest.len() / (left + 1);
        let cut = rest.as_bytes()[aim..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |p| aim + p + 1);
        let (stretch, after) = rest.split_at(cut);
        out.push(stretch);
        rest = after;
    }
    out.push(rest);
    out
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

/// Parses numbered lines into ops, one by one.
struct Reader<'t, I> {
    text: I,
    source: &'t str,
    names: Names,
    clock: Clock,
    /// Ops read so far (and before the text).
    n: usize,
    /// Values are left as JSON text for the hook.
    json_values: bool,
}

impl<'t, I> Reader<'t, I> {
    /// Reads `text`'s numbered lines; `n` ops came before them.
    fn new(text: I, source: &'t str, n: usize, json_values: bool) -> Self {
        Reader {
            text,
            source,
            names: Names::default(),
            clock: Clock::new(),
            n,
            json_values,
        }
    }
}

impl<'t, I: Iterator<Item = (usize, &'t str)>> Iterator for Reader<'t, I> {
    type Item = Result<Read<'t>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (line, raw) = self.text.by_ref().find(|(_, raw)| !raw.trim().is_empty())?;
        let read = self.op(line, raw);
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
        super::parse(text, source, 1, &mut ())
    }

    /// `text` read on `threads` threads in stretches, however short.
    fn parse_parallel(text: &str, threads: usize) -> Result<History, InputError> {
        parse_in(text, "h.jsonl", threads, 0, &mut ())
    }

    /// A history of `n` ops with blank lines here and there, timed or not.
    fn many(n: usize, timed: bool) -> String {
        let mut text = format!("\n{NIL_READS_EMPTY}\n");
        for i in 0..n {
            let time = if timed {
                format!("\"time\":{},", i * 10)
            } else {
                String::new()
            };
            let kind = if i % 2 == 0 { "invoke" } else { "ok" };
            text += &format!(
                "{{{time}\"type\":\"{kind}\",\"process\":{},\"f\":\"{}\",\"value\":{}}}\n",
                (i / 2) % 5,
                ["read", "write", "x-custom"][i % 3],
                i
            );
            if i % 7 == 0 {
                text += "\n  \n";
            }
        }
        text
    }

    #[test]
    fn stretches_read_in_parallel_read_as_one() {
        for timed in [true, false] {
            let text = many(500, timed);
            let one = parse(&text, "h.jsonl").unwrap();
            for threads in [2, 3, 8] {
                let par = parse_parallel(&text, threads).unwrap();
                assert_eq!(par.ops, one.ops, "{threads} threads, timed {timed}");
                let lines: Vec<usize> = par.ops.iter().map(|o| o.line).collect();
                assert_eq!(lines, one.ops.iter().map(|o| o.line).collect::<Vec<_>>());
                assert_eq!((par.timed, par.nil_reads_empty), (timed, true));
            }
        }
        let cut = stretches("a\nbb\nccc\nd", 3);
        assert_eq!(cut.concat(), "a\nbb\nccc\nd");
        assert!(
            cut.iter()
                .all(|s| s.is_empty() || s.ends_with('\n') || s.ends_with('d')),
            "{cut:?}"
        );
    }

    #[test]
    fn stretches_read_in_parallel_report_the_first_error() {
        let text = many(500, true);
        let mut lines: Vec<&str> = text.lines().collect();
        // Two damaged lines: the earlier one is the one reported.
        let (early, late) = (300, 600);
        lines[early] = "{\"type\":\"ok\",\"proc";
        lines[late] = "{\"type\":\"done\",\"process\":0,\"f\":\"read\"}";
        let damaged = lines.join("\n");
        let one = parse(&damaged, "h.jsonl").unwrap_err();
        assert_eq!(one.line, early + 1);
        for threads in [2, 5] {
            let par = parse_parallel(&damaged, threads).unwrap_err();
            assert_eq!(
                (par.line, &par.message),
                (one.line, &one.message),
                "{threads} threads"
            );
        }
        // A stretch whose ops lack the time field the first stretch's had.
        let untimed = many(100, false);
        let mixed = format!(
            "{}{}",
            many(400, true),
            untimed
                .trim_start()
                .lines()
                .skip(1)
                .collect::<Vec<_>>()
                .join("\n")
        );
        let one = parse(&mixed, "h.jsonl").unwrap_err();
        let par = parse_parallel(&mixed, 4).unwrap_err();
        assert!(one.message.contains("missing time"), "{one}");
        assert_eq!((par.line, &par.message), (one.line, &one.message));
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
