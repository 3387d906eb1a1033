//! The data flows one way (docs/ARCHITECTURE.md): command line and configuration, daemon,
//! monitor, dynamic servers, attack record, pipeline, outputs. This test reads every file
//! under src/ and fails when a module names one it must not use: a path starting with
//! `crate::`, `super::` or `self::` (in a `use` or inline, comments and strings left out)
//! that resolves into a forbidden module. The pairs below are the back edges that were
//! removed, and the layers under them; a new module belongs in the list where it sits.

use std::path::{Path, PathBuf};

/// (module, the modules it must not use). A module stands for itself and everything below it.
const FORBIDDEN: &[(&str, &[&str])] = &[
    // The record and what it is made of know nothing of who fills or reads it.
    ("attack", &["pipeline", "server", "monitor", "daemon", "cli", "conn_request", "own_ports"]),
    ("budget", &["pipeline", "server", "monitor", "daemon", "cli"]),
    // The configuration is read by everything and reads nothing of the program's parts.
    ("config", &["cli", "daemon", "server", "pipeline", "monitor", "attack", "conn_request", "own_ports"]),
    // The key tree is used by the key handlers and the processing queue, never the reverse.
    ("config::tree", &["config::process", "config::queue", "config::load"]),
    ("config::process", &["config::queue", "config::load"]),
    ("config::queue", &["config::load"]),
    // What monitors hand to the engine, and the ports both capture and downloads claim.
    ("conn_request", &["monitor", "server", "pipeline", "daemon", "cli"]),
    ("own_ports", &["monitor", "server", "pipeline", "daemon", "cli", "config"]),
    // The monitor produces requests; the daemon hands them to the engine.
    ("monitor", &["server", "pipeline", "daemon", "cli"]),
    // The pipeline consumes records; it never reaches back into capture.
    ("pipeline", &["server", "monitor", "daemon", "cli", "conn_request"]),
    ("server", &["monitor", "daemon", "cli"]),
    // The command line is read before anything runs.
    ("cli", &["daemon", "monitor", "server", "pipeline"]),
    // Pure views of packets and the system calls sit under everything.
    (
        "wire",
        &["attack", "budget", "cli", "config", "conn_request", "daemon", "monitor", "own_ports", "pipeline", "server"],
    ),
    (
        "sys",
        &["attack", "cli", "config", "conn_request", "daemon", "monitor", "own_ports", "pipeline", "server", "wire"],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module a file under src/ defines: src/a.rs and src/a/mod.rs are `a`, src/a/b.rs is
/// `a::b`, src/lib.rs the crate root.
fn module_of(rel: &Path) -> Vec<String> {
    let mut m: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    let last = m.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        m.push(stem.to_string());
    }
    m
}

/// `src` with comments, string and character literals blanked (newlines kept, so that line
/// numbers hold).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (rest.starts_with(b"r#") || rest.starts_with(b"r\"") || rest.starts_with(b"br"))
            && (i == 0 || !is_ident(b[i - 1]))
        {
            let start = if b[i] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[start..].iter().take_while(|&&c| c == b'#').count();
            if b.get(start + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let body = start + hashes + 1;
            let end = b[body..].windows(close.len()).position(|w| w == close.as_slice()).map_or(b.len(), |n| body + n);
            blank(&mut out, i, end + close.len());
            i = end + close.len();
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if b[i] == b'\'' {
            // A character literal ('x', '\n', '\u{..}'), or a lifetime ('a) left alone.
            if b.get(i + 1) == Some(&b'\\') {
                let j = b[i + 2..].iter().position(|&c| c == b'\'').map_or(b.len(), |n| i + 2 + n);
                blank(&mut out, i, j + 1);
                i = j + 1;
            } else if let Some(n) = src[i + 1..].chars().next().map(char::len_utf8) {
                if b.get(i + 1 + n) == Some(&b'\'') {
                    blank(&mut out, i, i + 2 + n);
                    i += 2 + n;
                } else {
                    i += 1;
                }
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Parses a path or a `use` tree at `i` (`a::b`, `a::{b, c::d}`), returning every path it
/// names and where it ends.
fn path_tree(b: &[u8], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        let start = i;
        while i < b.len() && is_ident(b[i]) {
            i += 1;
        }
        if i == start {
            break;
        }
        prefix.push(String::from_utf8_lossy(&b[start..i]).into_owned());
        if !b[i..].starts_with(b"::") {
            return (vec![prefix], i);
        }
        i += 2;
        if b.get(i) == Some(&b'{') {
            let mut all = Vec::new();
            i += 1;
            loop {
                while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    return (all, i + 1);
                }
                let (subs, end) = path_tree(b, i);
                all.extend(subs.into_iter().map(|s| prefix.iter().cloned().chain(s).collect()));
                // Skip what the item may carry after its path (`as name`, `*`).
                i = end.max(i + 1);
                while i < b.len() && b[i] != b',' && b[i] != b'}' {
                    i += 1;
                }
            }
        }
    }
    (vec![prefix], i)
}

/// Every module path `code` (of the module `module`) names through `crate::`, `super::` or
/// `self::`, resolved from the crate root, with its line number.
fn references(module: &[String], code: &str) -> Vec<(usize, Vec<String>)> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    // Inline modules (`mod tests { ... }`): name and the brace depth inside them.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_mod: Option<String> = None;
    let mut line = 1;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
        }
        if c == b'{' {
            depth += 1;
            if let Some(name) = pending_mod.take() {
                inline.push((name, depth));
            }
            i += 1;
            continue;
        }
        if c == b'}' {
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == b';' {
            pending_mod = None;
        }
        if !is_ident(c) || (i > 0 && (is_ident(b[i - 1]) || b[..i].ends_with(b"::"))) {
            i += 1;
            continue;
        }
        let word_end = (i..b.len()).find(|&j| !is_ident(b[j])).unwrap_or(b.len());
        let word = &code[i..word_end];
        if word == "mod" {
            let name_start = (word_end..b.len()).find(|&j| !b[j].is_ascii_whitespace()).unwrap_or(b.len());
            let name_end = (name_start..b.len()).find(|&j| !is_ident(b[j])).unwrap_or(b.len());
            pending_mod = Some(code[name_start..name_end].to_string());
            i = name_end;
            continue;
        }
        if matches!(word, "crate" | "super" | "self") && b[word_end..].starts_with(b"::") {
            let here: Vec<String> = module.iter().cloned().chain(inline.iter().map(|(n, _)| n.clone())).collect();
            let (paths, end) = path_tree(b, i);
            for p in paths {
                let mut base = here.clone();
                let mut segs = p.into_iter().peekable();
                match segs.peek().map(String::as_str) {
                    Some("crate") => {
                        base.clear();
                        segs.next();
                    }
                    _ => {
                        while let Some(s) = segs.peek() {
                            match s.as_str() {
                                "super" => {
                                    base.pop();
                                }
                                "self" => {}
                                _ => break,
                            }
                            segs.next();
                        }
                    }
                }
                base.extend(segs);
                found.push((line, base));
            }
            let newlines = b[i..end.min(b.len())].iter().filter(|&&c| c == b'\n').count();
            line += newlines;
            i = end;
            continue;
        }
        i = word_end;
    }
    found
}

fn starts_with(path: &[String], prefix: &str) -> bool {
    let p: Vec<&str> = prefix.split("::").collect();
    path.len() >= p.len() && path.iter().zip(&p).all(|(a, b)| a == b)
}

/// Every reference in src/: (file, line, from module, to module path).
fn all_references() -> Vec<(PathBuf, usize, Vec<String>, Vec<String>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut all = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_path_buf();
        if rel == Path::new("main.rs") {
            continue;
        }
        let module = module_of(&rel);
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for (line, to) in references(&module, &code) {
            all.push((rel.clone(), line, module.clone(), to));
        }
    }
    all
}

#[test]
fn no_module_uses_one_against_the_data_flow() {
    let mut bad = Vec::new();
    for (file, line, from, to) in all_references() {
        for (module, forbidden) in FORBIDDEN {
            if !starts_with(&from, module) {
                continue;
            }
            for f in forbidden.iter().filter(|f| starts_with(&to, f)) {
                bad.push(format!("src/{}:{line}: {module} uses {} ({f} is off limits)", file.display(), to.join("::")));
            }
        }
    }
    assert!(bad.is_empty(), "back edges against the data flow:\n{}", bad.join("\n"));
}

/// The reader sees the edges that must exist, so the test above cannot pass by seeing none.
#[test]
fn the_reader_finds_known_edges() {
    let all = all_references();
    let has = |from: &str, to: &str| {
        all.iter().any(|(_, _, f, t)| f.join("::") == from && starts_with(t, to) && !starts_with(t, from))
    };
    assert!(has("daemon", "server::engine"), "daemon -> server::engine not found");
    assert!(has("server::engine", "conn_request"), "server::engine -> conn_request not found");
    assert!(has("config::queue", "config::process"), "config::queue -> config::process (super::) not found");
    assert!(has("pipeline::download::tftp", "own_ports"), "pipeline::download::tftp -> own_ports not found");
}

#[test]
fn the_reader_skips_comments_and_strings_and_resolves_super() {
    let code = code_only(
        "// crate::daemon::run\n/* crate::cli */ let s = \"crate::server\"; let c = '\"';\nuse super::{a::b, c};\nmod tests {\n    use super::super::x;\n}\n",
    );
    let got = references(&["m".to_string(), "n".to_string()], &code);
    let want: Vec<(usize, Vec<String>)> = vec![
        (3, vec!["m".into(), "a".into(), "b".into()]),
        (3, vec!["m".into(), "c".into()]),
        (5, vec!["m".into(), "x".into()]),
    ];
    assert_eq!(got, want);
}
