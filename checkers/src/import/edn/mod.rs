//! Jepsen EDN histories: one op map per line (`history.edn`), maps spread
//! over several lines, or one vector or list of maps (Knossos' data
//! files), with or without `#jepsen.history.Op` tags, with comments
//! anywhere. Porcupine's kv logs are EDN maps too and are read here. The
//! grammar itself is `reader`'s.
//!
//! Keywords become strings without the colon; sets become sorted lists,
//! since checkers compare them as collections. A client op's maps and
//! floats are not values any faultline model accepts, so they are
//! rejected with the line; a nemesis op's value only describes a fault,
//! so anything goes there.

pub(super) mod reader;

use self::reader::{Edn, ReadError, Reader};
use super::{too_long, Clock, Names, MAX_OP_BYTES};
use crate::error::{capped, excerpt, InputError};
use crate::history::{History, Op, OpType, Process};
use crate::value::Value;

struct Builder<'s, 'h> {
    source: &'s str,
    hook: &'h mut dyn super::Hook,
    names: Names,
    clock: Clock,
    ops: Vec<Op>,
}

pub(super) fn parse(text: &str, source: &str, hook: &mut dyn super::Hook) -> Result<History, InputError> {
    let mut b = Builder {
        source,
        hook,
        names: Names::default(),
        clock: Clock::new(),
        ops: Vec::new(),
    };
    let mut r = Reader::new(text);
    let fail = |e: ReadError, what: &str| {
        InputError::at(source, e.line, format!("{what}: {}", e.message)).with_column(e.column)
    };
    // A history is one vector or list of ops, or ops one after another;
    // a Knossos tuple (`[70 :invoke :read nil]`) opens with a process
    // where a history vector opens with an op.
    let close = match r.peek().map_err(|e| fail(e, "expected EDN"))? {
        Some(open @ (b'[' | b'(')) => {
            let mut inside = r.clone();
            inside.bump();
            let tuple = matches!(inside.peek(), Ok(Some(b'0'..=b'9' | b':')));
            (!tuple).then(|| {
                r.bump();
                if open == b'[' {
                    b']'
                } else {
                    b')'
                }
            })
        }
        _ => None,
    };
    loop {
        let next = r.peek().map_err(|e| fail(e, "expected an EDN op map"))?;
        match (next, close) {
            (None, None) => break,
            (None, Some(c)) => {
                return Err(b.err(
                    r.line(),
                    format!(
                        "the history {} is not closed: expected {}",
                        if c == b']' { "vector" } else { "list" },
                        c as char
                    ),
                ))
            }
            (Some(c), Some(want)) if c == want => {
                r.bump();
                if r.peek().map_err(|e| fail(e, "after the history"))?.is_some() {
                    let e = r.error("unexpected text after the history's closing bracket");
                    return Err(fail(e, "expected the end of the file"));
                }
                break;
            }
            _ => {}
        }
        let (line, start) = (r.line(), r.offset());
        let form = r.read().map_err(|e| fail(e, "expected an EDN op map"))?;
        if r.offset() - start > MAX_OP_BYTES {
            return Err(too_long(source, line, r.offset() - start));
        }
        b.push(&form, line)?;
    }
    Ok(History {
        ops: b.ops,
        timed: b.clock.timed(),
        source: source.into(),
        nil_reads_empty: false,
    })
}

impl Builder<'_, '_> {
    fn err(&self, line: usize, message: String) -> InputError {
        InputError::at(self.source, line, message)
    }

    fn push(&mut self, form: &Edn, line: usize) -> Result<(), InputError> {
        let tuple;
        let fields = match form {
            Edn::Map(_) => form,
            Edn::Tagged(_, inner) if matches!(**inner, Edn::Map(_)) => form,
            Edn::Vector(items) | Edn::List(items) if knossos_tuple(items) => {
                tuple = from_tuple(items);
                &tuple
            }
            other => {
                return Err(self.err(
                    line,
                    format!(
                        "expected an op map such as {{:type :invoke, :f :read, :process 0}} or a Knossos \
                         tuple [process :type :f value], found {} {}",
                        other.kind(),
                        other.short()
                    ),
                ))
            }
        };
        let get = |k: &str| fields.get(k);
        let kind = match get("type") {
            Some(Edn::Keyword(t)) | Some(Edn::Str(t)) => OpType::parse(t).ok_or_else(|| {
                self.err(
                    line,
                    format!(
                        "unknown :type :{}; expected :invoke, :ok, :fail or :info",
                        excerpt(t, 40)
                    ),
                )
            })?,
            Some(other) => return Err(self.err(line, format!(":type {}: expected a keyword", other.short()))),
            None => {
                return Err(self.err(
                    line,
                    "missing :type; expected :invoke, :ok, :fail or :info".into(),
                ))
            }
        };
        let process = match get("process") {
            Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
            Some(Edn::Keyword(k)) if k == "nemesis" => Process::Nemesis,
            Some(other) => {
                return Err(self.err(
                    line,
                    format!(
                        ":process {}: expected a non-negative integer or :nemesis",
                        other.short()
                    ),
                ))
            }
            None => return Err(self.err(line, "missing :process".into())),
        };
        let f = match get("f") {
            Some(Edn::Keyword(f) | Edn::Str(f)) => self.names.get(f),
            Some(Edn::Symbol(f)) => self.names.get(f),
            Some(other) => return Err(self.err(line, format!(":f {}: expected a keyword", other.short()))),
            None => return Err(self.err(line, "missing :f".into())),
        };
        let int_field = |k: &'static str| -> Result<Option<u64>, InputError> {
            match get(k) {
                None | Some(Edn::Nil) => Ok(None),
                Some(Edn::Int(t)) if *t >= 0 => Ok(Some(*t as u64)),
                Some(other) => Err(self.err(
                    line,
                    format!(":{k} {}: expected a non-negative integer", other.short()),
                )),
            }
        };
        let index = int_field("index")?;
        let time = int_field("time")?;
        let convert = |e: &Edn| match process {
            Process::Nemesis => Ok(describe(e)),
            Process::Client(_) => to_value(e),
        };
        let value = match get("value") {
            Some(v) => convert(v).map_err(|m| self.err(line, format!(":value {m}")))?,
            None => Value::Nil,
        };
        let key = match get("key") {
            Some(v) => Some(convert(v).map_err(|m| self.err(line, format!(":key {m}")))?),
            None => None,
        };
        let error = get("error").map(|e| match e {
            Edn::Keyword(k) | Edn::Str(k) => excerpt(k, 200),
            other => capped(other, 200),
        });
        let n = self.ops.len();
        let time = self.clock.time(time, n).map_err(|m| self.err(line, m))?;
        let mut op = Op {
            index: index.unwrap_or(n as u64),
            time,
            kind,
            process,
            f,
            key,
            value,
            error,
            line,
        };
        self.hook.take(&mut op, None)?;
        self.ops.push(op);
        Ok(())
    }
}

/// Whether `items` is a Knossos tuple: `[process :type :f value]`, as its
/// data files write ops (an error may follow the value).
fn knossos_tuple(items: &[Edn]) -> bool {
    matches!(items, [Edn::Int(_) | Edn::Keyword(_), Edn::Keyword(t), Edn::Keyword(_), _, ..]
        if items.len() <= 5 && OpType::parse(t).is_some())
}

/// A Knossos tuple as the op map it stands for.
fn from_tuple<'a>(items: &[Edn<'a>]) -> Edn<'a> {
    let names = ["process", "type", "f", "value", "error"];
    Edn::Map(
        names
            .iter()
            .zip(items)
            .map(|(k, v)| (Edn::Keyword((*k).into()), v.clone()))
            .collect(),
    )
}

/// Converts an EDN datum to a `Value`, or says why it cannot.
pub(super) fn to_value(e: &Edn) -> Result<Value, String> {
    Ok(match e {
        Edn::Nil => Value::Nil,
        Edn::Bool(b) => Value::Bool(*b),
        Edn::Int(i) => Value::Int(*i),
        Edn::Keyword(s) | Edn::Str(s) => Value::Str((**s).into()),
        Edn::Symbol(s) => Value::Str((*s).into()),
        Edn::Char(c) => Value::Str(c.to_string().into()),
        Edn::Vector(items) | Edn::List(items) => {
            Value::List(items.iter().map(to_value).collect::<Result<_, _>>()?)
        }
        Edn::Set(items) => {
            let mut list: Vec<Value> = items.iter().map(to_value).collect::<Result<_, _>>()?;
            list.sort();
            Value::List(list)
        }
        Edn::BigInt(b) => {
            return Err(format!("{}: integer out of the 64-bit range", excerpt(b, 40)));
        }
        other => {
            return Err(format!(
                "{}: {} is not a value faultline's models take (nil, booleans, integers, strings, keywords and collections of them)",
                other.short(),
                other.kind()
            ))
        }
    })
}

/// A nemesis op's value, for reports: as `to_value` where it can be, a
/// map as a list of `[key value]` pairs, anything else as its text.
fn describe(e: &Edn) -> Value {
    match e {
        Edn::Map(entries) => Value::List(
            entries
                .iter()
                .map(|(k, v)| Value::List(vec![describe(k), describe(v)]))
                .collect(),
        ),
        Edn::Vector(items) | Edn::List(items) | Edn::Set(items) => {
            Value::List(items.iter().map(describe).collect())
        }
        Edn::Tagged(_, inner) => describe(inner),
        other => to_value(other).unwrap_or_else(|_| Value::Str(other.short().into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, source: &str) -> Result<History, InputError> {
        super::parse(text, source, &mut ())
    }

    #[test]
    fn reads_one_map_per_line() {
        let h = parse(
            "{:type :invoke, :f :write, :value 3, :process 0, :time 10, :index 0}\n\
             {:type :ok, :f :write, :value 3, :process 0, :time 20, :index 1}\n",
            "h.edn",
        )
        .unwrap();
        assert!(h.timed);
        assert_eq!(h.ops[1].time, 20);
        assert_eq!(h.ops[1].value, Value::Int(3));
    }

    #[test]
    fn reads_a_vector_of_tagged_records_with_lines() {
        let h = parse(
            "[#jepsen.history.Op{:index 0, :type :invoke, :f :read, :value nil, :process 0}\n\
             \n\
             {:type :ok, :f :read, :value #{2 1}, :process 0}]\n",
            "h.edn",
        )
        .unwrap();
        assert!(!h.timed);
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[1].line, 3);
        assert_eq!(h.ops[1].value.to_string(), "[1 2]");
    }

    #[test]
    fn nemesis_and_error_keywords() {
        let h = parse(
            "{:type :info, :f :start, :value nil, :process :nemesis}\n\
             {:type :invoke, :f :read, :value nil, :process 1}\n\
             {:type :fail, :f :read, :value nil, :process 1, :error :timeout}\n",
            "h.edn",
        )
        .unwrap();
        assert_eq!(h.ops[0].process, Process::Nemesis);
        assert_eq!(h.ops[2].error.as_deref(), Some("timeout"));
    }

    #[test]
    fn reads_the_grammar_jepsen_and_knossos_write() {
        // Comments before, between and after ops; a list; maps over several
        // lines; namespaced keywords; escapes; an unknown tag; a set.
        let h = parse(
            "; written by hand, in Jepsen's grammar\n\
             ;; second comment\n\
             (#jepsen.history.Op{:index 0, :type :invoke, :f :write, :value 1,\n\
                                 :process 0, :time 1} ; trailing\n\
              ; between\n\
              {:type :ok,\n   :f :write, :value 1, :process 0, :time 2,\n   :jepsen/extra #inst \"2020-01-01\"}\n\
              {:type :info, :f :start, :process :nemesis, :time 3,\n   :value {\"n1\" #{\"n2\" \"n3\"}, :note \"a \\\"quoted\\\" word\"}}\n\
              {:type :fail, :f :cas, :value #{2 1}, :process 1, :time 4, :error \"line\\nbreak\"})\n\
             ; the end\n",
            "h.edn",
        )
        .unwrap();
        assert_eq!(h.ops.len(), 4);
        assert_eq!(h.ops[0].line, 3);
        assert_eq!(h.ops[1].line, 6);
        assert_eq!(h.ops[1].time, 2);
        assert_eq!(h.ops[2].process, Process::Nemesis);
        assert_eq!(
            h.ops[2].value.to_string(),
            r#"[["n1" ["n2" "n3"]] ["note" "a \"quoted\" word"]]"#
        );
        assert_eq!(h.ops[3].value.to_string(), "[1 2]");
        assert_eq!(h.ops[3].error.as_deref(), Some("line\nbreak"));
    }

    #[test]
    fn a_comment_first_file_is_detected_and_read() {
        let text = ";; Jepsen history\n{:type :invoke, :f :read, :process 0, :value nil}\n";
        let (h, format) = crate::import::parse(text, "h.edn", None).unwrap();
        assert_eq!(format, crate::import::Format::Edn);
        assert_eq!(h.ops[0].line, 2);
    }

    #[test]
    fn errors_quote_little_and_give_a_column() {
        let long = format!(
            "{{:type :invoke, :f :read, :process 0, :value \"{}\" :x}}",
            "y".repeat(10_000)
        );
        let e = parse(&long, "h.edn").unwrap_err();
        assert!(e.message.len() < 300, "{}", e.message.len());
        assert!(!e.message.contains("Edn"), "{e}");
        let e = parse("{:type :invoke, :f :read,\n :process 0 :value [1 2}\n", "h.edn").unwrap_err();
        assert_eq!((e.line, e.column), (2, 24), "{e}");
        assert_eq!(
            e.to_string(),
            "h.edn:2:24: expected an EDN op map: expected ] here, found }"
        );
        let e = parse("{:type :invoke, :f :read, :process 0, :value 1.5}", "h.edn").unwrap_err();
        assert!(e.message.contains("1.5: a float is not a value"), "{e}");
    }

    #[test]
    fn reads_knossos_tuples() {
        let h = parse(
            "[70 :invoke :read nil]\n[70 :ok :read 3]\n[:nemesis :info :start nil]\n[71 :invoke :write 4]\n[71 :fail :write 4 :timeout]\n",
            "cas-failure.edn",
        )
        .unwrap();
        assert_eq!(h.ops.len(), 5);
        assert_eq!(h.ops[1].value, Value::Int(3));
        assert_eq!(h.ops[2].process, Process::Nemesis);
        assert_eq!(h.ops[4].error.as_deref(), Some("timeout"));
        // A vector of tuples is a history too.
        let h = parse("[[0 :invoke :read nil]\n [0 :ok :read nil]]", "v.edn").unwrap();
        assert_eq!(h.ops[1].line, 2);
    }

    #[test]
    fn errors_name_line_and_expectation() {
        let e = parse(
            "{:type :invoke, :f :read, :process 0}\n{:type :done, :f :read, :process 0}\n",
            "h.edn",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unknown :type :done"), "{e}");

        let e = parse(
            "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :pro",
            "h.edn",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);

        let e = parse(
            "[{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0}",
            "h.edn",
        )
        .unwrap_err();
        assert!(e.message.contains("not closed"), "{e}");

        let e = parse("{:type :ok, :f :read, :process 0, :value {:a 1}}", "h.edn").unwrap_err();
        assert!(e.message.starts_with(":value"), "{e}");
    }
}
