//! Single registers: Knossos' `register` (read, write) and `cas-register`
//! (plus cas), and the register behind Porcupine's etcd logs. They share
//! one step function and differ only in how a history is read:
//!
//! - Knossos: `fail` ops are dropped; a read of nil is "value unknown" —
//!   unless the history says nil means empty (faultline's own clients
//!   return nil only for a key that does not exist), so that a stale read
//!   of a key a lagging node has not seen yet still counts.
//! - Porcupine etcd: a read of nil means the key is absent; a failed cas
//!   was observed to fail, so it must be linearized where the register
//!   differs from the expected value; failed (timed-out) reads say nothing.

use super::{scalar, shape_error, Model};
use crate::function::Function;
use crate::history::{Operation, Outcome};
use crate::value::Value;

/// Which register and which semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Knossos' register: read, write.
    Plain,
    /// Knossos' cas-register: read, write, cas.
    Cas,
    /// Porcupine's etcd semantics: read, write, cas.
    Etcd,
}

/// A single register.
#[derive(Clone, Debug)]
pub struct Register {
    flavor: Flavor,
    init: Value,
    nil_is_empty: bool,
}

impl Register {
    /// A register of `flavor` holding `init` before the first op.
    pub fn new(flavor: Flavor, init: Value) -> Self {
        Register {
            flavor,
            init,
            nil_is_empty: flavor == Flavor::Etcd,
        }
    }

    /// Whether a successful read of nil says the register was empty
    /// (always so for the etcd flavor) rather than nothing.
    pub fn nil_reads_empty(mut self, yes: bool) -> Self {
        self.nil_is_empty |= yes;
        self
    }
}

/// A register operation as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// Read this value (nil: the register was empty).
    Read(Value),
    /// Wrote this value.
    Write(Value),
    /// Compare-and-set from the first to the second value; succeeded.
    Cas(Value, Value),
    /// Compare-and-set that was observed to fail: the register did not
    /// hold this value.
    CasFailed(Value),
}

impl RegisterOp {
    fn writes(&self) -> Option<&Value> {
        match self {
            RegisterOp::Write(v) | RegisterOp::Cas(_, v) => Some(v),
            _ => None,
        }
    }
}

impl Model for Register {
    type State = Value;
    type Op = RegisterOp;

    fn init(&self) -> Value {
        self.init.clone()
    }

    fn parse(&self, op: &Operation) -> Result<Option<RegisterOp>, String> {
        let etcd = self.flavor == Flavor::Etcd;
        if op.outcome == Outcome::Fail && !(etcd && op.f == Function::Cas) {
            return Ok(None);
        }
        match &op.f {
            Function::Read => {
                if op.outcome != Outcome::Ok || (!self.nil_is_empty && op.output.is_nil()) {
                    return Ok(None);
                }
                Ok(Some(RegisterOp::Read(
                    scalar(op, &op.output, "a read's result")?.clone(),
                )))
            }
            Function::Write => Ok(Some(RegisterOp::Write(
                scalar(op, &op.input, "a write's value")?.clone(),
            ))),
            Function::Cas if self.flavor != Flavor::Plain => {
                let (from, to) = op
                    .input
                    .as_pair()
                    .filter(|(a, b)| a.is_scalar() && b.is_scalar())
                    .ok_or_else(|| shape_error(op, "cas to carry [expected new]"))?;
                Ok(Some(if op.outcome == Outcome::Fail {
                    RegisterOp::CasFailed(from.clone())
                } else {
                    RegisterOp::Cas(from.clone(), to.clone())
                }))
            }
            f => Err(format!(
                "function {f}: the {} model has {}",
                match self.flavor {
                    Flavor::Plain => "register",
                    Flavor::Cas => "cas-register",
                    Flavor::Etcd => "etcd",
                },
                if self.flavor == Flavor::Plain {
                    "read and write (use --model cas-register for cas)"
                } else {
                    "read, write and cas"
                }
            )),
        }
    }

    fn step(&self, state: &Value, op: &RegisterOp) -> Option<Value> {
        match op {
            RegisterOp::Read(v) => (v == state).then(|| state.clone()),
            RegisterOp::Write(v) => Some(v.clone()),
            RegisterOp::Cas(from, to) => (from == state).then(|| to.clone()),
            RegisterOp::CasFailed(from) => (from != state).then(|| state.clone()),
        }
    }

    fn read_only(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_) | RegisterOp::CasFailed(_))
    }

    fn reachable(&self, state: &Value, pending: &RegisterOp, others: &[&RegisterOp]) -> bool {
        let needed = match pending {
            RegisterOp::Read(v) | RegisterOp::Cas(v, _) => v,
            // A write is always legal; a failed cas needs any other value,
            // which any write could supply.
            RegisterOp::Write(_) | RegisterOp::CasFailed(_) => return true,
        };
        needed == state || others.iter().any(|o| o.writes() == Some(needed))
    }

    fn overwrites(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Write(_))
    }

    fn always_legal(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Write(_))
    }

    fn describe(&self, state: &Value) -> String {
        if state.is_nil() {
            "the register is empty".into()
        } else {
            format!("the register holds {state}")
        }
    }

    fn explain(&self, _state: &Value, op: &RegisterOp, concurrent: &[&RegisterOp]) -> String {
        let needed = match op {
            RegisterOp::Read(v) | RegisterOp::Cas(v, _) => v,
            RegisterOp::CasFailed(v) => {
                return format!(
                    "the compare failed, so the register cannot have held {v}, and no concurrent write could have changed it first"
                )
            }
            RegisterOp::Write(_) => return "a write is always possible".into(),
        };
        if concurrent.iter().any(|o| o.writes() == Some(needed)) {
            format!(
                "the concurrent ops that write {needed} cannot be ordered before it without breaking another op"
            )
        } else if needed.is_nil() {
            "nothing concurrent could have emptied it".into()
        } else {
            format!("nothing concurrent could have written {needed}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;

    fn op(f: &str, input: Value, output: Value, outcome: Outcome) -> Operation {
        Operation {
            process: Process::Client(0),
            f: f.into(),
            key: None,
            input,
            output,
            outcome,
            call: 0,
            ret: Some(1),
            line: 1,
            ret_line: Some(2),
            error: None,
        }
    }

    #[test]
    fn knossos_drops_fails_and_nil_reads() {
        let m = Register::new(Flavor::Cas, Value::Nil);
        let pair = Value::List(vec![1.into(), 2.into()]);
        assert_eq!(
            m.parse(&op("cas", pair.clone(), pair, Outcome::Fail)).unwrap(),
            None
        );
        assert_eq!(
            m.parse(&op("read", Value::Nil, Value::Nil, Outcome::Ok)).unwrap(),
            None
        );
    }

    #[test]
    fn nil_reads_count_when_nil_means_empty() {
        let m = Register::new(Flavor::Cas, Value::Nil).nil_reads_empty(true);
        assert_eq!(
            m.parse(&op("read", Value::Nil, Value::Nil, Outcome::Ok)).unwrap(),
            Some(RegisterOp::Read(Value::Nil))
        );
        // A read of nil after a write is then impossible.
        let written = m.step(&Value::Nil, &RegisterOp::Write(3.into())).unwrap();
        assert_eq!(m.step(&written, &RegisterOp::Read(Value::Nil)), None);
    }

    #[test]
    fn etcd_keeps_failed_cas_and_nil_reads() {
        let m = Register::new(Flavor::Etcd, Value::Nil);
        let pair = Value::List(vec![1.into(), 2.into()]);
        assert_eq!(
            m.parse(&op("cas", pair.clone(), pair, Outcome::Fail)).unwrap(),
            Some(RegisterOp::CasFailed(1.into()))
        );
        assert_eq!(
            m.parse(&op("read", Value::Nil, Value::Nil, Outcome::Ok)).unwrap(),
            Some(RegisterOp::Read(Value::Nil))
        );
        assert_eq!(m.step(&1.into(), &RegisterOp::CasFailed(1.into())), None);
        assert_eq!(
            m.step(&2.into(), &RegisterOp::CasFailed(1.into())),
            Some(2.into())
        );
    }

    #[test]
    fn wrong_shapes_are_explained() {
        let m = Register::new(Flavor::Cas, Value::Nil);
        let e = m
            .parse(&op("cas", 3.into(), Value::Nil, Outcome::Ok))
            .unwrap_err();
        assert!(e.contains("[expected new]"), "{e}");
        let e = m
            .parse(&op("write", Value::List(vec![]), Value::Nil, Outcome::Ok))
            .unwrap_err();
        assert!(e.contains("single value"), "{e}");
        let e = Register::new(Flavor::Plain, Value::Nil)
            .parse(&op("cas", Value::Nil, Value::Nil, Outcome::Ok))
            .unwrap_err();
        assert!(e.contains("cas-register"), "{e}");
    }
}
