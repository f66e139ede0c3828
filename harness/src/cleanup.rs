//! What a run leaves behind if faultline dies, and how to remove exactly
//! that.
//!
//! Every process a run starts is recorded (PID and full command line) in a
//! state file under `<store>/.active/` before the run relies on it; a run
//! that ends normally deletes its file. `faultline cleanup` — and every
//! `faultline test` at start — reads the files left behind, continues and
//! kills each recorded process that is still running with the recorded
//! command line (a PID reused by someone else's process is left alone),
//! and deletes the file. Processes are only ever stopped by PID.

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
    /// The run folder, for messages.
    run_dir: PathBuf,
    started: Vec<Started>,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    run_dir: PathBuf,
    processes: Vec<Started>,
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
            run_dir: run_dir.to_path_buf(),
            started: Vec::new(),
        };
        r.save()?;
        Ok(r)
    }

    fn save(&self) -> Result<()> {
        let tmp = self.path.with_extension("tmp");
        let state = StateFile {
            run_dir: self.run_dir.clone(),
            processes: self.started.clone(),
        };
        std::fs::write(&tmp, serde_json::to_vec_pretty(&state)?)?;
        std::fs::rename(&tmp, &self.path).with_context(|| format!("writing {}", self.path.display()))
    }

    /// Records a process the run depends on.
    pub fn add(&mut self, s: Started) -> Result<()> {
        self.started.push(s);
        self.save()
    }

    /// Forgets a process that has been stopped and reaped.
    pub fn remove(&mut self, pid: i32) -> Result<()> {
        self.started.retain(|s| s.pid != pid);
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
        for s in &state.processes {
            if stop(s) {
                done.push(format!(
                    "stopped process {} ({}) left by the run in {}",
                    s.pid,
                    s.argv.join(" "),
                    state.run_dir.display()
                ));
            }
        }
        std::fs::remove_file(&path)?;
    }
    Ok(done)
}
