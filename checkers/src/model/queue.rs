//! Queues: `enqueue` adds a value; `dequeue` returns one, or nil when the
//! queue is empty. The unordered queue (Knossos' `unordered-queue`) lets a
//! dequeue take any present value; the FIFO queue only the oldest.
//!
//! An indeterminate dequeue is left out: its result is unknown and a step
//! here has one outcome. That makes the check slightly stricter than
//! Knossos' when a crashed dequeue consumed a value nobody saw again.

use std::collections::{BTreeMap, VecDeque};

use super::Model;
use crate::function::Function;
use crate::history::{Operation, Outcome};
use crate::value::Value;

/// A queue operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueOp {
    /// Put a value in.
    Enqueue(Value),
    /// Took a value out; `Nil` when the queue was empty.
    Dequeue(Value),
}

fn parse(op: &Operation) -> Result<Option<QueueOp>, String> {
    if op.outcome == Outcome::Fail {
        return Ok(None);
    }
    match &op.f {
        Function::Enqueue => Ok(Some(QueueOp::Enqueue(op.input.clone()))),
        Function::Dequeue if op.outcome == Outcome::Ok => Ok(Some(QueueOp::Dequeue(op.output.clone()))),
        Function::Dequeue => Ok(None),
        f => Err(format!(
            "function {}: queue models have enqueue and dequeue",
            crate::error::excerpt(f.name(), 40)
        )),
    }
}

fn explain(present: bool, op: &QueueOp, order: &str) -> String {
    match op {
        QueueOp::Dequeue(Value::Nil) => "the queue was not empty".into(),
        QueueOp::Dequeue(v) if present => format!("{v} is not {order}"),
        QueueOp::Dequeue(v) => {
            format!("{v} is not in the queue and no concurrent enqueue puts it there in time")
        }
        QueueOp::Enqueue(_) => "an enqueue is always possible".into(),
    }
}

/// A queue whose dequeues may return any present value (a multiset).
#[derive(Clone, Copy, Debug, Default)]
pub struct UnorderedQueue;

impl Model for UnorderedQueue {
    /// Value → how many copies are queued.
    type State = BTreeMap<Value, u32>;
    type Op = QueueOp;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn parse(&self, op: &Operation) -> Result<Option<QueueOp>, String> {
        parse(op)
    }

    fn step(&self, state: &Self::State, op: &QueueOp) -> Option<Self::State> {
        let mut s = state.clone();
        match op {
            QueueOp::Enqueue(v) => *s.entry(v.clone()).or_default() += 1,
            QueueOp::Dequeue(Value::Nil) => return state.is_empty().then_some(s),
            QueueOp::Dequeue(v) => {
                let n = s.get_mut(v)?;
                *n -= 1;
                if *n == 0 {
                    s.remove(v);
                }
            }
        }
        Some(s)
    }

    fn describe(&self, state: &Self::State) -> String {
        let items: Vec<Value> = state
            .iter()
            .flat_map(|(v, n)| std::iter::repeat_n(v.clone(), *n as usize))
            .collect();
        format!("the queue holds {}", Value::List(items))
    }

    fn explain(&self, state: &Self::State, op: &QueueOp, _concurrent: &[&QueueOp]) -> String {
        let present = matches!(op, QueueOp::Dequeue(v) if state.contains_key(v));
        explain(present, op, "there")
    }
}

/// A first-in first-out queue.
#[derive(Clone, Copy, Debug, Default)]
pub struct FifoQueue;

impl Model for FifoQueue {
    type State = VecDeque<Value>;
    type Op = QueueOp;

    fn init(&self) -> Self::State {
        VecDeque::new()
    }

    fn parse(&self, op: &Operation) -> Result<Option<QueueOp>, String> {
        parse(op)
    }

    fn step(&self, state: &Self::State, op: &QueueOp) -> Option<Self::State> {
        match op {
            QueueOp::Enqueue(v) => {
                let mut s = state.clone();
                s.push_back(v.clone());
                Some(s)
            }
            QueueOp::Dequeue(Value::Nil) => state.is_empty().then(|| state.clone()),
            QueueOp::Dequeue(v) => {
                (state.front() == Some(v)).then(|| state.iter().skip(1).cloned().collect())
            }
        }
    }

    fn describe(&self, state: &Self::State) -> String {
        format!(
            "the queue holds {} (oldest first)",
            Value::List(state.iter().cloned().collect())
        )
    }

    fn explain(&self, state: &Self::State, op: &QueueOp, _concurrent: &[&QueueOp]) -> String {
        let present = matches!(op, QueueOp::Dequeue(v) if state.contains(v));
        explain(present, op, "the oldest value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_dequeues_only_the_oldest() {
        let q = FifoQueue;
        let s = q.step(&q.init(), &QueueOp::Enqueue(1.into())).unwrap();
        let s = q.step(&s, &QueueOp::Enqueue(2.into())).unwrap();
        assert!(q.step(&s, &QueueOp::Dequeue(2.into())).is_none());
        let s = q.step(&s, &QueueOp::Dequeue(1.into())).unwrap();
        assert_eq!(s, VecDeque::from([Value::Int(2)]));
    }

    #[test]
    fn unordered_dequeues_any_present_copy() {
        let q = UnorderedQueue;
        let s = q.step(&q.init(), &QueueOp::Enqueue(1.into())).unwrap();
        let s = q.step(&s, &QueueOp::Enqueue(2.into())).unwrap();
        let s = q.step(&s, &QueueOp::Dequeue(2.into())).unwrap();
        assert!(q.step(&s, &QueueOp::Dequeue(2.into())).is_none());
        assert!(q.step(&s, &QueueOp::Dequeue(Value::Nil)).is_none());
    }
}
