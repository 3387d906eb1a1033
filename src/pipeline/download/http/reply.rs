//! The pure HTTP reply parser: the status line, the headers a download needs
//! (`Content-Length`, `Transfer-Encoding`, `Location`), length-delimited, chunked and
//! close-delimited bodies, every line, header count and body bounded by the `Limits`. Reads
//! from any byte stream; no I/O of its own. Replaces the reading of wget's output by
//! htm_httpDownload.c, which trusted the program to have parsed the reply.

use super::*;
use crate::pipeline::download::{Error, Limits};
use std::io::{self, Read};

/// Parses a whole reply the way [`fetch`] reads one from a server: the status code, the
/// `Location` and the body of a 2xx (empty otherwise). No I/O: for fuzz targets and tests.
pub fn parse_reply(bytes: &[u8], limits: &Limits) -> Result<(u16, Option<String>, Vec<u8>), Error> {
    let mut r = Reader::new(bytes);
    let head = read_head(&mut r, limits)?;
    let body = if (200..300).contains(&head.code) { read_body(&mut r, &head, limits)? } else { Vec::new() };
    Ok((head.code, head.location, body))
}

/// Buffered, bounded reading of a reply.
pub(super) struct Reader<S> {
    inner: S,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl<S: Read> Reader<S> {
    pub(super) fn new(inner: S) -> Reader<S> {
        Reader { inner, buf: vec![0; BUF_SIZE], pos: 0, end: 0 }
    }

    /// Refills the buffer once it is used up; `Ok(0)` at the end of the stream. A TLS
    /// peer that closes without `close_notify` counts as the end of the stream: the
    /// length checks of the body still catch a cut transfer.
    fn fill(&mut self) -> Result<usize, Error> {
        if self.pos < self.end {
            return Ok(self.end - self.pos);
        }
        self.pos = 0;
        self.end = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(stream_error(e)),
            }
        }
    }

    /// One line without its CR LF (or bare LF), at most `max` bytes; `None` at the end of the
    /// stream before the line's first byte.
    fn read_line(&mut self, max: usize) -> Result<Option<Vec<u8>>, Error> {
        let mut line = Vec::new();
        loop {
            if self.fill()? == 0 {
                return if line.is_empty() {
                    Ok(None)
                } else {
                    Err(Error::Protocol("connection closed inside a line".into()))
                };
            }
            let avail = &self.buf[self.pos..self.end];
            match avail.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&avail[..i]);
                    self.pos += i + 1;
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.len() > max {
                        return Err(line_too_long(max));
                    }
                    return Ok(Some(line));
                }
                None => {
                    line.extend_from_slice(avail);
                    self.pos = self.end;
                    // One byte of slack for the CR of a CR LF still to come.
                    if line.len() > max + 1 {
                        return Err(line_too_long(max));
                    }
                }
            }
        }
    }

    /// Appends exactly `n` bytes to `out`.
    fn read_exact_into(&mut self, out: &mut Vec<u8>, n: usize) -> Result<(), Error> {
        let mut left = n;
        while left > 0 {
            if self.fill()? == 0 {
                return Err(Error::Protocol(format!("connection closed {} bytes before the end of the body", left)));
            }
            let take = left.min(self.end - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            left -= take;
        }
        Ok(())
    }

    /// Appends everything up to the end of the stream to `out`, which may not grow beyond
    /// `max` bytes.
    fn read_to_end_into(&mut self, out: &mut Vec<u8>, max: usize) -> Result<(), Error> {
        while self.fill()? > 0 {
            let avail = self.end - self.pos;
            if out.len() + avail > max {
                return Err(Error::TooLarge(max));
            }
            out.extend_from_slice(&self.buf[self.pos..self.end]);
            self.pos = self.end;
        }
        Ok(())
    }
}

fn line_too_long(max: usize) -> Error {
    Error::Protocol(format!("reply line longer than {} bytes", max))
}

/// What the client uses of a reply head.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) code: u16,
    pub(super) length: Option<u64>,
    pub(super) chunked: bool,
    pub(super) location: Option<String>,
}

/// Reads the status line and headers, skipping interim (1xx) replies; all the lines read
/// count against `max_lines`.
pub(super) fn read_head<S: Read>(r: &mut Reader<S>, limits: &Limits) -> Result<Head, Error> {
    let mut lines = 0;
    let mut next = |r: &mut Reader<S>| -> Result<Vec<u8>, Error> {
        lines += 1;
        if lines > limits.max_lines {
            return Err(Error::Protocol(format!("more than {} header lines", limits.max_lines)));
        }
        r.read_line(limits.max_line)?.ok_or_else(|| Error::Protocol("connection closed in the reply header".into()))
    };
    loop {
        let code = parse_status_line(&next(r)?)?;
        let mut head = Head { code, ..Head::default() };
        let mut encodings = Vec::new();
        loop {
            let line = next(r)?;
            if line.is_empty() {
                break;
            }
            header_into(&mut head, &mut encodings, &line)?;
        }
        match code {
            101 => return Err(Error::Protocol("HTTP 101".into())),
            100..=199 => continue,
            _ => {}
        }
        if !encodings.is_empty() {
            head.chunked = chunked_coding(&encodings)?;
            head.length = None;
        }
        return Ok(head);
    }
}

/// The status code of `HTTP/1.x NNN [reason]`.
fn parse_status_line(line: &[u8]) -> Result<u16, Error> {
    let bad =
        || Error::Protocol(format!("not an HTTP reply: {:?}", String::from_utf8_lossy(&line[..line.len().min(64)])));
    let rest = line.strip_prefix(b"HTTP/1.").ok_or_else(bad)?;
    match rest {
        [minor, b' ', a, b, c, tail @ ..]
            if minor.is_ascii_digit()
                && (b'1'..=b'5').contains(a)
                && [a, b, c].iter().all(|d| d.is_ascii_digit())
                && (tail.is_empty() || tail[0] == b' ') =>
        {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(bad()),
    }
}

/// Takes what matters from one header line; ignores other headers, continuation lines
/// (obsolete folding) and lines without a colon.
fn header_into(head: &mut Head, encodings: &mut Vec<String>, line: &[u8]) -> Result<(), Error> {
    if line.starts_with(b" ") || line.starts_with(b"\t") {
        return Ok(());
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Ok(());
    };
    let name = &line[..colon];
    let value = trim(&line[colon + 1..]);
    if name.eq_ignore_ascii_case(b"content-length") {
        for part in value.split(|&b| b == b',') {
            let n = parse_length(trim(part))?;
            if head.length.is_some_and(|old| old != n) {
                return Err(Error::Protocol("conflicting Content-Length headers".into()));
            }
            head.length = Some(n);
        }
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        for part in value.split(|&b| b == b',') {
            let coding = String::from_utf8_lossy(trim(part)).to_ascii_lowercase();
            if !coding.is_empty() {
                encodings.push(coding);
            }
        }
        if encodings.len() > 8 {
            return Err(Error::Protocol("too many transfer codings".into()));
        }
    } else if name.eq_ignore_ascii_case(b"location") && head.location.is_none() {
        head.location = Some(location_text(value)?);
    }
    Ok(())
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_length(v: &[u8]) -> Result<u64, Error> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Error::Protocol(format!("bad Content-Length {:?}", String::from_utf8_lossy(v))));
    }
    Ok(v.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// Transfer codings we can read: `chunked` last, `identity` anywhere (we asked for no
/// compression, and store what we get). `Ok(true)` if the body is chunked.
fn chunked_coding(encodings: &[String]) -> Result<bool, Error> {
    for (i, e) in encodings.iter().enumerate() {
        let last = i + 1 == encodings.len();
        if !(e == "identity" || (e == "chunked" && last)) {
            return Err(Error::Protocol(format!("unsupported transfer coding {:?}", e)));
        }
    }
    Ok(encodings.last().is_some_and(|e| e == "chunked"))
}

/// A `Location` value as text: controls refused, non-ASCII bytes percent-encoded.
fn location_text(value: &[u8]) -> Result<String, Error> {
    if value.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(Error::Protocol("control characters in Location".into()));
    }
    // With the controls gone, what is left to encode is the space and the non-ASCII bytes.
    let mut s = String::with_capacity(value.len());
    super::percent_encode_into(&mut s, value);
    Ok(s)
}

/// The body of a 2xx reply, at most `max_size` bytes.
pub(super) fn read_body<S: Read>(r: &mut Reader<S>, head: &Head, limits: &Limits) -> Result<Vec<u8>, Error> {
    let max = limits.max_size;
    let mut data = Vec::new();
    if head.code == 204 || head.code == 205 {
        return Ok(data);
    }
    if head.chunked {
        read_chunked(r, &mut data, limits)?;
    } else if let Some(n) = head.length {
        let n = usize::try_from(n).ok().filter(|&n| n <= max).ok_or(Error::TooLarge(max))?;
        r.read_exact_into(&mut data, n)?;
    } else {
        r.read_to_end_into(&mut data, max)?;
    }
    Ok(data)
}

/// A chunked body: size lines (with extensions), data, CR LF; the last chunk, then trailer
/// lines up to an empty line (or the end of the stream).
fn read_chunked<S: Read>(r: &mut Reader<S>, data: &mut Vec<u8>, limits: &Limits) -> Result<(), Error> {
    let max = limits.max_size;
    loop {
        let line = r
            .read_line(limits.max_line)?
            .ok_or_else(|| Error::Protocol("connection closed before the last chunk".into()))?;
        let size = parse_chunk_size(&line)?;
        if size == 0 {
            for _ in 0..limits.max_lines {
                match r.read_line(limits.max_line)? {
                    None => return Ok(()),
                    Some(l) if l.is_empty() => return Ok(()),
                    Some(_) => {}
                }
            }
            return Err(Error::Protocol(format!("more than {} trailer lines", limits.max_lines)));
        }
        let size = usize::try_from(size).ok().filter(|&n| n <= max - data.len()).ok_or(Error::TooLarge(max))?;
        r.read_exact_into(data, size)?;
        match r.read_line(limits.max_line)? {
            Some(l) if l.is_empty() => {}
            _ => return Err(Error::Protocol("chunk data not followed by CR LF".into())),
        }
    }
}

/// The size of a chunk-size line: hexadecimal, optional `;extensions`.
fn parse_chunk_size(line: &[u8]) -> Result<u64, Error> {
    let digits = trim(line.split(|&b| b == b';').next().unwrap_or(b""));
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(Error::Protocol(format!(
            "bad chunk size {:?}",
            String::from_utf8_lossy(&line[..line.len().min(32)])
        )));
    }
    Ok(digits.iter().fold(0u64, |n, &d| n * 16 + u64::from((d as char).to_digit(16).unwrap_or(0))))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::io::Cursor;

    pub(crate) fn limits() -> Limits {
        Limits { max_size: 1000, max_line: 64, max_lines: 10, ..Limits::default() }
    }

    /// Parses a whole reply as `exchange` does, from bytes.
    pub(crate) fn reply(bytes: &[u8], l: &Limits) -> Result<(Head, Vec<u8>), Error> {
        let mut r = Reader::new(Cursor::new(bytes.to_vec()));
        let head = read_head(&mut r, l)?;
        let body = read_body(&mut r, &head, l)?;
        Ok((head, body))
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK").unwrap(), 200);
        assert_eq!(parse_status_line(b"HTTP/1.0 404").unwrap(), 404);
        assert_eq!(parse_status_line(b"HTTP/1.1 302 Moved Temporarily").unwrap(), 302);
        for bad in [
            &b""[..],
            b"HTTP/1.1",
            b"HTTP/1.1 20",
            b"HTTP/1.1 2000",
            b"HTTP/2 200",
            b"SSH-2.0-x",
            b"HTTP/1.1 2x0 OK",
            b"HTTP/1.1 099 x",
            b"HTTP/1.1 600 x",
        ] {
            assert!(matches!(parse_status_line(bad), Err(Error::Protocol(_))), "{:?}", bad);
        }
    }

    #[test]
    fn length_chunked_and_close_bodies() {
        let l = limits();
        let (h, b) = reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", &l).unwrap();
        assert_eq!((h.code, b), (200, b"hello".to_vec()));
        let (_, b) = reply(b"HTTP/1.0 200 OK\nServer: x\n\nuntil close", &l).unwrap();
        assert_eq!(b, b"until close");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n\
                        5;name=val\r\nhello\r\n7 \r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(reply(chunked, &l).unwrap().1, b"hello, world");
        // No trailer end: the end of the stream after the last chunk is fine.
        assert_eq!(
            reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n", &l).unwrap().1,
            b"abc"
        );
        assert!(reply(b"HTTP/1.1 204 No Content\r\n\r\n", &l).unwrap().1.is_empty());
        // Interim replies are skipped.
        let (h, b) = reply(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &l).unwrap();
        assert_eq!((h.code, b), (200, b"ok".to_vec()));
    }

    #[test]
    fn hostile_bodies() {
        let l = limits();
        for (bytes, what) in [
            (&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"[..], "bad chunk size"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "negative chunk size"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", "huge chunk size"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", "no CR LF after chunk"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "no last chunk"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "gzip"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n", "chunked not last"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "cut body"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "two lengths"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "negative length"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5", "cut header"),
            (b"HTTP/1.1 101 Switching\r\n\r\n", "upgrade"),
        ] {
            assert!(
                matches!(reply(bytes, &l), Err(Error::Protocol(_))),
                "{}: {:?}",
                what,
                reply(bytes, &l).map(|r| r.1)
            );
        }
        // Same length twice is fine.
        assert_eq!(reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", &l).unwrap().1, b"ok");
    }

    #[test]
    fn caps() {
        let l = limits();
        let too_long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(100));
        assert!(matches!(reply(too_long.as_bytes(), &l), Err(Error::Protocol(m)) if m.contains("longer than 64")));
        // Exactly max_line bytes is allowed, with CR LF or LF.
        let exact = format!("HTTP/1.1 200 OK\r\nX: {}\r\nContent-Length: 0\r\n\r\n", "a".repeat(61));
        assert!(reply(exact.as_bytes(), &l).is_ok());
        let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "X: y\r\n".repeat(10));
        assert!(
            matches!(reply(many.as_bytes(), &l), Err(Error::Protocol(m)) if m.contains("more than 10 header lines"))
        );
        let nine = format!("HTTP/1.1 200 OK\r\n{}\r\n", "X: y\r\n".repeat(8));
        assert!(reply(nine.as_bytes(), &l).is_ok());
        // Announced too large: refused before any body byte is read.
        assert!(matches!(reply(b"HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n", &l), Err(Error::TooLarge(1000))));
        assert!(matches!(
            reply(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", &l),
            Err(Error::Protocol(_))
        ));
        let close = [&b"HTTP/1.1 200 OK\r\n\r\n"[..], &[7u8; 1001]].concat();
        assert!(matches!(reply(&close, &l), Err(Error::TooLarge(1000))));
        let fits = [&b"HTTP/1.1 200 OK\r\n\r\n"[..], &[7u8; 1000]].concat();
        assert_eq!(reply(&fits, &l).unwrap().1.len(), 1000);
        let chunks = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}",
            "1f4\r\n".to_string() + &"x".repeat(500) + "\r\n"
        )
        .repeat(1)
            + &("1f5\r\n".to_string() + &"x".repeat(501) + "\r\n0\r\n\r\n");
        assert!(matches!(reply(chunks.as_bytes(), &l), Err(Error::TooLarge(1000))));
        let trailers =
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n{}\r\n", "T: x\r\n".repeat(20));
        assert!(matches!(reply(trailers.as_bytes(), &l), Err(Error::Protocol(m)) if m.contains("trailer")));
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(parse_chunk_size(b"1F4").unwrap(), 500);
        assert_eq!(parse_chunk_size(b"a ; ext=\"x\"").unwrap(), 10);
        assert_eq!(parse_chunk_size(b"0").unwrap(), 0);
        for bad in [&b""[..], b";x", b"0x10", b"g", b"1 2", b"1000000000000000"] {
            assert!(parse_chunk_size(bad).is_err(), "{:?}", bad);
        }
    }
}
