//! `InputError`: a history that cannot be read or does not make sense,
//! located by file and line so a person can open the file at the spot.

use thiserror::Error;

/// Bad input: where it is and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}: {message}")]
pub struct InputError {
    /// The file (or other source) name.
    pub file: String,
    /// 1-based line number; 0 when the problem is the file as a whole.
    pub line: usize,
    /// What was found and what was expected.
    pub message: String,
}
