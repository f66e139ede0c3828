//! One [`System`] per database: its own flags and what they mean, the
//! workloads it runs, the faults it cannot take, how it starts on a set
//! of nodes (whichever backend reaches them) and how its clients reach an
//! existing cluster. `--db` names one of [`SYSTEMS`]; nothing outside a
//! system's module knows what the system is.
//!
//! Adding a database is its module here, its client in `workloads/`, and
//! one line in the `systems!` list below (which declares the module and
//! registers its flags). [`any`] is no `--db` choice: it is the existing
//! cluster of `--client CMD --endpoints …` without `--db`; [`file`] is
//! neither: the system a file describes (`--system FILE`), for a database
//! with no module here.

use std::time::Duration;

use anyhow::Result;
use clap::parser::ValueSource;
use clap::{ArgMatches, FromArgMatches};
use nemesis::Fault;
use workloads::{Client, Workload};

use crate::db::Db;
use crate::error::UsageError;
use crate::node::machines::Machines;

/// What the common flags say that a system's settings may depend on.
pub struct Context<'a> {
    /// How many nodes the cluster has (or endpoints the existing one).
    pub nodes: usize,
    /// Whether the cluster exists already (`--endpoints`).
    pub existing: bool,
    /// The faults asked for.
    pub faults: &'a [Fault],
}

/// A database faultline can test, with its settings.
pub trait System: Send + Sync {
    /// Its name, as `--db` spells it (or its system file names it).
    fn name(&self) -> &str;

    /// The workloads it runs.
    fn workloads(&self) -> &[Workload];

    /// The system and its settings in words, for the opening line
    /// (`etcd, linearizable reads`).
    fn describe(&self) -> String;

    /// A short word for its settings, for the test's default name.
    fn variant(&self) -> String;

    /// Its settings, for test.json.
    fn settings(&self) -> serde_json::Value;

    /// Why it cannot take `fault` on any backend, if it cannot. Only
    /// systems that run under libfaketime take the clock faults.
    fn refuses(&self, fault: Fault) -> Option<String> {
        if !fault.moves_clocks() {
            return None;
        }
        self.no_faketime().map(|why| {
            format!(
                "clock faults need libfaketime, and only ZooKeeper's JVMs honour it here: {why}; the \
                 machine's own clock is never touched"
            )
        })
    }

    /// Why its servers cannot run under libfaketime, for the clock faults'
    /// refusal; `None` where they can.
    fn no_faketime(&self) -> Option<&'static str> {
        Some("faultline does not run this system under libfaketime")
    }

    /// Why faults cannot be aimed at `target`, if they cannot. Every
    /// system built in knows its primary.
    fn refuses_target(&self, _target: nemesis::Target) -> Option<String> {
        None
    }

    /// Whether its lock workload's holders make guarded writes (see
    /// `Plan::guarded`): its client can.
    fn guarded_locks(&self) -> bool {
        false
    }

    /// How long to wait after healing, before the final reads.
    fn recovery(&self) -> Duration {
        Duration::from_secs(2)
    }

    /// How many nodes it runs on, if that is fixed (`--nodes` then
    /// defaults to it, and another count is refused).
    fn nodes(&self) -> Option<usize> {
        None
    }

    /// How many nodes it forms a cluster of on one machine at most, and
    /// why no more (measured), if it has such a limit: asked before a
    /// local cluster starts, so what cannot come up is refused at once.
    fn local_limit(&self) -> Option<LocalLimit> {
        None
    }

    /// Whether it runs only on this machine's loopback — no SSH nodes,
    /// no namespaces — and why.
    fn loopback_only(&self) -> Option<&'static str> {
        None
    }

    /// The client program (`--client`'s form) its clients are, if its
    /// clients are a program rather than built in.
    fn client_command(&self) -> Option<String> {
        None
    }

    /// Where a node that serves clients at `endpoint` (in `--endpoints`'
    /// form) serves its own metrics, and the few series the report
    /// plots first; `None` where faultline does not sample it.
    fn metrics(&self, _endpoint: &str) -> Option<MetricsSource> {
        None
    }

    /// Starts it on `machines` and waits until every node serves.
    fn start(&self, machines: Machines, faults: &[Fault]) -> Result<Box<dyn Db>>;

    /// An `--endpoints` entry in the form `client` takes, or what was
    /// expected.
    fn endpoint(&self, given: &str) -> Result<String, String>;

    /// A client of node `node` for one process, where the cluster's nodes
    /// serve `endpoints` (in `--endpoints`' form: as the user gave them,
    /// or as a cluster faultline started says). The one place a system's
    /// clients are made, for clusters it starts and clusters it is
    /// pointed at alike.
    fn client(
        &self,
        endpoints: &[String],
        node: usize,
        timeout: Duration,
        workload: Workload,
    ) -> Result<Box<dyn Client>>;
}

/// Where one node's own metrics are, and which series matter most.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsSource {
    /// A URL answering in Prometheus' text format.
    pub url: String,
    /// The series the report plots first; a histogram's name plots the
    /// mean of what each sample adds (`_sum` over `_count`).
    pub chosen: &'static [&'static str],
}

/// Why a Go server's clock cannot be moved. Measured on Debian's builds.
pub const GO_CLOCK: &str = "Go servers (etcd, Consul) read the clock through the vDSO, past libfaketime";

/// The most nodes a system comes up with on one machine, and why.
pub struct LocalLimit {
    /// At most this many.
    pub nodes: usize,
    /// Why no more, with what was measured.
    pub why: &'static str,
}

/// A system's own flags, parsed by clap beside the common ones.
pub trait Flags: clap::Args + Send + 'static {
    /// The system these flags configure.
    fn system(self, ctx: &Context) -> Result<Box<dyn System>, UsageError>;
}

/// Turns parsed flags into a configured system.
type Build = fn(&ArgMatches, &Context) -> Result<Box<dyn System>, UsageError>;

/// One `--db` choice.
pub struct Entry {
    /// The name `--db` takes.
    pub name: &'static str,
    /// What it is and where it comes from, for help (`Debian's
    /// etcd-server`).
    pub what: &'static str,
    augment: fn(clap::Command) -> clap::Command,
    build: Build,
}

fn build<F: Flags + FromArgMatches>(m: &ArgMatches, ctx: &Context) -> Result<Box<dyn System>, UsageError> {
    F::from_arg_matches(m)
        .map_err(|e| UsageError(e.to_string()))?
        .system(ctx)
}

const fn entry<F: Flags + FromArgMatches>(name: &'static str, what: &'static str) -> Entry {
    Entry {
        name,
        what,
        augment: F::augment_args,
        build: build::<F>,
    }
}

impl Entry {
    /// The flags of its own, as `--long` names.
    pub fn flags(&self) -> Vec<String> {
        (self.augment)(clap::Command::new(self.name))
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect()
    }
}

/// A flag's parser for one of a client library's modes, by name (the
/// library's own table, `NAMED`: the library knows no clap), so each mode
/// is one type from the flag to the client.
pub fn named<T: Clone + Send + Sync + 'static>(
    named: &'static [(&'static str, &'static str, T)],
) -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser as _};
    PossibleValuesParser::new(
        named
            .iter()
            .map(|(n, help, _)| PossibleValue::new(*n).help(*help)),
    )
    .map(move |given| {
        let (_, _, mode) = named
            .iter()
            .find(|(n, _, _)| *n == given)
            .expect("clap checked the name");
        mode.clone()
    })
}

/// Declares each system's module and lists it in `SYSTEMS`.
macro_rules! systems {
    ($($name:ident: $flags:ident = $what:literal),* $(,)?) => {
        $(pub mod $name;)*

        /// Every system `--db` can name, the default first.
        pub const SYSTEMS: &[Entry] = &[$(entry::<$name::$flags>(stringify!($name), $what)),*];
    };
}

pub mod any;
pub mod file;

systems! {
    demo: DemoFlags = "faultline's own, built in, with switchable bugs",
    etcd: EtcdFlags = "Debian's etcd-server",
    zookeeper: ZooKeeperFlags = "Debian's zookeeper",
    redis: RedisFlags = "Debian's redis-server, with a Sentinel per node",
    consul: ConsulFlags = "HashiCorp's consul binary",
    postgres: PostgresFlags = "Debian's postgresql, one server",
}

/// Adds every system's flags to `faultline test`, and the systems'
/// names as `--db`'s choices.
pub fn augment(test: clap::Command) -> clap::Command {
    let names: Vec<&'static str> = SYSTEMS.iter().map(|e| e.name).collect();
    // Each flag struct's doc would become the command's description.
    let about = test.get_about().cloned();
    SYSTEMS
        .iter()
        .fold(test, |c, e| (e.augment)(c))
        .about(about.unwrap_or_default())
        .mut_arg("db", |a| {
            a.value_parser(clap::builder::PossibleValuesParser::new(names))
        })
}

/// The system `--db` names, configured from its flags; a flag of
/// another system is refused rather than ignored.
pub fn configure(db: &str, m: &ArgMatches, ctx: &Context) -> Result<Box<dyn System>, UsageError> {
    let chosen = SYSTEMS
        .iter()
        .find(|e| e.name == db)
        .ok_or_else(|| UsageError(format!("--db {db}: expected one of {}", names())))?;
    foreign_flags(m, Some(chosen), &format!("--db {db}"))?;
    let system = (chosen.build)(m, ctx)?;
    takes_faults(&*system, ctx)?;
    Ok(system)
}

/// The system a file describes; every system's own flag is refused.
pub fn from_file(
    file: &std::path::Path,
    m: &ArgMatches,
    ctx: &Context,
) -> Result<Box<dyn System>, UsageError> {
    foreign_flags(m, None, "--system")?;
    let system = file::FileSystem::load(file)?;
    takes_faults(&system, ctx)?;
    Ok(Box::new(system))
}

/// Refuses a flag given of a system other than `chosen`.
fn foreign_flags(m: &ArgMatches, chosen: Option<&Entry>, what: &str) -> Result<(), UsageError> {
    let chosen_flags = chosen.map(|c| (c.augment)(clap::Command::new(c.name)));
    for other in SYSTEMS.iter().filter(|e| chosen.is_none_or(|c| c.name != e.name)) {
        let own = (other.augment)(clap::Command::new(other.name));
        for arg in own.get_arguments() {
            let given = m.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine);
            let shared = chosen_flags
                .as_ref()
                .is_some_and(|c| c.get_arguments().any(|a| a.get_id() == arg.get_id()));
            if given && !shared {
                return Err(UsageError(format!(
                    "--{} is a flag of --db {}, not of {what}",
                    arg.get_long().unwrap_or(arg.get_id().as_str()),
                    other.name
                )));
            }
        }
    }
    Ok(())
}

/// Refuses the first fault asked for that `system` cannot take.
fn takes_faults(system: &dyn System, ctx: &Context) -> Result<(), UsageError> {
    match ctx
        .faults
        .iter()
        .find_map(|&f| system.refuses(f).map(|why| (f, why)))
    {
        Some((f, why)) => Err(UsageError(format!("--nemesis {f}: {why}"))),
        None => Ok(()),
    }
}

impl std::fmt::Debug for dyn System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.settings())
    }
}

/// The names `--db` takes, for messages.
pub fn names() -> String {
    SYSTEMS.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}

/// An endpoint as etcd and Consul clients take it: an http(s) URL.
pub fn url_endpoint(given: &str) -> Result<String, String> {
    if given.starts_with("http://") || given.starts_with("https://") {
        Ok(given.trim_end_matches('/').to_string())
    } else {
        Err("http://host:port or https://host:port".into())
    }
}

/// An endpoint as a `host:port` that resolves.
pub fn socket_endpoint(given: &str) -> Result<std::net::SocketAddr, String> {
    match std::net::ToSocketAddrs::to_socket_addrs(given).map(|mut a| a.next()) {
        Ok(Some(addr)) => Ok(addr),
        _ => Err("host:port".into()),
    }
}
