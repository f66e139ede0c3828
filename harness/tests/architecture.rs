//! The workspace's module arrows, read from the source: in every crate,
//! sibling modules (the files and folders side by side in one folder)
//! must depend on each other one way only — no cycle. A reference counts
//! when it names a path through `crate::` or `super::` (in `use` lines
//! and in code); a child's use of its parent, or a parent's of its own
//! children, is no arrow between siblings. Run with `--nocapture` to see
//! every arrow (`scripts/module-deps` does).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside a crate: `["node", "ssh"]` for `src/node/ssh.rs`.
type ModPath = Vec<String>;

/// Every module file of a crate's `src/`, by module path.
fn modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let mut parts: ModPath = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                parts.pop();
            }
            found.insert(parts, path);
        }
    }
    found
}

/// The source without comments, string and char literals (so that
/// `"crate::x"` in a message or a doc comment is no reference).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && !ident_byte(b, i)
        {
            // Raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            j += 1;
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3; // 'x'
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Whether the byte before `i` continues an identifier.
fn ident_byte(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// Parses a path tree after `crate::` or `super::` (`a::b`, `a::{b, c::d}`)
/// starting at `i`; pushes every full path found.
fn path_tree(b: &[u8], mut i: usize, prefix: &[String], out: &mut Vec<ModPath>) -> usize {
    let mut path = prefix.to_vec();
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&b'{') {
            i += 1;
            loop {
                i = path_tree(b, i, &path, out);
                while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    return i + 1;
                }
            }
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if start == i {
            out.push(path);
            return i;
        }
        path.push(String::from_utf8_lossy(&b[start..i]).into_owned());
        if b[i..].starts_with(b"::") {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// Every path a file names through `crate::`, `super::` or `self::`,
/// made absolute within the crate.
fn references(code: &str, me: &ModPath) -> Vec<ModPath> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    // A `mod.rs` is its folder's module, so `super::` is always the
    // module path less its last part.
    let here: ModPath = me.clone();
    for (word, base) in [
        ("crate::", Vec::new()),
        ("super::", {
            let mut p = here.clone();
            p.pop();
            p
        }),
        ("self::", here.clone()),
    ] {
        let mut from = 0;
        while let Some(at) = code[from..].find(word) {
            let i = from + at;
            from = i + word.len();
            if ident_byte(b, i) || (i >= 2 && &b[i - 2..i] == b"::") {
                continue;
            }
            // `super::super::x`.
            let mut base = base.clone();
            let mut j = from;
            while code[j..].starts_with("super::") {
                base.pop();
                j += "super::".len();
            }
            path_tree(b, j, &base, &mut out);
        }
    }
    out
}

/// The sibling arrows of one crate: (parent folder's module path) →
/// (from sibling, to sibling).
fn arrows(src: &Path) -> BTreeMap<ModPath, BTreeSet<(String, String)>> {
    let mods = modules(src);
    let mut arrows: BTreeMap<ModPath, BTreeSet<(String, String)>> = BTreeMap::new();
    for (me, file) in &mods {
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for r in references(&code, me) {
            // The longest prefix of the reference that is a module.
            let target = (0..=r.len())
                .rev()
                .map(|n| r[..n].to_vec())
                .find(|p| mods.contains_key(p))
                .unwrap_or_default();
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common < me.len() && common < target.len() {
                arrows
                    .entry(me[..common].to_vec())
                    .or_default()
                    .insert((me[common].clone(), target[common].clone()));
            }
        }
    }
    arrows
}

/// The cycles among one folder's siblings: each strongly connected
/// component of more than one module, as its sorted names.
fn cycles(edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reaches = |from: &String| {
        let mut seen = BTreeSet::from([from.clone()]);
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for (a, b) in edges {
                if *a == n && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> = nodes.iter().map(|n| (*n, reaches(n))).collect();
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for n in &nodes {
        let component: Vec<String> = nodes
            .iter()
            .filter(|m| reach[*n].contains(**m) && reach[**m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        if component.len() > 1 {
            found.insert(component);
        }
    }
    found.into_iter().collect()
}

#[test]
fn sibling_modules_depend_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut problems = Vec::new();
    for krate in ["checkers", "workloads", "nemesis", "reports", "harness"] {
        let src = root.join(krate).join("src");
        for (parent, edges) in arrows(&src) {
            let folder = if parent.is_empty() {
                format!("{krate}/src")
            } else {
                format!("{krate}/src/{}", parent.join("/"))
            };
            println!("{folder}:");
            for (a, b) in &edges {
                println!("  {a} -> {b}");
            }
            for cycle in cycles(&edges) {
                problems.push(format!("{folder}: a cycle among {}", cycle.join(", ")));
            }
        }
    }
    assert!(problems.is_empty(), "module cycles:\n{}", problems.join("\n"));
}

#[test]
fn references_are_read_from_code_only() {
    let code = code_only(
        "use crate::{a::{b, c}, d};\n// crate::e\nlet s = \"crate::f\";\nsuper::g::h();\nlet c = 'x'; self::i::j;",
    );
    let refs = references(&code, &vec!["m".into(), "n".into()]);
    let refs: Vec<String> = refs.iter().map(|r| r.join("::")).collect();
    assert_eq!(refs, ["a::b", "a::c", "d", "m::g::h", "m::n::i::j"]);
}

#[test]
fn a_cycle_is_found_and_a_chain_is_not() {
    let edges = |pairs: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert!(cycles(&edges(&[("a", "b"), ("b", "c")])).is_empty());
    assert_eq!(
        cycles(&edges(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
}
