//! What a run leaves behind if faultline dies, and how to remove exactly
//! that.
//!
//! Everything a run creates — processes (PID and full command line),
//! network namespaces, links, subnet lock files — is recorded in a state
//! file under `<store>/.active/` before the run relies on it; a run that
//! ends normally deletes its file. `faultline cleanup` — and every
//! `faultline test` at start — reads the files left behind and removes
//! exactly what they list: it continues and kills each recorded process
//! that still runs the recorded command line (a PID reused by someone
//! else's process is left alone), then deletes the namespaces (and with
//! them their iptables rules), links and lock files. Processes are only
//! ever stopped by PID; nothing outside the list is touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// A process a run started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// Its PID.
    pub pid: i32,
    /// Its exact command line.
    pub argv: Vec<String>,
}

/// The state file of one live run.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    state: StateFile,
}

#[derive(Debug, Serialize, Deserialize, Default)]
struct StateFile {
    run_dir: PathBuf,
    processes: Vec<Started>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    links: Vec<String>,
    #[serde(default)]
    locks: Vec<PathBuf>,
}

fn active_dir(store: &Path) -> PathBuf {
    store.join(".active")
}

impl Registry {
    /// Opens a state file for the run in `run_dir`.
    pub fn create(store: &Path, run_dir: &Path) -> Result<Registry> {
        let dir = active_dir(store);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = format!("{}.json", std::process::id());
        let r = Registry {
            path: dir.join(name),
            state: StateFile {
                run_dir: run_dir.to_path_buf(),
                ..StateFile::default()
            },
        };
        r.save()?;
        Ok(r)
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

    /// Forgets a process that has been stopped and reaped.
    pub fn remove(&mut self, pid: i32) -> Result<()> {
        self.state.processes.retain(|s| s.pid != pid);
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
        std::fs::remove_file(&self.path).with_context(|| format!("removing {}", self.path.display()))
    }
}

/// Whether `pid` runs exactly `argv` (and is not a zombie).
fn runs(pid: i32, argv: &[String]) -> bool {
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

/// Whether `pid` is a running faultline (the same executable as this one).
fn is_faultline(pid: i32) -> bool {
    let theirs = std::fs::read_link(format!("/proc/{pid}/exe"));
    matches!((theirs, std::env::current_exe()), (Ok(a), Ok(b)) if a == b)
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

/// Removes what dead runs left behind. Returns a line per thing removed.
pub fn cleanup(store: &Path) -> Result<Vec<String>> {
    let dir = active_dir(store);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut done = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let owner: Option<i32> = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok());
        // A run that is still alive (another faultline) keeps its processes.
        if owner.is_some_and(|pid| pid != std::process::id() as i32 && is_faultline(pid)) {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let state: StateFile =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        let run = state.run_dir.display();
        for s in &state.processes {
            if stop(s) {
                done.push(format!(
                    "stopped process {} ({}) left by the run in {run}",
                    s.pid,
                    s.argv.join(" ")
                ));
            }
        }
        for line in crate::netns::remove(&state.namespaces, &state.links, &state.locks) {
            done.push(format!("{line}, left by the run in {run}"));
        }
        std::fs::remove_file(&path)?;
    }
    Ok(done)
}
