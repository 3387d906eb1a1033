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
//!
//! This file is the client (requests, redirects, the socket with its deadline; URLs are read
//! by `Request::parse`); reply.rs is the pure reply parser, program.rs the `http_program`
//! runner, tls.rs the TLS layer.

mod program;
pub mod reply;
#[cfg(feature = "tls")]
mod tls;

pub use program::fetch_with_program;
pub use reply::parse_reply;
use reply::{read_body, read_head, Reader};

use super::{policy, Context, Error, Fetched, Limits};
use crate::pipeline::request::{HostCase, Request, Scheme};
use crate::sys::net::tcp_connect_from;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
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

/// Where a `Location` value sends a request for `base` (absolute, scheme-relative or
/// relative), as `fetch` follows it. For fuzz targets and tests.
pub fn redirect(base: &Request, location: &str) -> Result<Request, Error> {
    redirect_target(base, location)
}

/// Attacker-controlled text in a log line: control characters escaped as the log does
/// ([`crate::log::write_escaped`]), the tab included, so that a URL can neither end the line
/// nor forge another.
struct Printable<'a>(&'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::log::write_escaped(f, self.0, true)
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

/// Appends `bytes` with every byte outside printable ASCII (the space, controls, non-ASCII)
/// as `%XX`.
fn percent_encode_into(s: &mut String, bytes: &[u8]) {
    crate::text::push_percent_encoded(s, bytes, |b| (0x21..=0x7e).contains(&b));
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

/// `[user[:pass]@]host[:port][/path][?query]` read by the one URL parser, the host in lower
/// case.
fn parse_authority_and_path(scheme: Scheme, s: &str) -> Result<Request, Error> {
    Request::parse(scheme, s.as_bytes(), HostCase::Lower)
        .map_err(|why| Error::Protocol(format!("bad URL {:?}: {}", s, why)))
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

#[cfg(test)]
mod tests {
    use super::*;

    use reply::tests::{limits, reply};

    fn req(scheme: Scheme, host: &str, port: Option<u16>, path: &str) -> Request {
        Request::new(scheme, host, port, path)
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

    /// A `Location` is read by the same parser as the URLs of an attack string: credentials
    /// percent-decoded (sent decoded in `Authorization`, not encoded twice in the URI), host
    /// names checked, port 0 refused.
    #[test]
    fn locations_follow_the_url_rules() {
        let base = req(Scheme::Http, "10.0.0.1", None, "/");
        let next = redirect_target(&base, "http://a%40b:c%3Ad@h.example/x").unwrap();
        assert_eq!((next.user.as_deref(), next.pass.as_deref()), (Some("a@b"), Some("c:d")));
        assert_eq!(next.uri(), "http://a%40b:c:d@h.example/x");
        for (bad, why) in [("http://a!b/x", "bad host name"), ("//h.example:0/x", "bad port")] {
            match redirect_target(&base, bad) {
                Err(Error::Protocol(e)) => assert!(e.ends_with(why), "{bad}: {e}"),
                other => panic!("{bad}: {other:?}"),
            }
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
        // Unlike the log line itself, a URL shown this way has its tabs escaped too.
        assert_eq!(Printable("a\tb").to_string(), "a\\x09b");
    }
}
