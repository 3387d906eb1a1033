//! FTP client: the Windows ftp.exe-like active-mode dialogue of htm_ftpDownload.c, bounded,
//! with PASV fallback.
//!
//! Owns the transfer only: the attack-string parser is `pipeline::extract`, the "Requesting …"
//! / "… attached to attack record." lines and the retry with the attacker's address are the
//! caller's. The dialogue is the original's (`USER`, `PASS`, `SYST`, `TYPE I`, `PORT` with data
//! ports from 1080 upwards, `RETR`, `QUIT`), with the defects of the C plugin fixed: every
//! reply is awaited (the `PORT` reply too), `125` and `5xx` replies are understood, multi-line
//! replies follow RFC 959, a refused or silent active mode falls back to passive mode (`PASV`,
//! `EPSV` on IPv6), `ftp_host` is announced in `PORT` for sensors behind NAT, and the data
//! transfer has a size cap and a deadline.
//!
//! The server is hostile: reply lines are capped at `Limits::max_line` bytes and a dialogue
//! at `Limits::max_lines` lines, every wait ends at `Context::wait()`, a passive-mode address
//! goes through the `Policy`, and an active-mode data connection is taken only from the
//! server's address. Command formatting is plain functions (tested below without sockets);
//! reply.rs is the pure reply parser; [`fetch`] is the socket shell around them.

pub mod reply;

use super::policy::canonical;
use super::{Context, Error, Fetched};
use crate::pipeline::request::{Request, Scheme};
use crate::sys::net::{tcp_connect_from, tcp_listener};
use reply::{parse_epsv, parse_pasv, printable, Reply, ReplyParser};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

/// The first active-mode data port, as Windows ftp.exe and the C original used.
pub const FIRST_DATA_PORT: u16 = 1080;
/// How many ports from [`FIRST_DATA_PORT`] upwards are tried for the data listener.
const DATA_PORT_TRIES: u16 = 100;
/// The password sent when the command names none (the C original's default).
pub const DEFAULT_PASS: &str = "root@localhost";
/// Longest wait for the `QUIT` reply: the file is already in hand.
const QUIT_WAIT: Duration = Duration::from_secs(2);
/// Active-mode data connections from foreign addresses dropped before giving up.
const MAX_FOREIGN_CONNECTIONS: usize = 8;
/// Size of one read from the data connection.
const DATA_CHUNK: usize = 16 * 1024;

/// The `PORT` argument `a,b,c,d,p1,p2` for an IPv4 address and port.
pub fn port_argument(ip: Ipv4Addr, port: u16) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{},{},{},{},{},{}", a, b, c, d, port >> 8, port & 0xff)
}

/// The `EPRT` argument (RFC 2428) `|1|a.b.c.d|port|` or `|2|addr|port|`.
pub fn eprt_argument(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("|1|{}|{}|", v4, port),
        IpAddr::V6(v6) => format!("|2|{}|{}|", v6, port),
    }
}

/// Rejects command arguments that would end the command early (a CR, LF or NUL smuggled in
/// from the attack string would let it inject commands of its own).
fn check_argument(what: &str, arg: &str, max: usize) -> Result<(), Error> {
    if arg.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::Refused(format!("FTP {} contains a line break or NUL byte", what)));
    }
    if arg.len() > max {
        return Err(Error::Refused(format!("FTP {} longer than {} bytes", what, max)));
    }
    Ok(())
}

/// The control connection: buffered reply lines with the caps of `Limits`.
struct Control<'c, 'a> {
    stream: TcpStream,
    ctx: &'c Context<'a>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    lines: usize,
    parser: ReplyParser,
    /// An extra cap on every wait (the `QUIT` reply).
    cap: Option<Duration>,
}

impl<'c, 'a> Control<'c, 'a> {
    fn new(stream: TcpStream, ctx: &'c Context<'a>) -> Self {
        // Room for the longest line allowed plus its CR LF.
        let size = ctx.limits.max_line.saturating_add(2).max(64);
        Control {
            stream,
            ctx,
            buf: vec![0; size],
            start: 0,
            end: 0,
            lines: 0,
            parser: ReplyParser::default(),
            cap: None,
        }
    }

    fn wait(&self) -> Result<Duration, Error> {
        let w = self.ctx.wait()?;
        Ok(self.cap.map_or(w, |c| w.min(c)))
    }

    /// One reply line without its line end.
    fn line(&mut self) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(i) = self.buf[self.start..self.end].iter().position(|&b| b == b'\n') {
                let mut line = &self.buf[self.start..self.start + i];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let line = line.to_vec();
                self.start += i + 1;
                if line.len() > self.ctx.limits.max_line {
                    return Err(self.hostile(format!("reply line longer than {} bytes", self.ctx.limits.max_line)));
                }
                self.lines += 1;
                if self.lines > self.ctx.limits.max_lines {
                    return Err(self.hostile(format!("more than {} reply lines", self.ctx.limits.max_lines)));
                }
                return Ok(line);
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                return Err(self.hostile(format!("reply line longer than {} bytes", self.ctx.limits.max_line)));
            }
            let wait = match self.wait() {
                Ok(w) => w,
                Err(e) => {
                    crate::log_noisy!("FTP download - Control connection timeout.");
                    return Err(e);
                }
            };
            self.stream.set_read_timeout(Some(wait))?;
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    crate::log_noisy!("FTP download - Control connection closed by remote host.");
                    return Err(Error::Protocol("control connection closed by remote host".into()));
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = Error::from(e);
                    if matches!(e, Error::Timeout) {
                        crate::log_noisy!("FTP download - Control connection timeout.");
                    }
                    return Err(e);
                }
            }
        }
    }

    fn hostile(&self, why: String) -> Error {
        crate::log_warn!("FTP download error - {}, giving up.", why);
        Error::Protocol(why)
    }

    /// The next complete reply.
    fn reply(&mut self) -> Result<Reply, Error> {
        loop {
            let line = self.line()?;
            crate::log_debug!("FTP download - Received '{}'.", printable(&line));
            match self.parser.feed(&line) {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => {}
                Err(why) => return Err(self.hostile(why.to_string())),
            }
        }
    }

    /// The next reply that is not preliminary (1xx).
    fn final_reply(&mut self) -> Result<Reply, Error> {
        loop {
            let r = self.reply()?;
            if r.class() != 1 {
                return Ok(r);
            }
        }
    }

    fn send(&mut self, cmd: &str) -> Result<(), Error> {
        self.stream.set_write_timeout(Some(self.wait()?))?;
        self.stream.write_all(format!("{}\r\n", cmd).as_bytes())?;
        Ok(())
    }

    fn local_ip(&self) -> Result<IpAddr, Error> {
        Ok(self.stream.local_addr()?.ip())
    }
}

/// A failure reply: logged as the C original did, and the error to return.
fn error_reply(r: &Reply) -> Error {
    crate::log_warn!("FTP download - FTP error code received: {}", r.line);
    Error::Protocol(r.line.clone())
}

/// Fetches `path` from the FTP server `server`: logs in as `user` (default `anonymous`) with
/// `pass` (default `root@localhost`), tries active mode with a data port from 1080 upwards,
/// falls back to passive mode, and returns the file's bytes.
///
/// The control connection leaves from `ctx.local_ip` when it has the server's family. A
/// failed connect is `Error::Connect` (the caller may then try the attacker's address).
pub fn fetch(
    server: SocketAddr,
    user: Option<&str>,
    pass: Option<&str>,
    path: &str,
    ctx: &Context,
) -> Result<Fetched, Error> {
    let max_arg = ctx.limits.max_line.min(1024);
    let login = user.unwrap_or("anonymous");
    let password = pass.unwrap_or(DEFAULT_PASS);
    check_argument("user name", login, max_arg)?;
    check_argument("password", password, max_arg)?;
    check_argument("file name", path, max_arg)?;
    if path.is_empty() {
        return Err(Error::Refused("empty FTP file name".into()));
    }
    ctx.policy.check(server.ip())?;

    let local = Some(ctx.local_ip).filter(|ip| !ip.is_unspecified() && ip.is_ipv4() == server.is_ipv4());
    let stream = tcp_connect_from(local, &server, ctx.wait()?).map_err(|e| Error::Connect(server, e))?;
    let mut c = Control::new(stream, ctx);
    crate::log_noisy!("FTP download - Faking Windows FTP dialogue.");
    let result = dialogue(&mut c, server, login, password, path);
    match &result {
        Ok(_) => quit(&mut c),
        // Say goodbye unless the connection itself is the problem.
        Err(Error::Protocol(_)) | Err(Error::TooLarge(_)) | Err(Error::Refused(_)) => {
            if c.ctx.wait().is_ok() {
                let _ = c.send("QUIT");
            }
        }
        Err(_) => {}
    }
    let data = result?;
    let uri = Request {
        scheme: Scheme::Ftp,
        host: server.ip().to_string(),
        port: Some(server.port()),
        user: user.map(str::to_string),
        pass: pass.map(str::to_string),
        path: path.to_string(),
        filename: String::new(),
        data: Vec::new(),
    }
    .uri();
    Ok(Fetched { data, remote: server, uri })
}

/// Greeting, login, `SYST`, `TYPE I`, then the transfer; the file's bytes.
fn dialogue(c: &mut Control, server: SocketAddr, user: &str, pass: &str, path: &str) -> Result<Vec<u8>, Error> {
    let greeting = c.final_reply()?;
    if greeting.code != 220 {
        return Err(error_reply(&greeting));
    }
    crate::log_noisy!("FTP download - Sending 'USER {}'.", printable(user.as_bytes()));
    c.send(&format!("USER {}", user))?;
    let mut r = c.final_reply()?;
    if r.code == 331 {
        crate::log_noisy!("FTP download - Sending 'PASS {}'.", printable(pass.as_bytes()));
        c.send(&format!("PASS {}", pass))?;
        r = c.final_reply()?;
    }
    if r.class() != 2 {
        return Err(error_reply(&r));
    }
    crate::log_noisy!("FTP download - Sending 'SYST'.");
    c.send("SYST")?;
    let r = c.final_reply()?;
    crate::log_debug!("FTP download - SYST reply: {}", r.line);
    crate::log_noisy!("FTP download - Sending 'TYPE I'.");
    c.send("TYPE I")?;
    let r = c.final_reply()?;
    if r.code != 200 {
        crate::log_debug!("FTP download - Could not set binary mode: {}", r.line);
    }

    let data = match active(c, server, path)? {
        Some(data) => data,
        None => passive(c, server, path)?,
    };
    let r = c.final_reply()?;
    if r.class() != 2 {
        return Err(error_reply(&r));
    }
    crate::log_noisy!("FTP download - Successfully downloaded {}.", printable(path.as_bytes()));
    Ok(data)
}

/// Active mode: `Ok(None)` when it failed in a way passive mode may cure (no listener, the
/// `PORT` refused, the server unable to connect, no connection within the wait).
fn active(c: &mut Control, server: SocketAddr, path: &str) -> Result<Option<Vec<u8>>, Error> {
    let local = c.local_ip()?;
    let Some(listener) = data_listener(local) else {
        crate::log_noisy!("FTP download - No data port free from {} on, trying passive mode.", FIRST_DATA_PORT);
        return Ok(None);
    };
    let port = listener.local_addr()?.port();
    let announce = c.ctx.ftp_host.map(canonical).unwrap_or(canonical(local));
    match (local, announce) {
        (IpAddr::V4(_), IpAddr::V4(a)) => {
            let arg = port_argument(a, port);
            // The original's text, unbalanced quote included.
            crate::log_noisy!("FTP download - Sending 'PORT {}.", arg);
            c.send(&format!("PORT {}", arg))?;
        }
        (_, a) => {
            let arg = eprt_argument(a, port);
            crate::log_noisy!("FTP download - Sending 'EPRT {}'.", arg);
            c.send(&format!("EPRT {}", arg))?;
        }
    }
    let r = c.final_reply()?;
    if r.class() != 2 {
        crate::log_noisy!("FTP download - Active mode refused ({}), trying passive mode.", r.line);
        return Ok(None);
    }
    if !retr(c, path)? {
        return Ok(None);
    }
    if let Some(data) = accept_from(&listener, server.ip(), c.ctx)? {
        return read_data(data, c.ctx).map(Some);
    }
    // The server said it would connect and did not: abort that transfer (426 and 226, or
    // just 225/226), then try passive mode.
    crate::log_noisy!("FTP download - No data connection from the server, trying passive mode.");
    drop(listener);
    c.send("ABOR")?;
    for _ in 0..3 {
        let r = c.final_reply()?;
        if r.class() == 2 {
            return Ok(None);
        }
    }
    Err(c.hostile("no completion reply to ABOR".into()))
}

/// Passive mode: `PASV` (IPv4) or `EPSV` (IPv6), the address checked, then `RETR`.
fn passive(c: &mut Control, server: SocketAddr, path: &str) -> Result<Vec<u8>, Error> {
    let addr = if server.is_ipv4() {
        crate::log_noisy!("FTP download - Sending 'PASV'.");
        c.send("PASV")?;
        let r = c.final_reply()?;
        if r.code != 227 {
            return Err(error_reply(&r));
        }
        parse_pasv(&r.line).ok_or_else(|| c.hostile(format!("unusable PASV reply '{}'", r.line)))?
    } else {
        crate::log_noisy!("FTP download - Sending 'EPSV'.");
        c.send("EPSV")?;
        let r = c.final_reply()?;
        if r.code != 229 {
            return Err(error_reply(&r));
        }
        let port = parse_epsv(&r.line).ok_or_else(|| c.hostile(format!("unusable EPSV reply '{}'", r.line)))?;
        SocketAddr::new(server.ip(), port)
    };
    if let Err(e) = c.ctx.policy.check(addr.ip()) {
        crate::log_warn!("FTP download error - Refusing passive-mode data connection to {}: {}.", addr, e);
        return Err(e);
    }
    let local = c.local_ip()?;
    let data =
        tcp_connect_from(Some(local).filter(|l| l.is_ipv4() == addr.is_ipv4()), &addr, c.ctx.wait()?).map_err(|e| {
            Error::Protocol(format!("unable to open data connection to {}: {}", addr, crate::sys::strerror(&e)))
        })?;
    if !retr(c, path)? {
        return Err(Error::Protocol("server cannot open the data connection".into()));
    }
    read_data(data, c.ctx)
}

/// Sends `RETR` and waits for the transfer to start (`125`/`150`): `Ok(false)` for `425`
/// (the server cannot open the data connection), an error for other failures.
fn retr(c: &mut Control, path: &str) -> Result<bool, Error> {
    crate::log_noisy!("FTP download - Sending 'RETR {}'.", printable(path.as_bytes()));
    c.send(&format!("RETR {}", path))?;
    loop {
        let r = c.reply()?;
        match r.code {
            125 | 150 => return Ok(true),
            100..=199 => {}
            425 => {
                crate::log_noisy!("FTP download - Server cannot open the data connection: {}", r.line);
                return Ok(false);
            }
            _ => return Err(error_reply(&r)),
        }
    }
}

/// A data listener on the control connection's local address, port 1080 or the next free
/// one (Windows ftp.exe's habit, kept from the original).
fn data_listener(local: IpAddr) -> Option<TcpListener> {
    (0..DATA_PORT_TRIES).find_map(|i| tcp_listener(&SocketAddr::new(local, FIRST_DATA_PORT + i), 1).ok())
}

/// The server's data connection, taken only from `server`; `Ok(None)` when none came within
/// the wait (and the deadline has not passed).
fn accept_from(listener: &TcpListener, server: IpAddr, ctx: &Context) -> Result<Option<TcpStream>, Error> {
    listener.set_nonblocking(true)?;
    let mut foreign = 0;
    loop {
        let wait = ctx.wait()?;
        if !crate::sys::poll::poll_readable(&[listener.as_fd()], Some(wait))?[0] {
            return ctx.wait().map(|_| None);
        }
        match listener.accept() {
            Ok((s, peer)) if canonical(peer.ip()) == canonical(server) => {
                s.set_nonblocking(false)?;
                return Ok(Some(s));
            }
            Ok((_, peer)) => {
                crate::log_warn!("FTP download error - Dropping data connection from {}, not the server.", peer);
                foreign += 1;
                if foreign >= MAX_FOREIGN_CONNECTIONS {
                    return Err(Error::Protocol(format!("{} foreign data connections", foreign)));
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The file: everything the data connection sends until it closes, within the size cap and
/// the deadline.
fn read_data(mut s: TcpStream, ctx: &Context) -> Result<Vec<u8>, Error> {
    let max = ctx.limits.max_size;
    let mut data = Vec::new();
    let mut chunk = vec![0u8; DATA_CHUNK];
    loop {
        s.set_read_timeout(Some(ctx.wait()?))?;
        match s.read(&mut chunk) {
            Ok(0) => return Ok(data),
            Ok(n) => {
                if data.len() + n > max {
                    crate::log_warn!("FTP download error - File larger than {} bytes, giving up.", max);
                    return Err(Error::TooLarge(max));
                }
                data.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let e = Error::from(e);
                if matches!(e, Error::Timeout) {
                    crate::log_noisy!("FTP download - Data connection timeout.");
                }
                return Err(e);
            }
        }
    }
}

/// `QUIT` and its `221`, briefly: the file is already in hand, nothing here can fail it.
fn quit(c: &mut Control) {
    c.cap = Some(QUIT_WAIT);
    crate::log_noisy!("FTP download - Sending 'QUIT'.");
    if c.send("QUIT").is_ok() && c.reply().is_ok_and(|r| r.code == 221) {
        crate::log_noisy!("FTP download - Remote host said 'Goodbye'.");
    }
    let _ = c.stream.shutdown(std::net::Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_and_eprt_arguments() {
        assert_eq!(port_argument(Ipv4Addr::new(127, 0, 0, 1), 1080), "127,0,0,1,4,56");
        assert_eq!(port_argument(Ipv4Addr::new(10, 77, 0, 1), 65535), "10,77,0,1,255,255");
        assert_eq!(eprt_argument("fd77::1".parse().unwrap(), 1081), "|2|fd77::1|1081|");
        assert_eq!(eprt_argument("1.2.3.4".parse().unwrap(), 1082), "|1|1.2.3.4|1082|");
    }

    #[test]
    fn arguments_cannot_inject_commands() {
        assert!(check_argument("file name", "evil.exe", 100).is_ok());
        for bad in ["a\r\nDELE x", "a\nb", "a\0b"] {
            assert!(matches!(check_argument("file name", bad, 100), Err(Error::Refused(_))), "{:?}", bad);
        }
        assert!(matches!(check_argument("file name", &"a".repeat(101), 100), Err(Error::Refused(_))));
    }
}
