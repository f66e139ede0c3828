//! Porcupine's kv model: each key holds a string, starting at `""`; `get`
//! returns the whole string, `put` replaces it, `append` concatenates.
//! Keys are independent, so the checker splits the history by key and this
//! model sees one key at a time.
//!
//! Its pruning rule is what lets the search finish on Porcupine's c50-bad:
//! between puts a string only grows, so a state that is not a prefix of a
//! pending get's result is dead unless a put could still intervene.

use super::{shape_error, Model};
use crate::function::Function;
use crate::history::{Operation, Outcome};
use crate::value::Value;

/// The kv model for one key.
#[derive(Clone, Debug, Default)]
pub struct Kv {
    init: String,
}

impl Kv {
    /// Keys start out holding `init` (Porcupine: the empty string).
    pub fn new(init: String) -> Self {
        Kv { init }
    }
}

/// A kv operation on one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    /// Read the whole string.
    Get(String),
    /// Replace it.
    Put(String),
    /// Concatenate to it.
    Append(String),
}

fn text(op: &Operation, v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.to_string()),
        Value::Nil => Ok(String::new()),
        _ => Err(shape_error(op, what)),
    }
}

/// Steps `composed` may take before giving up (and not pruning): ambiguous
/// strings could make the search exponential.
const COMPOSE_BUDGET: u32 = 10_000;

/// Whether `rest` is a concatenation of distinct unused `appends`. Out of
/// budget counts as yes, since a wrong "no" would prune a live state.
fn composed(rest: &str, appends: &[&str], used: &mut [bool], budget: &mut u32) -> bool {
    if rest.is_empty() || *budget == 0 {
        return true;
    }
    *budget -= 1;
    for (i, a) in appends.iter().enumerate() {
        if !used[i] && rest.starts_with(a) {
            used[i] = true;
            let ok = composed(&rest[a.len()..], appends, used, budget);
            used[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}

impl Model for Kv {
    type State = String;
    type Op = KvOp;

    fn init(&self) -> String {
        self.init.clone()
    }

    fn parse(&self, op: &Operation) -> Result<Option<KvOp>, String> {
        if op.outcome == Outcome::Fail {
            return Ok(None);
        }
        Ok(Some(match &op.f {
            Function::Get if op.outcome == Outcome::Ok => {
                KvOp::Get(text(op, &op.output, "get to return a string")?)
            }
            Function::Get => return Ok(None),
            Function::Put => KvOp::Put(text(op, &op.input, "put to carry a string")?),
            Function::Append => KvOp::Append(text(op, &op.input, "append to carry a string")?),
            f => {
                return Err(format!(
                    "function {}: the kv model has get, put and append",
                    crate::error::excerpt(f.name(), 40)
                ))
            }
        }))
    }

    fn step(&self, state: &String, op: &KvOp) -> Option<String> {
        match op {
            KvOp::Get(v) => (v == state).then(|| state.clone()),
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Append(v) => {
                let mut s = String::with_capacity(state.len() + v.len());
                s.push_str(state);
                s.push_str(v);
                Some(s)
            }
        }
    }

    fn read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }

    fn reachable(&self, state: &String, pending: &KvOp, others: &[&KvOp]) -> bool {
        let KvOp::Get(v) = pending else { return true };
        // When the get takes effect the key holds a base — today's string or
        // the last put before it — followed by distinct appends, all from
        // `others`.
        let appends: Vec<&str> = others
            .iter()
            .filter_map(|o| match o {
                KvOp::Append(a) if !a.is_empty() => Some(a.as_str()),
                _ => None,
            })
            .collect();
        let mut bases = std::iter::once(state.as_str()).chain(others.iter().filter_map(|o| match o {
            KvOp::Put(p) => Some(p.as_str()),
            _ => None,
        }));
        let mut used = vec![false; appends.len()];
        let mut budget = COMPOSE_BUDGET;
        bases.any(|b| {
            v.strip_prefix(b)
                .is_some_and(|rest| composed(rest, &appends, &mut used, &mut budget))
        })
    }

    fn overwrites(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Put(_))
    }

    fn always_legal(&self, op: &KvOp) -> bool {
        !matches!(op, KvOp::Get(_))
    }

    fn describe(&self, state: &String) -> String {
        format!("the key holds {state:?}")
    }

    fn explain(&self, state: &String, op: &KvOp, concurrent: &[&KvOp]) -> String {
        match op {
            KvOp::Get(v) if !self.reachable(state, op, concurrent) => format!(
                "{v:?} is neither {state:?} nor a concurrent put's value followed by concurrent appends"
            ),
            KvOp::Get(v) => format!("no order of the concurrent appends and puts produces {v:?}"),
            _ => "placing it here would leave a later get unable to see what it saw".into(),
        }
    }

    fn state_bytes(&self, state: &String) -> usize {
        state.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_concatenates_and_get_must_match() {
        let m = Kv::default();
        let s = m.step(&m.init(), &KvOp::Append("x 1 y".into())).unwrap();
        assert_eq!(s, "x 1 y");
        assert!(m.step(&s, &KvOp::Get("x 1 yx 2 y".into())).is_none());
    }

    #[test]
    fn a_get_must_be_a_base_plus_distinct_appends() {
        let m = Kv::default();
        let get = KvOp::Get("pab".into());
        let (a, b, p) = (
            KvOp::Append("a".into()),
            KvOp::Append("b".into()),
            KvOp::Put("p".into()),
        );
        assert!(m.reachable(&"x".into(), &get, &[&a, &b, &p]));
        assert!(!m.reachable(&"x".into(), &get, &[&a, &b]));
        assert!(!m.reachable(&"x".into(), &get, &[&a, &p]));
        assert!(!m.reachable(&"x".into(), &KvOp::Get("paa".into()), &[&a, &p]));
    }

    #[test]
    fn a_state_that_no_longer_prefixes_a_pending_get_is_dead() {
        let m = Kv::default();
        let get = KvOp::Get("ab".into());
        let append = KvOp::Append("b".into());
        assert!(m.reachable(&"a".into(), &get, &[&append]));
        assert!(!m.reachable(&"ac".into(), &get, &[&append]));
        let put = KvOp::Put("ab".into());
        assert!(m.reachable(&"ac".into(), &get, &[&put]));
    }
}
