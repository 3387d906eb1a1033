//! The pure FTP reply parser: reply lines assembled into replies (RFC 959 §4.2, multi-line
//! replies included) and the data addresses of `227` (`PASV`) and `229` (`EPSV`, RFC 2428)
//! replies. No I/O: the client (mod.rs) reads the lines, bounded, and feeds them here; the
//! fuzz target `ftp_replies` feeds arbitrary bytes. Replaces the reply checks of
//! htm_ftpDownload.c.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Why a line is not part of a reply. `Display` gives the reason for the log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// A line that neither starts a reply (`NNN text`, `NNN-text`) nor belongs to an open
    /// one; the line as [`printable`] shows it.
    Malformed(String),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Malformed(line) => write!(f, "malformed reply '{}'", line),
        }
    }
}

/// One complete server reply (RFC 959 §4.2): its code and its last line, made printable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub line: String,
}

impl Reply {
    /// The first digit: 1 preliminary, 2 completion, 3 intermediate, 4/5 failure.
    pub fn class(&self) -> u16 {
        self.code / 100
    }
}

/// Assembles reply lines into replies: `NNN text` is a reply of one line; `NNN-text` opens a
/// multi-line reply that ends at the first line starting with the same code and a space
/// (lines in between may say anything).
#[derive(Clone, Debug, Default)]
pub struct ReplyParser {
    open: Option<u16>,
}

impl ReplyParser {
    /// Feeds one line (without CR LF); `Ok(Some)` when it completes a reply, `Ok(None)` when
    /// more lines belong to it, `Err` for a line that is not a reply.
    pub fn feed(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let code = code_of(line);
        let sep = line.get(3).copied();
        match self.open {
            Some(open) if code == Some(open) && matches!(sep, None | Some(b' ')) => {
                self.open = None;
                Ok(Some(Reply { code: open, line: printable(line) }))
            }
            Some(_) => Ok(None),
            None => match (code, sep) {
                (Some(c), Some(b'-')) => {
                    self.open = Some(c);
                    Ok(None)
                }
                (Some(c), None | Some(b' ')) => Ok(Some(Reply { code: c, line: printable(line) })),
                _ => Err(ReplyError::Malformed(printable(line))),
            },
        }
    }
}

/// The reply code a line starts with: three digits, the first 1–5.
fn code_of(line: &[u8]) -> Option<u16> {
    match line {
        [a @ b'1'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9', ..] => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Server text as the reply keeps it and log lines and errors quote it
/// ([`crate::text::printable`]: a reply can neither forge log lines nor carry bytes that are
/// not text), at most [`MAX_SHOWN`] bytes.
pub fn printable(bytes: &[u8]) -> String {
    crate::text::printable(bytes, MAX_SHOWN)
}

/// Bytes of a reply line shown at most.
const MAX_SHOWN: usize = 512;

/// The data address of a `227` reply: the first run of six comma-separated numbers
/// (`227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).`), each 0–255.
pub fn parse_pasv(line: &str) -> Option<SocketAddr> {
    let text = line.get(3..)?;
    let bytes = text.as_bytes();
    (0..bytes.len())
        .filter(|&i| bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()))
        .find_map(|i| six_numbers(&text[i..]))
}

/// `h1,h2,h3,h4,p1,p2` at the start of `text` (anything may follow `p2`).
fn six_numbers(text: &str) -> Option<SocketAddr> {
    let mut v = [0u8; 6];
    let mut rest = text;
    for (i, slot) in v.iter_mut().enumerate() {
        let len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 3 {
            return None;
        }
        *slot = rest[..len].parse().ok()?;
        rest = &rest[len..];
        if i < 5 {
            rest = rest.strip_prefix(',')?;
        }
    }
    if rest.starts_with(|c: char| c.is_ascii_digit() || c == ',') {
        return None;
    }
    let ip = Ipv4Addr::new(v[0], v[1], v[2], v[3]);
    Some(SocketAddr::new(IpAddr::V4(ip), u16::from(v[4]) << 8 | u16::from(v[5])))
}

/// The port of a `229` reply (`229 Entering Extended Passive Mode (|||port|)`, RFC 2428:
/// the delimiter is the first character inside the parentheses).
pub fn parse_epsv(line: &str) -> Option<u16> {
    let open = line.find('(')?;
    let inner = &line[open + 1..];
    let close = inner.find(')')?;
    let inner = &inner[..close];
    let d = inner.chars().next()?;
    if !(33..=126).contains(&(d as u32)) || d.is_ascii_digit() {
        return None;
    }
    let parts: Vec<&str> = inner.split(d).collect();
    match parts.as_slice() {
        ["", "", "", port, ""] if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) => {
            port.parse().ok().filter(|&p| p != 0)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::download::ftp::port_argument;

    fn feed_all(lines: &[&str]) -> Vec<Result<Option<Reply>, ReplyError>> {
        let mut p = ReplyParser::default();
        lines.iter().map(|l| p.feed(l.as_bytes())).collect()
    }

    #[test]
    fn single_and_multi_line_replies() {
        let r = feed_all(&["220 Welcome"]);
        assert_eq!(r, vec![Ok(Some(Reply { code: 220, line: "220 Welcome".into() }))]);
        // RFC 959: inner lines may start with digits, even with another code; the reply
        // ends at the same code followed by a space.
        let r = feed_all(&["220-first", "hello", "230 not the end", "220-still not", "220 done", "331 next"]);
        assert_eq!(r[..4], [Ok(None), Ok(None), Ok(None), Ok(None)]);
        assert_eq!(r[4], Ok(Some(Reply { code: 220, line: "220 done".into() })));
        assert_eq!(r[5].as_ref().unwrap().as_ref().unwrap().code, 331);
        // A bare code is a complete reply.
        assert_eq!(feed_all(&["200"])[0].as_ref().unwrap().as_ref().unwrap().code, 200);
    }

    #[test]
    fn malformed_replies() {
        for bad in ["", "22", "abc def", "600 nope", "099 x", "220x", "2200 x", " 220 x"] {
            assert!(feed_all(&[bad])[0].is_err(), "{:?}", bad);
        }
    }

    #[test]
    fn reply_classes_and_printable() {
        assert_eq!(Reply { code: 425, line: String::new() }.class(), 4);
        assert_eq!(printable(b"220 a\x1b[31mb\r\x00\xff"), "220 a\\x1b[31mb\\x0d\\x00\\xff");
    }

    #[test]
    fn pasv_replies() {
        let a = |s: &str| parse_pasv(s).map(|a| a.to_string());
        assert_eq!(a("227 Entering Passive Mode (10,77,0,2,4,57)."), Some("10.77.0.2:1081".into()));
        assert_eq!(a("227 Entering Passive Mode (10,77,0,2,4,57)"), Some("10.77.0.2:1081".into()));
        assert_eq!(a("227 =127,0,0,1,200,1"), Some("127.0.0.1:51201".into()));
        for bad in [
            "227",
            "227 Entering Passive Mode",
            "227 (10,77,0,2,4)",
            "227 (256,0,0,1,4,57)",
            "227 (10,77,0,2,4,999)",
            "227 (10,77,0,2,4,0057)",
            "227 (10,77,,2,4,57)",
            "227 (10,-77,0,2,4,57)",
        ] {
            assert_eq!(a(bad), None, "{}", bad);
        }
    }

    #[test]
    fn epsv_replies() {
        assert_eq!(parse_epsv("229 Entering Extended Passive Mode (|||6446|)"), Some(6446));
        assert_eq!(parse_epsv("229 ok (!!!21!)"), Some(21));
        for bad in [
            "229",
            "229 (|||0|)",
            "229 (|||65536|)",
            "229 (||1.2.3.4|6446|)",
            "229 (|||6446)",
            "229 (|||644a|)",
            "229 (1112221)",
            "229 (||||)",
        ] {
            assert_eq!(parse_epsv(bad), None, "{}", bad);
        }
    }

    #[test]
    fn pasv_round_trip() {
        let mut rng = crate::wire::testutil::XorShift(0x5eed_f7b0);
        for _ in 0..2000 {
            let ip = Ipv4Addr::from(rng.next() as u32);
            let port = rng.next() as u16;
            let line = format!("227 Entering Passive Mode ({}).", port_argument(ip, port));
            assert_eq!(parse_pasv(&line), Some(SocketAddr::new(IpAddr::V4(ip), port)), "{}", line);
            let line = format!("229 Entering Extended Passive Mode (|||{}|)", port);
            assert_eq!(parse_epsv(&line), Some(port).filter(|&p| p != 0), "{}", line);
        }
    }

    /// Random server bytes never panic a parser; a completed reply has a valid code.
    #[test]
    fn random_replies_do_not_panic() {
        let mut rng = crate::wire::testutil::XorShift(0xf7b_0bad);
        let alphabet = b"0123456789 -,|()\r\n227229150220aZ\xff\xc3\x00";
        let mut p = ReplyParser::default();
        for _ in 0..20_000 {
            let len = rng.below(40);
            let line: Vec<u8> = (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect();
            if let Ok(Some(r)) = p.feed(&line) {
                assert!((100..=599).contains(&r.code));
            }
            let text = String::from_utf8_lossy(&line);
            let _ = parse_pasv(&text);
            let _ = parse_epsv(&text);
            let _ = printable(&line);
        }
    }
}
