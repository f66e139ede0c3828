//! Server processes a run starts: spawned with their output in a log file,
//! recorded in the run's state file before anything relies on them, and
//! stopped, paused or resumed only by their own PID. `Group` gives a
//! cluster's processes the nemesis's process powers.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nemesis::FaultError;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cleanup::{Registry, Started};

/// One server process, running or not.
pub struct Supervised {
    /// The node's name (`n1`), for messages.
    pub name: String,
    /// A launcher that execs the command in place (`ip netns exec NS`), so
    /// the PID and, once it has exec'd, the command line are the server's.
    pub wrapper: Vec<String>,
    /// The server's exact command line; a restart uses the same.
    pub argv: Vec<String>,
    /// Where its output goes (appended across restarts).
    pub log: PathBuf,
    child: Option<Child>,
}

impl Supervised {
    /// A process that is not started yet.
    pub fn new(name: String, wrapper: Vec<String>, argv: Vec<String>, log: PathBuf) -> Self {
        Supervised {
            name,
            wrapper,
            argv,
            log,
            child: None,
        }
    }

    /// Whether it has been started and not stopped.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts it and records it in `registry`.
    pub fn spawn(&mut self, registry: &mut Registry) -> Result<()> {
        if self.child.is_some() {
            bail!("{} is already running", self.name);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let full: Vec<&String> = self.wrapper.iter().chain(&self.argv).collect();
        let child = Command::new(full[0])
            .args(&full[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.argv[0]))?;
        let started = Started {
            pid: child.id() as i32,
            argv: self.argv.clone(),
        };
        self.child = Some(child);
        registry.add(started)
    }

    /// Fails if the process has exited on its own.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                bail!("{} exited ({status}); see {}", self.name, self.log.display());
            }
        }
        Ok(())
    }

    /// Sends a signal (SIGSTOP, SIGCONT) to the running process.
    pub fn signal(&self, sig: Signal, action: &'static str) -> Result<(), FaultError> {
        let err = |message: String| FaultError {
            action,
            node: self.name.clone(),
            message,
        };
        let child = self.child.as_ref().ok_or_else(|| err("not running".into()))?;
        kill(Pid::from_raw(child.id() as i32), sig).map_err(|e| err(e.to_string()))
    }

    /// Kills (continuing it first, should it be paused) and reaps it, and
    /// forgets it in `registry`. Does nothing if it is not running.
    pub fn stop(&mut self, registry: Option<&mut Registry>) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGCONT);
        let _ = kill(pid, Signal::SIGKILL);
        child.wait()?;
        match registry {
            Some(r) => r.remove(pid.as_raw()),
            None => Ok(()),
        }
    }
}

/// A cluster's server processes and the state file that records them:
/// the process powers (kill, start, pause, resume) every local cluster
/// shares.
pub struct Group {
    /// The processes, in node order.
    pub nodes: Vec<Supervised>,
    /// `None` once closed.
    registry: Option<Registry>,
}

impl Group {
    /// Processes not started yet, recorded in `registry` as they start.
    pub fn new(nodes: Vec<Supervised>, registry: Registry) -> Group {
        Group {
            nodes,
            registry: Some(registry),
        }
    }

    /// The state file, while the group is open.
    pub fn registry(&mut self) -> Option<&mut Registry> {
        self.registry.as_mut()
    }

    /// Starts node `i`.
    pub fn spawn(&mut self, i: usize) -> Result<()> {
        let registry = self.registry.as_mut().context("the cluster was torn down")?;
        self.nodes[i].spawn(registry)
    }

    fn fault(&self, i: usize, action: &'static str, e: anyhow::Error) -> FaultError {
        FaultError {
            action,
            node: self.nodes[i].name.clone(),
            message: format!("{e:#}"),
        }
    }

    /// Polls `ready` until it holds, failing if process `i` exits or
    /// `timeout` passes; `what` says what was awaited.
    pub fn wait_until(
        &mut self,
        i: usize,
        timeout: Duration,
        what: &str,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !ready() {
            self.nodes[i].check_alive()?;
            if Instant::now() > deadline {
                let node = &self.nodes[i];
                bail!(
                    "{} {what} within {timeout:?}; see {}",
                    node.name,
                    node.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Kills node `i` (SIGKILL) and reaps it.
    pub fn kill(&mut self, i: usize) -> Result<(), FaultError> {
        let r = self.nodes[i].stop(self.registry.as_mut());
        r.map_err(|e| self.fault(i, "kill", e))
    }

    /// Starts node `i` again with the same command line.
    pub fn restart(&mut self, i: usize) -> Result<(), FaultError> {
        self.spawn(i).map_err(|e| self.fault(i, "start", e))
    }

    /// Stops node `i` (SIGSTOP).
    pub fn pause(&self, i: usize) -> Result<(), FaultError> {
        self.nodes[i].signal(Signal::SIGSTOP, "pause")
    }

    /// Continues node `i` (SIGCONT).
    pub fn resume(&self, i: usize) -> Result<(), FaultError> {
        self.nodes[i].signal(Signal::SIGCONT, "resume")
    }

    /// Kills and reaps every node.
    pub fn stop_all(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            node.stop(self.registry.as_mut())?;
        }
        Ok(())
    }

    /// Deletes the state file: everything it listed is gone. Idempotent.
    pub fn close(&mut self) -> Result<()> {
        match self.registry.take() {
            Some(r) => r.close(),
            None => Ok(()),
        }
    }
}
