//! Recursive-descent parser: tokens in, a syntax tree of entries with spans out.
//!
//! Replaces the C original's "lcfg" parser (`lcfg.c`):
//!
//! ```text
//! file  := { entry }
//! entry := IDENT "=" value
//! value := STRING | "[" { item | "," } "]" | "{" { entry } "}"
//! item  := STRING | "[" ... "]" | "{" { entry } "}"
//! ```
//!
//! Commas inside lists are ignored entirely (`["a" "b"]` and `[,"a",,]` are valid). It owns
//! syntax only; what keys mean, and the C original's flattening into dotted paths, is done by
//! tree.rs. Nesting of blocks and lists is bounded by [`MAX_NESTING`] so that no input can
//! exhaust the stack.

use super::lexer::{Lexer, Tok, Token};
use super::{ConfigError, Span};
use std::path::Path;

/// Deepest allowed nesting of blocks and lists (a top-level `{` or `[` is level 1).
pub const MAX_NESTING: usize = 32;

/// `key = value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Value,
}

/// A value and the position of its first token (the quote, `[` or `{`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Str(String),
    List(Vec<Value>),
    Block(Vec<Entry>),
}

impl ValueKind {
    /// "a string", "a list", "a block" (for messages).
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Str(_) => "a string",
            ValueKind::List(_) => "a list",
            ValueKind::Block(_) => "a block",
        }
    }
}

/// Parses a whole file. `file` is used in error positions and spans.
pub fn parse(src: &[u8], file: &Path) -> Result<Vec<Entry>, ConfigError> {
    let mut p = Parser { lexer: Lexer::new(src, file), depth: 0 };
    let mut entries = Vec::new();
    loop {
        let t = p.next()?;
        match t.tok {
            Tok::Eof => return Ok(entries),
            Tok::Ident(key) => entries.push(p.entry(key, t.line, t.col)?),
            other => return Err(p.error(&(t.line, t.col), format!("expected a key, found {}", other))),
        }
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    depth: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Result<Token, ConfigError> {
        self.lexer.next_token()
    }

    fn span(&self, line: u32, col: u32) -> Span {
        self.lexer.span(line, col)
    }

    fn error(&self, pos: &(u32, u32), msg: String) -> ConfigError {
        ConfigError::At { span: self.span(pos.0, pos.1), msg }
    }

    /// The rest of an entry whose key (at `line`:`col`) has just been read.
    fn entry(&mut self, key: String, line: u32, col: u32) -> Result<Entry, ConfigError> {
        let t = self.next()?;
        match t.tok {
            Tok::Eq => {}
            Tok::Eof => {
                return Err(
                    self.error(&(t.line, t.col), format!("premature end of file, expected '=' after key '{}'", key))
                )
            }
            other => {
                return Err(self.error(&(t.line, t.col), format!("expected '=' after key '{}', found {}", key, other)))
            }
        }
        let t = self.next()?;
        let value = match t.tok {
            Tok::Str(_) | Tok::LBracket | Tok::LBrace => self.value(t)?,
            Tok::Eof => return Err(self.error(&(t.line, t.col), "premature end of file, expected a value".to_string())),
            Tok::Ident(ref word) => {
                return Err(self.error(
                    &(t.line, t.col),
                    format!(
                        "expected a value after '{} =', found identifier '{}'; values must be quoted strings",
                        key, word
                    ),
                ))
            }
            other => {
                return Err(self.error(&(t.line, t.col), format!("expected a value after '{} =', found {}", key, other)))
            }
        };
        Ok(Entry { key, key_span: self.span(line, col), value })
    }

    /// A value starting with token `t`, which is a string, `[` or `{`.
    fn value(&mut self, t: Token) -> Result<Value, ConfigError> {
        let span = self.span(t.line, t.col);
        let kind = match t.tok {
            Tok::Str(s) => ValueKind::Str(s),
            Tok::LBracket => {
                self.enter(&t)?;
                let items = self.list_items(&t)?;
                self.depth -= 1;
                ValueKind::List(items)
            }
            Tok::LBrace => {
                self.enter(&t)?;
                let entries = self.block_entries(&t)?;
                self.depth -= 1;
                ValueKind::Block(entries)
            }
            // Callers only pass the three tokens above.
            other => return Err(self.error(&(t.line, t.col), format!("expected a value, found {}", other))),
        };
        Ok(Value { kind, span })
    }

    fn enter(&mut self, open: &Token) -> Result<(), ConfigError> {
        if self.depth >= MAX_NESTING {
            return Err(
                self.error(&(open.line, open.col), format!("nesting too deep (more than {} levels)", MAX_NESTING))
            );
        }
        self.depth += 1;
        Ok(())
    }

    fn list_items(&mut self, open: &Token) -> Result<Vec<Value>, ConfigError> {
        let mut items = Vec::new();
        loop {
            let t = self.next()?;
            match t.tok {
                Tok::RBracket => return Ok(items),
                Tok::Comma => {}
                Tok::Str(_) | Tok::LBracket | Tok::LBrace => items.push(self.value(t)?),
                Tok::Eof => {
                    return Err(self.error(
                        &(t.line, t.col),
                        format!(
                            "premature end of file, expected ']' to close the list opened at line {}, col {}",
                            open.line, open.col
                        ),
                    ))
                }
                other => {
                    return Err(
                        self.error(&(t.line, t.col), format!("expected a list item, ',' or ']', found {}", other))
                    )
                }
            }
        }
    }

    fn block_entries(&mut self, open: &Token) -> Result<Vec<Entry>, ConfigError> {
        let mut entries = Vec::new();
        loop {
            let t = self.next()?;
            match t.tok {
                Tok::RBrace => return Ok(entries),
                Tok::Ident(key) => entries.push(self.entry(key, t.line, t.col)?),
                Tok::Eof => {
                    return Err(self.error(
                        &(t.line, t.col),
                        format!(
                            "premature end of file, expected '}}' to close the block opened at line {}, col {}",
                            open.line, open.col
                        ),
                    ))
                }
                other => return Err(self.error(&(t.line, t.col), format!("expected a key or '}}', found {}", other))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact rendering of the tree: `k="v"`, `k=[...]`, `k={...}`.
    fn render_value(v: &Value) -> String {
        match &v.kind {
            ValueKind::Str(s) => format!("{:?}", s),
            ValueKind::List(items) => format!("[{}]", items.iter().map(render_value).collect::<Vec<_>>().join(" ")),
            ValueKind::Block(entries) => format!("{{{}}}", render(entries)),
        }
    }

    fn render(entries: &[Entry]) -> String {
        entries.iter().map(|e| format!("{}={}", e.key, render_value(&e.value))).collect::<Vec<_>>().join(" ")
    }

    fn ok(src: &str) -> String {
        render(&parse(src.as_bytes(), Path::new("p.conf")).unwrap_or_else(|e| panic!("{}: {}", src, e)))
    }

    fn err(src: &str) -> (u32, u32, String) {
        match parse(src.as_bytes(), Path::new("p.conf")) {
            Err(ConfigError::At { span, msg }) => (span.line, span.col, msg),
            other => panic!("{:?} gave {:?}", src, other),
        }
    }

    #[test]
    fn accepted_syntax() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("// nothing\n", ""),
            ("a = \"x\"", "a=\"x\""),
            ("a=\"x\"b=\"y\"", "a=\"x\" b=\"y\""),
            ("a = [\"1\", \"2\"]", "a=[\"1\" \"2\"]"),
            ("a = [\"1\" \"2\"]", "a=[\"1\" \"2\"]"),
            ("a = [,\"1\",,]", "a=[\"1\"]"),
            ("a = [,,,]", "a=[]"),
            ("a = []", "a=[]"),
            ("a = {}", "a={}"),
            ("a = { b = \"1\" c = [\"2\"] }", "a={b=\"1\" c=[\"2\"]}"),
            ("a = { b = { c = { d = \"deep\" } } }", "a={b={c={d=\"deep\"}}}"),
            ("a = [[\"x\"] {b=\"y\"} \"z\"]", "a=[[\"x\"] {b=\"y\"} \"z\"]"),
            (
                "portconf = { proxy = { proxy-http = { port = [\"80\"] } } }",
                "portconf={proxy={proxy-http={port=[\"80\"]}}}",
            ),
            ("a = \"\"", "a=\"\""),
        ];
        for (src, want) in cases {
            assert_eq!(ok(src), *want, "input {:?}", src);
        }
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let e = parse(b"\n  key = [\n \"v\" ]\nb={c=\"d\"}", Path::new("s.conf")).unwrap();
        assert_eq!((e[0].key_span.line, e[0].key_span.col), (2, 3));
        assert_eq!((e[0].value.span.line, e[0].value.span.col), (2, 9));
        let ValueKind::List(items) = &e[0].value.kind else { panic!() };
        assert_eq!((items[0].span.line, items[0].span.col), (3, 2));
        assert_eq!(e[0].key_span.file, Path::new("s.conf"));
        let ValueKind::Block(inner) = &e[1].value.kind else { panic!() };
        assert_eq!((inner[0].key_span.line, inner[0].key_span.col), (4, 4));
        assert_eq!((inner[0].value.span.line, inner[0].value.span.col), (4, 6));
    }

    #[test]
    fn errors_with_positions() {
        let cases: &[(&str, u32, u32, &str)] = &[
            ("logfile \"x\"", 1, 9, "expected '=' after key 'logfile', found string \"x\""),
            ("logfile", 1, 8, "premature end of file, expected '=' after key 'logfile'"),
            ("logfile =", 1, 10, "premature end of file, expected a value"),
            ("a =\n", 2, 1, "premature end of file, expected a value"),
            (
                "port = tcp",
                1,
                8,
                "expected a value after 'port =', found identifier 'tcp'; values must be quoted strings",
            ),
            ("a = = \"x\"", 1, 5, "expected a value after 'a =', found '='"),
            ("a = }", 1, 5, "expected a value after 'a =', found '}'"),
            ("a = ,", 1, 5, "expected a value after 'a =', found ','"),
            ("\"x\" = \"y\"", 1, 1, "expected a key, found string \"x\""),
            ("a = \"x\" }", 1, 9, "expected a key, found '}'"),
            ("= \"x\"", 1, 1, "expected a key, found '='"),
            ("a = \"x\" ,", 1, 9, "expected a key, found ','"),
            ("a = [\"x\" b]", 1, 10, "expected a list item, ',' or ']', found identifier 'b'"),
            ("a = [\"x\" = ]", 1, 10, "expected a list item, ',' or ']', found '='"),
            ("a = [\"x\" }", 1, 10, "expected a list item, ',' or ']', found '}'"),
            ("a = [\n\"x\"", 2, 4, "premature end of file, expected ']' to close the list opened at line 1, col 5"),
            ("a = { \"x\" }", 1, 7, "expected a key or '}', found string \"x\""),
            ("a = { b = \"x\" ] }", 1, 15, "expected a key or '}', found ']'"),
            ("a = { b = \"x\", c = \"y\" }", 1, 14, "expected a key or '}', found ','"),
            (
                "a = {\n  b = \"x\"\n",
                3,
                1,
                "premature end of file, expected '}' to close the block opened at line 1, col 5",
            ),
            ("a = { b }", 1, 9, "expected '=' after key 'b', found '}'"),
            // Lexical errors come through with their own positions.
            ("a = { b = 1 }", 1, 11, "unexpected character '1' (0x31); values must be quoted strings"),
            ("a = \"x", 1, 5, "unterminated string"),
        ];
        for (src, line, col, msg) in cases {
            assert_eq!(err(src), (*line, *col, msg.to_string()), "input {:?}", src);
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok_depth = format!("a = {}{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(parse(ok_depth.as_bytes(), Path::new("n")).is_ok());
        let too_deep = format!("a = {}{}", "[".repeat(MAX_NESTING + 1), "]".repeat(MAX_NESTING + 1));
        assert_eq!(
            err(&too_deep),
            (1, 5 + MAX_NESTING as u32, format!("nesting too deep (more than {} levels)", MAX_NESTING))
        );
        let blocks = format!("a = {}{}", "{ b = ".repeat(MAX_NESTING + 1), "}".repeat(MAX_NESTING + 1));
        assert!(err(&blocks).2.starts_with("nesting too deep"));
        // A huge unbalanced input fails cleanly instead of overflowing the stack.
        let huge = format!("a = {}", "[".repeat(100_000));
        assert!(err(&huge).2.starts_with("nesting too deep"));
        let huge = format!("a = {}", "{b=".repeat(100_000));
        assert!(err(&huge).2.starts_with("nesting too deep"));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let alphabet = b"ab=[]{},\"\" \n=[{";
        let mut x: u32 = 99;
        for _ in 0..3000 {
            let mut buf = Vec::new();
            for _ in 0..(x % 60) {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                buf.push(alphabet[(x >> 16) as usize % alphabet.len()]);
            }
            let _ = parse(&buf, Path::new("f"));
        }
    }
}
