//! Download clients (docs/COMPATIBILITY.md, Downloads): FTP, TFTP, HTTP(S) and raw TCP written against
//! std sockets, no shell, no external program unless `http_program` asks for one. Replaces the
//! transfer halves of htm_ftpDownload.c, htm_tftpDownload.c and htm_httpDownload.c.
//!
//! Every server is hostile: each client bounds reply lines, reply counts, sizes and time
//! (`Limits`, `Context::deadline`), and checks every address it is sent to against the
//! `Policy` (a PASV reply or a redirect can point anywhere).

pub mod ftp;
pub mod http;
pub(crate) mod policy;
pub mod tcp;
pub mod tftp;

pub use policy::Policy;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Caps that hold for one download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest file kept; a transfer that goes beyond it is abandoned (`Error::TooLarge`).
    pub max_size: usize,
    /// Longest a single wait (connect, reply line, data block) may take.
    pub io_timeout: Duration,
    /// Most HTTP redirects followed.
    pub max_redirects: u32,
    /// Longest reply line (FTP) or header line (HTTP) read, in bytes.
    pub max_line: usize,
    /// Most reply lines (FTP, all of a dialogue) or header lines (HTTP, per response).
    pub max_lines: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_size: 32 << 20,
            io_timeout: Duration::from_secs(30),
            max_redirects: 5,
            max_line: 4096,
            max_lines: 200,
        }
    }
}

/// What a client needs to know about the attack it fetches for.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The attacked local address: control connections are bound to it (replies come from
    /// the address the attacker saw), and FTP `PORT` names it unless `ftp_host` is set.
    pub local_ip: IpAddr,
    /// The attacker, for the "try the attacking address instead" fallback (as the C ftpDownload
    /// had it).
    pub attacker: IpAddr,
    /// `ftp_host` of plugin-ftpDownload: the address announced in `PORT`/`EPRT` when the
    /// sensor is behind NAT (the data listener is still bound locally).
    pub ftp_host: Option<IpAddr>,
    pub policy: &'a Policy,
    pub limits: &'a Limits,
    /// Wall-clock end of this download (the smaller of the per-download and the
    /// per-attack caps). Every wait is cut to it.
    pub deadline: Instant,
}

impl Context<'_> {
    /// Time left before the deadline, at most `limits.io_timeout`; `Err(Error::Timeout)`
    /// once it has passed.
    pub fn wait(&self) -> Result<Duration, Error> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Error::Timeout)
        } else {
            Ok(left.min(self.limits.io_timeout))
        }
    }
}

/// A TCP connection to `addr` from the attacked address (the server sees the address the
/// attacker talked to), or from any address if that one cannot be used (another family, or
/// an address this host no longer has). The caller has checked `addr` against the policy.
pub(crate) fn connect_from_attacked(addr: SocketAddr, ctx: &Context) -> Result<TcpStream, Error> {
    let local = Some(ctx.local_ip).filter(|ip| !ip.is_unspecified() && ip.is_ipv4() == addr.is_ipv4());
    let mut connected = crate::sys::net::tcp_connect_from(local, &addr, ctx.wait()?);
    if local.is_some() && matches!(&connected, Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable) {
        connected = crate::sys::net::tcp_connect_from(None, &addr, ctx.wait()?);
    }
    connected.map_err(|e| Error::Connect(addr, e))
}

/// A file a client fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub data: Vec<u8>,
    /// The server the bytes came from (after redirects, for HTTP).
    pub remote: SocketAddr,
    /// The URI the bytes came from (after redirects).
    pub uri: String,
}

/// Why a download failed. `Display` gives the reason for the log line, without a prefix.
#[derive(Debug)]
pub enum Error {
    /// An address the policy forbids (loopback, link-local, multicast, the sensor itself…).
    Refused(String),
    /// The host name did not resolve.
    Resolve(String),
    /// Connecting to the server failed: the caller may try the attacker's address.
    Connect(SocketAddr, io::Error),
    /// The server answered something we cannot use (error reply, bad syntax, too many lines…).
    Protocol(String),
    /// The deadline passed, or a single wait ran out.
    Timeout,
    /// The file grew beyond `Limits::max_size`.
    TooLarge(usize),
    /// The scheme is not fetched by this build or configuration (e.g. HTTPS without TLS).
    Unsupported(String),
    /// Any other I/O failure.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused(why) => write!(f, "refused: {}", why),
            Error::Resolve(why) => write!(f, "unable to resolve {}", why),
            Error::Connect(a, e) => write!(f, "unable to connect to {}: {}", a, crate::sys::strerror(e)),
            Error::Protocol(why) => write!(f, "{}", why),
            Error::Timeout => write!(f, "timeout"),
            Error::TooLarge(n) => write!(f, "file larger than {} bytes", n),
            Error::Unsupported(why) => write!(f, "not fetched: {}", why),
            Error::Io(e) => write!(f, "{}", crate::sys::strerror(e)),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout,
            _ => Error::Io(e),
        }
    }
}
