//! A client in any language: a program that speaks faultline's JSON-lines
//! client protocol (`docs/client-protocol.md`) on its stdin and stdout.
//!
//! [`External`] is the command and the run folder; [`External::client`]
//! makes one process's [`Client`] from an [`Open`] (which node, which
//! workload). The program is started (`sh -c`, in the run folder, in a
//! process group of its own, stderr to `clients/p<process>.stderr`) at
//! the process's first operation, and opened then.
//!
//! faultline, not the program, keeps the rules that make a history
//! trustworthy: an answer must come within the op timeout (plus a grace
//! for the program's own timeout answer to arrive), be JSON, be the answer
//! to the message in flight, and fit the operation; otherwise the
//! operation is `info` (a read: `fail`, reads have no effect), never `ok`,
//! the program's group is killed and the client is spent, so the worker
//! goes on as a fresh process. Every program is killed and reaped by its
//! own PID (the group it leads): none outlives its client.

use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use checkers::{Function, OpType, Value};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::client::{BoxFuture, Client, Completion, Invocation};
use crate::workload::Workload;

/// How long past the op timeout faultline waits for an answer: a program
/// that gives up at the timeout itself answers with its own error, which
/// says more than a kill, and stays in service.
pub const GRACE: Duration = Duration::from_secs(1);

/// The least time a program has to start and answer `open`: an
/// interpreter or a JVM on a loaded machine takes seconds, longer than
/// an operation may.
pub const START: Duration = Duration::from_secs(10);

/// How long a closed program may take to exit before it is killed.
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// A client command, run in a run folder.
#[derive(Clone, Debug)]
pub struct External {
    command: Arc<str>,
    run_dir: Arc<Path>,
}

/// What a client program is opened with: the `open` message.
#[derive(Clone, Debug, Serialize)]
pub struct Open {
    /// The logical process (also the stderr file's name).
    pub process: u64,
    /// The node's name (`n1`).
    pub node: String,
    /// The node's IP address or host.
    pub address: String,
    /// How a client reaches that node, in the system's form.
    pub endpoint: String,
    /// Every node's endpoint, node i at index i.
    pub endpoints: Vec<String>,
    /// The workload whose operations come.
    #[serde(serialize_with = "workload_name")]
    pub workload: Workload,
    /// The op timeout, sent as `timeout_ms`.
    #[serde(rename = "timeout_ms", serialize_with = "millis")]
    pub timeout: Duration,
}

fn workload_name<S: serde::Serializer>(w: &Workload, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(w.name())
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl External {
    /// `command` (a shell command line), started in `run_dir`.
    pub fn new(command: impl Into<String>, run_dir: impl Into<PathBuf>) -> External {
        External {
            command: command.into().into(),
            run_dir: run_dir.into().into(),
        }
    }

    /// The command line.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// A client for one logical process; its program starts at the
    /// first operation.
    pub fn client(&self, open: Open) -> Box<dyn Client> {
        Box::new(ExternalClient {
            external: self.clone(),
            open,
            program: None,
            spent: false,
            next_id: 1,
            line: String::new(),
        })
    }
}

/// A message to the program.
#[derive(Serialize)]
struct Message<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: u64,
    #[serde(flatten)]
    open: Option<&'a Open>,
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a Option<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a Value>,
}

impl<'a> Message<'a> {
    fn open(open: &'a Open) -> Self {
        Message {
            kind: "open",
            id: 0,
            open: Some(open),
            f: None,
            key: None,
            value: None,
        }
    }

    fn invoke(id: u64, op: &'a Invocation) -> Self {
        Message {
            kind: "invoke",
            id,
            open: None,
            f: Some(op.f.name()),
            key: Some(&op.key),
            value: Some(&op.value),
        }
    }

    fn close(id: u64) -> Self {
        Message {
            kind: "close",
            id,
            open: None,
            f: None,
            key: None,
            value: None,
        }
    }
}

/// An answer from the program.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "type")]
    kind: Kind,
    id: u64,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Clone, Copy, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Ok,
    Fail,
    Info,
}

/// A started program: its process (the leader of its group) and pipes.
struct Program {
    child: Child,
    pid: Pid,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// One logical process's client program.
struct ExternalClient {
    external: External,
    open: Open,
    program: Option<Program>,
    /// It broke a rule or answered `info`: it takes no more operations.
    spent: bool,
    next_id: u64,
    line: String,
}

/// Why an exchange with the program did not give an answer.
enum Broken {
    /// No answer in time.
    Late(Duration),
    /// Anything else, in words.
    Rule(String),
}

impl ExternalClient {
    fn stderr_path(&self) -> PathBuf {
        self.external
            .run_dir
            .join("clients")
            .join(format!("p{}.stderr", self.open.process))
    }

    fn spawn(&self) -> std::io::Result<Program> {
        let path = self.stderr_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Appended: the final reads reopen the last process of a worker.
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&*self.external.command)
            .current_dir(&*self.external.run_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            // Its own group, so that a kill or a pause reaches whatever
            // `sh -c` starts under it, and nothing else.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let pid = Pid::from_raw(child.id().map_or(0, |p| p as i32));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Ok(Program {
            child,
            pid,
            stdin,
            stdout,
        })
    }

    /// Sends `msg` and reads the answer to it, within `within`.
    async fn exchange(&mut self, msg: &Message<'_>, within: Duration) -> Result<Answer, Broken> {
        let mut bytes = serde_json::to_vec(msg).map_err(|e| Broken::Rule(e.to_string()))?;
        bytes.push(b'\n');
        let program = self.program.as_mut().expect("started before an exchange");
        let line = &mut self.line;
        line.clear();
        let talk = async {
            program
                .stdin
                .write_all(&bytes)
                .await
                .map_err(|e| format!("writing to the client: {e}"))?;
            program
                .stdout
                .read_line(line)
                .await
                .map_err(|e| format!("reading from the client: {e}"))
        };
        match tokio::time::timeout(within, talk).await {
            Err(_) => Err(Broken::Late(within)),
            Ok(Err(e)) => Err(Broken::Rule(e)),
            Ok(Ok(0)) => Err(Broken::Rule("the client closed its stdout".into())),
            Ok(Ok(_)) => {
                let answer: Answer = serde_json::from_str(line)
                    .map_err(|e| Broken::Rule(format!("not an answer ({e}): {}", excerpt(line))))?;
                if answer.id != msg.id {
                    return Err(Broken::Rule(format!(
                        "an answer to message {} while {} was in flight: {}",
                        answer.id,
                        msg.id,
                        excerpt(line)
                    )));
                }
                Ok(answer)
            }
        }
    }

    /// Kills the program's group and reaps it; what became of it, and the
    /// last line of its stderr, for the error text.
    async fn kill(&mut self) -> String {
        let Some(mut p) = self.program.take() else {
            return String::new();
        };
        // Before reaping: the leader's PID (the group's id) is not reused
        // while it is unreaped, so the signal reaches our group only.
        let _ = killpg(p.pid, Signal::SIGKILL);
        let status = p.child.wait().await;
        let mut said = match status {
            Ok(s) if s.signal() == Some(Signal::SIGKILL as i32) => String::new(),
            Ok(s) => format!("; it had ended ({s})"),
            Err(e) => format!(" (waiting for it: {e})"),
        };
        if let Some(last) = last_line(&self.stderr_path()) {
            let _ = write!(said, "; its stderr ends: {last}");
        }
        said
    }

    /// Ends the exchange after a broken rule: the op's outcome.
    async fn broken(&mut self, op: &Invocation, why: Broken) -> Completion {
        self.spent = true;
        let why = match why {
            Broken::Late(d) => format!("no answer within {} ms; the client was killed", d.as_millis()),
            Broken::Rule(r) => r,
        };
        let after = self.kill().await;
        let error = format!("{why}{after}");
        // It was sent: the program may have acted on it.
        Completion::unanswered(op, true, error)
    }

    /// Starts and opens the program; why not, if it could not be.
    async fn start(&mut self) -> Result<(), String> {
        let program = self.spawn().map_err(|e| format!("starting the client: {e}"))?;
        self.program = Some(program);
        let open = self.open.clone();
        let msg = Message::open(&open);
        let within = (self.open.timeout + GRACE).max(START);
        let outcome = match self.exchange(&msg, within).await {
            Ok(a) if a.kind == Kind::Ok => return Ok(()),
            Ok(a) => a.error.unwrap_or_else(|| "refused".into()),
            Err(Broken::Late(d)) => format!("no answer within {} ms", d.as_millis()),
            Err(Broken::Rule(r)) => r,
        };
        let after = self.kill().await;
        Err(format!("open: {outcome}{after}"))
    }

    async fn perform(&mut self, op: &Invocation) -> Completion {
        if self.spent {
            return Completion::fail(op.value.clone(), "this client was retired");
        }
        if self.program.is_none() {
            if let Err(e) = self.start().await {
                // Nothing was sent: the op definitely did not happen.
                self.spent = true;
                return Completion::fail(op.value.clone(), e);
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let msg = Message::invoke(id, op);
        let answer = match self.exchange(&msg, self.open.timeout + GRACE).await {
            Ok(a) => a,
            Err(why) => return self.broken(op, why).await,
        };
        match answer.kind {
            Kind::Ok => match ok_value(self.open.workload, op, answer.value) {
                Ok(value) => Completion {
                    kind: OpType::Ok,
                    value,
                    error: answer.error,
                },
                Err(why) => {
                    let why = format!("an ok that does not fit the {}: {why}", op.f);
                    self.broken(op, Broken::Rule(why)).await
                }
            },
            Kind::Fail => Completion {
                kind: OpType::Fail,
                value: op.value.clone(),
                error: answer.error,
            },
            Kind::Info => {
                self.spent = true;
                Completion {
                    kind: OpType::Info,
                    value: op.value.clone(),
                    error: answer.error,
                }
            }
        }
    }

    /// Sends `close`, lets the program exit on its own for a moment,
    /// then kills what is left of its group and reaps it.
    async fn shut(&mut self) {
        let Some(p) = self.program.as_mut() else {
            return;
        };
        let id = self.next_id;
        let mut bytes = serde_json::to_vec(&Message::close(id)).expect("a close message serializes");
        bytes.push(b'\n');
        let _ = tokio::time::timeout(EXIT_WAIT, async {
            if p.stdin.write_all(&bytes).await.is_ok() {
                let _ = p.stdin.shutdown().await;
            }
            // Until its stdout closes: it has exited (or closed it).
            let mut rest = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut p.stdout, &mut rest).await;
        })
        .await;
        self.kill().await;
    }
}

impl Client for ExternalClient {
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }

    fn pause(&mut self, paused: bool) {
        if let Some(p) = &self.program {
            let signal = if paused { Signal::SIGSTOP } else { Signal::SIGCONT };
            let _ = killpg(p.pid, signal);
        }
    }

    fn spent(&self) -> bool {
        self.spent
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(self.shut())
    }
}

impl Drop for ExternalClient {
    /// A client dropped without `close` (a worker that panicked, a run
    /// cut short): its group is killed now; `kill_on_drop` has tokio reap
    /// the leader.
    fn drop(&mut self) {
        if let Some(p) = &self.program {
            let _ = killpg(p.pid, Signal::SIGKILL);
        }
    }
}

/// What an `ok` answer records for `op`: a read's result, checked for
/// its shape; the invocation's value for everything else.
fn ok_value(workload: Workload, op: &Invocation, value: Option<Value>) -> Result<Value, String> {
    let value = value.unwrap_or(Value::Nil);
    let registers = matches!(workload, Workload::Register | Workload::CasRegister);
    match op.f {
        Function::Read if registers => match value {
            Value::Int(_) | Value::Nil => Ok(value),
            v => Err(format!("expected an integer or null, got {v}")),
        },
        Function::Read | Function::Fetch => match value {
            Value::List(_) => Ok(value),
            v => Err(format!("expected an array, got {v}")),
        },
        Function::Txn => filled_in(workload, &op.value, value),
        _ => Ok(op.value.clone()),
    }
}

/// A transaction's answer: the micro-ops `sent`, in order, with each
/// read's value filled in (a list for list-append, an integer or null
/// for rw-register) and everything else unchanged.
fn filled_in(workload: Workload, sent: &Value, got: Value) -> Result<Value, String> {
    let (Some(sent_mops), Some(got_mops)) = (sent.as_list(), got.as_list()) else {
        return Err(format!("expected the micro-ops, got {got}"));
    };
    if sent_mops.len() != got_mops.len() {
        return Err(format!(
            "{} micro-ops sent, {} answered",
            sent_mops.len(),
            got_mops.len()
        ));
    }
    for (s, g) in sent_mops.iter().zip(got_mops) {
        let (Some([sf, sk, sv]), Some([gf, gk, gv])) = (s.as_list(), g.as_list()) else {
            return Err(format!("micro-op {g}: expected [f, key, value] for {s}"));
        };
        let read_fits = matches!(
            (workload, gv),
            (Workload::ListAppend, Value::List(_)) | (Workload::RwRegister, Value::Int(_) | Value::Nil)
        );
        let fits = sf == gf
            && sk == gk
            && if sf.as_str() == Some("r") {
                read_fits
            } else {
                sv == gv
            };
        if !fits {
            return Err(format!("micro-op {g} answers {s}"));
        }
    }
    Ok(got)
}

/// The start of a line, for error texts.
fn excerpt(line: &str) -> String {
    let line = line.trim_end();
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// The last non-empty line of a (small) file, if any.
fn last_line(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(1000))).ok()?;
    let mut tail = String::new();
    f.take(1000).read_to_string(&mut tail).ok()?;
    tail.lines().rev().find(|l| !l.trim().is_empty()).map(excerpt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(f: &str, value: Value) -> Invocation {
        Invocation {
            f: f.into(),
            key: None,
            value,
        }
    }

    fn mops(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn reads_are_the_ops_without_effect() {
        assert!(!inv("read", Value::Nil).changes_state());
        assert!(!inv("fetch", Value::Nil).changes_state());
        assert!(!inv("txn", mops(r#"[["r",1,null],["r",2,null]]"#)).changes_state());
        assert!(inv("txn", mops(r#"[["r",1,null],["append",2,3]]"#)).changes_state());
        assert!(inv("cas", mops("[1,2]")).changes_state());
        // So an attempt that got no answer is a fail for those, an info
        // for the others.
        let lost = |op: &Invocation| Completion::unanswered(op, true, "timed out").kind;
        assert_eq!(lost(&inv("read", Value::Nil)), OpType::Fail);
        assert_eq!(lost(&inv("write", Value::Int(1))), OpType::Info);
        assert_eq!(
            Completion::unanswered(&inv("write", Value::Int(1)), false, "refused").kind,
            OpType::Fail
        );
    }

    #[test]
    fn only_reads_record_the_answered_value() {
        let w = inv("write", Value::Int(3));
        assert_eq!(
            ok_value(Workload::Register, &w, Some(Value::Int(9))),
            Ok(Value::Int(3))
        );
        let r = inv("read", Value::Nil);
        assert_eq!(ok_value(Workload::Register, &r, None), Ok(Value::Nil));
        assert!(ok_value(Workload::Register, &r, Some(mops("[1]"))).is_err());
        assert!(ok_value(Workload::Set, &r, Some(Value::Int(1))).is_err());
        assert_eq!(
            ok_value(Workload::Set, &r, Some(mops("[1,2]"))),
            Ok(mops("[1,2]"))
        );
    }

    #[test]
    fn a_transaction_answer_is_the_same_micro_ops_with_reads_filled_in() {
        let sent = inv("txn", mops(r#"[["append",3,7],["r",4,null]]"#));
        let ok = |got: &str| ok_value(Workload::ListAppend, &sent, Some(mops(got)));
        assert!(ok(r#"[["append",3,7],["r",4,[1,2]]]"#).is_ok());
        assert!(
            ok(r#"[["append",3,8],["r",4,[1,2]]]"#).is_err(),
            "a changed append"
        );
        assert!(ok(r#"[["append",3,7],["r",5,[1,2]]]"#).is_err(), "another key");
        assert!(
            ok(r#"[["append",3,7],["r",4,null]]"#).is_err(),
            "a read left unfilled"
        );
        assert!(ok(r#"[["append",3,7]]"#).is_err(), "a micro-op missing");
        let rw = inv("txn", mops(r#"[["r",1,null],["w",1,5]]"#));
        assert!(ok_value(
            Workload::RwRegister,
            &rw,
            Some(mops(r#"[["r",1,null],["w",1,5]]"#))
        )
        .is_ok());
        assert!(ok_value(
            Workload::RwRegister,
            &rw,
            Some(mops(r#"[["r",1,[2]],["w",1,5]]"#))
        )
        .is_err());
    }

    #[test]
    fn the_open_message_carries_the_node_and_the_timeout_in_ms() {
        let open = Open {
            process: 12,
            node: "n2".into(),
            address: "10.0.0.2".into(),
            endpoint: "http://10.0.0.2:2379".into(),
            endpoints: vec!["a".into(), "b".into()],
            workload: Workload::CasRegister,
            timeout: Duration::from_millis(1500),
        };
        assert_eq!(
            serde_json::to_string(&Message::open(&open)).unwrap(),
            r#"{"type":"open","id":0,"process":12,"node":"n2","address":"10.0.0.2","endpoint":"http://10.0.0.2:2379","endpoints":["a","b"],"workload":"cas-register","timeout_ms":1500}"#
        );
        let write = Invocation {
            f: "write".into(),
            key: None,
            value: Value::Int(4),
        };
        assert_eq!(
            serde_json::to_string(&Message::invoke(3, &write)).unwrap(),
            r#"{"type":"invoke","id":3,"f":"write","key":null,"value":4}"#
        );
    }
}
