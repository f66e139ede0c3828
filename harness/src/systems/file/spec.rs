//! A system file, read: the TOML that tells faultline how to run and
//! fault a database it has no module for (`faultline test --system
//! FILE`). Parsed with serde into typed keys; every template rendered once
//! for a sample cluster, so that a misspelt variable is found before
//! anything starts; every mistake is one sentence that begins
//! `FILE:LINE:COLUMN:` (toml's spans, and minijinja's inside a template).
//!
//! Commands are minijinja templates rather than strings with
//! placeholders: the first node starts differently from the others, and a
//! node started again after every node went down must bootstrap (Galera's
//! `--wsrep-new-cluster`), which takes conditionals; the peer list takes a
//! loop. Values put into a command or script are shell-quoted, so a path
//! with a space stays one word.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use minijinja::{Environment, UndefinedBehavior};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use toml::Spanned;
use workloads::Workload;

use crate::error::UsageError;

/// What the file's keys look like, as serde reads them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Spanned<String>,
    about: Option<String>,
    workloads: Vec<Spanned<String>>,
    client: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    #[serde(default)]
    requires: Vec<Require>,
    ports: Spanned<BTreeMap<String, u16>>,
    start: RawStart,
    ready: Spanned<RawReady>,
    data: Option<Spanned<String>>,
    #[serde(default)]
    logs: Vec<Spanned<String>>,
    primary: Option<Spanned<String>>,
    setup: Option<Spanned<String>>,
    restart: Option<Spanned<String>>,
    teardown: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Require {
    path: String,
    package: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStart {
    command: Spanned<String>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    user: Option<String>,
    #[serde(default)]
    sequential: bool,
    stop_signal: Option<Spanned<String>>,
    stop_grace: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReady {
    port: Option<Spanned<String>>,
    command: Option<Spanned<String>>,
    timeout: Option<Spanned<f64>>,
}

/// One template of the file, with where it is (for errors).
#[derive(Debug)]
pub struct Template {
    source: String,
    /// Byte offset of its first character in the file.
    at: usize,
    /// Its key, `start.command`.
    key: String,
}

/// How a node tells it serves.
#[derive(Debug)]
pub enum Ready {
    /// The port of `[ports]` so named accepts a TCP connection.
    Port(String),
    /// The command exits 0.
    Command(Template),
}

/// How a rendered template is used: as shell words (values quoted), or as
/// a plain string (a path, an environment value, an endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// A command line or script.
    Shell,
    /// Anything else.
    Plain,
}

/// A node as templates see it: `name`, `id` (1, 2, …), `index` (0, 1,
/// …), `host`, `ports.NAME`, `client_addr` and `peer_addr` (`host:port`
/// as clients and peers reach it: faultline's proxy when the run has
/// them).
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    pub name: String,
    pub id: usize,
    pub index: usize,
    pub host: String,
    pub ports: BTreeMap<String, u16>,
    pub client_addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_addr: Option<String>,
}

/// Everything a template may use; what is `None` is undefined, so that a
/// template using it fails.
#[derive(Debug, Serialize)]
pub struct Vars<'a> {
    #[serde(flatten)]
    pub node: Option<&'a Node>,
    pub peers: &'a [Node],
    /// The folder the file is in.
    pub here: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<bool>,
}

/// A system file, read and checked.
pub struct Spec {
    /// The file, as named.
    pub file: PathBuf,
    text: String,
    /// The system's name.
    pub name: String,
    /// The system in words.
    pub about: String,
    /// The workloads its client runs.
    pub workloads: Vec<Workload>,
    /// The default client command.
    pub client: Option<Template>,
    /// What a client is told of a node.
    pub endpoint: Option<Template>,
    /// Files each node needs, with the package that brings each.
    pub requires: Vec<(String, String)>,
    /// The ports a node listens on, by name.
    pub ports: BTreeMap<String, u16>,
    ports_at: usize,
    /// How node i starts.
    pub command: Template,
    /// Its environment.
    pub env: Vec<(String, Template)>,
    /// The user it runs as.
    pub user: Option<String>,
    /// Whether each node must serve before the next starts.
    pub sequential: bool,
    /// The signal that stops it at the end, and how long it has before
    /// SIGKILL.
    pub stop: Option<(Signal, Duration)>,
    /// How it tells it serves.
    pub ready: Ready,
    /// How long it may take, at start and after a restart.
    pub ready_timeout: Duration,
    /// Its data folder.
    pub data: Option<Template>,
    /// Its log files.
    pub logs: Vec<Template>,
    /// Prints the primary's name.
    pub primary: Option<Template>,
    /// Run on each node before the first start.
    pub setup: Option<Template>,
    /// Run on a node before it starts again after a crash.
    pub restart: Option<Template>,
    /// Run on each node at the end, once its daemon stopped.
    pub teardown: Option<Template>,
    shell: Environment<'static>,
    plain: Environment<'static>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.file.display())
    }
}

/// How long a node may take to serve, unless the file says.
const READY_TIMEOUT: f64 = 60.0;

impl Spec {
    /// Reads and checks `file`.
    pub fn load(file: &Path) -> Result<Spec, UsageError> {
        let text =
            std::fs::read_to_string(file).map_err(|e| UsageError(format!("{}: {e}", file.display())))?;
        Spec::parse(file, text)
    }

    /// Checks `text`, the contents of `file`.
    pub fn parse(file: &Path, text: String) -> Result<Spec, UsageError> {
        let raw: Raw = match toml::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                let at = e.span().map_or(0, |s| s.start);
                return Err(UsageError(format!(
                    "{}: {}",
                    position(file, &text, at),
                    e.message().trim_end()
                )));
            }
        };
        let mut spec = Spec {
            file: file.to_path_buf(),
            name: raw.name.get_ref().clone(),
            about: raw.about.unwrap_or_else(|| raw.name.get_ref().clone()),
            workloads: Vec::new(),
            client: None,
            endpoint: None,
            requires: raw.requires.into_iter().map(|r| (r.path, r.package)).collect(),
            ports: raw.ports.get_ref().clone(),
            ports_at: raw.ports.span().start,
            command: Template {
                source: String::new(),
                at: 0,
                key: String::new(),
            },
            env: Vec::new(),
            user: raw.start.user,
            sequential: raw.start.sequential,
            stop: None,
            ready: Ready::Port(String::new()),
            ready_timeout: Duration::ZERO,
            data: None,
            logs: Vec::new(),
            primary: None,
            setup: None,
            restart: None,
            teardown: None,
            shell: environment(Use::Shell),
            plain: environment(Use::Plain),
            text,
        };
        let name = raw.name.get_ref();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(spec.error(
                raw.name.span(),
                "name: expected a word of letters, digits, - and _",
            ));
        }
        for w in &raw.workloads {
            let workload = w
                .get_ref()
                .parse()
                .map_err(|e: String| spec.error(w.span(), &format!("workloads: {e}")))?;
            spec.workloads.push(workload);
        }
        if spec.workloads.is_empty() {
            return Err(spec.error(0..0, "workloads: expected at least one workload the client runs"));
        }
        if !spec.ports.contains_key("client") {
            return Err(spec.error(
                raw.ports.span(),
                "[ports] has no `client`: the port clients connect to",
            ));
        }
        let template = |s: Spanned<String>, key: &str, text: &str| Template {
            at: content_start(text, s.span()),
            source: s.into_inner(),
            key: key.to_string(),
        };
        let text = spec.text.clone();
        spec.client = raw.client.map(|s| template(s, "client", &text));
        spec.endpoint = raw.endpoint.map(|s| template(s, "endpoint", &text));
        spec.command = template(raw.start.command, "start.command", &text);
        spec.env = raw
            .start
            .env
            .into_iter()
            .map(|(k, v)| {
                let key = format!("start.env.{k}");
                (k, template(v, &key, &text))
            })
            .collect();
        if let Some(s) = &raw.start.stop_signal {
            let word = s.get_ref().to_ascii_uppercase();
            let word = if word.starts_with("SIG") {
                word
            } else {
                format!("SIG{word}")
            };
            let signal: Signal = word.parse().map_err(|_| {
                spec.error(
                    s.span(),
                    &format!(
                        "start.stop_signal: {:?} is no signal; expected e.g. SIGTERM",
                        s.get_ref()
                    ),
                )
            })?;
            let grace = match &raw.start.stop_grace {
                Some(g) => seconds(&spec, g, "start.stop_grace")?,
                None => Duration::from_secs(10),
            };
            spec.stop = Some((signal, grace));
        } else if let Some(g) = &raw.start.stop_grace {
            return Err(spec.error(g.span(), "start.stop_grace: goes with start.stop_signal"));
        }
        let ready_span = raw.ready.span();
        let ready = raw.ready.into_inner();
        spec.ready_timeout = match &ready.timeout {
            Some(t) => seconds(&spec, t, "ready.timeout")?,
            None => Duration::from_secs_f64(READY_TIMEOUT),
        };
        spec.ready = match (ready.port, ready.command) {
            (Some(p), None) => {
                if !spec.ports.contains_key(p.get_ref()) {
                    return Err(spec.error(p.span(), &format!("ready.port: {:?} is not a port of [ports]", p.get_ref())));
                }
                Ready::Port(p.into_inner())
            }
            (None, Some(c)) => Ready::Command(template(c, "ready.command", &text)),
            _ => {
                return Err(spec.error(
                    ready_span,
                    "[ready]: expected one of `port` (a name from [ports]) or `command` (exits 0 once the node serves)",
                ))
            }
        };
        spec.data = raw.data.map(|s| template(s, "data", &text));
        spec.logs = raw.logs.into_iter().map(|s| template(s, "logs", &text)).collect();
        spec.primary = raw.primary.map(|s| template(s, "primary", &text));
        spec.setup = raw.setup.map(|s| template(s, "setup", &text));
        spec.restart = raw.restart.map(|s| template(s, "restart", &text));
        spec.teardown = raw.teardown.map(|s| template(s, "teardown", &text));
        spec.rehearse()?;
        Ok(spec)
    }

    /// Renders every template for a sample cluster of three, the first
    /// node bootstrapping and the second not: what would fail at start
    /// fails now.
    fn rehearse(&self) -> Result<(), UsageError> {
        let peers: Vec<Node> = (0..3)
            .map(|i| {
                let host = format!("192.0.2.{}", i + 1);
                Node {
                    name: format!("n{}", i + 1),
                    id: i + 1,
                    index: i,
                    client_addr: format!("{host}:{}", self.ports["client"]),
                    peer_addr: self.ports.get("peer").map(|p| format!("{host}:{p}")),
                    ports: self.ports.clone(),
                    host,
                }
            })
            .collect();
        let here = "/sample";
        let cluster = Vars {
            node: None,
            peers: &peers,
            here,
            dir: None,
            data: None,
            bootstrap: None,
        };
        for t in self.client.iter().chain(&self.primary) {
            self.render(t, &cluster, Use::Shell)?;
        }
        for node in &peers[..2] {
            let mut vars = Vars {
                node: Some(node),
                peers: &peers,
                here,
                dir: Some(format!("/sample/{}", node.name)),
                data: None,
                bootstrap: Some(node.index == 0),
            };
            if let Some(t) = &self.data {
                vars.data = Some(self.render(t, &vars, Use::Plain)?);
            }
            self.argv(&vars)?;
            for t in self
                .logs
                .iter()
                .chain(&self.endpoint)
                .chain(self.env.iter().map(|(_, t)| t))
            {
                self.render(t, &vars, Use::Plain)?;
            }
            let scripts = [&self.setup, &self.restart, &self.teardown];
            let ready = match &self.ready {
                Ready::Command(t) => Some(t),
                Ready::Port(_) => None,
            };
            for t in scripts.into_iter().flatten().chain(ready) {
                self.render(t, &vars, Use::Shell)?;
            }
        }
        Ok(())
    }

    /// `t` rendered with `vars`; an error names where in the file.
    pub fn render(&self, t: &Template, vars: &Vars, how: Use) -> Result<String, UsageError> {
        let env = match how {
            Use::Shell => &self.shell,
            Use::Plain => &self.plain,
        };
        env.render_str(&t.source, minijinja::Value::from(minijinja::value::Serde(vars)))
            .map_err(|e| {
                let at = t.at + e.range().map_or(0, |r| r.start);
                let what = e.detail().map_or_else(|| e.kind().to_string(), str::to_string);
                let hint = if e.kind() == minijinja::ErrorKind::UndefinedError {
                    format!(" (defined here: {})", defined(vars))
                } else {
                    String::new()
                };
                UsageError(format!(
                    "{}: {}: {what}{hint}",
                    position(&self.file, &self.text, at),
                    t.key
                ))
            })
    }

    /// Node `vars`' command line, split into words as a shell would.
    pub fn argv(&self, vars: &Vars) -> Result<Vec<String>, UsageError> {
        let line = self.render(&self.command, vars, Use::Shell)?;
        match shlex::split(&line) {
            Some(words) if !words.is_empty() => Ok(words),
            _ => Err(self.error(
                self.command.at..self.command.at,
                &format!("start.command: {line:?} is not a command line (unbalanced quotes, or empty)"),
            )),
        }
    }

    /// A mistake at `span`, as one sentence.
    fn error(&self, span: Range<usize>, what: &str) -> UsageError {
        UsageError(format!(
            "{}: {what}",
            position(&self.file, &self.text, span.start)
        ))
    }

    /// Why a fault that needs `key` cannot run: the file lacks it. Said at
    /// the table where it belongs.
    pub fn lacks(&self, key: &str, what: &str) -> String {
        match key.strip_prefix("ports.") {
            Some(port) => format!(
                "{}: [ports] has no `{port}`: {what}",
                position(&self.file, &self.text, self.ports_at)
            ),
            None => format!("{}: no `{key}` key: {what}", position(&self.file, &self.text, 0)),
        }
    }
}

/// The variables `vars` defines, for an undefined one's message.
fn defined(vars: &Vars) -> String {
    match serde_json::to_value(vars) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect::<Vec<_>>().join(", "),
        _ => String::new(),
    }
}

/// A positive number of seconds, or an error at it.
fn seconds(spec: &Spec, v: &Spanned<f64>, key: &str) -> Result<Duration, UsageError> {
    let s = *v.get_ref();
    if s.is_finite() && s > 0.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(spec.error(v.span(), &format!("{key}: expected a positive number of seconds")))
    }
}

/// A template environment: undefined variables are errors; in shell
/// templates every value printed is quoted (unless marked `|safe`).
fn environment(how: Use) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    if how == Use::Shell {
        env.set_formatter(|out, _state, value| {
            let s = value.to_string();
            let s = if value.is_safe() {
                s
            } else {
                crate::node::quote(&s)
            };
            out.write_str(&s)
                .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
        });
    }
    env
}

/// Where a string's contents begin, past its quotes (and the newline a
/// multi-line string drops).
fn content_start(text: &str, span: Range<usize>) -> usize {
    let s = &text[span.start..];
    let skip = if s.starts_with("\"\"\"") || s.starts_with("'''") {
        let rest = &s[3..];
        3 + if rest.starts_with("\r\n") {
            2
        } else if rest.starts_with('\n') {
            1
        } else {
            0
        }
    } else {
        1
    };
    span.start + skip.min(s.len())
}

/// `FILE:LINE:COLUMN` of byte `at` of `text`.
fn position(file: &Path, text: &str, at: usize) -> String {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{}:{line}:{column}", file.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"name = "kv"
workloads = ["register"]

[ports]
client = 7000
peer = 7001

[start]
command = """
/usr/bin/kv --name {{ name }} --listen {{ host }}:{{ ports.client }}
  --peers {% for p in peers %}{{ p.peer_addr }}{{ "," if not loop.last else "" }}{% endfor %}
  {% if bootstrap %}--bootstrap{% endif %}
"""

[ready]
port = "client"
"#;

    fn parse(text: &str) -> Result<Spec, String> {
        Spec::parse(Path::new("kv.toml"), text.to_string()).map_err(|e| e.0)
    }

    #[test]
    fn a_good_file_renders_each_node_its_own_command() {
        let spec = parse(GOOD).unwrap();
        assert_eq!(spec.workloads, [Workload::Register]);
        let peers: Vec<Node> = (0..2)
            .map(|i| Node {
                name: format!("n{}", i + 1),
                id: i + 1,
                index: i,
                host: "10.0.0.1".into(),
                ports: spec.ports.clone(),
                client_addr: String::new(),
                peer_addr: Some(format!("10.0.0.1:{}", 7001 + i)),
            })
            .collect();
        let vars = |i: usize| Vars {
            node: Some(&peers[i]),
            peers: &peers,
            here: "/x",
            dir: Some("/run folder/n1".into()),
            data: None,
            bootstrap: Some(i == 0),
        };
        assert_eq!(
            spec.argv(&vars(0)).unwrap(),
            [
                "/usr/bin/kv",
                "--name",
                "n1",
                "--listen",
                "10.0.0.1:7000",
                "--peers",
                "10.0.0.1:7001,10.0.0.1:7002",
                "--bootstrap"
            ]
        );
        assert!(!spec.argv(&vars(1)).unwrap().contains(&"--bootstrap".to_string()));
    }

    #[test]
    fn values_in_shell_templates_stay_one_word() {
        let text = GOOD.replace("--name {{ name }}", "--log {{ dir }}/kv.log");
        let spec = parse(&text).unwrap();
        let node = Node {
            name: "n1".into(),
            id: 1,
            index: 0,
            host: "h".into(),
            ports: spec.ports.clone(),
            client_addr: String::new(),
            peer_addr: Some("h:1".into()),
        };
        let vars = Vars {
            node: Some(&node),
            peers: std::slice::from_ref(&node),
            here: "/x",
            dir: Some("/a b/it's".into()),
            data: None,
            bootstrap: Some(false),
        };
        assert_eq!(spec.argv(&vars).unwrap()[2], "/a b/it's/kv.log");
    }

    #[test]
    fn mistakes_are_named_with_file_line_and_column() {
        // A typo in the TOML itself.
        let e = parse(&GOOD.replace("client = 7000", "client = 7000x")).unwrap_err();
        assert!(e.starts_with("kv.toml:5:"), "{e}");
        // An unknown key, named.
        let e = parse(&GOOD.replace("port = \"client\"", "port = \"client\"\ncolour = 1")).unwrap_err();
        assert!(e.starts_with("kv.toml:17:1: unknown field `colour`"), "{e}");
        // A misspelt variable, found before anything starts, at its place.
        let e = parse(&GOOD.replace("{{ host }}", "{{ hots }}")).unwrap_err();
        assert!(e.starts_with("kv.toml:10:"), "{e}");
        assert!(e.contains("start.command") && e.contains("undefined"), "{e}");
        // A template that does not parse.
        let e = parse(&GOOD.replace("{% endif %}", "")).unwrap_err();
        assert!(e.starts_with("kv.toml:"), "{e}");
        // A workload the harness does not know.
        let e = parse(&GOOD.replace("[\"register\"]", "[\"registr\"]")).unwrap_err();
        assert!(
            e.starts_with("kv.toml:2:14: workloads: unknown workload \"registr\""),
            "{e}"
        );
        // `data` is undefined where the file declares none.
        let e = parse(&GOOD.replace("{{ name }}", "{{ data }}")).unwrap_err();
        assert!(e.contains("undefined"), "{e}");
        // A readiness check that names no port of the file.
        let e = parse(&GOOD.replace("port = \"client\"", "port = \"admin\"")).unwrap_err();
        assert!(e.starts_with("kv.toml:16:8: ready.port: \"admin\""), "{e}");
    }
}
