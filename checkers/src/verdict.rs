//! `Verdict`: valid, invalid or unknown, and how verdicts compose
//! (invalid beats unknown beats valid: one invalid key makes the history
//! invalid, and an undecided one makes an otherwise valid history unknown).

use std::fmt;

use serde::Serialize;

/// A checker's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The history satisfies the property.
    Valid,
    /// The checker could not decide (a budget ran out, or it was stopped).
    Unknown,
    /// The history violates the property.
    Invalid,
}

impl Verdict {
    /// The verdict of several checks together.
    pub fn compose(items: impl IntoIterator<Item = Verdict>) -> Verdict {
        items.into_iter().max().unwrap_or(Verdict::Valid)
    }

    /// The process exit code of Jepsen's convention: 0 valid, 1 invalid,
    /// 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict::*;
    use super::*;

    #[test]
    fn invalid_beats_unknown_beats_valid() {
        assert_eq!(Verdict::compose([Valid, Unknown, Valid]), Unknown);
        assert_eq!(Verdict::compose([Unknown, Invalid, Valid]), Invalid);
        assert_eq!(Verdict::compose([]), Valid);
    }
}
