//! The local backend: a node on this machine, inside a network namespace
//! faultline made (`netns`), or on loopback beside the others. Daemons are
//! faultline's own children, reaped when stopped; files are written
//! straight into the run folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Node;
use crate::node::netns::Network;

/// A node on this machine.
pub struct LocalNode {
    name: String,
    host: String,
    /// The namespace it lives in, if it has one.
    namespace: Option<String>,
    dir: PathBuf,
    children: HashMap<i32, Child>,
}

impl LocalNode {
    /// `count` nodes with folders under `nodes_dir`: node `i` in
    /// `network`'s namespace `i`, or all on loopback without one.
    pub fn all(count: usize, network: Option<&Network>, nodes_dir: &Path) -> Vec<LocalNode> {
        (0..count)
            .map(|i| {
                let name = format!("n{}", i + 1);
                LocalNode {
                    dir: nodes_dir.join(&name),
                    name,
                    host: network.map_or("127.0.0.1".into(), |n| n.ip(i).to_string()),
                    namespace: network.map(|n| n.namespace(i).to_string()),
                    children: HashMap::new(),
                }
            })
            .collect()
    }

    fn wrapper(&self) -> Vec<&str> {
        match &self.namespace {
            Some(ns) => vec!["ip", "netns", "exec", ns],
            None => Vec::new(),
        }
    }
}

impl Node for LocalNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn host(&self) -> &str {
        &self.host
    }

    fn ip(&self) -> &str {
        &self.host
    }

    fn own_ports(&self) -> bool {
        self.namespace.is_some()
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn remote(&self) -> bool {
        false
    }

    fn place(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("namespace {ns}"),
            None => "loopback".into(),
        }
    }

    fn write(&mut self, path: &Path, contents: &[u8]) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
    }

    fn read(&mut self, path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }

    /// Local nodes exist only when faultline runs as root.
    fn run(&mut self, script: &str, _root: bool) -> Result<Vec<u8>> {
        let mut argv = self.wrapper();
        argv.extend(["sh", "-c", script]);
        let out = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .context("running sh")?;
        if !out.status.success() {
            bail!("{}: {}", self.name, String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(out.stdout)
    }

    fn require(&mut self, path: &str, package: &str) -> Result<()> {
        if !Path::new(path).exists() {
            return Err(crate::error::UsageError(format!(
                "{path} is missing: install Debian's {package} (apt-get install {package})"
            ))
            .into());
        }
        Ok(())
    }

    fn spawn(&mut self, argv: &[String], env: &[String], user: Option<&str>, log: &Path) -> Result<i32> {
        if let Some(parent) = log.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let wrapper = self.wrapper();
        let switch = user.map(super::as_user).unwrap_or_default();
        let mut full: Vec<&str> = wrapper.clone();
        full.extend(switch.iter().map(String::as_str));
        full.extend(argv.iter().map(String::as_str));
        // `ip netns exec` execs the command in place: the PID and, once
        // it has exec'd, the command line are the server's.
        let child = Command::new(full[0])
            .args(&full[1..])
            .envs(env.iter().filter_map(|kv| kv.split_once('=')))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {} on {}", argv[0], self.name))?;
        let pid = child.id() as i32;
        self.children.insert(pid, child);
        Ok(pid)
    }

    fn signal(&mut self, pid: i32, signal: Signal) -> Result<()> {
        kill(Pid::from_raw(pid), signal).with_context(|| format!("{signal} to process {pid}"))
    }

    fn stop(&mut self, pid: i32, argv: &[String]) -> Result<bool> {
        match self.children.remove(&pid) {
            Some(mut child) => {
                let was_running = child.try_wait()?.is_none();
                // A stopped process must be continued or it cannot die
                // cleanly for a parent waiting on it.
                let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                child.wait()?;
                Ok(was_running)
            }
            None => Ok(crate::node::ledger::stop(&crate::node::ledger::Started {
                pid,
                argv: argv.to_vec(),
                node: None,
            })),
        }
    }

    fn runs(&mut self, pid: i32, argv: &[String]) -> Result<bool> {
        match self.children.get_mut(&pid) {
            Some(child) => {
                if child.try_wait()?.is_some() {
                    self.children.remove(&pid);
                    return Ok(false);
                }
                Ok(true)
            }
            None => Ok(crate::node::ledger::runs(pid, argv)),
        }
    }

    fn iptables(&mut self, rules: &[Vec<String>], keep_going: bool) -> Result<()> {
        let Some(ns) = &self.namespace else {
            bail!(
                "{} runs on loopback, without a network namespace of its own",
                self.name
            );
        };
        let mut first_error = None;
        for rule in rules {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "iptables"])
                .args(rule)
                .output()
                .context("running iptables")?;
            if !out.status.success() {
                let e = anyhow::anyhow!(
                    "iptables {} in {ns}: {}",
                    rule.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                if !keep_going {
                    return Err(e);
                }
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn collect(&mut self, _remote: &Path, _local: &Path) -> Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
