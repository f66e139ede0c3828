//! The command line: raw flags as clap parses them. Validation into the
//! checker's options happens in each command's module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A Jepsen-style testing harness: runs workloads and faults against a
/// cluster and checks the recorded history.
#[derive(Parser, Debug)]
#[command(name = "faultline", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check recorded histories for linearizability.
    Check(CheckArgs),
    /// Time the checker on the shared histories and on generated ones.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// History files: faultline JSONL, Jepsen EDN, Porcupine etcd or kv logs.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The model: register, cas-register, multi-register, etcd, kv, mutex,
    /// set, unordered-queue, fifo-queue. Default: the format's own (etcd
    /// logs: etcd, kv logs: kv), else guessed from the functions used.
    #[arg(long, short)]
    pub model: Option<String>,
    /// Force the input format: jsonl, edn, etcd-log, kv-log.
    #[arg(long, short)]
    pub format: Option<String>,
    /// Initial value of register-like models (Knossos' data assumes 0).
    #[arg(long)]
    pub init: Option<String>,
    /// Print the full machine-readable result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seconds any one key (partition) may search before it is unknown.
    #[arg(long, default_value_t = 60.0)]
    pub time_limit: f64,
    /// Memory all searches together may hold, e.g. 4G or 512M. Default:
    /// half of this machine's memory.
    #[arg(long)]
    pub max_memory: Option<String>,
    /// Stop at the first invalid key; the keys not yet decided are unknown.
    #[arg(long)]
    pub fail_fast: bool,
    /// Worker threads. Default: one per core.
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Folder of Porcupine histories with EXPECTED.tsv.
    #[arg(long, default_value = "../shared/histories/porcupine")]
    pub histories: PathBuf,
    /// Operations in the large generated history.
    #[arg(long, default_value_t = 1_000_000)]
    pub ops: usize,
    /// Keys in the large generated history.
    #[arg(long, default_value_t = 1_000)]
    pub keys: usize,
    /// Times each shared history is checked (the best run is reported).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

/// A command-line value that does not make sense.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
