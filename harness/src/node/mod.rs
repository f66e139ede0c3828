//! The node-control layer: everything the harness does to one database
//! node — write and read its files, start a daemon and know its PID,
//! signal or stop that PID, change the node's firewall in faultline's own
//! chain — goes through [`Node`]. Two backends implement it: [`local`]
//! (this machine, each node in a network namespace faultline made, or all
//! on loopback) and [`ssh`] (a real machine reached with the system's
//! OpenSSH client); [`Backend`] says which, and reaches the nodes;
//! [`firewall`] is faultline's chain on them, for network faults.
//!
//! What a node is *for* (which daemon, which ports, when it is ready)
//! belongs to the systems; when to use a power belongs to the nemesis.

mod backend;
pub mod firewall;
pub mod ledger;
pub mod local;
pub mod machines;
pub mod netns;
pub mod process;
pub mod proxies;
pub mod reclaim;
pub mod ssh;

pub use backend::Backend;

use std::path::Path;

use anyhow::{Context, Result};
use nix::sys::signal::Signal;

/// One machine (or namespace) a database node runs on.
pub trait Node: Send {
    /// The node's name in messages and events (`n1`).
    fn name(&self) -> &str;

    /// The address clients and peers reach it at.
    fn host(&self) -> &str;

    /// The IPv4 address its peers' packets come from, for firewall rules.
    fn ip(&self) -> &str;

    /// Whether the node has its own ports (a namespace or a machine of
    /// its own), so a system may listen on its usual ones; nodes sharing
    /// loopback take free ports instead.
    fn own_ports(&self) -> bool;

    /// The folder this run keeps on the node: configuration, data, logs.
    fn dir(&self) -> &Path;

    /// Whether the node is reached over the network (its files and
    /// processes are not this machine's).
    fn remote(&self) -> bool;

    /// Where the node's backend was reached (`root@10.0.0.1:22`, or
    /// `namespace faultline-x-n1`), for messages.
    fn place(&self) -> String;

    /// Writes a file on the node, creating its folder.
    fn write(&mut self, path: &Path, contents: &[u8]) -> Result<()>;

    /// Reads a file on the node.
    fn read(&mut self, path: &Path) -> Result<Vec<u8>>;

    /// Runs a POSIX shell script on the node — as root if `root` (sudo
    /// where the node's user is not root) — and returns what it printed;
    /// a non-zero exit is an error carrying its error output.
    fn run(&mut self, script: &str, root: bool) -> Result<Vec<u8>>;

    /// Fails, naming the Debian package, if `path` is missing on the node.
    fn require(&mut self, path: &str, package: &str) -> Result<()>;

    /// Starts `argv` as a daemon, with `env` (`KEY=VALUE`) added to its
    /// environment and its output appended to `log`; returns its PID (the
    /// command's own: no shell or `env` stays in between, so its command
    /// line is exactly `argv`).
    /// `user`: run as that user (by `setpriv`, which execs in place), for
    /// servers that refuse to run as root.
    fn spawn(&mut self, argv: &[String], env: &[String], user: Option<&str>, log: &Path) -> Result<i32>;

    /// Sends `signal` to `pid`.
    fn signal(&mut self, pid: i32, signal: Signal) -> Result<()>;

    /// Continues and kills `pid` if it still runs exactly `argv`, and
    /// waits until it is gone. Returns whether it was running.
    fn stop(&mut self, pid: i32, argv: &[String]) -> Result<bool>;

    /// Whether `pid` still runs exactly `argv` (a zombie does not).
    fn runs(&mut self, pid: i32, argv: &[String]) -> Result<bool>;

    /// Runs iptables once per argument list, as root, in the node's own
    /// firewall (its namespace, or its machine), stopping at the first
    /// failure unless `keep_going`. A backend sends them together where
    /// it can: one round trip per node.
    fn iptables(&mut self, rules: &[Vec<String>], keep_going: bool) -> Result<()>;

    /// Brings the node's copy of `remote` into `local` (a no-op where
    /// the node writes into the run folder already).
    fn collect(&mut self, remote: &Path, local: &Path) -> Result<()>;

    /// The run is over on this node: removes its folder there (where it
    /// is not inside the run folder) and closes the connection.
    fn finish(&mut self) -> Result<()>;
}

/// `e` as a sentence about node `n`: named once (backend errors name
/// their node already).
pub fn about(n: &dyn Node, e: &anyhow::Error) -> String {
    let said = format!("{e:#}");
    if said.starts_with(&format!("{} (", n.name())) {
        said
    } else {
        format!("{} ({}): {said}", n.name(), n.place())
    }
}

/// Runs `f` on every node at once (a thread each: a remote round trip
/// each, side by side rather than one after another).
pub fn on_each<T: Send>(
    nodes: &mut [Box<dyn Node>],
    f: impl Fn(usize, &mut Box<dyn Node>) -> Result<T> + Sync,
) -> Vec<Result<T>> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter_mut()
            .enumerate()
            .map(|(i, n)| s.spawn(move || f(i, n)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a node thread panicked"))
            .collect()
    })
}

/// The address `host` (a name or an address) resolves to here,
/// IPv4 first: partitions drop packets by source address.
pub fn resolve(host: &str) -> Result<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = (host, 0)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip())
        .with_context(|| format!("{host} resolves to no address"))
}

/// An owned argument list.
pub fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// `s` quoted for a POSIX shell.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A command line quoted for a POSIX shell.
pub fn quote_all<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `setpriv` words that run a command as `user` (its own groups too).
pub fn as_user(user: &str) -> Vec<String> {
    args(&["setpriv", "--reuid", user, "--regid", user, "--init-groups"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        let argv = ["/bin/echo", "plain", "two words", "it's", "", "$HOME", "a\"b"];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(quote_all(&argv))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "plain two words it's  $HOME a\"b\n"
        );
        assert_eq!(quote("n1=http://198.18.0.1:2380"), "n1=http://198.18.0.1:2380");
    }
}
