//! `faultline serve`: a small web server over the run store. The index
//! lists runs newest first with their verdict in colour (and whether a
//! signal cut the run short), test name and time, and links to each run's
//! report and files that exist; a folder whose cluster never served is no
//! run and is not listed. Any other path serves
//! a file from inside the store, never outside it (paths are resolved and
//! checked against the store's own canonical path). Bound to 127.0.0.1
//! unless told otherwise. GET only; one request per connection.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::http::{self, Response};
use crate::run::store;

/// One stored run, for the index.
struct Run {
    test: String,
    stamp: String,
    verdict: String,
    interrupted: bool,
    sentence: String,
    rel: String,
    /// The run's files the index links to, those that exist.
    files: Vec<(&'static str, &'static str)>,
}

/// What the index links to in a run folder, by label.
const FILES: [(&str, &str); 5] = [
    ("report", "report.html"),
    ("history", store::HISTORY),
    ("results", store::RESULTS),
    ("junit", "junit.xml"),
    ("test", store::TEST),
];

fn json(path: &Path) -> serde_json::Value {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn runs(store: &Path) -> Vec<Run> {
    let mut out = Vec::new();
    let Ok(tests) = std::fs::read_dir(store) else {
        return out;
    };
    for test in tests.flatten().filter(|e| e.path().is_dir()) {
        let name = test.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let Ok(stamps) = std::fs::read_dir(test.path()) else {
            continue;
        };
        for run in stamps.flatten().filter(|e| e.path().join(store::TEST).exists()) {
            let test = json(&run.path().join(store::TEST));
            if store::not_started(&test).is_some() {
                continue;
            }
            let results = json(&run.path().join(store::RESULTS));
            let stamp = run.file_name().to_string_lossy().to_string();
            out.push(Run {
                rel: format!("{name}/{stamp}"),
                test: name.clone(),
                stamp,
                verdict: results["verdict"].as_str().unwrap_or("not checked").to_string(),
                interrupted: store::interrupted(&test).is_some(),
                sentence: results["sentence"].as_str().unwrap_or("").to_string(),
                files: FILES
                    .into_iter()
                    .filter(|(_, f)| run.path().join(f).exists())
                    .collect(),
            });
        }
    }
    // Stamps sort by time; newest first across tests.
    out.sort_by(|a, b| b.stamp.cmp(&a.stamp).then(a.test.cmp(&b.test)));
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn index(store: &Path) -> String {
    let runs = runs(store);
    let mut h = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline runs</title><style>\
         body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:12px}\
         table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:5px 8px;text-align:left}\
         .valid{background:#e3f4e6}.invalid{background:#fbe4e4}.unknown{background:#fff3d6}\
         .v{font-weight:bold;text-transform:uppercase}.cut{display:block;font-size:11px}</style></head><body><h1>faultline runs</h1>",
    );
    if runs.is_empty() {
        h.push_str("<p id=\"empty\">No runs in this store yet: run <code>faultline test</code>.</p>");
    } else {
        h.push_str(&format!(
            "<p>{} run{}, newest first.</p><table><tr><th>verdict</th><th>test</th><th>started (UTC)</th><th>finding</th><th>files</th></tr>",
            runs.len(),
            if runs.len() == 1 { "" } else { "s" }
        ));
        for r in &runs {
            let cls = match r.verdict.as_str() {
                "valid" | "invalid" | "unknown" => r.verdict.as_str(),
                _ => "",
            };
            let rel = escape(&r.rel);
            let links: Vec<String> = r
                .files
                .iter()
                .map(|(label, file)| format!("<a href=\"/{rel}/{file}\">{label}</a>"))
                .collect();
            h.push_str(&format!(
                "<tr class=\"run {cls}\"><td class=\"v\">{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.verdict),
                if r.interrupted { "<span class=\"cut\">interrupted</span>" } else { "" },
                escape(&r.test),
                escape(&r.stamp),
                escape(&r.sentence),
                links.join(" · ")
            ));
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>");
    h
}

/// The file under `root` that `path` names, if it is inside `root`.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = root.join(rel).canonicalize().ok()?;
    (full.starts_with(root) && full.is_file()).then_some(full)
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("jsonl" | "log" | "txt") => "text/plain; charset=utf-8",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer to a GET of `path` (percent-escaped, as requested).
fn answer(root: &Path, path: &str) -> Response {
    let path = percent_decode(path);
    if path == "/" {
        return Response::ok("text/html; charset=utf-8", index(root).into_bytes());
    }
    match resolve(root, &path).map(|file| (std::fs::read(&file), content_type(&file))) {
        Some((Ok(body), kind)) => Response::ok(kind, body),
        _ => Response::not_found(),
    }
}

/// Serves `store` on `addr` until interrupted.
/// `faultline serve`: serves the store until interrupted.
pub fn run(args: ServeArgs) -> Result<u8> {
    let addr = SocketAddr::new(args.bind, args.port);
    super::runtime()?.block_on(serve(&args.store, addr))?;
    Ok(0)
}

pub async fn serve(store: &Path, addr: SocketAddr) -> Result<()> {
    std::fs::create_dir_all(store)?;
    let root = store
        .canonicalize()
        .with_context(|| format!("opening {}", store.display()))?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!("serving {} at http://{}/", root.display(), listener.local_addr()?);
    tokio::select! {
        served = http::serve(listener, move |path| answer(&root, path)) => Ok(served?),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_outside_the_store_resolves() {
        let root = std::env::temp_dir().join(format!("faultline-serve-{}", std::process::id()));
        std::fs::create_dir_all(root.join("t/1")).unwrap();
        std::fs::write(root.join("t/1/report.html"), "x").unwrap();
        let root = root.canonicalize().unwrap();
        assert!(resolve(&root, "/t/1/report.html").is_some());
        assert!(resolve(&root, "/../etc/passwd").is_none());
        assert!(resolve(&root, "/t/../../etc/passwd").is_none());
        assert!(resolve(&root, "//etc/passwd").is_none());
        assert!(resolve(&root, "/t/1").is_none(), "folders are not listed");
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        assert!(
            resolve(&root, "/escape/passwd").is_none(),
            "symlinks out of the store are refused"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decode("/a%20b/%2e%2e"), "/a b/..");
    }
}
