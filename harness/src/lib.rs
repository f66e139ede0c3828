//! faultline's harness: the `faultline` command as a library, so that its
//! configuration and run pipeline are tested without a shell. `main.rs`
//! only parses, dispatches to [`commands`] and turns the outcome into an
//! exit code.
//!
//! Folders by role, each depending only on those listed after it:
//! - [`commands`]: one module per subcommand (`test`, `check`, `analyze`,
//!   `bench`, `serve`, `cleanup`).
//! - [`cli`]: the raw flags (clap), and [`cli::config`], where `test`'s
//!   flags are judged and become a validated `TestConfig`.
//! - [`run`]: one run, start to verdict: controller, journal, store,
//!   judging, client pauses.
//! - [`systems`]: one `System` per database (flags, workloads, how it
//!   starts, its clients).
//! - [`db`]: the `Db` protocol and the clusters behind it — `Cluster`
//!   (started by faultline) and `Existing` (pointed at).
//! - [`node`]: the node layer — backends (local namespaces, SSH), the
//!   firewall chain, namespaces, proxies, processes, and the ledger of
//!   what a run leaves behind with its reclaim (the ledger records SSH
//!   targets, so it lives here rather than below).
//! - [`demo`]: the demo cluster's own node server.
//! - [`error`]: bad input (254) versus internal errors (255), for all.
//! - [`http`]: the small GET-only server `serve` and a run's live metrics
//!   answer with.
//!
//! `tests/architecture.rs` checks that sibling modules depend one way.

pub mod cli;
pub mod commands;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod node;
pub mod run;
pub mod systems;
