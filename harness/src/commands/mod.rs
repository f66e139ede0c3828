//! The subcommands, one module each: what `main` dispatches to. Each
//! returns the exit code its verdict gives (0 valid, 1 invalid, 2 unknown).

pub mod analyze;
pub mod bench;
pub mod check;
pub mod cleanup;
pub mod serve;
pub mod synth;
pub mod test;

use anyhow::{Context, Result};

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}
