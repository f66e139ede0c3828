//! Knossos' mutex: `acquire` is impossible while the lock is held,
//! `release` while it is free. Failed ops are dropped (they did nothing).

use super::Model;
use crate::function::Function;
use crate::history::{Operation, Outcome};

/// A lock, free at the start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mutex;

/// A lock operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MutexOp {
    /// Took the lock.
    Acquire,
    /// Gave it back.
    Release,
}

impl Model for Mutex {
    /// Whether the lock is held.
    type State = bool;
    type Op = MutexOp;

    fn init(&self) -> bool {
        false
    }

    fn parse(&self, op: &Operation) -> Result<Option<MutexOp>, String> {
        if op.outcome == Outcome::Fail {
            return Ok(None);
        }
        match &op.f {
            Function::Acquire => Ok(Some(MutexOp::Acquire)),
            Function::Release => Ok(Some(MutexOp::Release)),
            f => Err(format!(
                "function {}: the mutex model has acquire and release",
                crate::error::excerpt(f.name(), 40)
            )),
        }
    }

    fn step(&self, held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!held).then_some(true),
            MutexOp::Release => held.then_some(false),
        }
    }

    fn reachable(&self, held: &bool, pending: &MutexOp, others: &[&MutexOp]) -> bool {
        let needs_held = *pending == MutexOp::Release;
        *held == needs_held || others.iter().any(|o| (**o == MutexOp::Acquire) == needs_held)
    }

    fn describe(&self, held: &bool) -> String {
        if *held {
            "the lock is held"
        } else {
            "the lock is free"
        }
        .into()
    }

    fn explain(&self, held: &bool, op: &MutexOp, _concurrent: &[&MutexOp]) -> String {
        match (op, held) {
            (MutexOp::Acquire, true) => "two processes would hold the lock at once".into(),
            (MutexOp::Release, false) => "it releases a lock nobody holds".into(),
            _ => "the concurrent lock ops cannot be ordered around it".into(),
        }
    }
}
