//! Shellcode signature files in the nepenthes format, as `shellcode_sigfile` of plugin-cspm
//! names them:
//!
//! ```text
//! // a comment, /* another */
//! xor::example
//! {
//!     pattern "(.*)(\\xEB\\x10\\x5A\\x4A\\x33\\xC9\\x66\\xB9(..)\\x80\\x34\\x0A(.)"
//!             "\\xE2\\xFA\\xEB\\x05\\xE8\\xEB\\xFF\\xFF\\xFF)(.*)$";
//!     mapping (none, pre, decoder, size, key, post);
//! };
//! ```
//!
//! A signature is `NAMESPACE::NAME { STATEMENT; ... };` with the statements `pattern` (one or
//! more strings, joined), `mapping (ITEM, ...)` and `flags none`. The strings know the
//! escapes `\n \r \t \" \0 \\ \xHH`; a backslash before anything else is dropped (as the
//! C reader did); the joined text is the pattern, a Perl-style regular
//! expression matched against bytes with `.` matching every byte. So `"\\xEB"` reaches the
//! expression as `\xEB` (the byte 0xEB), while `"\xEB"` puts the byte itself there. Mapping
//! item N names capture group N; item 0 stands for the whole match (usually `none`).
//!
//! Any error names the file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

/// Largest signature file read.
pub const MAX_FILE: u64 = 4 << 20;
/// Most signatures in a file.
pub const MAX_SIGNATURES: usize = 4096;
/// Most mapping items of a signature.
pub const MAX_MAPPING: usize = 16;
/// Longest pattern (bytes after unescaping).
pub const MAX_PATTERN: usize = 16 * 1024;

/// What a signature recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Namespace {
    Xor,
    LinkXor,
    KonstanzXor,
    LeimbachXor,
    AlphanumericXor,
    Base64,
    BindShell,
    ConnectBackShell,
    ConnectBackFileTransfer,
    BindFileTransfer,
    Execute,
    Download,
    Url,
}

impl Namespace {
    const ALL: [Namespace; 13] = [
        Namespace::Xor,
        Namespace::LinkXor,
        Namespace::KonstanzXor,
        Namespace::LeimbachXor,
        Namespace::AlphanumericXor,
        Namespace::Base64,
        Namespace::BindShell,
        Namespace::ConnectBackShell,
        Namespace::ConnectBackFileTransfer,
        Namespace::BindFileTransfer,
        Namespace::Execute,
        Namespace::Download,
        Namespace::Url,
    ];

    /// The word in signature files.
    pub fn name(self) -> &'static str {
        match self {
            Namespace::Xor => "xor",
            Namespace::LinkXor => "linkxor",
            Namespace::KonstanzXor => "konstanzxor",
            Namespace::LeimbachXor => "leimbachxor",
            Namespace::AlphanumericXor => "alphanumericxor",
            Namespace::Base64 => "base64",
            Namespace::BindShell => "bindshell",
            Namespace::ConnectBackShell => "connectbackshell",
            Namespace::ConnectBackFileTransfer => "connectbackfiletransfer",
            Namespace::BindFileTransfer => "bindfiletransfer",
            Namespace::Execute => "execute",
            Namespace::Download => "download",
            Namespace::Url => "url",
        }
    }

    fn from_name(s: &str) -> Option<Namespace> {
        Namespace::ALL.into_iter().find(|n| n.name() == s)
    }

    /// Whether a match decodes the data (and matching starts again on the result).
    pub fn is_decoder(self) -> bool {
        matches!(
            self,
            Namespace::Xor
                | Namespace::LinkXor
                | Namespace::KonstanzXor
                | Namespace::LeimbachXor
                | Namespace::AlphanumericXor
                | Namespace::Base64
        )
    }
}

/// What a capture group holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    Key,
    Subkey,
    Size,
    SizeInvert,
    Port,
    Host,
    Command,
    Uri,
    Decoder,
    Pre,
    Post,
    None,
    HostKey,
    PortKey,
    Payload,
}

impl Item {
    fn from_name(s: &str) -> Option<Item> {
        Some(match s {
            "key" => Item::Key,
            "subkey" => Item::Subkey,
            "size" => Item::Size,
            "sizeinvert" => Item::SizeInvert,
            "port" => Item::Port,
            "host" => Item::Host,
            "command" => Item::Command,
            "uri" => Item::Uri,
            // Older nepenthes files call the decoder group `pcre`.
            "decoder" | "pcre" => Item::Decoder,
            "pre" => Item::Pre,
            "post" => Item::Post,
            "none" => Item::None,
            "hostkey" => Item::HostKey,
            "portkey" => Item::PortKey,
            "payload" => Item::Payload,
            _ => return None,
        })
    }
}

/// One signature as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub namespace: Namespace,
    pub name: String,
    /// The pattern's bytes after unescaping.
    pub pattern: Vec<u8>,
    pub mapping: Vec<Item>,
    /// Where the signature starts.
    pub line: u32,
    pub col: u32,
}

impl Signature {
    /// `namespace::name`.
    pub fn full_name(&self) -> String {
        format!("{}::{}", self.namespace.name(), self.name)
    }
}

/// Why a signature file cannot be used.
#[derive(Debug)]
pub enum SigError {
    Read { path: PathBuf, err: std::io::Error },
    TooLarge { path: PathBuf },
    Syntax { path: PathBuf, line: u32, col: u32, why: String },
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigError::Read { path, err } => {
                write!(
                    f,
                    "cspm - Unable to read shellcode signature file {}: {}.",
                    path.display(),
                    crate::sys::strerror(err)
                )
            }
            SigError::TooLarge { path } => {
                write!(f, "cspm - Shellcode signature file {} is larger than {} bytes.", path.display(), MAX_FILE)
            }
            SigError::Syntax { path, line, col, why } => {
                write!(f, "cspm - {}:{}:{}: {}.", path.display(), line, col, why)
            }
        }
    }
}

impl std::error::Error for SigError {}

/// Reads and parses the signature file at `path`.
pub fn load(path: &Path) -> Result<Vec<Signature>, SigError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|err| SigError::Read { path: path.into(), err })?;
    let mut text = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut text).map_err(|err| SigError::Read { path: path.into(), err })?;
    if text.len() as u64 > MAX_FILE {
        return Err(SigError::TooLarge { path: path.into() });
    }
    parse(&text).map_err(|(line, col, why)| SigError::Syntax { path: path.into(), line, col, why })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(Vec<u8>),
    Punct(u8),
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    line: u32,
    col: u32,
}

type Failure = (u32, u32, String);

impl Lexer<'_> {
    fn bump(&mut self) -> Option<u8> {
        let c = *self.text.get(self.pos)?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.text.get(self.pos + ahead).copied()
    }

    /// The next token and where it starts; `None` at the end.
    fn next(&mut self) -> Result<Option<(Tok, u32, u32)>, Failure> {
        loop {
            let (line, col) = (self.line, self.col);
            let Some(c) = self.peek(0) else { return Ok(None) };
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.bump();
                }
                b'/' if self.peek(1) == Some(b'/') => {
                    while self.peek(0).is_some_and(|c| c != b'\n') {
                        self.bump();
                    }
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err((line, col, "comment not closed".into())),
                            Some(b'*') if self.peek(0) == Some(b'/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                b'"' => {
                    self.bump();
                    return Ok(Some((Tok::Str(self.string(line, col)?), line, col)));
                }
                c if c.is_ascii_alphabetic() => {
                    let mut w = String::new();
                    while let Some(c) = self.peek(0).filter(|c| c.is_ascii_alphanumeric() || *c == b'_') {
                        w.push(c as char);
                        self.bump();
                    }
                    return Ok(Some((Tok::Word(w), line, col)));
                }
                b'{' | b'}' | b'(' | b')' | b';' | b':' | b',' => {
                    self.bump();
                    return Ok(Some((Tok::Punct(c), line, col)));
                }
                _ => return Err((line, col, format!("unexpected character {}", shown(c)))),
            }
        }
    }

    /// The rest of a string whose opening quote (at `line`, `col`) was read.
    fn string(&mut self, line: u32, col: u32) -> Result<Vec<u8>, Failure> {
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => return Err((line, col, "string not closed".into())),
                Some(b'"') => return Ok(out),
                Some(b'\\') => match self.bump() {
                    Some(b'n') => out.push(b'\n'),
                    Some(b'r') => out.push(b'\r'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'0') => out.push(0),
                    Some(b'"') => out.push(b'"'),
                    Some(b'\\') => out.push(b'\\'),
                    Some(b'x') => {
                        let hex = |c: Option<u8>| c.and_then(|c| (c as char).to_digit(16));
                        match (hex(self.peek(0)), hex(self.peek(1))) {
                            (Some(h), Some(l)) => {
                                self.bump();
                                self.bump();
                                out.push((h * 16 + l) as u8);
                            }
                            // As any other backslash: dropped.
                            _ => out.push(b'x'),
                        }
                    }
                    // A backslash before any other character is dropped, as nepenthes and
                    // the C honeytrap read these files (their signatures have `\(`).
                    Some(other) => out.push(other),
                    None => return Err((line, col, "string not closed".into())),
                },
                Some(b) => out.push(b),
            }
            if out.len() > MAX_PATTERN {
                return Err((line, col, format!("pattern longer than {} bytes", MAX_PATTERN)));
            }
        }
    }
}

fn shown(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("'{}'", c as char)
    } else {
        format!("0x{:02x}", c)
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    ahead: Option<(Tok, u32, u32)>,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<Option<&(Tok, u32, u32)>, Failure> {
        if self.ahead.is_none() {
            self.ahead = self.lex.next()?;
        }
        Ok(self.ahead.as_ref())
    }

    fn take(&mut self, what: &str) -> Result<(Tok, u32, u32), Failure> {
        self.peek()?;
        match self.ahead.take() {
            Some(t) => Ok(t),
            None => Err((self.lex.line, self.lex.col, format!("file ends where {} is expected", what))),
        }
    }

    fn punct(&mut self, p: u8) -> Result<(), Failure> {
        let what = format!("'{}'", p as char);
        match self.take(&what)? {
            (Tok::Punct(q), ..) if q == p => Ok(()),
            (t, line, col) => Err((line, col, format!("{} expected, found {}", what, describe(&t)))),
        }
    }

    fn word(&mut self, what: &str) -> Result<(String, u32, u32), Failure> {
        match self.take(what)? {
            (Tok::Word(w), line, col) => Ok((w, line, col)),
            (t, line, col) => Err((line, col, format!("{} expected, found {}", what, describe(&t)))),
        }
    }

    fn signature(&mut self) -> Result<Signature, Failure> {
        let (ns, line, col) = self.word("a namespace")?;
        let namespace = Namespace::from_name(&ns).ok_or_else(|| {
            let all: Vec<&str> = Namespace::ALL.iter().map(|n| n.name()).collect();
            (line, col, format!("unknown namespace '{}' (known: {})", ns, all.join(", ")))
        })?;
        self.punct(b':')?;
        self.punct(b':')?;
        let (name, ..) = self.word("a signature name")?;
        self.punct(b'{')?;
        let mut pattern: Option<Vec<u8>> = None;
        let mut mapping = Vec::new();
        loop {
            if let Some((Tok::Punct(b'}'), ..)) = self.peek()? {
                self.take("'}'")?;
                break;
            }
            let (kw, l, c) = self.word("pattern, mapping, flags or '}'")?;
            match kw.as_str() {
                "pattern" => {
                    let mut p = match self.take("a string")? {
                        (Tok::Str(s), ..) => s,
                        (t, l, c) => return Err((l, c, format!("a string expected, found {}", describe(&t)))),
                    };
                    while let Some((Tok::Str(_), ..)) = self.peek()? {
                        if let (Tok::Str(s), ..) = self.take("a string")? {
                            p.extend_from_slice(&s);
                        }
                        if p.len() > MAX_PATTERN {
                            return Err((l, c, format!("pattern longer than {} bytes", MAX_PATTERN)));
                        }
                    }
                    if pattern.replace(p).is_some() {
                        return Err((l, c, "second pattern in one signature".into()));
                    }
                }
                "mapping" => {
                    self.punct(b'(')?;
                    loop {
                        let (item, l, c) = self.word("a mapping item")?;
                        let item =
                            Item::from_name(&item).ok_or_else(|| (l, c, format!("unknown mapping item '{}'", item)))?;
                        if mapping.len() == MAX_MAPPING {
                            return Err((l, c, format!("more than {} mapping items", MAX_MAPPING)));
                        }
                        mapping.push(item);
                        match self.take("',' or ')'")? {
                            (Tok::Punct(b','), ..) => {}
                            (Tok::Punct(b')'), ..) => break,
                            (t, l, c) => return Err((l, c, format!("',' or ')' expected, found {}", describe(&t)))),
                        }
                    }
                }
                "flags" => {
                    let (f, l, c) = self.word("a flag")?;
                    if f != "none" {
                        return Err((l, c, format!("unknown flag '{}' (only none)", f)));
                    }
                }
                other => return Err((l, c, format!("pattern, mapping or flags expected, found '{}'", other))),
            }
            self.punct(b';')?;
        }
        self.punct(b';')?;
        let pattern = pattern.ok_or_else(|| (line, col, format!("signature {}::{} has no pattern", ns, name)))?;
        Ok(Signature { namespace, name, pattern, mapping, line, col })
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("'{}'", w),
        Tok::Str(_) => "a string".into(),
        Tok::Punct(p) => format!("'{}'", *p as char),
    }
}

/// The signatures of a file's text; an error is (line, column, why).
pub fn parse(text: &[u8]) -> Result<Vec<Signature>, (u32, u32, String)> {
    let mut p = Parser { lex: Lexer { text, pos: 0, line: 1, col: 1 }, ahead: None };
    let mut out = Vec::new();
    while let Some((_, line, col)) = p.peek()?.cloned() {
        if out.len() == MAX_SIGNATURES {
            return Err((line, col, format!("more than {} signatures", MAX_SIGNATURES)));
        }
        out.push(p.signature()?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_with_comments_joined_strings_and_escapes() {
        let text = br#"
// line comment
/* block
   comment */
xor::one
{
    pattern "(.*)(\\xEB(.))"
            "(.*)$";
    mapping (none, pre, pcre, key, post);
    flags none;
};
url::two { pattern "\x00(http://[^\\x00]+)\"\t"; mapping (none,uri); };
"#;
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].full_name(), "xor::one");
        assert_eq!(s[0].pattern, br"(.*)(\xEB(.))(.*)$");
        assert_eq!(s[0].mapping, [Item::None, Item::Pre, Item::Decoder, Item::Key, Item::Post]);
        assert_eq!((s[0].line, s[0].col), (5, 1));
        assert_eq!(s[1].pattern, b"\0(http://[^\\x00]+)\"\t");
        assert_eq!(s[1].namespace, Namespace::Url);
        assert_eq!((s[1].line, s[1].col), (12, 1));
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = |t: &str| parse(t.as_bytes()).unwrap_err();
        assert_eq!(err("xor::a { pattern \"x\"; }").0, 1);
        let (l, c, why) = err("xor::a {\n  pattern \"x\";\n  maping (none);\n};");
        assert_eq!((l, c), (3, 3));
        assert!(why.contains("'maping'"), "{why}");
        let (l, c, why) = err("shell::a { pattern \"x\"; };");
        assert_eq!((l, c), (1, 1));
        assert!(why.contains("unknown namespace 'shell'"), "{why}");
        // Other escapes lose their backslash.
        let s = parse(b"url::a { pattern \"\\xZZ\\(\\q\"; };").unwrap();
        assert_eq!(s[0].pattern, b"xZZ(q");
        let (_, _, why) = err("url::a { mapping (none, port, hostt); pattern \"x\"; };");
        assert!(why.contains("unknown mapping item 'hostt'"), "{why}");
        let (l, c, why) = err("url::a { mapping (none); };");
        assert_eq!((l, c), (1, 1));
        assert!(why.contains("no pattern"), "{why}");
        assert!(err("url::a { pattern \"x").2.contains("not closed"));
        assert!(err("/* x").2.contains("comment not closed"));
        assert!(err("url::a { pattern \"x\"; }").2.contains("file ends"));
        assert!(err("url::a $").2.contains("unexpected character '$'"));
    }

    #[test]
    fn bounded() {
        let many = "url::a { pattern \"x\"; };\n".repeat(MAX_SIGNATURES + 1);
        assert!(parse(many.as_bytes()).unwrap_err().2.contains("more than"));
        let long = format!("url::a {{ pattern \"{}\"; }};", "x".repeat(MAX_PATTERN + 1));
        assert!(parse(long.as_bytes()).unwrap_err().2.contains("longer than"));
        let items = format!("url::a {{ pattern \"x\"; mapping ({}none); }};", "none,".repeat(MAX_MAPPING));
        assert!(parse(items.as_bytes()).unwrap_err().2.contains("mapping items"));
        assert!(parse(b"").unwrap().is_empty());
    }
}
