//! The ClamAV plugin: every download is streamed to a running clamd over its socket
//! (`INSTREAM`, Unix or TCP: `clamd_socket`) and its verdict logged and recorded. Replaces the
//! C original's htm_ClamAV.c, which linked libclamav, loaded the signatures into the
//! honeypot itself and scanned temporary copies; its keys `clamdb_path` and `temp_dir` are
//! accepted and have no use here (clamd has its own database and needs no copy).
//!
//! clamd is a separate program, possibly down or slow: every connect, write and read has a
//! deadline, the reply is read up to [`REPLY_MAX`] bytes, and while clamd is unreachable one
//! warning a minute says so and the samples go unscanned (capture goes on).

use crate::log::Throttle;
use crate::sys::strerror;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Debian's clamd socket (`LocalSocket` of /etc/clamav/clamd.conf).
pub const DEFAULT_SOCKET: &str = "/var/run/clamav/clamd.ctl";
/// Longest wait for one connect, write or read.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of one `INSTREAM` chunk.
const CHUNK: usize = 64 << 10;
/// Longest reply read.
pub const REPLY_MAX: usize = 4096;
/// At most one "unreachable" line per this interval.
const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// Where clamd listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Unix(PathBuf),
    Tcp(String, u16),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "{}", p.display()),
            Target::Tcp(h, p) if h.contains(':') => write!(f, "tcp://[{h}]:{p}"),
            Target::Tcp(h, p) => write!(f, "tcp://{h}:{p}"),
        }
    }
}

/// `clamd_socket`: a path (a Unix socket), or `tcp://HOST:PORT` (`[v6]:PORT`).
pub fn parse_target(s: &str, base_dir: &Path) -> Option<Target> {
    if let Some(rest) = s.strip_prefix("tcp://") {
        let (host, port) = rest.rsplit_once(':')?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
        return (!host.is_empty()).then(|| Target::Tcp(host.to_string(), port));
    }
    (!s.is_empty()).then(|| Target::Unix(base_dir.join(s)))
}

/// Time left until `deadline`, a `TimedOut` error once it has passed.
fn left(deadline: Instant) -> io::Result<Duration> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "analysis time is up"))
    } else {
        Ok(d)
    }
}

/// What clamd said of a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The signature name.
    Infected(String),
    /// clamd could not scan it (its words, e.g. a size limit).
    Error(String),
}

/// The verdict in a reply (`stream: OK`, `stream: NAME FOUND`, `... ERROR`), NUL or newline
/// ended.
pub fn parse_reply(reply: &[u8]) -> Verdict {
    let end = reply.iter().position(|&b| b == 0 || b == b'\n').unwrap_or(reply.len());
    let text = String::from_utf8_lossy(&reply[..end]);
    let text = text.trim();
    let body = text.split_once(": ").map_or(text, |(_, b)| b);
    if body == "OK" {
        Verdict::Clean
    } else if let Some(name) = body.strip_suffix(" FOUND") {
        let name: String = name.chars().filter(|c| !c.is_control()).take(256).collect();
        Verdict::Infected(name)
    } else {
        Verdict::Error(body.chars().filter(|c| !c.is_control()).take(256).collect())
    }
}

/// A clamd to scan with.
pub struct Clamd {
    pub target: Target,
    warn: Throttle,
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

impl Clamd {
    pub fn new(target: Target) -> Clamd {
        Clamd { target, warn: Throttle::new(WARN_INTERVAL) }
    }

    fn connect(&self, deadline: Instant) -> io::Result<Box<dyn Stream>> {
        let wait = left(deadline)?;
        match &self.target {
            Target::Unix(p) => {
                let s = UnixStream::connect(p)?;
                s.set_read_timeout(Some(wait))?;
                s.set_write_timeout(Some(wait))?;
                Ok(Box::new(s))
            }
            Target::Tcp(h, port) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                for a in (h.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT.min(left(deadline)?)) {
                        Ok(s) => {
                            let wait = left(deadline)?;
                            s.set_read_timeout(Some(wait))?;
                            s.set_write_timeout(Some(wait))?;
                            return Ok(Box::new(s));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// Streams `data` to clamd and returns its verdict; every wait ends by `deadline` (and
    /// after [`IO_TIMEOUT`] at most), the exchange too.
    pub fn scan(&self, data: &[u8], deadline: Instant) -> io::Result<Verdict> {
        let deadline = deadline.min(Instant::now() + IO_TIMEOUT);
        let mut s = self.connect(deadline)?;
        s.write_all(b"zINSTREAM\0")?;
        for chunk in data.chunks(CHUNK) {
            left(deadline)?;
            s.write_all(&(chunk.len() as u32).to_be_bytes())?;
            s.write_all(chunk)?;
        }
        s.write_all(&[0, 0, 0, 0])?;
        let mut reply = Vec::with_capacity(64);
        let mut buf = [0u8; 512];
        while reply.len() < REPLY_MAX && !reply.contains(&0) {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
        }
        if reply.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no reply"));
        }
        reply.truncate(REPLY_MAX);
        Ok(parse_reply(&reply))
    }

    /// Scans `data` (`what` names it in log lines); `None` when clamd could not be asked
    /// (one warning a minute).
    pub fn verdict(&self, what: &str, data: &[u8], deadline: Instant) -> Option<Verdict> {
        match self.scan(data, deadline) {
            Ok(v) => {
                match &v {
                    Verdict::Clean => crate::log_noisy!("ClamAV - Sample {} considered to be clean.", what),
                    Verdict::Infected(n) => crate::log_info!("ClamAV - Sample {} is infected with '{}'.", what, n),
                    Verdict::Error(e) => {
                        crate::log_warn!("ClamAV - Warning - Sample {} not scanned: clamd says {}.", what, e)
                    }
                }
                Some(v)
            }
            Err(e) => {
                if let Some(more) = self.warn.due() {
                    crate::log_warn!(
                        "ClamAV - Warning - clamd at {} unreachable: {}; samples are not scanned ({} more since the last warning).",
                        self.target,
                        strerror(&e),
                        more
                    );
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(parse_reply(b"stream: OK\0"), Verdict::Clean);
        assert_eq!(
            parse_reply(b"stream: Eicar-Test-Signature FOUND\0"),
            Verdict::Infected("Eicar-Test-Signature".into())
        );
        assert_eq!(
            parse_reply(b"INSTREAM size limit exceeded. ERROR\0"),
            Verdict::Error("INSTREAM size limit exceeded. ERROR".into())
        );
        assert_eq!(parse_reply(b"stream: Evil\x1b[31m FOUND\n"), Verdict::Infected("Evil[31m".into()));
        assert_eq!(parse_reply(b""), Verdict::Error(String::new()));
    }

    #[test]
    fn targets() {
        let b = Path::new("/base");
        assert_eq!(parse_target("/run/clamd.ctl", b), Some(Target::Unix("/run/clamd.ctl".into())));
        assert_eq!(parse_target("clamd.sock", b), Some(Target::Unix("/base/clamd.sock".into())));
        assert_eq!(parse_target("tcp://127.0.0.1:3310", b), Some(Target::Tcp("127.0.0.1".into(), 3310)));
        assert_eq!(parse_target("tcp://[::1]:3310", b), Some(Target::Tcp("::1".into(), 3310)));
        assert_eq!(parse_target("tcp://h:0", b), None);
        assert_eq!(parse_target("tcp://:1", b), None);
        assert_eq!(parse_target("", b), None);
        assert_eq!(Target::Tcp("::1".into(), 3310).to_string(), "tcp://[::1]:3310");
    }
}
