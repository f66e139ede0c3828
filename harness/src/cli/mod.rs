//! The command line: raw flags as clap parses them. Validation into the
//! checker's options happens in each command's module. Flags that list
//! things (systems, workloads, faults, models) get their help from those
//! lists in `help.rs`; the doc comments here say only what the flag is.

pub mod config;
pub mod help;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A Jepsen-style testing harness: runs workloads and faults against a
/// cluster and checks the recorded history.
#[derive(Parser, Debug)]
#[command(name = "faultline", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a test: start a cluster, run clients and faults, check the history.
    Test(Box<TestArgs>),
    /// Re-check a stored run (default: the latest) and rewrite its reports.
    Analyze(AnalyzeArgs),
    /// Regenerate a stored run's report.html, plots, results.json and junit.xml.
    Report(AnalyzeArgs),
    /// Remove what dead runs left on this machine (processes, namespaces,
    /// links, locks), whichever store they used; live runs are left alone.
    Cleanup,
    /// Serve the run store: an index of runs and their reports.
    Serve(ServeArgs),
    /// One node of the built-in demo cluster (started by `faultline test`).
    #[command(hide = true)]
    DemoNode(DemoNodeArgs),
    /// Check recorded histories: linearizability against a model, or
    /// Elle's transactional anomalies.
    #[command(
        after_help = "Exit codes: 0 every file valid; 1 some file invalid (even if others could not be \
read: a finding is never hidden); 2 some file unknown (a budget ran out); 254 bad arguments, or a file \
could not be read and none is invalid (the summary then says unknown); 255 internal error."
    )]
    Check(CheckArgs),
    /// Time the checker on the shared histories and on generated ones.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// History files: faultline JSONL, Jepsen EDN, Porcupine etcd or kv logs.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The model (help: the list of models).
    #[arg(long, short)]
    pub model: Option<String>,
    /// For transactional histories, the consistency models to hold them
    /// to (help: the list of models).
    #[arg(long, value_delimiter = ',')]
    pub consistency_models: Vec<String>,
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
    /// Seconds the whole check (every file, every key) may take; keys
    /// still undecided then are unknown, with that reason.
    #[arg(long, default_value_t = 300.0)]
    pub total_time_limit: f64,
    /// Memory all searches together may hold, e.g. 4G or 512M. Default:
    /// half of this machine's memory.
    #[arg(long)]
    pub max_memory: Option<String>,
    /// Stop at the first invalid key; the keys not yet decided are unknown.
    #[arg(long)]
    pub fail_fast: bool,
    /// A successful read of nil means the key was empty, not Knossos'
    /// "value unknown". Histories `faultline test` records say so in their
    /// first line and are read so without this flag.
    #[arg(long)]
    pub nil_reads_empty: bool,
    /// Logs (send/poll): a value at several offsets is a warning, not an
    /// error (at-least-once delivery).
    #[arg(long)]
    pub allow_duplicates: bool,
    /// Logs (send/poll): consumers share a group the system rebalances,
    /// so polls that go back or skip are warnings, not errors.
    #[arg(long)]
    pub rebalancing: bool,
    /// Threads: a big JSONL history is read in stretches on this many, and
    /// keys are checked side by side on as many. Default: one per core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also write report.html, plots, results.json and junit.xml here (one
    /// subfolder per file when several are checked).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Keep linearizations (in --json and the report): each invalid key's
    /// longest partial one through each op (the first 50 invalid keys),
    /// the first valid key's complete one. --report keeps them anyway.
    #[arg(long)]
    pub linearizations: bool,
    /// Keep valid key K's complete linearization too (repeatable; implies
    /// --linearizations).
    #[arg(long = "linearization-key", value_name = "K")]
    pub linearization_keys: Vec<String>,
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
    /// Transactions in the large generated list-append history.
    #[arg(long, default_value_t = 1_000_000)]
    pub txns: usize,
    /// Run only one part: checker, txn, controller, report, proxy or
    /// client.
    #[arg(long)]
    pub only: Option<String>,
    /// The client program the client part compares with the built-in
    /// etcd client (run in each run folder, so give an absolute path).
    /// Default: python3 with examples/etcd/client.py, if there.
    #[arg(long, value_name = "CMD")]
    pub etcd_client: Option<String>,
    /// Seconds of each controller run.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// The system under test (help: the list of systems).
    #[arg(long, default_value = "demo")]
    pub db: String,
    /// A database described in a file instead (TOML: how to start, stop
    /// and fault its nodes, its default client; see the README's "Any
    /// database" and examples/*/system.toml).
    #[arg(long, value_name = "FILE", conflicts_with = "db")]
    pub system: Option<PathBuf>,
    /// A client program in any language, instead of the system's own
    /// client: a shell command, started in the run folder once per
    /// process, speaking JSON lines on its stdin and stdout
    /// (docs/client-protocol.md). With --endpoints and no --db, the
    /// cluster may be of any database.
    #[arg(long, value_name = "CMD")]
    pub client: Option<String>,
    /// Test an existing cluster of --db's system instead of starting one
    /// (comma-separated), each in the form its system's client takes (a
    /// URL or host:port; another form is refused with the one expected).
    /// No faults are injected, unless its nodes are given too (--nodes or
    /// --nodes-file; endpoint i on node i).
    #[arg(long, value_delimiter = ',')]
    pub endpoints: Vec<String>,
    /// The nodes: a number starts that many on this machine (each in a
    /// network namespace of its own when run as root); a comma list of
    /// hosts (`host`, `user@host`, `host:port`) starts the cluster on
    /// those machines over SSH.
    #[arg(long, default_value = "3")]
    pub nodes: String,
    /// A file of nodes to reach over SSH, one `host`, `user@host` or
    /// `user@host:port` a line (`#` comments).
    #[arg(long, conflicts_with = "nodes")]
    pub nodes_file: Option<PathBuf>,
    /// SSH user for nodes that name none (default: ssh's own, from
    /// ~/.ssh/config or the current user).
    #[arg(long)]
    pub ssh_user: Option<String>,
    /// SSH private key (default: ssh's own, and the agent).
    #[arg(long)]
    pub ssh_key: Option<PathBuf>,
    /// SSH port for nodes that name none.
    #[arg(long)]
    pub ssh_port: Option<u16>,
    /// An ssh option, as `ssh -o` takes it (repeatable), e.g.
    /// UserKnownHostsFile=/path or StrictHostKeyChecking=accept-new.
    #[arg(long, value_name = "KEY=VALUE")]
    pub ssh_option: Vec<String>,
    /// With --endpoints and SSH nodes: a file on each node holding the
    /// database's PID (for kill and pause faults).
    #[arg(long, conflicts_with = "db_process")]
    pub db_pid_file: Option<String>,
    /// With --endpoints and SSH nodes: the database's process name on
    /// each node, as `pgrep -x` matches it (for kill and pause faults).
    #[arg(long)]
    pub db_process: Option<String>,
    /// Where runs keep their folders on SSH nodes (one per run and node
    /// below it, removed when the run ends; logs are copied home first).
    #[arg(long, default_value = "/tmp/faultline")]
    pub remote_dir: PathBuf,
    /// Operations on one key before its workers move to a fresh key.
    #[arg(long, default_value_t = 200)]
    pub ops_per_key: usize,
    /// In each key's group of 4 workers, how many only read (0–3). A
    /// reader on a cut-off node keeps reading while writers elsewhere
    /// change the key: what shows stale reads.
    #[arg(long, default_value_t = 0)]
    pub readers_per_key: usize,
    /// What the clients do (help: the list of workloads).
    #[arg(long, short, default_value = "cas-register")]
    pub workload: String,
    /// For transactional workloads, the consistency models to hold the
    /// history to (help: the list of models).
    #[arg(long, value_delimiter = ',')]
    pub consistency_models: Vec<String>,
    /// The faults (help: the fault table).
    #[arg(long)]
    pub nemesis: Option<String>,
    /// Which nodes faults hit: random, or primary (the current leader).
    #[arg(long, default_value = "random")]
    pub nemesis_targets: String,
    /// Seconds each fault lasts, and each calm between faults.
    #[arg(long, default_value_t = 3.0)]
    pub nemesis_interval: f64,
    /// Seconds of the main phase.
    #[arg(long, default_value_t = 30.0)]
    pub time_limit: f64,
    /// Client workers.
    #[arg(long, short, default_value_t = 10)]
    pub concurrency: usize,
    /// Total operations per second across all workers; 0 for no limit.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Run the test this many times; the verdicts compose.
    #[arg(long, default_value_t = 1)]
    pub test_count: usize,
    /// Folder of stored runs.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Seed for the generator and the nemesis (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds before an operation counts as timed out.
    #[arg(long, default_value_t = 1.0)]
    pub op_timeout: f64,
    /// Seconds to wait after healing before the final reads. Default:
    /// the system's (2; 12 for Redis, whose Sentinels turn a returning old
    /// primary into a replica only at their 10-second check).
    #[arg(long)]
    pub recovery: Option<f64>,
    /// The test's name in the store (default: db-workload-variant).
    #[arg(long)]
    pub name: Option<String>,
    /// Route clients and peers through faultline's proxies even without
    /// a link fault (to see what the proxies alone cost); delay and
    /// blackhole faults turn them on by themselves. etcd, and ZooKeeper
    /// with a namespace per node; nodes of this machine only.
    #[arg(long)]
    pub proxy: bool,
    /// Do not write the history (only to measure what writing costs).
    #[arg(long, hide = true)]
    pub no_journal: bool,
    /// Serve the run's live metrics at http://ADDR/metrics for Prometheus
    /// (IP:PORT, e.g. 127.0.0.1:9464): operations by function and
    /// outcome, latency histograms, the faults in force.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Do not sample the system's own metrics into the run's metrics/
    /// (by default each node is read about once a second, where the
    /// system has metrics: etcd, the demo cluster).
    #[arg(long)]
    pub no_system_metrics: bool,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// A run folder; default: the store's latest run.
    pub run: Option<PathBuf>,
    /// Folder of stored runs.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Folder of stored runs.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Port; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
}

#[derive(Args, Debug)]
pub struct DemoNodeArgs {
    /// This node's index into --peers.
    #[arg(long)]
    pub id: usize,
    /// What the node gets wrong.
    #[arg(long, value_enum)]
    pub mode: crate::demo::node::Mode,
    /// Every node's address, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub peers: Vec<std::net::SocketAddr>,
    /// Data folder.
    #[arg(long)]
    pub dir: PathBuf,
}
