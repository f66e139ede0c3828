//! The ledger: what a run leaves behind if faultline dies, recorded
//! before the run relies on it (`node::reclaim` removes exactly that).
//!
//! Everything a run creates — processes (PID and full command line),
//! network namespaces, links, subnet lock files — is recorded in its
//! state file before the run relies on it; a run that ends normally
//! deletes its file. State files live in one folder per machine and user
//! (`/run/faultline` for root), not in the run store, so `faultline
//! cleanup` finds every dead run's leftovers whichever store it used.
//! Each file names its owner by PID and start time: a file whose owner
//! still runs is left alone (a reused PID has another start time), and a
//! dead owner's file is reclaimed with exactly what it lists. Processes
//! are only ever stopped by PID, after checking they still run the
//! recorded command line; nothing outside the list is touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::ssh::{Ssh, Target};

/// Where subnet locks live: machine-wide, since namespaces and bridges
/// are (and only root makes them).
pub const LOCKS: &str = "/run/faultline";

/// Where state files live: `FAULTLINE_STATE_DIR` if set (tests that kill
/// faultline keep theirs apart), else `/run/faultline` for root, else a
/// folder of the user's own.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FAULTLINE_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/faultline");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => Path::new(&d).join("faultline"),
        _ => std::env::temp_dir().join(format!("faultline-{}", nix::unistd::geteuid())),
    }
}

/// A process's start time in clock ticks since boot (`/proc/PID/stat`
/// field 22), which tells a live owner from a reused PID.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A process that owns a state file or a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Its PID.
    pub pid: u32,
    /// Its start time (`start_time`).
    pub started: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            started: start_time(pid).unwrap_or(0),
        }
    }

    /// Whether the owner still runs (the same process, not its PID's
    /// next user).
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.started)
    }
}

/// A process a run started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// Its PID.
    pub pid: i32,
    /// Its exact command line.
    pub argv: Vec<String>,
    /// The remote node it runs on (`remote`'s name); none: this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// A process of a cluster faultline did not start that it paused or
/// killed: cleanup continues it, or starts it again as it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disturbed {
    /// The node (`remote`'s name).
    pub node: String,
    /// Its PID.
    pub pid: i32,
    /// How to start it again, if it was killed; none: it was paused.
    pub restart: Option<Restart>,
}

/// How a process was running, to start it again the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restart {
    /// Its working folder.
    pub cwd: String,
    /// Its user and group.
    pub user: String,
    /// Its group.
    pub group: String,
    /// Its command line.
    pub argv: Vec<String>,
    /// Its environment (`KEY=VALUE`).
    pub env: Vec<String>,
    /// Where the restarted process writes its output.
    pub log: String,
}

/// A node reached over SSH: how to reach it again, and its run folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteNode {
    /// Its name in the run (`n1`).
    pub name: String,
    /// Where it is.
    pub target: Target,
    /// How it was reached.
    pub ssh: Ssh,
    /// The run's folder there.
    pub dir: PathBuf,
}

/// The state file of one live run.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    state: StateFile,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StateFile {
    pub(super) owner: Owner,
    pub(super) run_dir: PathBuf,
    pub(super) processes: Vec<Started>,
    #[serde(default)]
    pub(super) namespaces: Vec<String>,
    #[serde(default)]
    pub(super) links: Vec<String>,
    #[serde(default)]
    pub(super) locks: Vec<PathBuf>,
    /// Remote nodes the run reached (processes name them).
    #[serde(default)]
    pub(super) remote: Vec<RemoteNode>,
    /// faultline's iptables chain on the remote nodes.
    #[serde(default)]
    pub(super) chains: Vec<String>,
    /// Folders of this machine to remove (ssh control sockets).
    #[serde(default)]
    pub(super) scratch: Vec<PathBuf>,
    /// Processes of an existing cluster, paused or killed.
    #[serde(default)]
    pub(super) disturbed: Vec<Disturbed>,
    /// faultline's lossy filesystems, mounted on this machine.
    #[serde(default)]
    pub(super) mounts: Vec<PathBuf>,
}

/// The state file of the run owned by `pid`.
fn state_path(pid: u32) -> PathBuf {
    state_dir().join(format!("run-{pid}.json"))
}

impl Registry {
    /// Writes what is still left at `path` (a reclaim that could not
    /// reach everything keeps the rest for the next one).
    pub(super) fn keep(path: &Path, state: StateFile) -> Result<()> {
        Registry {
            path: path.to_path_buf(),
            state,
        }
        .save()
    }

    /// Opens a state file for the run in `run_dir`.
    pub fn create(run_dir: &Path) -> Result<Registry> {
        let dir = state_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let r = Registry {
            path: state_path(std::process::id()),
            state: StateFile {
                owner: Owner::me(),
                run_dir: run_dir.to_path_buf(),
                processes: Vec::new(),
                namespaces: Vec::new(),
                links: Vec::new(),
                locks: Vec::new(),
                remote: Vec::new(),
                chains: Vec::new(),
                scratch: Vec::new(),
                disturbed: Vec::new(),
                mounts: Vec::new(),
            },
        };
        r.save()?;
        Ok(r)
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn save(&self) -> Result<()> {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.state)?)?;
        std::fs::rename(&tmp, &self.path).with_context(|| format!("writing {}", self.path.display()))
    }

    /// Records a process the run depends on.
    pub fn add(&mut self, s: Started) -> Result<()> {
        self.state.processes.push(s);
        self.save()
    }

    /// Forgets a process of `node` (the one named in `add`; any local
    /// node name for this machine) that has been stopped.
    pub fn remove(&mut self, node: &str, pid: i32) -> Result<()> {
        self.state
            .processes
            .retain(|s| !(s.pid == pid && s.node.as_deref().is_none_or(|n| n == node)));
        self.save()
    }

    /// Records a remote node before anything is done there.
    pub fn add_remote(&mut self, node: RemoteNode) -> Result<()> {
        self.state.remote.push(node);
        self.save()
    }

    /// Records faultline's chain, about to be created on every node.
    pub fn add_chain(&mut self, chain: &str) -> Result<()> {
        self.state.chains.push(chain.into());
        self.save()
    }

    /// Records a process of an existing cluster about to be paused or
    /// killed.
    pub fn disturb(&mut self, d: Disturbed) -> Result<()> {
        self.state.disturbed.push(d);
        self.save()
    }

    /// Forgets a disturbed process: it runs again as before.
    pub fn settle(&mut self, node: &str, pid: i32) -> Result<()> {
        self.state.disturbed.retain(|d| !(d.node == node && d.pid == pid));
        self.save()
    }

    /// Records a lossy filesystem mounted at `dir`, to unmount should the
    /// run die.
    pub fn add_mount(&mut self, dir: &Path) -> Result<()> {
        self.state.mounts.push(dir.into());
        self.save()
    }

    /// Records a folder of this machine to remove when the run ends.
    pub fn add_scratch(&mut self, dir: &Path) -> Result<()> {
        self.state.scratch.push(dir.into());
        self.save()
    }

    /// Records a network namespace about to be created.
    pub fn add_namespace(&mut self, name: &str) -> Result<()> {
        self.state.namespaces.push(name.into());
        self.save()
    }

    /// Records a network link (bridge, veth) about to be created.
    pub fn add_link(&mut self, name: &str) -> Result<()> {
        self.state.links.push(name.into());
        self.save()
    }

    /// Records a lock file the run holds.
    pub fn add_lock(&mut self, path: &Path) -> Result<()> {
        self.state.locks.push(path.into());
        self.save()
    }

    /// Forgets every network resource (they have been removed).
    pub fn clear_network(&mut self) -> Result<()> {
        self.state.namespaces.clear();
        self.state.links.clear();
        self.state.locks.clear();
        self.save()
    }

    /// The run ended cleanly: nothing is left to clean.
    pub fn close(self) -> Result<()> {
        for d in &self.state.scratch {
            let _ = std::fs::remove_dir_all(d);
        }
        std::fs::remove_file(&self.path).with_context(|| format!("removing {}", self.path.display()))
    }
}

/// Whether `pid` runs exactly `argv` (and is not a zombie).
pub fn runs(pid: i32, argv: &[String]) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true);
    let found: Vec<&[u8]> = raw.split(|&b| b == 0).filter(|a| !a.is_empty()).collect();
    !zombie && found.len() == argv.len() && found.iter().zip(argv).all(|(a, b)| *a == b.as_bytes())
}

/// Continues and kills `s` if it still runs its recorded command line;
/// waits until it is gone. Returns whether it was running.
pub fn stop(s: &Started) -> bool {
    if !runs(s.pid, &s.argv) {
        return false;
    }
    let pid = Pid::from_raw(s.pid);
    // A stopped process must be continued or it cannot die cleanly for a
    // parent waiting on it.
    let _ = kill(pid, Signal::SIGCONT);
    let _ = kill(pid, Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    while runs(s.pid, &s.argv) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// What a subnet lock holds: who has the subnet, and where that run
/// records what it made.
#[derive(Debug, Serialize, Deserialize)]
pub struct Lock {
    /// The run that holds the subnet.
    pub owner: Owner,
    /// Its state file.
    pub state: PathBuf,
}

/// Reads a subnet lock; `None` if it is gone or unreadable (a lock being
/// written, or one from an older faultline).
pub fn read_lock(path: &Path) -> Option<Lock> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// A fresh folder for this process's ssh master sockets: in the state
/// folder where its path is short enough, else in /tmp — a socket's path
/// may hold about 100 bytes, and ssh adds 41 for the host and 17 more
/// while it creates one.
pub fn ssh_control_dir() -> Result<PathBuf> {
    let mut dir = state_dir().join(format!("ssh-{}", std::process::id()));
    if dir.as_os_str().len() > 40 {
        dir = PathBuf::from(format!("/tmp/faultline-ssh-{}", std::process::id()));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_alive_only_with_its_own_start_time() {
        let me = Owner::me();
        assert!(me.started > 0);
        assert!(me.alive());
        assert!(
            !Owner {
                started: me.started + 1,
                ..me
            }
            .alive(),
            "a reused PID is not the owner"
        );
        assert!(!Owner {
            pid: u32::MAX,
            started: 1
        }
        .alive());
    }
}
