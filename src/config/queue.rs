//! The processing queue and `include`: from a file's parsed entries, through the key tree
//! (tree.rs), to a [`Config`] filled by the key handlers (process.rs).
//!
//! Replaces the top-level loop of the C original's readconf.c (`process_conftree`,
//! `process_confopt`) and its `include` handling: top-level nodes are processed in order of
//! first appearance; `include` is processed at its position, the included file's entries go
//! into the same tree, new top-level keys are appended to the queue, and additions to a
//! top-level node that was already processed have no effect (a [`Warning`]). Deliberate
//! divergence: nested includes are processed (after the including file's keys), up to
//! [`INCLUDE_LIMIT`] levels, and include cycles are errors.

use super::parser::{self, Entry, ValueKind};
use super::process;
use super::tree::{insert, resolve, strerror, where_is, Node, Val};
use super::{Config, ConfigError, Warning, INCLUDE_LIMIT};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest configuration file read (main or included); protects against `include =
/// "/dev/zero"` and the like.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Largest number of files read through `include` in one load (bounds the fan-out of
/// include lists within the depth limit).
pub const MAX_INCLUDED_FILES: usize = 256;

/// Work waiting to be processed, in order.
enum Work {
    /// A top-level node (index into the root's children).
    Top(usize),
    /// The `include` key of an included file, with the chain of files that led to it
    /// (canonical paths, main file first).
    NestedInclude { node: Box<Node>, chain: Vec<PathBuf> },
}

struct Loader<'a> {
    base_dir: &'a Path,
    root: Node,
    queue: VecDeque<Work>,
    cfg: Config,
    included_files: usize,
}

impl Loader<'_> {
    /// Inserts a top-level entry (of the main file, or of an included file when `included`
    /// names it) and queues the node if it is new.
    fn insert_top(&mut self, entry: &Entry, included: Option<&Path>) {
        let Some(i) = self.root.child_index(&entry.key) else {
            insert(&mut self.root, entry, &mut self.cfg.warnings);
            if let Some(i) = self.root.child_index(&entry.key) {
                self.queue.push_back(Work::Top(i));
            }
            return;
        };
        let existing = &self.root.children[i];
        if entry.key.starts_with("plugin-") {
            self.cfg.warnings.push(Warning {
                span: entry.key_span.clone(),
                msg: format!(
                    "{} is configured more than once; this entry is ignored (the first one, at {}, is used)",
                    entry.key,
                    where_is(&existing.span, &entry.key_span)
                ),
            });
            return;
        }
        if existing.processed && !matches!(entry.value.kind, ValueKind::Str(_)) {
            let file = included.unwrap_or(Path::new("?"));
            self.cfg.warnings.push(Warning {
                span: entry.key_span.clone(),
                msg: format!(
                    "{key} in included file {} is ignored: {key} was already processed (put the include before it)",
                    file.display(),
                    key = entry.key
                ),
            });
            return;
        }
        insert(&mut self.root, entry, &mut self.cfg.warnings);
    }

    fn run(&mut self, main_chain: Vec<PathBuf>) -> Result<(), ConfigError> {
        while let Some(work) = self.queue.pop_front() {
            match work {
                Work::Top(i) => {
                    self.root.children[i].processed = true;
                    let node = &self.root.children[i];
                    if node.name == "include" {
                        let targets = include_targets(node)?;
                        for target in targets {
                            self.include(target, &main_chain)?;
                        }
                    } else {
                        process::top_level(node, &mut self.cfg, self.base_dir)?;
                    }
                }
                Work::NestedInclude { node, chain } => {
                    for target in include_targets(&node)? {
                        self.include(target, &chain)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads, parses and merges one included file. `chain` holds the canonical paths of the
    /// files that led here (the main file first).
    fn include(&mut self, target: Val, chain: &[PathBuf]) -> Result<(), ConfigError> {
        let Val { text, span } = target;
        if text.is_empty() {
            return Err(ConfigError::At { span, msg: "include must not be empty".into() });
        }
        if text.contains('\0') {
            return Err(ConfigError::At { span, msg: "include must not contain a NUL byte".into() });
        }
        let path = resolve(self.base_dir, &text);
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if chain.contains(&canonical) {
            return Err(ConfigError::At { span, msg: format!("include cycle: {}", path.display()) });
        }
        if chain.len() > INCLUDE_LIMIT {
            return Err(ConfigError::At {
                span,
                msg: format!("include nested too deeply (more than {} levels)", INCLUDE_LIMIT),
            });
        }
        self.included_files += 1;
        if self.included_files > MAX_INCLUDED_FILES {
            return Err(ConfigError::At {
                span,
                msg: format!("too many included files (more than {})", MAX_INCLUDED_FILES),
            });
        }
        let bytes = read_config_file(&path).map_err(|reason| ConfigError::Io {
            path: path.clone(),
            reason,
            span: Some(span.clone()),
        })?;
        let entries = parser::parse(&bytes, &path)?;
        let mut nested = Node::root();
        for entry in &entries {
            if entry.key == "include" {
                insert(&mut nested, entry, &mut self.cfg.warnings);
            } else {
                self.insert_top(entry, Some(&path));
            }
        }
        if let Some(i) = nested.child_index("include") {
            let node = Box::new(nested.children.swap_remove(i));
            let mut chain = chain.to_vec();
            chain.push(canonical);
            self.queue.push_back(Work::NestedInclude { node, chain });
        }
        Ok(())
    }
}

/// The values of an `include` node, in order (an empty value is reported by `include`);
/// a block is an error.
fn include_targets(node: &Node) -> Result<Vec<Val>, ConfigError> {
    Ok(process::string_values(node)?
        .into_iter()
        .map(|(text, span)| Val { text: text.to_string(), span: span.clone() })
        .collect())
}

/// Reads a whole configuration file, at most [`MAX_FILE_SIZE`] bytes. The error is the
/// reason text.
// A String: it becomes `ConfigError::Io::reason` at once, which both callers fill.
fn read_config_file(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| strerror(&e))?;
    let mut buf = Vec::new();
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut buf).map_err(|e| strerror(&e))?;
    if buf.len() as u64 > MAX_FILE_SIZE {
        return Err(format!("file is larger than {} bytes", MAX_FILE_SIZE));
    }
    Ok(buf)
}

/// Builds the configuration from the main file's bytes. `name` appears in positions and
/// becomes [`Config::source`].
fn load_bytes(bytes: &[u8], name: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
    let entries = parser::parse(bytes, name)?;
    let resolved = base_dir.join(name);
    let canonical = std::fs::canonicalize(&resolved).unwrap_or(resolved);
    let mut loader = Loader {
        base_dir,
        root: Node::root(),
        queue: VecDeque::new(),
        cfg: Config { source: name.to_path_buf(), ..Config::default() },
        included_files: 0,
    };
    for entry in &entries {
        loader.insert_top(entry, None);
    }
    loader.run(vec![canonical])?;
    Ok(loader.cfg)
}

/// Loads the main configuration file. A relative `path` is opened relative to `base_dir`
/// but reported as given; [`Config::source`] is `path` as given.
pub fn load_file(path: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
    let bytes = read_config_file(&base_dir.join(path)).map_err(|reason| ConfigError::Io {
        path: path.to_path_buf(),
        reason,
        span: None,
    })?;
    load_bytes(&bytes, path, base_dir)
}

/// Loads configuration text that is not in a file; `name` is used in positions and as
/// [`Config::source`].
pub fn load_text(text: &str, name: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
    load_bytes(text.as_bytes(), name, base_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testutil::TempDir;
    use crate::config::{Mode, Proto};

    fn load(src: &str) -> Result<Config, ConfigError> {
        load_text(src, Path::new("main.conf"), Path::new("/nonexistent-base"))
    }

    fn load_err(src: &str) -> String {
        load(src).unwrap_err().to_string()
    }

    #[test]
    fn keys_are_processed_in_order_of_first_appearance() {
        // The unknown key is reported even though a later error comes first in the file
        // for an already-seen key: 'read_limit' is processed at its first appearance.
        assert_eq!(
            load_err("read_limit = \"5\"\nbogus = \"x\"\nread_limit = [\"0\"]"),
            "main.conf:3:15: Read limit must be a positive value."
        );
        // A key with several values runs its handler once per value: the last one wins.
        let c = load("logfile = [\"/a\", \"/b\"]").unwrap();
        assert_eq!(c.logfile, Path::new("/b"));
        // Plugins load in order of appearance.
        let c = load("plugin-b64Decode = \"\"\nplugin-ftpDownload = \"\"\nplugin-b64Decode = \"\"").unwrap();
        let names: Vec<&str> = c.plugins.iter().map(|p| p.plugin.key_name()).collect();
        assert_eq!(names, vec!["b64Decode", "ftpDownload"]);
    }

    #[test]
    fn missing_main_file() {
        let e = load_file(Path::new("no-such.conf"), Path::new("/nonexistent-dir")).unwrap_err();
        assert_eq!(
            e,
            ConfigError::Io {
                path: PathBuf::from("no-such.conf"),
                reason: "No such file or directory".into(),
                span: None
            }
        );
        assert_eq!(e.to_string(), "Unable to parse no-such.conf: open(): No such file or directory");
    }

    #[test]
    fn main_file_relative_to_base_dir() {
        let d = TempDir::new("mainrel");
        d.write("h.conf", "logfile = \"x.log\"\n");
        let c = load_file(Path::new("h.conf"), d.path()).unwrap();
        assert_eq!(c.source, Path::new("h.conf"));
        assert_eq!(c.logfile, d.path().join("x.log"));
        let e = load_file(d.path(), Path::new("/")).unwrap_err();
        assert!(matches!(&e, ConfigError::Io { reason, .. } if reason == "Is a directory"), "{e}");
    }

    #[test]
    fn include_before_portconf_merges() {
        let d = TempDir::new("incbefore");
        d.write("ports.conf", r#"portconf = { ignore = { protocol = "tcp" port = ["25"] } }"#);
        let c = load_text(
            "include = \"ports.conf\"\nportconf = { ignore = { protocol = \"tcp\" port = [\"22\"] } }",
            Path::new("main.conf"),
            d.path(),
        )
        .unwrap();
        let ports: Vec<(Proto, u16, Mode)> = c.ports.iter().map(|(pr, po, p)| (pr, po, p.mode)).collect();
        assert_eq!(ports, vec![(Proto::Tcp, 22, Mode::Ignore), (Proto::Tcp, 25, Mode::Ignore)]);
        // The included scalar 'protocol' was dropped (first wins), with a warning in the
        // included file.
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert_eq!(c.warnings[0].span.file, d.path().join("ports.conf"));
    }

    #[test]
    fn include_after_portconf_is_ignored_with_warning() {
        let d = TempDir::new("incafter");
        d.write(
            "ports.conf",
            "logfile = \"/other.log\"\nportconf = { ignore = { protocol = \"tcp\" port = [\"25\"] } }\npidfile = \"/inc.pid\"",
        );
        let c = load_text(
            "logfile = \"/main.log\"\nportconf = { ignore = { protocol = \"tcp\" port = \"22\" } }\ninclude = \"ports.conf\"",
            Path::new("main.conf"),
            d.path(),
        )
        .unwrap();
        assert_eq!(c.ports.len(), 1);
        assert_eq!(c.logfile, Path::new("/main.log"));
        // New keys of the included file are processed.
        assert_eq!(c.pidfile, Path::new("/inc.pid"));
        let inc = d.path().join("ports.conf");
        let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            vec![
                format!(
                    "{}:1:1: 'logfile' is already defined at main.conf:1:1; this value is ignored (the first value wins)",
                    inc.display()
                ),
                format!(
                    "{}:2:1: portconf in included file {} is ignored: portconf was already processed (put the include before it)",
                    inc.display(),
                    inc.display()
                ),
            ]
        );
    }

    #[test]
    fn two_include_lines_only_first_honoured() {
        let d = TempDir::new("inctwo");
        d.write("a.conf", "pidfile = \"/a.pid\"");
        d.write("b.conf", "logfile = \"/b.log\"");
        let c = load_text("include = \"a.conf\"\ninclude = \"b.conf\"", Path::new("main.conf"), d.path()).unwrap();
        assert_eq!(c.pidfile, Path::new("/a.pid"));
        assert_eq!(c.logfile, Path::new(crate::config::DEFAULT_LOGFILE));
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].msg.starts_with("'include' is already defined"));
        assert_eq!((c.warnings[0].span.line, c.warnings[0].span.col), (2, 1));
    }

    #[test]
    fn include_list_includes_all_in_order() {
        let d = TempDir::new("inclist");
        d.write("a.conf", "pidfile = \"/a.pid\"\nplugin-b64Decode = \"\"");
        d.write("b.conf", "pidfile = \"/b.pid\"\nlogfile = \"/b.log\"\nplugin-deUnicode = \"\"");
        let abs_b = d.path().join("b.conf");
        let c = load_text(
            &format!("include = [\"a.conf\", \"{}\"]", abs_b.display()),
            Path::new("main.conf"),
            Path::new(d.path()),
        )
        .unwrap();
        assert_eq!(c.pidfile, Path::new("/a.pid"));
        assert_eq!(c.logfile, Path::new("/b.log"));
        let names: Vec<&str> = c.plugins.iter().map(|p| p.plugin.key_name()).collect();
        assert_eq!(names, vec!["b64Decode", "deUnicode"]);
    }

    #[test]
    fn nested_include_is_processed_after_the_including_file() {
        let d = TempDir::new("incnested");
        d.write("a.conf", "include = \"b.conf\"\nplugin-b64Decode = \"\"\ninclude = \"ignored.conf\"");
        d.write("b.conf", "plugin-deUnicode = \"\"\nlogfile = \"/b.log\"");
        let c = load_text("include = \"a.conf\"\nplugin-ftpDownload = \"\"", Path::new("main.conf"), d.path()).unwrap();
        let names: Vec<&str> = c.plugins.iter().map(|p| p.plugin.key_name()).collect();
        assert_eq!(names, vec!["ftpDownload", "b64Decode", "deUnicode"]);
        assert_eq!(c.logfile, Path::new("/b.log"));
        // The second include line of a.conf was dropped (first wins).
        let dropped: Vec<&Warning> =
            c.warnings.iter().filter(|w| w.msg.contains("'include' is already defined")).collect();
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].span.file, d.path().join("a.conf"));
    }

    #[test]
    fn include_depth_limit() {
        let d = TempDir::new("incdepth");
        // f1 includes f2 ... f(LIMIT) includes f(LIMIT+1).
        for i in 1..=INCLUDE_LIMIT + 1 {
            d.write(&format!("f{}.conf", i), &format!("include = \"f{}.conf\"", i + 1));
        }
        d.write(&format!("f{}.conf", INCLUDE_LIMIT), "logfile = \"/deepest.log\"");
        let c = load_text("include = \"f1.conf\"", Path::new("main.conf"), d.path()).unwrap();
        assert_eq!(c.logfile, Path::new("/deepest.log"));

        d.write(&format!("f{}.conf", INCLUDE_LIMIT), &format!("include = \"f{}.conf\"", INCLUDE_LIMIT + 1));
        d.write(&format!("f{}.conf", INCLUDE_LIMIT + 1), "logfile = \"/too-deep.log\"");
        let e = load_text("include = \"f1.conf\"", Path::new("main.conf"), d.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:1:11: include nested too deeply (more than {} levels)",
                d.path().join(format!("f{}.conf", INCLUDE_LIMIT)).display(),
                INCLUDE_LIMIT
            )
        );
    }

    #[test]
    fn include_cycles() {
        let d = TempDir::new("inccycle");
        d.write("self.conf", "include = \"self.conf\"");
        let e = load_text("include = \"self.conf\"", Path::new("main.conf"), d.path()).unwrap_err();
        let selfp = d.path().join("self.conf");
        assert_eq!(e.to_string(), format!("{}:1:11: include cycle: {}", selfp.display(), selfp.display()));
        d.write("a.conf", "include = \"b.conf\"");
        d.write("b.conf", "include = [\"a.conf\"]");
        let e = load_text("include = \"a.conf\"", Path::new("main.conf"), d.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}:1:12: include cycle: {}", d.path().join("b.conf").display(), d.path().join("a.conf").display())
        );
        // The main file including itself.
        d.write("main.conf", "include = \"main.conf\"");
        let e = load_file(Path::new("main.conf"), d.path()).unwrap_err();
        assert!(e.to_string().ends_with(&format!("include cycle: {}", d.path().join("main.conf").display())), "{e}");
        // Including the same file twice side by side is not a cycle.
        d.write("p.conf", "plugin-b64Decode = \"\"");
        let c = load_text("include = [\"p.conf\", \"p.conf\"]", Path::new("main.conf"), d.path()).unwrap();
        assert_eq!(c.plugins.len(), 1);
        assert!(c.warnings.iter().any(|w| w.msg.contains("configured more than once")));
    }

    #[test]
    fn include_errors_name_the_included_file() {
        let d = TempDir::new("incerr");
        d.write("bad.conf", "\n\nlogfile = 22\n");
        let e = load_text("include = \"bad.conf\"", Path::new("main.conf"), d.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:3:11: unexpected character '2' (0x32); values must be quoted strings",
                d.path().join("bad.conf").display()
            )
        );
        d.write("sem.conf", "\nread_limit = \"0\"\n");
        let e = load_text("include = \"sem.conf\"", Path::new("main.conf"), d.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}:2:14: Read limit must be a positive value.", d.path().join("sem.conf").display())
        );
        let e = load_text("\ninclude = \"missing.conf\"", Path::new("main.conf"), d.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "main.conf:2:11: Unable to include {}: No such file or directory",
                d.path().join("missing.conf").display()
            )
        );
        assert_eq!(load_err("include = \"\""), "main.conf:1:11: include must not be empty");
        assert_eq!(load_err("include = []"), "main.conf:1:11: include must not be empty");
        assert_eq!(load_err("include = \"a\\0b\""), "main.conf:1:11: include must not contain a NUL byte");
        assert_eq!(
            load_err("include = { a = \"b\" }"),
            "main.conf:1:11: expected a string value for 'include', found a block"
        );
        assert_eq!(
            load_err("include = [[\"a\"]]"),
            "main.conf:1:12: expected a string value for 'include', found a list inside the list"
        );
    }

    #[test]
    fn include_of_a_huge_file_is_refused() {
        let d = TempDir::new("inchuge");
        let big = vec![b' '; MAX_FILE_SIZE as usize + 1];
        std::fs::write(d.path().join("big.conf"), big).unwrap();
        let e = load_text("include = \"big.conf\"", Path::new("main.conf"), d.path()).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Io { reason, span: Some(_), .. } if reason.starts_with("file is larger than")),
            "{e}"
        );
    }
}
