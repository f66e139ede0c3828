//! `Value`: the data an operation carries (arguments on invoke, results on
//! completion), shared by every import format.
//!
//! It is deliberately smaller than JSON or EDN: nil, booleans, integers,
//! strings and lists cover every workload faultline checks, and the type
//! stays `Eq + Ord + Hash` so models can use values as states and keys.
//! It prints in Clojure's notation (`nil`, `[1 2]`), the notation the
//! people reading Jepsen histories already know.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeSeq, Serializer};

/// One datum of an operation.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// Absent: a read's invocation, or an unknown or empty result.
    #[default]
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A string (EDN keywords import as strings without the colon).
    Str(Box<str>),
    /// A vector or list.
    List(Vec<Value>),
}

impl Value {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// True for `nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The two elements of a 2-element list (a cas's `[old new]`, a Jepsen
    /// independent tuple's `[key value]`).
    pub fn as_pair(&self) -> Option<(&Value, &Value)> {
        match self.as_list() {
            Some([a, b]) => Some((a, b)),
            _ => None,
        }
    }

    /// A scalar a register can hold: nil, an integer, a string or a boolean.
    pub fn is_scalar(&self) -> bool {
        !matches!(self, Value::List(_))
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.into())
    }
}

/// A value printed in at most about 100 characters (`Value::short`).
pub struct Short<'a>(&'a Value);

impl Value {
    /// For messages: the value as it prints, cut off after about 100
    /// characters without printing the rest (a read of a million
    /// elements must not become a 7 MB error).
    pub fn short(&self) -> Short<'_> {
        Short(self)
    }
}

impl fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::error::capped(self.0, 100))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Str(v) => s.serialize_str(v),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
        }
    }
}

// Deserialized directly (not through serde_json::Value) because the JSONL
// importer reads millions of values and the detour doubles its time.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null, a boolean, an integer, a string or an array")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Nil)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Nil)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
                Ok(Value::Int(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
                i64::try_from(u)
                    .map(Value::Int)
                    .map_err(|_| E::custom(format!("integer {u} is larger than 2^63-1")))
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Value, E> {
                Err(E::custom(format!(
                    "floating-point number {x}: expected an integer"
                )))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::Str(s.into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(2));
                while let Some(v) = seq.next_element()? {
                    items.push(v);
                }
                Ok(Value::List(items))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_prints_stop_early() {
        let big = Value::List((0..1_000_000).map(Value::Int).collect());
        let s = big.short().to_string();
        assert!(
            s.starts_with("[0 1 2 ") && s.ends_with('…') && s.chars().count() == 101,
            "{s}"
        );
        assert_eq!(Value::Int(3).short().to_string(), "3");
    }

    #[test]
    fn prints_like_clojure() {
        let v = Value::List(vec![Value::Int(1), Value::Nil, "a".into()]);
        assert_eq!(v.to_string(), r#"[1 nil "a"]"#);
    }

    #[test]
    fn json_round_trip() {
        let v: Value = serde_json::from_str(r#"[1, null, "x", [true]]"#).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"[1,null,"x",[true]]"#);
    }

    #[test]
    fn json_rejects_floats_with_a_reason() {
        let e = serde_json::from_str::<Value>("1.5").unwrap_err();
        assert!(e.to_string().contains("expected an integer"), "{e}");
    }
}
