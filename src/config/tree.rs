//! The key tree, the processing queue and `include`: from parsed entries to a [`Config`].
//!
//! Replaces the C original's conftree.c (`add_keyword`, the flattened key tree), the
//! top-level loop of readconf.c (`process_conftree`, `process_confopt`) and its `include`
//! handling. The rules, kept exactly:
//!
//! * every entry is inserted into one tree in file order; a scalar whose path already exists
//!   is dropped (**the first value wins**); list items always accumulate into their node,
//!   even across repeated blocks; an empty string creates the node without a value;
//! * top-level nodes are processed in order of first appearance; a key with several values
//!   runs its handler once per value;
//! * `include` is processed at its position: the included file's entries go into the same
//!   tree under the same rules, new top-level keys are appended to the processing queue, and
//!   additions to a top-level node that was already processed have no effect.
//!
//! Where the C original was silent we record a [`Warning`] (dropped duplicates, additions
//! that come too late). Deliberate divergence: nested includes are processed (after the
//! including file's keys), up to [`INCLUDE_LIMIT`] levels, and include cycles are errors.
//! The meaning of each key is in process.rs.

use super::parser::{self, Entry, ValueKind};
use super::{process, Config, ConfigError, Span, Warning, INCLUDE_LIMIT};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Every accepted top-level key: the C original's, in the order of honeytrap.conf(5), then
/// the keys of our own (`monitor` and the capture settings and limits).
/// `plugin-<Name>` keys are not listed: the names are those of [`super::Plugin::ALL`].
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "logfile",
    "pidfile",
    "response_dir",
    "plugin_dir",
    "read_limit",
    "bind_address",
    "replace_private_ips",
    "promisc",
    "user",
    "group",
    "include",
    "portconf_default",
    "portconf",
    "monitor",
    "nfq_queue",
    "response_policy",
    "max_connections",
    "max_connections_per_source",
    "max_listeners",
    "session_limit",
    "max_buffered_bytes",
    "download_timeout",
    "download_attack_timeout",
    "download_max_size",
    "downloads_per_attack",
    "downloads_in_flight",
    "download_max_redirects",
    "download_allow_local",
    "sensor_name",
    "http_download",
];

/// Every key accepted inside the `portconf` block, at any level (honeytrap.conf(5), `portconf`).
pub const PORTCONF_KEYS: &[&str] =
    &["ignore", "normal", "mirror", "proxy", "port", "protocol", "target_host", "target_port", "target_protocol"];

/// Largest configuration file read (main or included); protects against `include =
/// "/dev/zero"` and the like.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Largest number of files read through `include` in one load (bounds the fan-out of
/// include lists within the depth limit).
pub const MAX_INCLUDED_FILES: usize = 256;

/// A string value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Val {
    pub text: String,
    pub span: Span,
}

/// One node of the key tree: a key, its values, and its sub-keys in order of first
/// appearance.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub name: String,
    /// Dotted path from the top (`portconf.ignore.port`), for messages.
    pub path: String,
    /// Where the key first appeared.
    pub span: Span,
    /// Scalar values and string list items, in insertion order. An empty scalar (`""`) adds
    /// no value; an empty string inside a list is kept (so that it can be reported).
    pub values: Vec<Val>,
    /// List items that were themselves lists or blocks: position and "a list"/"a block".
    pub bad_items: Vec<(Span, &'static str)>,
    /// First time the key was given a scalar (also set for `""`).
    pub string_span: Option<Span>,
    /// First time the key was given a list.
    pub list_span: Option<Span>,
    /// First time the key was given a block.
    pub block_span: Option<Span>,
    pub children: Vec<Node>,
    index: HashMap<String, usize>,
    /// Top-level nodes only: the handler has run.
    pub processed: bool,
}

impl Node {
    fn new(name: &str, parent_path: &str, span: Span) -> Node {
        let path = if parent_path.is_empty() { name.to_string() } else { format!("{}.{}", parent_path, name) };
        Node {
            name: name.to_string(),
            path,
            span,
            values: Vec::new(),
            bad_items: Vec::new(),
            string_span: None,
            list_span: None,
            block_span: None,
            children: Vec::new(),
            index: HashMap::new(),
            processed: false,
        }
    }

    fn root() -> Node {
        Node::new("", "", Span { file: PathBuf::new(), line: 0, col: 0 })
    }

    fn child_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn child(&self, name: &str) -> Option<&Node> {
        self.child_index(name).map(|i| &self.children[i])
    }

    fn get_or_create(&mut self, name: &str, span: &Span) -> &mut Node {
        let i = match self.child_index(name) {
            Some(i) => i,
            None => {
                let node = Node::new(name, &self.path, span.clone());
                self.children.push(node);
                self.index.insert(name.to_string(), self.children.len() - 1);
                self.children.len() - 1
            }
        };
        &mut self.children[i]
    }
}

/// "line 3, col 1" when `at` is in the same file as `from`, else the full position.
pub(crate) fn where_is(at: &Span, from: &Span) -> String {
    if at.file == from.file {
        format!("line {}, col {}", at.line, at.col)
    } else {
        at.to_string()
    }
}

/// Inserts one entry below `parent` with the C original's rules (see the module header).
fn insert(parent: &mut Node, entry: &Entry, warnings: &mut Vec<Warning>) {
    let value = &entry.value;
    match &value.kind {
        ValueKind::Str(s) => {
            if let Some(existing) = parent.child(&entry.key) {
                warnings.push(Warning {
                    span: entry.key_span.clone(),
                    msg: format!(
                        "'{}' is already defined at {}; this value is ignored (the first value wins)",
                        existing.path,
                        where_is(&existing.span, &entry.key_span)
                    ),
                });
                return;
            }
            let node = parent.get_or_create(&entry.key, &entry.key_span);
            node.string_span = Some(value.span.clone());
            if !s.is_empty() {
                node.values.push(Val { text: s.clone(), span: value.span.clone() });
            }
        }
        ValueKind::List(items) => {
            let node = parent.get_or_create(&entry.key, &entry.key_span);
            node.list_span.get_or_insert_with(|| value.span.clone());
            for item in items {
                match &item.kind {
                    ValueKind::Str(s) => node.values.push(Val { text: s.clone(), span: item.span.clone() }),
                    other => node.bad_items.push((item.span.clone(), other.describe())),
                }
            }
        }
        ValueKind::Block(entries) => {
            let node = parent.get_or_create(&entry.key, &entry.key_span);
            node.block_span.get_or_insert_with(|| value.span.clone());
            for sub in entries {
                insert(node, sub, warnings);
            }
        }
    }
}

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

/// `text` as a path; relative paths are taken relative to `base_dir`.
pub(crate) fn resolve(base_dir: &Path, text: &str) -> PathBuf {
    let p = Path::new(text);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

pub(crate) use crate::sys::strerror;

/// Reads a whole configuration file, at most [`MAX_FILE_SIZE`] bytes. The error is the
/// reason text.
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
pub(crate) mod tests {
    use super::*;
    use crate::config::testutil::TempDir;
    use crate::config::{Mode, Proto};

    /// The tree of `src` in a compact form, and the warnings.
    fn tree(src: &str) -> (String, Vec<String>) {
        let entries = parser::parse(src.as_bytes(), Path::new("t.conf")).unwrap();
        let mut root = Node::root();
        let mut warnings = Vec::new();
        for e in &entries {
            insert(&mut root, e, &mut warnings);
        }
        (render(&root.children), warnings.iter().map(|w| w.to_string()).collect())
    }

    /// `key="v","w"{sub ...}`; a node without values or children is just its key.
    fn render(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| {
                let mut s = n.name.clone();
                if !n.values.is_empty() {
                    s.push('=');
                    let vals: Vec<String> = n.values.iter().map(|v| format!("{:?}", v.text)).collect();
                    s.push_str(&vals.join(","));
                }
                if !n.children.is_empty() {
                    s.push_str(&format!("{{{}}}", render(&n.children)));
                }
                s
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn flattening_rules() {
        // (input, tree, number of warnings)
        let cases: &[(&str, &str, usize)] = &[
            // first value wins
            (r#"logfile = "a" logfile = "b""#, r#"logfile="a""#, 1),
            // list items accumulate
            (r#"p = ["1", "2"] p = ["3"]"#, r#"p="1","2","3""#, 0),
            // scalar then list: both
            (r#"p = "1" p = ["2"]"#, r#"p="1","2""#, 0),
            // list then scalar: scalar dropped
            (r#"p = ["1"] p = "2""#, r#"p="1""#, 1),
            // repeated blocks: union of list items, first scalar wins
            (
                r#"ignore = { protocol = "tcp" port = ["1"] } ignore = { protocol = "udp" port = ["2", "3"] }"#,
                r#"ignore{protocol="tcp" port="1","2","3"}"#,
                1,
            ),
            // empty string creates the node without a value
            (r#"a = "" a = "x""#, "a", 1),
            // empty string inside a list is kept
            (r#"a = ["", "x"]"#, r#"a="","x""#, 0),
            // empty list and empty block create the node
            ("a = [] b = {}", "a b", 0),
            // order of first appearance
            (r#"b = "1" a = "2" b = ["3"] c = { x = "y" } a = "4""#, r#"b="1","3" a="2" c{x="y"}"#, 1),
            // a scalar after a block of the same name is dropped
            (r#"a = { b = "1" } a = "x""#, r#"a{b="1"}"#, 1),
            // a block after a scalar merges (the handler reports the mix)
            (r#"a = "x" a = { b = "1" }"#, r#"a="x"{b="1"}"#, 0),
            // nested blocks
            (
                r#"p = { proxy = { m1 = { port = ["80"] } m2 = { port = "69" } } }"#,
                r#"p{proxy{m1{port="80"} m2{port="69"}}}"#,
                0,
            ),
        ];
        for (src, want, nwarn) in cases {
            let (got, warnings) = tree(src);
            assert_eq!(got, *want, "input {}", src);
            assert_eq!(warnings.len(), *nwarn, "input {}: {:?}", src, warnings);
        }
    }

    #[test]
    fn dropped_scalar_warning_text() {
        let (_, w) = tree("logfile = \"a\"\n  logfile = \"b\"");
        assert_eq!(
            w,
            vec!["t.conf:2:3: 'logfile' is already defined at line 1, col 1; this value is ignored (the first value wins)"]
        );
        let (_, w) = tree("a = { b = \"1\" }\na = { b = \"2\" }");
        assert_eq!(
            w,
            vec!["t.conf:2:7: 'a.b' is already defined at line 1, col 7; this value is ignored (the first value wins)"]
        );
    }

    #[test]
    fn bad_list_items_are_recorded() {
        let entries = parser::parse(br#"a = ["x", ["y"], {b="z"}]"#, Path::new("t")).unwrap();
        let mut root = Node::root();
        insert(&mut root, &entries[0], &mut Vec::new());
        let a = root.child("a").unwrap();
        assert_eq!(a.values.len(), 1);
        let kinds: Vec<&str> = a.bad_items.iter().map(|(_, k)| *k).collect();
        assert_eq!(kinds, vec!["a list", "a block"]);
        assert_eq!(a.bad_items[0].0.col, 11);
    }

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

    #[test]
    fn strerror_strips_os_error_suffix() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(strerror(&e), "No such file or directory");
        let e = std::io::Error::other("plain");
        assert_eq!(strerror(&e), "plain");
    }
}
