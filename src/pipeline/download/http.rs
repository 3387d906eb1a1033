//! HTTP client: GET with redirects, chunked and length-delimited bodies, replacing the `popen`
//! of htm_httpDownload.c; `http_program` runs with an argument vector, no shell.
//!
//! The C plugin handed every `http://` URL to `<http_program> <http_options> <url>` through the
//! shell (attacker-controlled URLs became shell commands) and read its output without time or
//! size limit. Here [`fetch`] speaks HTTP/1.1 itself (and HTTPS with the `tls` feature), and
//! [`fetch_with_program`] keeps the `http_program` configuration working without a shell.
//!
//! Every reply is hostile: the status line and each header line are bounded by
//! `Limits::max_line`, a reply by `Limits::max_lines` lines, the body by `Limits::max_size`
//! (refused as soon as a `Content-Length` announces more), redirects by
//! `Limits::max_redirects`, and every socket read and write by the download's deadline. A
//! redirect is a new request to an attacker-chosen address: it is resolved and checked
//! against the `Policy` like the first one.

#[cfg(feature = "tls")]
#[path = "tls.rs"]
mod tls;

use super::{policy, Context, Error, Fetched, Limits};
use crate::pipeline::request::{Request, Scheme};
use crate::sys::net::tcp_connect_from;
use std::fmt::{self, Write as _};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `User-Agent` sent: wget's, the client most attack strings run, so that servers which
/// pick victims by agent serve us what they serve them.
pub const USER_AGENT: &str = "Wget/1.21.3";

/// Size of the read buffer (and of one read from a program's output).
const BUF_SIZE: usize = 16 * 1024;

/// Fetches `req` (scheme `Http` or `Https`) with GET, following redirects. Failures are
/// logged (NOISY) and returned; the caller logs the success.
pub fn fetch(req: &Request, ctx: &Context) -> Result<Fetched, Error> {
    let result = follow(req, ctx);
    if let Err(e) = &result {
        crate::log_noisy!("HTTP download - {} failed: {}.", Printable(&req.uri()), Printable(&e.to_string()));
    }
    result
}

/// Runs `<program> <options…> <url>` (options split on ASCII white space) without a shell, as
/// the C plugin's `http_program`/`http_options` did through `popen`, and returns what the
/// program wrote to its standard output. Standard input and error are `/dev/null`; the program
/// is killed when the deadline passes, when it is silent for `io_timeout`, or when its output
/// exceeds `max_size`. `remote` is `0.0.0.0:0` as in the C record.
pub fn fetch_with_program(program: &str, options: &str, url: &str, ctx: &Context) -> Result<Fetched, Error> {
    let result = run_program(program, options, url, ctx);
    if let Err(e) = &result {
        crate::log_noisy!("HTTP download - {} failed: {}.", Printable(url), Printable(&e.to_string()));
    }
    result
}

/// Parses a whole reply the way [`fetch`] reads one from a server: the status code, the
/// `Location` and the body of a 2xx (empty otherwise). No I/O: for fuzz targets and tests.
pub fn parse_reply(bytes: &[u8], limits: &Limits) -> Result<(u16, Option<String>, Vec<u8>), Error> {
    let mut r = Reader::new(bytes);
    let head = read_head(&mut r, limits)?;
    let body = if (200..300).contains(&head.code) { read_body(&mut r, &head, limits)? } else { Vec::new() };
    Ok((head.code, head.location, body))
}

/// Where a `Location` value sends a request for `base` (absolute, scheme-relative or
/// relative), as `fetch` follows it. For fuzz targets and tests.
pub fn redirect(base: &Request, location: &str) -> Result<Request, Error> {
    redirect_target(base, location)
}

/// Attacker-controlled text in a log line: control characters escaped, so that a URL can
/// neither end the line nor forge another.
struct Printable<'a>(&'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "\\x{:02x}", u32::from(c))?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Requests and redirects

fn follow(req: &Request, ctx: &Context) -> Result<Fetched, Error> {
    if !matches!(req.scheme, Scheme::Http | Scheme::Https) {
        return Err(Error::Unsupported(format!("{} is not HTTP", req.scheme.name())));
    }
    if req.host.is_empty() {
        return Err(Error::Protocol("no host in the URL".into()));
    }
    let mut target = Request { data: Vec::new(), ..req.clone() };
    let mut redirects = 0;
    loop {
        match get(&target, ctx)? {
            Outcome::Body { data, remote } => return Ok(Fetched { data, remote, uri: target.uri() }),
            Outcome::Redirect { code, location } => {
                if redirects >= ctx.limits.max_redirects {
                    return Err(Error::Protocol("too many redirects".into()));
                }
                let next = redirect_target(&target, &location)?;
                crate::log_noisy!(
                    "HTTP download - {} redirected ({}) to {}.",
                    Printable(&target.uri()),
                    code,
                    Printable(&next.uri())
                );
                redirects += 1;
                target = next;
            }
        }
    }
}

/// What one request got.
enum Outcome {
    Body { data: Vec<u8>, remote: SocketAddr },
    Redirect { code: u16, location: String },
}

/// One request: resolve, check, connect, send, read the reply.
fn get(target: &Request, ctx: &Context) -> Result<Outcome, Error> {
    let https = target.scheme == Scheme::Https;
    if https && !cfg!(feature = "tls") {
        return Err(Error::Unsupported("https".into()));
    }
    let addrs = policy::resolve(&target.host, target.port_or_default(), ctx.deadline)?;
    let (tcp, remote) = connect(&addrs, ctx)?;
    crate::log_debug!("HTTP download - connected to {} for {}.", remote, Printable(&target.uri()));
    let sock = Sock { tcp, deadline: ctx.deadline, io_timeout: ctx.limits.io_timeout };
    let head = request_head(target);
    #[cfg(feature = "tls")]
    if https {
        let stream = tls::connect(sock, &target.host, remote.ip())?;
        return exchange(stream, &head, ctx.limits, remote);
    }
    exchange(sock, &head, ctx.limits, remote)
}

/// Connects to the first address of `addrs` that the policy allows and that answers.
fn connect(addrs: &[SocketAddr], ctx: &Context) -> Result<(TcpStream, SocketAddr), Error> {
    let mut last = None;
    for &addr in addrs {
        if let Err(e) = ctx.policy.check(addr.ip()) {
            crate::log_debug!("HTTP download - not connecting to {}: {}.", addr, e);
            last = Some(e);
            continue;
        }
        // From the attacked address, as FTP and TFTP do (the server sees the address the
        // attacker talked to); from any address if that one cannot be used.
        let local = Some(ctx.local_ip).filter(|ip| !ip.is_unspecified() && ip.is_ipv4() == addr.is_ipv4());
        let mut connected = tcp_connect_from(local, &addr, ctx.wait()?);
        if local.is_some() && matches!(&connected, Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable) {
            connected = tcp_connect_from(None, &addr, ctx.wait()?);
        }
        match connected {
            Ok(s) => return Ok((s, addr)),
            Err(e) => last = Some(Error::Connect(addr, e)),
        }
    }
    Err(last.unwrap_or_else(|| Error::Resolve("no address".into())))
}

/// The request: GET, `Host`, wget's agent, no compression, no keep-alive, Basic
/// authentication when the URL names a user.
fn request_head(t: &Request) -> Vec<u8> {
    let mut s = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nAccept: */*\r\nAccept-Encoding: identity\r\n",
        request_target(&t.path),
        host_header(t),
        USER_AGENT
    );
    if let Some(user) = &t.user {
        let cred = format!("{}:{}", user, t.pass.as_deref().unwrap_or(""));
        s.push_str(&format!("Authorization: Basic {}\r\n", crate::pipeline::decode::base64_encode(cred.as_bytes())));
    }
    s.push_str("Connection: close\r\n\r\n");
    s.into_bytes()
}

/// The request target: the path with query, starting with `/`, every byte that could end or
/// split the request line (white space, controls, non-ASCII) percent-encoded.
fn request_target(path: &str) -> String {
    let path = path.split('#').next().unwrap_or("");
    let mut s = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        s.push('/');
    }
    percent_encode_into(&mut s, path.as_bytes());
    s
}

fn percent_encode_into(s: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (0x21..=0x7e).contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{:02X}", b));
        }
    }
}

/// `Host` header value: the host as named (IPv6 in brackets), with the port unless it is
/// the scheme's default.
fn host_header(t: &Request) -> String {
    let mut s = if t.host.contains(':') { format!("[{}]", t.host) } else { t.host.clone() };
    let port = t.port_or_default();
    if port != t.scheme.default_port() {
        s.push_str(&format!(":{}", port));
    }
    s
}

/// The request a `Location` value sends us to: an absolute `http(s)://` URL, a
/// scheme-relative `//host/path`, an absolute path or a path relative to `base`'s.
/// Credentials stay only on the same server unless the new URL names its own.
fn redirect_target(base: &Request, location: &str) -> Result<Request, Error> {
    let location = location.split('#').next().unwrap_or("");
    if location.is_empty() {
        return Err(Error::Protocol("redirect without a location".into()));
    }
    let same_server = |mut next: Request| {
        if next.user.is_none() && next.host == base.host && next.port_or_default() == base.port_or_default() {
            next.user = base.user.clone();
            next.pass = base.pass.clone();
        }
        next
    };
    if let Some(next) = parse_url(location) {
        return Ok(same_server(next?));
    }
    if let Some(rest) = location.strip_prefix("//") {
        return Ok(same_server(parse_authority_and_path(base.scheme, rest)?));
    }
    if has_scheme(location) {
        return Err(Error::Protocol(format!("redirect to an unsupported URL: {}", location)));
    }
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let base_path = base.path.split(['?', '#']).next().unwrap_or("");
        if let Some(query) = location.strip_prefix('?') {
            format!("{}?{}", base_path, query)
        } else {
            let dir = match base_path.rfind('/') {
                Some(i) => &base_path[..=i],
                None => "/",
            };
            format!("{}{}", dir, location)
        }
    };
    Ok(Request { path, ..base.clone() })
}

/// Whether `s` starts with a URI scheme (`ftp:`, `javascript:` …).
fn has_scheme(s: &str) -> bool {
    match s.find(':') {
        Some(i) => {
            let scheme = &s[..i];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        }
        None => false,
    }
}

/// An absolute `http://` or `https://` URL (scheme case-insensitive) as a request; `None`
/// if `url` has neither scheme.
fn parse_url(url: &str) -> Option<Result<Request, Error>> {
    for (prefix, scheme) in [("http://", Scheme::Http), ("https://", Scheme::Https)] {
        if url.len() >= prefix.len() && url.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes()) {
            return Some(parse_authority_and_path(scheme, &url[prefix.len()..]));
        }
    }
    None
}

/// `[user[:pass]@]host[:port][/path][?query]`.
fn parse_authority_and_path(scheme: Scheme, s: &str) -> Result<Request, Error> {
    let bad = |why: &str| Error::Protocol(format!("bad URL {:?}: {}", s, why));
    let end = s.find(['/', '?']).unwrap_or(s.len());
    let (authority, path) = s.split_at(end);
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{}", path) };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (user, pass) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (Some(user.to_string()), Some(pass.to_string())),
            None => (Some(u.to_string()), None),
        },
        None => (None, None),
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        v6.parse::<Ipv6Addr>().map_err(|_| bad("bad IPv6 address"))?;
        (v6.to_string(), after)
    } else {
        match hostport.find(':') {
            Some(i) => (hostport[..i].to_ascii_lowercase(), &hostport[i..]),
            None => (hostport.to_ascii_lowercase(), ""),
        }
    };
    let port = match port {
        "" | ":" => None,
        p => match p.strip_prefix(':') {
            Some(digits) if !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                Some(digits.parse::<u16>().map_err(|_| bad("bad port"))?)
            }
            _ => return Err(bad("bad port")),
        },
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(Request { scheme, host, port, user, pass, path, filename: String::new(), data: Vec::new() })
}

// ---------------------------------------------------------------------------------------
// Replies

/// A socket whose every read and write waits at most until the deadline (and at most
/// `io_timeout`): a server that drips one byte at a time still ends at the deadline, also
/// inside the TLS layer, which reads through this.
struct Sock {
    tcp: TcpStream,
    deadline: Instant,
    io_timeout: Duration,
}

impl Sock {
    fn wait(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
        } else {
            Ok(left.min(self.io_timeout))
        }
    }
}

/// A socket time-out shows as `WouldBlock`; callers (rustls included) must see `TimedOut`.
fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "timeout")
    } else {
        e
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.wait()?))?;
        self.tcp.read(buf).map_err(timed_out)
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.wait()?))?;
        self.tcp.write(buf).map_err(timed_out)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// Sends the request and reads the reply: the body of a 2xx, the location of a redirect.
fn exchange<S: Read + Write>(
    mut stream: S,
    request: &[u8],
    limits: &Limits,
    remote: SocketAddr,
) -> Result<Outcome, Error> {
    stream.write_all(request).map_err(stream_error)?;
    stream.flush().map_err(stream_error)?;
    let mut reader = Reader::new(stream);
    let head = read_head(&mut reader, limits)?;
    match head.code {
        200..=299 => Ok(Outcome::Body { data: read_body(&mut reader, &head, limits)?, remote }),
        301 | 302 | 303 | 307 | 308 => match head.location {
            Some(location) => Ok(Outcome::Redirect { code: head.code, location }),
            None => Err(Error::Protocol(format!("HTTP {} without Location", head.code))),
        },
        code => Err(Error::Protocol(format!("HTTP {}", code))),
    }
}

/// Errors of the byte stream: TLS failures (`InvalidData` from rustls) are protocol
/// errors, time-outs `Error::Timeout`.
fn stream_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::InvalidData {
        Error::Protocol(format!("TLS: {}", e))
    } else {
        Error::from(e)
    }
}

/// Buffered, bounded reading of a reply.
struct Reader<S> {
    inner: S,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl<S: Read> Reader<S> {
    fn new(inner: S) -> Reader<S> {
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
struct Head {
    code: u16,
    length: Option<u64>,
    chunked: bool,
    location: Option<String>,
}

/// Reads the status line and headers, skipping interim (1xx) replies; all the lines read
/// count against `max_lines`.
fn read_head<S: Read>(r: &mut Reader<S>, limits: &Limits) -> Result<Head, Error> {
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
    let mut s = String::with_capacity(value.len());
    for &b in value {
        if b == b' ' || b >= 0x80 {
            s.push_str(&format!("%{:02X}", b));
        } else {
            s.push(b as char);
        }
    }
    Ok(s)
}

/// The body of a 2xx reply, at most `max_size` bytes.
fn read_body<S: Read>(r: &mut Reader<S>, head: &Head, limits: &Limits) -> Result<Vec<u8>, Error> {
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

// ---------------------------------------------------------------------------------------
// http_program

fn run_program(program: &str, options: &str, url: &str, ctx: &Context) -> Result<Fetched, Error> {
    if url.is_empty() || url.starts_with('-') || !url.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Error::Refused(format!("URL {:?} starts with '-' or has bytes outside printable ASCII", url)));
    }
    if program.is_empty() {
        return Err(Error::Unsupported("no http_program".into()));
    }
    // The program follows redirects on its own, but a literal address can be checked now.
    if let Some(Ok(r)) = parse_url(url) {
        if let Ok(ip) = r.host.parse::<IpAddr>() {
            ctx.policy.check(ip)?;
        }
    }
    let mut child = Command::new(program)
        .args(options.split_ascii_whitespace())
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Io(io::Error::new(e.kind(), format!("{}: {}", program, crate::sys::strerror(&e)))))?;
    crate::log_debug!("HTTP download - started {} (pid {}) for {}.", Printable(program), child.id(), url);
    let result = collect(&mut child, ctx);
    if !matches!(child.try_wait(), Ok(Some(_))) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (data, status) = result?;
    if data.is_empty() && !status.success() {
        return Err(Error::Protocol(format!("{} exited with {}", program, status)));
    }
    Ok(Fetched { data, remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), uri: url.to_string() })
}

/// Reads the child's output (bounded by size and time) and waits for its exit until the
/// deadline.
fn collect(child: &mut Child, ctx: &Context) -> Result<(Vec<u8>, std::process::ExitStatus), Error> {
    let max = ctx.limits.max_size;
    let mut data = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        let mut buf = vec![0; BUF_SIZE];
        loop {
            let ready = crate::sys::poll::poll_readable(&[out.as_fd()], Some(ctx.wait()?))?;
            if !ready.first().copied().unwrap_or(false) {
                return Err(Error::Timeout);
            }
            let n = match out.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Io(e)),
            };
            if n == 0 {
                break;
            }
            if data.len() + n > max {
                return Err(Error::TooLarge(max));
            }
            data.extend_from_slice(&buf[..n]);
        }
    }
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((data, status));
        }
        ctx.wait()?;
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn limits() -> Limits {
        Limits { max_size: 1000, max_line: 64, max_lines: 10, ..Limits::default() }
    }

    fn req(scheme: Scheme, host: &str, port: Option<u16>, path: &str) -> Request {
        Request::new(scheme, host, port, path)
    }

    /// Parses a whole reply as `exchange` does, from bytes.
    fn reply(bytes: &[u8], l: &Limits) -> Result<(Head, Vec<u8>), Error> {
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
    fn redirects_and_locations() {
        let l = limits();
        let (h, _) = reply(b"HTTP/1.1 302 Found\r\nlocation: /x\xff y\r\nContent-Length: 0\r\n\r\n", &l).unwrap();
        assert_eq!(h.location.as_deref(), Some("/x%FF%20y"));
        assert!(reply(b"HTTP/1.1 302 Found\r\nLocation: /a\x01\r\n\r\n", &l).is_err());

        let mut base = req(Scheme::Http, "10.0.0.1", Some(8080), "/dir/file.sh?q=1");
        base.user = Some("u".into());
        base.pass = Some("p".into());
        let t = |loc: &str| redirect_target(&base, loc).map(|r| r.uri());
        assert_eq!(t("/other").unwrap(), "http://u:p@10.0.0.1:8080/other");
        assert_eq!(t("other.bin").unwrap(), "http://u:p@10.0.0.1:8080/dir/other.bin");
        assert_eq!(t("?z=2").unwrap(), "http://u:p@10.0.0.1:8080/dir/file.sh?z=2");
        assert_eq!(t("HTTPS://Example.COM/a#frag").unwrap(), "https://example.com/a");
        assert_eq!(t("https://10.0.0.1:8080").unwrap(), "https://u:p@10.0.0.1:8080/");
        assert_eq!(t("http://x:y@[2001:db8::1]:81/b?c").unwrap(), "http://x:y@[2001:db8::1]:81/b?c");
        assert_eq!(t("//h.example/p").unwrap(), "http://h.example/p");
        assert_eq!(t("http://h.example:80/p").unwrap(), "http://h.example/p");
        for bad in [
            "",
            "#x",
            "ftp://1.2.3.4/x",
            "javascript:alert(1)",
            "http:///x",
            "http://h:99999/",
            "http://h:x/",
            "http://[zz]/",
        ] {
            assert!(matches!(redirect_target(&base, bad), Err(Error::Protocol(_))), "{:?}", bad);
        }
    }

    #[test]
    fn request_heads() {
        let mut r = req(Scheme::Http, "2001:db8::1", Some(8080), "/a b\r\nX: y?q");
        let head = String::from_utf8(request_head(&r)).unwrap();
        assert!(head.starts_with("GET /a%20b%0D%0AX:%20y?q HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n"), "{}", head);
        assert!(head.contains("User-Agent: Wget/1.21.3\r\n") && head.ends_with("Connection: close\r\n\r\n"));
        assert!(!head.contains("Authorization"));
        r = req(Scheme::Https, "example.com", Some(443), "x.sh");
        r.user = Some("Aladdin".into());
        r.pass = Some("open sesame".into());
        let head = String::from_utf8(request_head(&r)).unwrap();
        assert!(head.starts_with("GET /x.sh HTTP/1.1\r\nHost: example.com\r\n"), "{}", head);
        assert!(head.contains("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
        let base64 = crate::pipeline::decode::base64_encode;
        assert_eq!([base64(b""), base64(b"f"), base64(b"fo"), base64(b"foo")], ["", "Zg==", "Zm8=", "Zm9v"]);
    }

    /// Mutated and random replies and locations: no panic, every cap holds.
    #[test]
    fn mutated_replies_never_panic() {
        let l = limits();
        let seeds: [&[u8]; 4] = [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 302 Found\r\nLocation: http://[2001:db8::1]:8080/a?b\r\n\r\n",
            b"HTTP/1.0 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody",
        ];
        const SPICE: &[u8] = b"\r\n:;0fF@[]/ ";
        let mut rng = crate::wire::testutil::XorShift(0x9e37_79b9_7f4a_7c15);
        let base = req(Scheme::Https, "h.example", Some(8443), "/d/f?q");
        for i in 0..20_000 {
            let mut bytes = seeds[i % seeds.len()].to_vec();
            for _ in 0..1 + rng.below(4) {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.below(bytes.len());
                match rng.below(3) {
                    0 => bytes[at] = rng.next() as u8,
                    1 => bytes.insert(at, SPICE[rng.below(SPICE.len())]),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            if let Ok((code, location, body)) = parse_reply(&bytes, &l) {
                assert!((100..=599).contains(&code) && body.len() <= l.max_size, "{} {}", code, body.len());
                if let Some(loc) = location {
                    if let Ok(next) = redirect(&base, &loc) {
                        assert!(!next.host.is_empty() && next.path.starts_with('/'), "{:?}", next);
                        let crlfs = request_head(&next).windows(2).filter(|w| w == b"\r\n").count();
                        assert_eq!(crlfs, 7 + usize::from(next.user.is_some()), "header injection: {:?}", next);
                    }
                }
            }
            let text: String = (0..rng.below(40)).map(|_| (32 + rng.below(95)) as u8 as char).collect();
            let _ = redirect(&base, &text);
        }
    }

    #[test]
    fn log_text_is_one_line() {
        assert_eq!(Printable("http://x/a\r\n[fake] line\u{85}é").to_string(), "http://x/a\\x0d\\x0a[fake] line\\x85é");
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
