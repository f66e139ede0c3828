//! Knossos' multi-register: each op is a `txn`, a list of micro-ops
//! `[:read k v]` and `[:write k v]` applied atomically to a map of
//! registers. A read of nil is "value unknown", as in Knossos. Registers
//! start empty (nil).

use std::collections::BTreeMap;

use super::{shape_error, Model};
use crate::function::Function;
use crate::history::{Operation, Outcome};
use crate::value::Value;

/// A map of registers, empty at the start.
#[derive(Clone, Debug, Default)]
pub struct MultiRegister {
    /// What every register holds before its first write (Knossos' data
    /// files start them at 0); nil: empty.
    pub init: Value,
}

/// One micro-op of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Micro {
    /// Read `key`; saw `value` (nil: unknown).
    Read(Value, Value),
    /// Wrote `value` to `key`.
    Write(Value, Value),
}

/// An atomic transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn(pub Vec<Micro>);

impl MultiRegister {
    fn holds<'a>(&'a self, state: &'a BTreeMap<Value, Value>, key: &Value) -> &'a Value {
        state.get(key).unwrap_or(&self.init)
    }
}

impl Model for MultiRegister {
    type State = BTreeMap<Value, Value>;
    type Op = Txn;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn parse(&self, op: &Operation) -> Result<Option<Txn>, String> {
        if op.outcome == Outcome::Fail {
            return Ok(None);
        }
        if op.f != Function::Txn {
            return Err(format!(
                "function {}: the multi-register model has txn",
                crate::error::excerpt(op.f.name(), 40)
            ));
        }
        let value = if op.outcome == Outcome::Ok {
            &op.output
        } else {
            &op.input
        };
        let expected = "txn to carry [[:read k v] [:write k v] ...]";
        let micros = value.as_list().ok_or_else(|| shape_error(op, expected))?;
        let mut out = Vec::with_capacity(micros.len());
        for m in micros {
            match m.as_list() {
                Some([f, k, v]) if f.as_str() == Some("read") => out.push(Micro::Read(k.clone(), v.clone())),
                Some([f, k, v]) if f.as_str() == Some("write") => {
                    out.push(Micro::Write(k.clone(), v.clone()))
                }
                _ => return Err(shape_error(op, expected)),
            }
        }
        Ok(Some(Txn(out)))
    }

    fn step(&self, state: &Self::State, op: &Txn) -> Option<Self::State> {
        let mut s = state.clone();
        for m in &op.0 {
            match m {
                Micro::Read(_, Value::Nil) => {}
                Micro::Read(k, v) => {
                    if self.holds(&s, k) != v {
                        return None;
                    }
                }
                Micro::Write(k, v) => {
                    s.insert(k.clone(), v.clone());
                }
            }
        }
        Some(s)
    }

    fn read_only(&self, op: &Txn) -> bool {
        op.0.iter().all(|m| matches!(m, Micro::Read(..)))
    }

    fn describe(&self, state: &Self::State) -> String {
        let others = match &self.init {
            Value::Nil => "empty".to_string(),
            v => format!("at {v}"),
        };
        if state.is_empty() {
            return format!("every register is {others}");
        }
        let parts: Vec<String> = state.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "the registers hold {} (the others are {others})",
            parts.join(", ")
        )
    }

    fn explain(&self, state: &Self::State, op: &Txn, _concurrent: &[&Txn]) -> String {
        let mut s = state.clone();
        for m in &op.0 {
            match m {
                Micro::Read(k, v) if !v.is_nil() && self.holds(&s, k) != v => {
                    let had = self.holds(&s, k);
                    return format!("it reads {k}={v} where {k} holds {had}, and no concurrent txn can change that in time");
                }
                Micro::Write(k, v) => {
                    s.insert(k.clone(), v.clone());
                }
                Micro::Read(..) => {}
            }
        }
        "the concurrent txns cannot be ordered around it".into()
    }

    fn state_bytes(&self, state: &Self::State) -> usize {
        state.len() * 3 * std::mem::size_of::<Value>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_earlier_writes_in_the_same_txn() {
        let m = MultiRegister::default();
        let t = Txn(vec![
            Micro::Write("x".into(), 1.into()),
            Micro::Read("x".into(), 1.into()),
        ]);
        assert!(m.step(&m.init(), &t).is_some());
        let t = Txn(vec![Micro::Read("x".into(), 1.into())]);
        assert!(m.step(&m.init(), &t).is_none());
    }
}
