//! The key tree: parsed entries merged into one tree of keys, values and sub-keys.
//!
//! Replaces the C original's conftree.c (`add_keyword`, the flattened key tree). The rules,
//! kept exactly: every entry is inserted into one tree in file order; a scalar whose path
//! already exists is dropped (**the first value wins**); list items always accumulate into
//! their node, even across repeated blocks; an empty string creates the node without a
//! value. Where the C original was silent we record a [`Warning`] (dropped duplicates).
//!
//! The order in which top-level keys are processed and `include` are in queue.rs (a key
//! with several values runs its handler once per value); the meaning of each key is in
//! process.rs. Neither is used from here.

use super::parser::{Entry, ValueKind};
use super::{Span, Warning};
use std::collections::HashMap;
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
    "metrics_listen",
];

/// Every key accepted inside the `portconf` block, at any level (honeytrap.conf(5), `portconf`).
pub const PORTCONF_KEYS: &[&str] =
    &["ignore", "normal", "mirror", "proxy", "port", "protocol", "target_host", "target_port", "target_protocol"];

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

    pub(crate) fn root() -> Node {
        Node::new("", "", Span { file: PathBuf::new(), line: 0, col: 0 })
    }

    pub(crate) fn child_index(&self, name: &str) -> Option<usize> {
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
pub(crate) fn insert(parent: &mut Node, entry: &Entry, warnings: &mut Vec<Warning>) {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::parser;

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

    #[test]
    fn strerror_strips_os_error_suffix() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(strerror(&e), "No such file or directory");
        let e = std::io::Error::other("plain");
        assert_eq!(strerror(&e), "plain");
    }
}
