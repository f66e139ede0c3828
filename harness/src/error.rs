//! What goes wrong at the edge, in Jepsen's exit codes: input or
//! arguments that do not make sense (254) and everything else (255).
//! Every layer may say "bad input", so this sits below them all.

/// Exit code for bad arguments or input.
pub const BAD_INPUT: u8 = 254;
/// Exit code for an internal error.
pub const INTERNAL: u8 = 255;

/// A command-line value, or something it names, that does not make
/// sense: refused before anything starts, exit code 254.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
