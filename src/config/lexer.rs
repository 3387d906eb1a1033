//! The configuration file scanner: bytes in, tokens with 1-based line:column positions out.
//!
//! Replaces the C original's "lcfg" scanner (`lcfg_scanner.c`). It owns the lexical rules only:
//! whitespace (space, TAB, CR, LF), `//` and non-nesting `/* */` comments, identifiers
//! `[A-Za-z][A-Za-z0-9_-]*` (no dots), double-quoted strings with the escapes
//! `\" \\ \n \t \r \0 \xHH`, and the punctuation `= [ ] { } ,`. Everything else — digits,
//! single quotes, semicolons, a UTF-8 byte order mark, any byte outside ASCII outside a string
//! — is an error: all values must be quoted strings.
//!
//! Columns count bytes (a TAB is one column), as the C scanner did. String values must be
//! valid UTF-8 after unescaping; the error points at the opening quote.

use super::{ConfigError, Span};
use std::fmt;
use std::path::Path;

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// `[A-Za-z][A-Za-z0-9_-]*`
    Ident(String),
    /// A quoted string, escapes already decoded.
    Str(String),
    /// `=`
    Eq,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `,`
    Comma,
    /// End of input.
    Eof,
}

/// Longest piece of a string or identifier quoted in an error message.
const QUOTE_MAX_CHARS: usize = 40;

fn truncated(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX_CHARS) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

impl fmt::Display for Tok {
    /// How the token is named in error messages ("found string \"x\"").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "identifier '{}'", truncated(s)),
            Tok::Str(s) => write!(f, "string {:?}", truncated(s)),
            Tok::Eq => f.write_str("'='"),
            Tok::LBracket => f.write_str("'['"),
            Tok::RBracket => f.write_str("']'"),
            Tok::LBrace => f.write_str("'{'"),
            Tok::RBrace => f.write_str("'}'"),
            Tok::Comma => f.write_str("','"),
            Tok::Eof => f.write_str("end of file"),
        }
    }
}

/// A token and the position of its first byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    pub col: u32,
}

/// The scanner. Call [`Lexer::next_token`] until it returns [`Tok::Eof`]; after an error
/// the lexer must not be used further.
pub struct Lexer<'a> {
    src: &'a [u8],
    file: &'a Path,
    pos: usize,
    line: u32,
    col: u32,
}

impl<'a> Lexer<'a> {
    /// `file` is only used in error positions.
    pub fn new(src: &'a [u8], file: &'a Path) -> Lexer<'a> {
        Lexer { src, file, pos: 0, line: 1, col: 1 }
    }

    /// A span in this lexer's file.
    pub fn span(&self, line: u32, col: u32) -> Span {
        Span { file: self.file.to_path_buf(), line, col }
    }

    fn error(&self, line: u32, col: u32, msg: impl Into<String>) -> ConfigError {
        ConfigError::At { span: self.span(line, col), msg: msg.into() }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    /// Consumes one byte, keeping line and column up to date.
    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        if b == b'\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(b)
    }

    /// Skips whitespace and comments.
    fn skip_trivia(&mut self) -> Result<(), ConfigError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump();
                }
                Some(b'/') if self.peek_at(1) == Some(b'/') => {
                    while let Some(b) = self.peek() {
                        if b == b'\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                Some(b'/') if self.peek_at(1) == Some(b'*') => {
                    let (line, col) = (self.line, self.col);
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(self.error(line, col, "unterminated comment")),
                            Some(b'*') if self.peek() == Some(b'/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next token, or the first lexical error.
    pub fn next_token(&mut self) -> Result<Token, ConfigError> {
        self.skip_trivia()?;
        let (line, col) = (self.line, self.col);
        let token = |tok| Token { tok, line, col };
        let Some(b) = self.peek() else {
            return Ok(token(Tok::Eof));
        };
        let punct = match b {
            b'=' => Some(Tok::Eq),
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            b'{' => Some(Tok::LBrace),
            b'}' => Some(Tok::RBrace),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = punct {
            self.bump();
            return Ok(token(tok));
        }
        if b.is_ascii_alphabetic() {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' {
                    self.bump();
                } else {
                    break;
                }
            }
            // Only ASCII bytes were taken, so this cannot fail.
            let ident = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
            return Ok(token(Tok::Ident(ident)));
        }
        if b == b'"' {
            return self.string(line, col).map(|s| token(Tok::Str(s)));
        }
        Err(self.error(line, col, unexpected_byte_message(b, self.pos)))
    }

    /// Scans a string whose opening quote is at the current position.
    fn string(&mut self, line: u32, col: u32) -> Result<String, ConfigError> {
        self.bump();
        let mut out = Vec::new();
        loop {
            let (bline, bcol) = (self.line, self.col);
            match self.bump() {
                None => return Err(self.error(line, col, "unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    let Some(e) = self.bump() else {
                        return Err(self.error(line, col, "unterminated string"));
                    };
                    let decoded = match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'0' => 0,
                        b'x' => {
                            let hi = self.peek().and_then(hex_value);
                            let lo = self.peek_at(1).and_then(hex_value);
                            match (hi, lo) {
                                (Some(hi), Some(lo)) => {
                                    self.bump();
                                    self.bump();
                                    hi << 4 | lo
                                }
                                _ => {
                                    return Err(self.error(
                                        bline,
                                        bcol,
                                        "invalid hex escape sequence (\\x needs exactly two hex digits)",
                                    ))
                                }
                            }
                        }
                        other => {
                            let shown = if other.is_ascii_graphic() || other == b' ' {
                                format!("'\\{}'", other as char)
                            } else {
                                format!("'\\' followed by byte 0x{:02x}", other)
                            };
                            return Err(self.error(bline, bcol, format!("invalid string escape sequence {}", shown)));
                        }
                    };
                    out.push(decoded);
                }
                Some(other) => out.push(other),
            }
        }
        String::from_utf8(out).map_err(|_| self.error(line, col, "string is not valid UTF-8"))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The message for a byte that cannot start a token, with a hint for the usual mistakes.
fn unexpected_byte_message(b: u8, pos: usize) -> String {
    if pos == 0 && b == 0xef {
        return "unexpected byte 0xef (a UTF-8 byte order mark is not allowed)".to_string();
    }
    if !(b.is_ascii_graphic() || b == b' ') {
        return format!("unexpected byte 0x{:02x}", b);
    }
    let hint = match b {
        b'0'..=b'9' | b'-' | b'+' | b'.' => "; values must be quoted strings",
        b'\'' => "; strings must be enclosed in double quotes",
        b'/' => "; comments start with // or /*",
        b';' => "; entries are not terminated by ';'",
        _ => "",
    };
    format!("unexpected character '{}' (0x{:02x}){}", b as char, b, hint)
}

/// Scans the whole input (convenience for tests and tools); the last token is `Eof`.
pub fn tokenize(src: &[u8], file: &Path) -> Result<Vec<Token>, ConfigError> {
    let mut lexer = Lexer::new(src, file);
    let mut out = Vec::new();
    loop {
        let t = lexer.next_token()?;
        let end = t.tok == Tok::Eof;
        out.push(t);
        if end {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src.as_bytes(), Path::new("t.conf"))
            .unwrap_or_else(|e| panic!("{:?}: {}", src, e))
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn s(x: &str) -> Tok {
        Tok::Str(x.to_string())
    }

    fn id(x: &str) -> Tok {
        Tok::Ident(x.to_string())
    }

    /// (input, line, col, message) of the first error.
    fn err(src: &[u8]) -> (u32, u32, String) {
        match tokenize(src, Path::new("t.conf")) {
            Ok(t) => panic!("{:?} lexed to {:?}", String::from_utf8_lossy(src), t),
            Err(ConfigError::At { span, msg }) => {
                assert_eq!(span.file, Path::new("t.conf"));
                (span.line, span.col, msg)
            }
            Err(e) => panic!("unexpected error {:?}", e),
        }
    }

    #[test]
    fn punctuation_identifiers_and_strings() {
        assert_eq!(
            toks("a = [ ] { } , \"x\""),
            vec![
                id("a"),
                Tok::Eq,
                Tok::LBracket,
                Tok::RBracket,
                Tok::LBrace,
                Tok::RBrace,
                Tok::Comma,
                s("x"),
                Tok::Eof
            ]
        );
        assert_eq!(toks("plugin-ftpDownload=\"\""), vec![id("plugin-ftpDownload"), Tok::Eq, s(""), Tok::Eof]);
        assert_eq!(toks("a_b-c9 Z"), vec![id("a_b-c9"), id("Z"), Tok::Eof]);
        // Identifiers have no dots: the dot is an error right after "a".
        assert_eq!(
            err(b"a.b = \"x\""),
            (1, 2, "unexpected character '.' (0x2e); values must be quoted strings".into())
        );
        assert_eq!(toks(""), vec![Tok::Eof]);
        assert_eq!(toks(" \t\r\n "), vec![Tok::Eof]);
    }

    #[test]
    fn every_escape() {
        let cases: &[(&str, &str)] = &[
            (r#""\"""#, "\""),
            (r#""\\""#, "\\"),
            (r#""\n""#, "\n"),
            (r#""\t""#, "\t"),
            (r#""\r""#, "\r"),
            (r#""\0""#, "\0"),
            (r#""\x41\x7a""#, "Az"),
            (r#""\x4A\x4b""#, "JK"),
            (r#""\xc3\xa9""#, "é"),
            (r#""a\x411""#, "aA1"),
            (r#""c:\\windows\\x""#, "c:\\windows\\x"),
            ("\"multi\nline\"", "multi\nline"),
            ("\"tab\there\"", "tab\there"),
            ("\"é literal\"", "é literal"),
            ("\"// not a comment /* */\"", "// not a comment /* */"),
            ("\"'single'\"", "'single'"),
        ];
        for (src, want) in cases {
            assert_eq!(toks(src), vec![s(want), Tok::Eof], "input {}", src);
        }
    }

    #[test]
    fn comments() {
        assert_eq!(
            toks("// line\na = \"1\" // trailing\n/* block\n * more */ b /**/=/***/\"2\""),
            vec![id("a"), Tok::Eq, s("1"), id("b"), Tok::Eq, s("2"), Tok::Eof]
        );
        // Not nested: the first "*/" closes; the second is garbage.
        assert_eq!(err(b"/* a /* b */ c */"), (1, 16, "unexpected character '*' (0x2a)".into()));
        assert_eq!(toks("// only a comment"), vec![Tok::Eof]);
        assert_eq!(toks("/**/"), vec![Tok::Eof]);
    }

    #[test]
    fn positions_are_line_and_byte_column() {
        let t = tokenize(b"a =\n\t\"x\"\r\n  [ // c\n/* \n */ }", Path::new("f")).unwrap();
        let pos: Vec<(u32, u32)> = t.iter().map(|t| (t.line, t.col)).collect();
        assert_eq!(pos, vec![(1, 1), (1, 3), (2, 2), (3, 3), (5, 5), (5, 6)]);
        // Multi-byte UTF-8 inside a string counts bytes.
        let t = tokenize("\"é\" x".as_bytes(), Path::new("f")).unwrap();
        assert_eq!((t[1].line, t[1].col), (1, 6));
        // A string spanning lines moves the position of what follows.
        let t = tokenize(b"\"a\nbc\" =", Path::new("f")).unwrap();
        assert_eq!((t[1].line, t[1].col), (2, 5));
    }

    #[test]
    fn errors_with_positions() {
        let cases: &[(&[u8], u32, u32, &str)] = &[
            (b"\"abc", 1, 1, "unterminated string"),
            (b"a = \"x\ny", 1, 5, "unterminated string"),
            (b"a = \"x\\", 1, 5, "unterminated string"),
            (b"a = \"\\q\"", 1, 6, "invalid string escape sequence '\\q'"),
            (b"\n  \"ok \\'\"", 2, 7, "invalid string escape sequence '\\''"),
            (b"\"\\\x01\"", 1, 2, "invalid string escape sequence '\\' followed by byte 0x01"),
            (b"\"\\x4\"", 1, 2, "invalid hex escape sequence (\\x needs exactly two hex digits)"),
            (b"\"\\xg0\"", 1, 2, "invalid hex escape sequence (\\x needs exactly two hex digits)"),
            (b"\"\\x", 1, 2, "invalid hex escape sequence (\\x needs exactly two hex digits)"),
            (b"port = 22", 1, 8, "unexpected character '2' (0x32); values must be quoted strings"),
            (b"a = 'x'", 1, 5, "unexpected character ''' (0x27); strings must be enclosed in double quotes"),
            (b"a = \"x\";", 1, 8, "unexpected character ';' (0x3b); entries are not terminated by ';'"),
            (b"a / b", 1, 3, "unexpected character '/' (0x2f); comments start with // or /*"),
            (b"\xef\xbb\xbfa = \"x\"", 1, 1, "unexpected byte 0xef (a UTF-8 byte order mark is not allowed)"),
            (b"a = \"x\" \xc3\xa9", 1, 9, "unexpected byte 0xc3"),
            (b"\x00", 1, 1, "unexpected byte 0x00"),
            (b"_a", 1, 1, "unexpected character '_' (0x5f)"),
            (b"1abc", 1, 1, "unexpected character '1' (0x31); values must be quoted strings"),
            (b"x\n\n  /* never closed", 3, 3, "unterminated comment"),
            (b"/*/", 1, 1, "unterminated comment"),
            (b"a = \"\xff\"", 1, 5, "string is not valid UTF-8"),
            (b"a = \"\\xff\"", 1, 5, "string is not valid UTF-8"),
        ];
        for (src, line, col, msg) in cases {
            assert_eq!(err(src), (*line, *col, msg.to_string()), "input {:?}", String::from_utf8_lossy(src));
        }
    }

    #[test]
    fn error_display_has_file_line_col() {
        let e = tokenize(b"\n x = 5", Path::new("/etc/h.conf")).unwrap_err();
        assert_eq!(e.to_string(), "/etc/h.conf:2:6: unexpected character '5' (0x35); values must be quoted strings");
    }

    #[test]
    fn token_names_in_messages() {
        assert_eq!(id("abc").to_string(), "identifier 'abc'");
        assert_eq!(s("a\"b\n").to_string(), "string \"a\\\"b\\n\"");
        assert_eq!(s(&"x".repeat(50)).to_string(), format!("string \"{}...\"", "x".repeat(40)));
        assert_eq!(Tok::Eof.to_string(), "end of file");
        assert_eq!(Tok::RBrace.to_string(), "'}'");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every prefix of a tricky input, and pseudo-random bytes.
        let tricky = b"a = [\"\\x4\", { b = \"\\q\" } /* c */ // d\n\"\xff\" ] \"\\";
        for end in 0..=tricky.len() {
            let _ = tokenize(&tricky[..end], Path::new("f"));
        }
        let alphabet = b"ab=[]{},\"\\/*x0\n ";
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let mut buf = Vec::new();
            for _ in 0..(x % 40) {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                buf.push(alphabet[(x >> 16) as usize % alphabet.len()]);
            }
            let _ = tokenize(&buf, Path::new("f"));
        }
    }
}
