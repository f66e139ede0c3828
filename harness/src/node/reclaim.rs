//! Reclaiming what dead runs left, from their ledgers (state files): each
//! recorded process still running its recorded command line is continued
//! and killed, lossy filesystems unmounted, then the namespaces (and with
//! them their iptables rules), links and lock files deleted; on SSH nodes
//! the same, plus disturbed processes of existing clusters put back. A
//! ledger whose owner still runs is never touched.

use std::path::Path;

use anyhow::{Context, Result};

use super::ledger::{read_lock, ssh_control_dir, state_dir, stop, Registry, RemoteNode, StateFile, LOCKS};
use super::ssh::SshNode;
use super::Node;

/// Removes what dead runs left behind: every state file in `state_dir()`
/// and, with `locks`, every run named by a subnet lock whose owner is
/// dead (wherever its state file is). Returns a line per thing removed.
pub fn cleanup(locks: bool) -> Result<Vec<String>> {
    let mut done = Vec::new();
    if let Ok(entries) = std::fs::read_dir(state_dir()) {
        for entry in entries {
            let path = entry?.path();
            let is_state = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("run-") && n.ends_with(".json"));
            if is_state {
                done.extend(reclaim(&path)?);
            }
        }
    }
    if locks {
        for entry in std::fs::read_dir(LOCKS).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "lock") {
                if let Some(lock) = read_lock(&path).filter(|l| !l.owner.alive()) {
                    done.extend(reclaim(&lock.state)?);
                    // The state file lists the lock; an older one may not.
                    if path.exists() && std::fs::remove_file(&path).is_ok() {
                        done.push(format!("removed {}", path.display()));
                    }
                }
            }
        }
    }
    Ok(done)
}

/// Removes everything the state file at `path` lists, if its owner is
/// dead, then the file.
pub fn reclaim(path: &Path) -> Result<Vec<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        // Another cleanup got there first.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let state: StateFile =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    if state.owner.alive() {
        return Ok(Vec::new());
    }
    let mut done = Vec::new();
    let run = state.run_dir.display().to_string();
    for s in state.processes.iter().filter(|s| s.node.is_none()) {
        if stop(s) {
            done.push(format!(
                "stopped process {} ({}) left by the run in {run}",
                s.pid,
                s.argv.join(" ")
            ));
        }
    }
    for m in &state.mounts {
        if unmount(m) {
            done.push(format!("unmounted {}, left by the run in {run}", m.display()));
        }
    }
    for line in crate::node::netns::remove(&state.namespaces, &state.links, &state.locks) {
        done.push(format!("{line}, left by the run in {run}"));
    }
    let mut unreached = Vec::new();
    for node in &state.remote {
        match reclaim_remote(node, &state, &run) {
            Ok(lines) => done.extend(lines),
            Err(e) => {
                done.push(format!(
                    "could not clean {} up: {e:#} — run `faultline cleanup` again once it can be reached",
                    node.name
                ));
                unreached.push(node.clone());
            }
        }
    }
    if !unreached.is_empty() {
        // Keep what is left to do, for the next cleanup.
        let names: Vec<&str> = unreached.iter().map(|n| n.name.as_str()).collect();
        let left = StateFile {
            processes: state
                .processes
                .into_iter()
                .filter(|p| p.node.as_deref().is_some_and(|n| names.contains(&n)))
                .collect(),
            disturbed: state
                .disturbed
                .into_iter()
                .filter(|d| names.contains(&d.node.as_str()))
                .collect(),
            namespaces: Vec::new(),
            links: Vec::new(),
            locks: Vec::new(),
            remote: unreached,
            ..state
        };
        Registry::keep(path, left)?;
        return Ok(done);
    }
    for d in &state.scratch {
        let _ = std::fs::remove_dir_all(d);
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => {}
    }
    Ok(done)
}

/// Detaches the mount at `dir`, if there is one (a dead run's lossy
/// filesystem answers nothing: only a lazy unmount gets rid of it).
/// Whether one was there.
fn unmount(dir: &Path) -> bool {
    nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH).is_ok()
}

/// Heals one remote node a dead run touched: processes of an existing
/// cluster it paused continued and those it killed started again, its
/// own processes stopped (by PID, if they still run the recorded command
/// line), faultline's chain removed, the run's folder deleted.
fn reclaim_remote(node: &RemoteNode, state: &StateFile, run: &str) -> Result<Vec<String>> {
    let mut ssh = node.ssh.clone();
    // This process's own connections, not the dead run's.
    ssh.control_dir = ssh_control_dir()?;
    let result = (|| {
        let mut n = SshNode::connect(
            node.name.clone(),
            node.target.clone(),
            ssh.clone(),
            node.dir.clone(),
        )?;
        let mut done = Vec::new();
        for d in state.disturbed.iter().filter(|d| d.node == node.name) {
            done.push(format!(
                "{} on {} ({}), left so by the run in {run}",
                crate::node::process::settle(&mut n, d)?,
                node.name,
                n.place()
            ));
        }
        for p in state
            .processes
            .iter()
            .filter(|p| p.node.as_deref() == Some(&node.name))
        {
            if n.stop(p.pid, &p.argv)? {
                done.push(format!(
                    "stopped process {} ({}) on {} ({}), left by the run in {run}",
                    p.pid,
                    p.argv.join(" "),
                    node.name,
                    n.place()
                ));
            }
        }
        for chain in &state.chains {
            // A chain the run never got to create is no error.
            if n.iptables(&crate::node::firewall::Firewall::removal(chain), true)
                .is_ok()
            {
                done.push(format!(
                    "removed iptables chain {chain} on {} ({}), left by the run in {run}",
                    node.name,
                    n.place()
                ));
            }
        }
        n.finish()?;
        Ok(done)
    })();
    let _ = std::fs::remove_dir_all(&ssh.control_dir);
    result
}
