//! Extraction, pass 2: where the URLs in an attack text are (what each one says is read by
//! the one URL parser, `Request::parse`), and the server words of commands (host, port,
//! IPv6). Replaces the URL parsing of htm_ftpDownload.c, htm_tftpDownload.c and
//! htm_httpDownload.c.

use super::*;
use crate::pipeline::request::{parse_port, valid_name, valid_v6, HostCase};

/// Splits a server word of a command (`host`, `host:port`, `[v6]:port`, `v6`).
pub(super) fn host_port(w: &[u8]) -> Option<(String, Option<u16>)> {
    if let Some(rest) = w.strip_prefix(b"[") {
        let close = rest.iter().position(|&c| c == b']')?;
        let h = &rest[..close];
        let after = &rest[close + 1..];
        let port = match after {
            [] => None,
            [b':', p @ ..] => Some(parse_port(p)?),
            _ => return None,
        };
        return valid_v6(h).then(|| (text(h), port));
    }
    if valid_v6(w) && w.iter().filter(|&&c| c == b':').count() >= 2 {
        return Some((text(w), None));
    }
    if let Some(k) = w.iter().position(|&c| c == b':') {
        let (h, p) = (&w[..k], &w[k + 1..]);
        if !valid_name(h) {
            return None;
        }
        return Some((text(h), Some(parse_port(p)?)));
    }
    valid_name(w).then(|| (text(w), None))
}

/// Does a scheme-less word look like `host[:port]/path` (wget and curl default to http)?
pub(super) fn looks_like_server(w: &[u8]) -> bool {
    let end = w.iter().position(|&c| c == b'/' || c == b':').unwrap_or(w.len());
    let h = &w[..end];
    let labels: Vec<&[u8]> = h.split(|&c| c == b'.').collect();
    if labels.len() == 4 && labels.iter().all(|l| parse_port(l).is_some() || *l == b"0") {
        return labels
            .iter()
            .all(|l| l.len() <= 3 && std::str::from_utf8(l).ok().and_then(|s| s.parse::<u8>().ok()).is_some());
    }
    // File names are not servers: `wget bins.sh` is not `http://bins.sh/`.
    const NOT_TLD: &[&[u8]] = &[
        b"sh", b"exe", b"bin", b"py", b"pl", b"elf", b"arm", b"arm5", b"arm6", b"arm7", b"mips", b"mpsl", b"ppc",
        b"x86", b"m68k", b"sparc", b"sh4", b"tgz", b"gz", b"tar", b"zip", b"txt", b"php", b"ps1", b"bat", b"dll",
    ];
    valid_name(h)
        && labels.len() >= 2
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.iter().all(u8::is_ascii_alphabetic) && !NOT_TLD.contains(&&lower(t)[..]))
        && !labels.iter().any(|l| l.is_empty())
}

#[derive(Clone, Debug)]
pub(super) struct UrlHit {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) line_start: usize,
    pub(super) url: Request,
}

/// Where a URL starting at `from` (just after `://`) ends: at whitespace and control bytes,
/// quotes, `< > | ; &` backtick `{ } \`, an unbalanced `)`, or an encoded separator;
/// trailing punctuation is dropped.
pub(super) fn url_end(t: &[u8], from: usize) -> usize {
    let mut depth = 0usize;
    let mut brackets = 0usize;
    let mut i = from;
    while i < t.len() && i - from <= MAX_URL {
        let c = t[i];
        match c {
            0x21..=0x7e => {}
            _ => break,
        }
        if matches!(c, b'"' | b'\'' | b'<' | b'>' | b'|' | b';' | b'&' | b'`' | b'{' | b'}' | b'\\') {
            break;
        }
        if c == b'(' {
            depth += 1;
        } else if c == b')' {
            if depth == 0 {
                break;
            }
            depth -= 1;
        } else if c == b'[' {
            brackets += 1;
        } else if c == b'%' {
            if let Some(e) = t.get(i + 1..i + 3) {
                let e = lower(e);
                if matches!(
                    &e[..],
                    b"20" | b"09" | b"0a" | b"0d" | b"3b" | b"7c" | b"26" | b"60" | b"27" | b"22" | b"3c" | b"3e"
                ) {
                    break;
                }
            }
        }
        i += 1;
    }
    while i > from {
        let c = t[i - 1];
        if matches!(c, b'.' | b',' | b':' | b'!' | b'?') || (c == b']' && brackets == 0) {
            i -= 1;
        } else {
            break;
        }
    }
    i
}

const SCHEMES: &[(&[u8], Scheme)] =
    &[(b"https", Scheme::Https), (b"tftp", Scheme::Tftp), (b"http", Scheme::Http), (b"ftp", Scheme::Ftp)];

/// Every URL of a known scheme in `t`, in order. A URL inside another URL's text is not
/// looked for again (keeps the scan linear).
pub(super) fn find_urls(t: &[u8]) -> Vec<UrlHit> {
    let mut hits = Vec::new();
    let mut line_start = 0;
    let mut i = 0;
    while i < t.len() {
        if t[i] == b'\n' {
            line_start = i + 1;
        }
        if t[i] != b':' || t.get(i + 1..i + 3) != Some(b"//") {
            i += 1;
            continue;
        }
        let found = SCHEMES.iter().find(|(s, _)| i >= s.len() && t[i - s.len()..i].eq_ignore_ascii_case(s));
        let Some(&(sname, scheme)) = found else {
            i += 1;
            continue;
        };
        let start = i - sname.len();
        let from = i + 3;
        let end = url_end(t, from);
        if end - from <= MAX_URL {
            if let Ok(url) = Request::parse(scheme, &t[from..end], HostCase::AsWritten) {
                hits.push(UrlHit { start, end, line_start, url });
            }
        }
        i = end.max(i + 1);
    }
    hits
}
