//! Jepsen EDN histories: one op map per line (`history.edn`), or one vector
//! of maps (Knossos' data files), with or without `#jepsen.history.Op`
//! tags. Porcupine's kv logs are EDN maps too and are read here.
//!
//! Keywords become strings without the colon; sets become sorted lists,
//! since checkers compare them as collections. Maps and floats are not
//! values any faultline model accepts, so they are rejected with the line.

use clojure_reader::edn::{self, Edn};

use super::{Clock, Names};
use crate::error::InputError;
use crate::history::{History, Op, OpType, Process};
use crate::value::Value;

struct Builder<'s> {
    source: &'s str,
    names: Names,
    clock: Clock,
    ops: Vec<Op>,
}

pub(super) fn parse(text: &str, source: &str) -> Result<History, InputError> {
    let mut b = Builder {
        source,
        names: Names::default(),
        clock: Clock::new(),
        ops: Vec::new(),
    };
    if text.trim_start().starts_with('[') {
        b.parse_vector(text)?;
    } else {
        for (i, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.is_empty() || l.starts_with(';') {
                continue;
            }
            let form = edn::read_string(l)
                .map_err(|e| b.err(i + 1, format!("expected one EDN map per line: {e}")))?;
            b.push(&form, i + 1)?;
        }
    }
    Ok(History {
        ops: b.ops,
        timed: b.clock.timed(),
        source: source.into(),
    })
}

impl Builder<'_> {
    fn err(&self, line: usize, message: String) -> InputError {
        InputError {
            file: self.source.into(),
            line,
            message,
        }
    }

    /// Reads `[{...} {...} ...]` element by element so errors keep their line.
    fn parse_vector(&mut self, text: &str) -> Result<(), InputError> {
        let start = text.find('[').unwrap_or(0) + 1;
        let mut rest = &text[start..];
        let line_of = |rest: &str| {
            let consumed = text.len() - rest.len();
            1 + text[..consumed].bytes().filter(|&c| c == b'\n').count()
        };
        loop {
            let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
            let line = line_of(trimmed);
            if trimmed.is_empty() {
                return Err(self.err(line, "the history vector is not closed: expected ]".into()));
            }
            if let Some(after) = trimmed.strip_prefix(']') {
                if !after.trim().is_empty() {
                    return Err(self.err(
                        line_of(after.trim_start()),
                        "unexpected text after the history vector".into(),
                    ));
                }
                return Ok(());
            }
            let (form, next) =
                edn::read(trimmed).map_err(|e| self.err(line, format!("expected an EDN op map: {e}")))?;
            self.push(&form, line)?;
            rest = next;
        }
    }

    fn push(&mut self, form: &Edn, line: usize) -> Result<(), InputError> {
        let map = match form {
            Edn::Map(m) => m,
            Edn::Tagged(_, inner) => match &**inner {
                Edn::Map(m) => m,
                other => return Err(self.err(line, format!("expected an op map, found {other}"))),
            },
            other => return Err(self.err(line, format!("expected an op map, found {other}"))),
        };
        let get = |k: &'static str| map.get(&Edn::Key(k));
        let kind = match get("type") {
            Some(Edn::Key(t)) => OpType::parse(t).ok_or_else(|| {
                self.err(
                    line,
                    format!("unknown :type :{t}; expected :invoke, :ok, :fail or :info"),
                )
            })?,
            Some(other) => return Err(self.err(line, format!(":type {other}: expected a keyword"))),
            None => {
                return Err(self.err(
                    line,
                    "missing :type; expected :invoke, :ok, :fail or :info".into(),
                ))
            }
        };
        let process = match get("process") {
            Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
            Some(Edn::Key("nemesis")) => Process::Nemesis,
            Some(other) => {
                return Err(self.err(
                    line,
                    format!(":process {other}: expected a non-negative integer or :nemesis"),
                ))
            }
            None => return Err(self.err(line, "missing :process".into())),
        };
        let f = match get("f") {
            Some(Edn::Key(f) | Edn::Symbol(f) | Edn::Str(f)) => self.names.get(f),
            Some(other) => return Err(self.err(line, format!(":f {other}: expected a keyword"))),
            None => return Err(self.err(line, "missing :f".into())),
        };
        let int_field = |k: &'static str| -> Result<Option<u64>, InputError> {
            match get(k) {
                None | Some(Edn::Nil) => Ok(None),
                Some(Edn::Int(t)) if *t >= 0 => Ok(Some(*t as u64)),
                Some(other) => Err(self.err(line, format!(":{k} {other}: expected a non-negative integer"))),
            }
        };
        let index = int_field("index")?;
        let time = int_field("time")?;
        let value = match get("value") {
            Some(v) => to_value(v).map_err(|m| self.err(line, format!(":value {m}")))?,
            None => Value::Nil,
        };
        let key = match get("key") {
            Some(v) => Some(to_value(v).map_err(|m| self.err(line, format!(":key {m}")))?),
            None => None,
        };
        let error = get("error").map(|e| match e {
            Edn::Key(k) | Edn::Str(k) => k.to_string(),
            other => other.to_string(),
        });
        let n = self.ops.len();
        let time = self.clock.time(time, n).map_err(|m| self.err(line, m))?;
        self.ops.push(Op {
            index: index.unwrap_or(n as u64),
            time,
            kind,
            process,
            f,
            key,
            value,
            error,
            line,
        });
        Ok(())
    }
}

/// Converts an EDN datum to a `Value`, or says why it cannot.
pub(super) fn to_value(e: &Edn) -> Result<Value, String> {
    Ok(match e {
        Edn::Nil => Value::Nil,
        Edn::Bool(b) => Value::Bool(*b),
        Edn::Int(i) => Value::Int(*i),
        Edn::Key(s) | Edn::Symbol(s) | Edn::Str(s) => Value::Str((*s).into()),
        Edn::Vector(items) | Edn::List(items) => {
            Value::List(items.iter().map(to_value).collect::<Result<_, _>>()?)
        }
        Edn::Set(items) => {
            let mut list: Vec<Value> = items.iter().map(to_value).collect::<Result<_, _>>()?;
            list.sort();
            Value::List(list)
        }
        Edn::BigInt(b) => {
            return Err(format!("{b}: integer out of the 64-bit range"));
        }
        other => {
            return Err(format!(
                "{other}: expected nil, a boolean, an integer, a string, a keyword or a collection"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
