//! A process faultline did not start, on a node (a database of an
//! existing cluster): how it runs, read before faultline kills it, and
//! putting it back afterwards — continued if paused, started again as it
//! ran if killed, unless a service manager already has.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::ledger::{Disturbed, Restart};
use super::{quote, quote_all, Node};

/// How `pid` runs on `node` (one round trip), to start it again so.
pub fn capture(node: &mut dyn Node, pid: i32) -> Result<Restart> {
    let script = format!(
        "p={pid}; readlink /proc/$p/cwd && stat -c '%U %G' /proc/$p && base64 -w0 /proc/$p/cmdline && echo && \
         base64 -w0 /proc/$p/environ && echo"
    );
    let out = String::from_utf8(node.run(&script, true)?)?;
    let mut lines = out.lines();
    let mut next = || lines.next().context("an incomplete answer about the process");
    let cwd = next()?.to_string();
    let (user, group) = next()?.split_once(' ').context("no user and group")?;
    let (user, group) = (user.to_string(), group.to_string());
    let nul_list = |b64: &str| -> Result<Vec<String>> {
        let raw = B64.decode(b64.trim())?;
        Ok(raw
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect())
    };
    let argv = nul_list(next()?)?;
    let env = nul_list(next()?)?;
    if argv.is_empty() {
        bail!("process {pid} has no command line (a kernel thread, or gone)");
    }
    // Beside the run folders, not in one: the process outlives the run.
    let log = node
        .dir()
        .parent()
        .and_then(Path::parent)
        .unwrap_or(node.dir())
        .join(format!("restarted-{}-{pid}.log", node.name()))
        .display()
        .to_string();
    Ok(Restart {
        cwd,
        user,
        group,
        argv,
        env,
        log,
    })
}

/// Puts a disturbed process back: continues a paused one (if it still
/// runs), starts a killed one again as it ran — unless something (a
/// service manager) already has. Says what it did.
pub fn settle(node: &mut dyn Node, d: &Disturbed) -> Result<String> {
    let Some(r) = &d.restart else {
        node.run(&format!("kill -CONT {} 2>/dev/null; true", d.pid), true)?;
        return Ok(format!("continued process {}", d.pid));
    };
    let running = format!(
        "for p in $(pgrep --ns $$ --nslist net -x {}); do [ \"$(tr '\\0' '\\n' < /proc/$p/cmdline)\" = {} ] && echo $p; done; true",
        quote(&comm(&r.argv[0])),
        quote(&r.argv.join("\n"))
    );
    let found = String::from_utf8_lossy(&node.run(&running, true)?)
        .trim()
        .to_string();
    if !found.is_empty() {
        return Ok(format!(
            "process {} was already running again (as {found})",
            d.pid
        ));
    }
    let script = format!(
        "cd {} || exit 1; setpriv --reuid={} --regid={} --init-groups env -i {} nohup setsid {} >> {} 2>&1 < /dev/null & echo $!",
        quote(&r.cwd),
        quote(&r.user),
        quote(&r.group),
        quote_all(&r.env),
        quote_all(&r.argv),
        quote(&r.log)
    );
    let pid = String::from_utf8_lossy(&node.run(&script, true)?)
        .trim()
        .to_string();
    Ok(format!(
        "started process {} again as {pid} ({}; output to {})",
        d.pid,
        r.argv.join(" "),
        r.log
    ))
}

/// The name `pgrep -x` matches for a program: its file name, cut to the
/// 15 bytes the kernel keeps.
fn comm(program: &str) -> String {
    let name = program.rsplit('/').next().unwrap_or(program);
    name.chars().take(15).collect()
}
