//! The SSH backend: a node on a machine of its own, reached with the
//! system's OpenSSH client, so the user's `~/.ssh/config`, known_hosts
//! and agent apply as they do for `ssh` itself. One master connection per
//! node is multiplexed (ControlMaster), so a command costs one round
//! trip, not a handshake. Masters persist only 30 s after their last
//! command: a faultline killed outright leaves no ssh process behind.
//!
//! The system ssh rather than an SSH library: every power here is a
//! blocking call, `faultline cleanup` runs without an async runtime, and
//! OpenSSH reads exactly the configuration the user already trusts.
//!
//! Each node keeps this run's files in one folder of its own
//! (`<remote-dir>/<run>/<node>`), so two runs — or several test nodes on
//! one filesystem — never share a file. Daemons are started detached
//! (`setsid`), logging into that folder; they outlive a lost connection,
//! and are stopped only by the PID the start returned, after checking it
//! still runs the same command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use super::{quote, quote_all, Node};

/// How many ssh commands this process has run (for the round-trip count
/// a run prints).
pub static COMMANDS: AtomicU64 = AtomicU64::new(0);

/// Where a node is: a line of `--nodes` or `--nodes-file`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// `user@`, if given for this node.
    pub user: Option<String>,
    /// `:port`, if given for this node.
    pub port: Option<u16>,
}

impl Target {
    /// Parses `host`, `user@host`, `host:port`, `user@host:port` or
    /// `[v6-address]:port`.
    pub fn parse(s: &str) -> Result<Target, String> {
        let s = s.trim();
        let (user, rest) = match s.split_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
            Some(_) => return Err(format!("{s:?}: empty user before @")),
            None => (None, s),
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, tail) = v6
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: expected ] after an IPv6 address"))?;
            (h, tail.strip_prefix(':'))
        } else if rest.matches(':').count() == 1 {
            let (h, p) = rest.split_once(':').expect("one colon");
            (h, Some(p))
        } else {
            (rest, None)
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("{s:?}: expected host, user@host or user@host:port"));
        }
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("{s:?}: {p:?} is not a port"))
            })
            .transpose()?;
        Ok(Target {
            host: host.to_string(),
            user,
            port,
        })
    }

    /// `user@host:port` as far as known.
    pub fn describe(&self, ssh: &Ssh) -> String {
        let user = self.user.as_ref().or(ssh.user.as_ref());
        let port = self.port.or(ssh.port);
        format!(
            "{}{}{}",
            user.map_or(String::new(), |u| format!("{u}@")),
            self.host,
            port.map_or(String::new(), |p| format!(":{p}"))
        )
    }
}

/// Reads a nodes file: one target a line; blank lines and `#` comments
/// are skipped. Errors name the file and line.
pub fn read_nodes_file(path: &Path) -> Result<Vec<Target>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.push(Target::parse(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?);
    }
    if out.is_empty() {
        return Err(format!("{}: no nodes in it", path.display()));
    }
    Ok(out)
}

/// How every node is reached: the flags shared by all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ssh {
    /// `--ssh-user` (a node's own `user@` wins).
    pub user: Option<String>,
    /// `--ssh-port` (a node's own `:port` wins).
    pub port: Option<u16>,
    /// `--ssh-key`.
    pub key: Option<PathBuf>,
    /// `--ssh-option KEY=VALUE`, passed as `-o`, before faultline's own
    /// (the first value of an option wins in ssh).
    pub options: Vec<String>,
    /// Where the master connections' sockets live.
    pub control_dir: PathBuf,
}

impl Ssh {
    /// ssh with every option for `target`, before the host name.
    fn base(&self, target: &Target) -> Command {
        let mut c = Command::new("ssh");
        for o in &self.options {
            c.arg("-o").arg(o);
        }
        for o in [
            "BatchMode=yes",
            "ControlMaster=auto",
            "ControlPersist=30",
            "ConnectTimeout=5",
            "ServerAliveInterval=5",
            "ServerAliveCountMax=2",
            "LogLevel=ERROR",
        ] {
            c.arg("-o").arg(o);
        }
        c.arg("-o")
            .arg(format!("ControlPath={}/%C", self.control_dir.display()));
        if let Some(key) = &self.key {
            c.arg("-i").arg(key);
        }
        if let Some(port) = target.port.or(self.port) {
            c.arg("-p").arg(port.to_string());
        }
        if let Some(user) = target.user.as_ref().or(self.user.as_ref()) {
            c.arg("-l").arg(user);
        }
        c
    }

    /// Runs `script` with `sh` on `target`, `stdin` fed to it. An ssh
    /// failure (exit 255) becomes one sentence saying what to do.
    pub fn run(&self, name: &str, target: &Target, script: &str, stdin: Option<&[u8]>) -> Result<Output> {
        COMMANDS.fetch_add(1, Ordering::Relaxed);
        let mut c = self.base(target);
        c.arg(&target.host)
            .arg("--")
            .arg(format!("sh -c {}", quote(script)));
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        tracing::debug!(node = name, script, "ssh");
        let mut child = c
            .spawn()
            .context("running ssh (Debian: apt-get install openssh-client)")?;
        if let Some(data) = stdin {
            let mut pipe = child.stdin.take().expect("piped");
            pipe.write_all(data).context("sending a file over ssh")?;
        }
        let out = child.wait_with_output()?;
        if out.status.code() == Some(255) {
            bail!("{}", explain(name, &target.describe(self), &out.stderr));
        }
        Ok(out)
    }

    /// Like `run`, but a non-zero exit is an error carrying stderr.
    pub fn check(&self, name: &str, target: &Target, script: &str, stdin: Option<&[u8]>) -> Result<Vec<u8>> {
        let out = self.run(name, target, script, stdin)?;
        if !out.status.success() {
            bail!(
                "{name} ({}): {}",
                target.describe(self),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    }

    /// Ends the master connection to `target`, if one is up.
    pub fn disconnect(&self, target: &Target) {
        let _ = self
            .base(target)
            .args(["-O", "exit"])
            .arg(&target.host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// What ssh's own error output means for the user, in one sentence.
fn explain(name: &str, place: &str, stderr: &[u8]) -> String {
    let said = String::from_utf8_lossy(stderr);
    let said = said.trim();
    let last = said.lines().last().unwrap_or("ssh failed").trim();
    let last = last.strip_prefix("ssh: ").unwrap_or(last);
    let advice = if said.contains("Permission denied") {
        "authentication failed: check --ssh-key (or your agent), --ssh-user, and that the key is in the node's authorized_keys"
    } else if said.contains("Host key verification failed") || said.contains("REMOTE HOST IDENTIFICATION") {
        "its host key is not in known_hosts (or has changed): add it (ssh-keyscan), or pass --ssh-option StrictHostKeyChecking=accept-new"
    } else if said.contains("Could not resolve") {
        "the host name does not resolve: check --nodes"
    } else if said.contains("Connection refused")
        || said.contains("timed out")
        || said.contains("No route")
        || said.contains("unreachable")
    {
        "the node cannot be reached: check the address and port, and that sshd runs there"
    } else {
        "ssh failed"
    };
    format!("{name} ({place}): {advice} (ssh said: {last})")
}

/// A node reached over SSH.
pub struct SshNode {
    name: String,
    target: Target,
    ssh: Ssh,
    ip: String,
    dir: PathBuf,
    /// Prefix for commands that need root (`sudo -n ` for other users).
    sudo: &'static str,
    /// The user is neither root nor allowed `sudo -n`.
    no_root: Option<String>,
}

/// What a node said when first reached.
const PROBE: &str = r#"u=$(id -un); if [ "$(id -u)" = 0 ]; then echo root; elif sudo -n true 2>/dev/null; then echo sudo; else echo "user $u"; fi"#;

impl SshNode {
    /// Reaches `target` (one round trip, which also opens the master
    /// connection), learns whether it is root or may sudo, and creates
    /// `dir` there. `name` is the node's name in messages.
    pub fn connect(name: String, target: Target, ssh: Ssh, dir: PathBuf) -> Result<SshNode> {
        let ip = super::resolve(&target.host)
            .with_context(|| format!("{name} ({})", target.describe(&ssh)))?
            .to_string();
        let script = format!("{PROBE}; mkdir -p {}", quote(&dir.display().to_string()));
        // What goes wrong here is the set-up's, for the user to mend.
        let out = ssh
            .check(&name, &target, &script, None)
            .map_err(|e| crate::error::UsageError(format!("{e:#}")))?;
        let said = String::from_utf8_lossy(&out).trim().to_string();
        let (sudo, no_root) = match said.as_str() {
            "root" => ("", None),
            "sudo" => ("sudo -n ", None),
            other => ("", Some(other.trim_start_matches("user ").to_string())),
        };
        Ok(SshNode {
            name,
            target,
            ssh,
            ip,
            dir,
            sudo,
            no_root,
        })
    }

    /// Fails, saying what to do, if this node's user cannot act as root
    /// (iptables needs it).
    pub fn require_root(&self, why: &str) -> Result<()> {
        match &self.no_root {
            Some(user) => Err(crate::error::UsageError(format!(
                "{} ({}): {why} needs root there, but user {user} is not root and `sudo -n` asks for a password; \
                 connect as root (--ssh-user root) or allow {user} passwordless sudo",
                self.name,
                self.target.describe(&self.ssh)
            ))
            .into()),
            None => Ok(()),
        }
    }

    fn check(&self, script: &str) -> Result<Vec<u8>> {
        self.ssh.check(&self.name, &self.target, script, None)
    }
}

/// A script that succeeds when `pid` runs exactly `argv` and is no zombie.
fn runs_script(pid: i32, argv: &[String]) -> String {
    format!(
        "p={pid}; [ -r /proc/$p/cmdline ] && [ \"$(tr '\\0' '\\n' < /proc/$p/cmdline)\" = {} ] && ! grep -q ') Z ' /proc/$p/stat",
        quote(&argv.join("\n"))
    )
}

impl Node for SshNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn host(&self) -> &str {
        &self.target.host
    }

    fn ip(&self) -> &str {
        &self.ip
    }

    fn own_ports(&self) -> bool {
        true
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn remote(&self) -> bool {
        true
    }

    fn place(&self) -> String {
        self.target.describe(&self.ssh)
    }

    fn write(&mut self, path: &Path, contents: &[u8]) -> Result<()> {
        let p = quote(&path.display().to_string());
        let script = match path.parent() {
            Some(d) => format!("mkdir -p {} && cat > {p}", quote(&d.display().to_string())),
            None => format!("cat > {p}"),
        };
        self.ssh
            .check(&self.name, &self.target, &script, Some(contents))?;
        Ok(())
    }

    fn read(&mut self, path: &Path) -> Result<Vec<u8>> {
        self.check(&format!("cat {}", quote(&path.display().to_string())))
    }

    fn run(&mut self, script: &str, root: bool) -> Result<Vec<u8>> {
        if root {
            self.require_root("acting on a process faultline did not start")?;
            if !self.sudo.is_empty() {
                return self.check(&format!("{}sh -c {}", self.sudo, quote(script)));
            }
        }
        self.check(script)
    }

    fn require(&mut self, path: &str, package: &str) -> Result<()> {
        let out = self.ssh.run(
            &self.name,
            &self.target,
            &format!("test -e {}", quote(path)),
            None,
        )?;
        if !out.status.success() {
            return Err(crate::error::UsageError(format!(
                "{} ({}): {path} is missing there: install Debian's {package} on that node (apt-get install {package})",
                self.name,
                self.place()
            ))
            .into());
        }
        Ok(())
    }

    fn spawn(&mut self, argv: &[String], env: &[String], user: Option<&str>, log: &Path) -> Result<i32> {
        let log = quote(&log.display().to_string());
        // A simple command in the background is forked and exec'd, and
        // env, nohup and setsid exec in place (a background job of a
        // non-interactive shell leads no process group, so setsid does
        // not fork): `$!` is the daemon's own PID, and no shell stays
        // behind holding the session open.
        let mut full = user.map(super::as_user).unwrap_or_default();
        full.extend(argv.iter().cloned());
        let script = format!(
            "cd {} || exit 1; env {} nohup setsid {} >> {log} 2>&1 < /dev/null & echo $!",
            quote(&self.dir.display().to_string()),
            quote_all(env),
            quote_all(&full)
        );
        let out = self.check(&script)?;
        let text = String::from_utf8_lossy(&out);
        text.trim()
            .parse()
            .with_context(|| format!("{}: starting {}: no PID in {text:?}", self.name, argv[0]))
    }

    fn signal(&mut self, pid: i32, signal: Signal) -> Result<()> {
        let name = signal.as_str().trim_start_matches("SIG");
        self.check(&format!("kill -{name} {pid}"))?;
        Ok(())
    }

    fn stop(&mut self, pid: i32, argv: &[String]) -> Result<bool> {
        let script = format!(
            "if {}; then kill -CONT {pid}; kill -KILL {pid}; i=0; \
             while [ $i -lt 200 ] && [ -e /proc/{pid} ] && ! grep -q ') Z ' /proc/{pid}/stat 2>/dev/null; \
             do sleep 0.05; i=$((i+1)); done; echo stopped; fi",
            runs_script(pid, argv)
        );
        Ok(String::from_utf8_lossy(&self.check(&script)?).contains("stopped"))
    }

    fn runs(&mut self, pid: i32, argv: &[String]) -> Result<bool> {
        Ok(self
            .ssh
            .run(&self.name, &self.target, &runs_script(pid, argv), None)?
            .status
            .success())
    }

    fn iptables(&mut self, rules: &[Vec<String>], keep_going: bool) -> Result<()> {
        self.require_root("changing the firewall")?;
        let mut script = rules
            .iter()
            .map(|r| format!("{}iptables -w {}", self.sudo, quote_all(r)))
            .collect::<Vec<_>>()
            .join(if keep_going { " ; ok=$((ok+$?)) ; " } else { " && " });
        if keep_going {
            script = format!("ok=0 ; {script} ; ok=$((ok+$?)) ; [ $ok = 0 ]");
        }
        self.check(&script)?;
        Ok(())
    }

    fn collect(&mut self, remote: &Path, local: &Path) -> Result<()> {
        let data = self.read(remote)?;
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(local, data).with_context(|| format!("writing {}", local.display()))
    }

    fn finish(&mut self) -> Result<()> {
        let removed = remove_remote_dir(&self.ssh, &self.name, &self.target, &self.dir);
        self.ssh.disconnect(&self.target);
        removed
    }
}

/// Removes a run's folder on a node, and the run's parent folder if that
/// is left empty. Only folders faultline names (`…/faultline…/…`).
pub fn remove_remote_dir(ssh: &Ssh, name: &str, target: &Target, dir: &Path) -> Result<()> {
    let d = dir.display().to_string();
    if !d.contains("faultline") || dir.components().count() < 3 {
        bail!("{name}: refusing to remove {d}: not a faultline run folder");
    }
    let parent = dir.parent().map(|p| p.display().to_string()).unwrap_or_default();
    ssh.check(
        name,
        target,
        &format!("rm -rf {}; rmdir {} 2>/dev/null; true", quote(&d), quote(&parent)),
        None,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_in_every_form() {
        let t = |s: &str| Target::parse(s).unwrap();
        assert_eq!(
            t("db1"),
            Target {
                host: "db1".into(),
                user: None,
                port: None
            }
        );
        assert_eq!(t("admin@10.0.0.2:2222").user.as_deref(), Some("admin"));
        assert_eq!(t("admin@10.0.0.2:2222").port, Some(2222));
        assert_eq!(t("[::1]:22").host, "::1");
        assert_eq!(t("fe80::1").host, "fe80::1");
        assert!(Target::parse("@db1").is_err());
        assert!(Target::parse("db1:ssh").unwrap_err().contains("not a port"));
        assert!(Target::parse("").is_err());
    }

    #[test]
    fn a_nodes_file_names_the_bad_line() {
        let dir = std::env::temp_dir().join(format!("faultline-nodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("nodes");
        std::fs::write(
            &f,
            "# cluster\nn1.example\n\nroot@n2.example:2222  # second\nn3:x\n",
        )
        .unwrap();
        let err = read_nodes_file(&f).unwrap_err();
        assert!(err.ends_with(":5: \"n3:x\": \"x\" is not a port"), "{err}");
        std::fs::write(&f, "n1\nroot@n2:2222\n").unwrap();
        assert_eq!(read_nodes_file(&f).unwrap().len(), 2);
        std::fs::write(&f, "# none\n").unwrap();
        assert!(read_nodes_file(&f).unwrap_err().contains("no nodes"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ssh_errors_become_advice() {
        let e = explain("n2", "root@h:22", b"root@h: Permission denied (publickey).\r\n");
        assert!(e.starts_with("n2 (root@h:22): authentication failed"), "{e}");
        let e = explain("n1", "h", b"ssh: connect to host h port 22: Connection refused\n");
        assert!(
            e.contains("cannot be reached") && e.ends_with("Connection refused)"),
            "{e}"
        );
        let e = explain("n3", "h", b"Host key verification failed.\n");
        assert!(e.contains("known_hosts"), "{e}");
    }
}
