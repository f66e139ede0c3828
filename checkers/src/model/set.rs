//! Knossos' set: `add` inserts an element, `read` returns every element.
//! A read must see exactly the elements added before it, which makes this
//! the strict (linearizable) set; the looser "no lost elements" check of a
//! set workload is a different checker.

use std::collections::BTreeSet;

use super::{shape_error, Model};
use crate::function::Function;
use crate::history::{Operation, Outcome};
use crate::value::Value;

/// A grow-only set, empty at the start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Set;

/// A set operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetOp {
    /// Added an element.
    Add(Value),
    /// Read these elements (sorted, distinct).
    Read(BTreeSet<Value>),
}

impl Model for Set {
    type State = BTreeSet<Value>;
    type Op = SetOp;

    fn init(&self) -> BTreeSet<Value> {
        BTreeSet::new()
    }

    fn parse(&self, op: &Operation) -> Result<Option<SetOp>, String> {
        if op.outcome == Outcome::Fail {
            return Ok(None);
        }
        match &op.f {
            Function::Add => Ok(Some(SetOp::Add(op.input.clone()))),
            Function::Read if op.outcome == Outcome::Ok => {
                let items = op
                    .output
                    .as_list()
                    .ok_or_else(|| shape_error(op, "a read to return a collection"))?;
                Ok(Some(SetOp::Read(items.iter().cloned().collect())))
            }
            Function::Read => Ok(None),
            f => Err(format!(
                "function {}: the set model has add and read",
                crate::error::excerpt(f.name(), 40)
            )),
        }
    }

    fn step(&self, state: &BTreeSet<Value>, op: &SetOp) -> Option<BTreeSet<Value>> {
        match op {
            SetOp::Add(v) => {
                let mut s = state.clone();
                s.insert(v.clone());
                Some(s)
            }
            SetOp::Read(r) => (r == state).then(|| state.clone()),
        }
    }

    fn read_only(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(_))
    }

    fn reachable(&self, state: &BTreeSet<Value>, pending: &SetOp, _others: &[&SetOp]) -> bool {
        // Elements are never removed: a read must contain all of them.
        match pending {
            SetOp::Read(r) => state.is_subset(r),
            SetOp::Add(_) => true,
        }
    }

    fn describe(&self, state: &BTreeSet<Value>) -> String {
        format!("the set holds {}", Value::List(state.iter().cloned().collect()))
    }

    fn explain(&self, state: &BTreeSet<Value>, op: &SetOp, _concurrent: &[&SetOp]) -> String {
        match op {
            SetOp::Read(r) => {
                let missing: Vec<Value> = state.difference(r).cloned().collect();
                let extra: Vec<Value> = r.difference(state).cloned().collect();
                if !missing.is_empty() {
                    format!("the read misses {}, added before it", Value::List(missing))
                } else {
                    format!(
                        "the read has {}, which no concurrent add can supply in time",
                        Value::List(extra)
                    )
                }
            }
            SetOp::Add(_) => "an add is always possible".into(),
        }
    }

    fn state_bytes(&self, state: &BTreeSet<Value>) -> usize {
        state.len() * 2 * std::mem::size_of::<Value>()
    }
}
