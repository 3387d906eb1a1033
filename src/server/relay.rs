//! Mirror and proxy modes (honeytrap.conf(5), `portconf`): the outgoing connection (to the
//! attacker's own address on the same port, or to the configured proxy target) and the TCP
//! relay loop that copies bytes both ways and records each direction (UDP flows are relayed by
//! their socket's thread, udp/, with [`connect_udp_target`] and the same log texts). Replaces
//! `proxy_connect`, `copy_data` (proxy.c) and `handle_connection_proxied` (dynsrv.c) of the C
//! original. Choosing the mode, the target and the fallback to normal mode is the caller's
//! business (`Engine::connection`); the log texts it needs are here ([`log_established`],
//! [`log_rejected`], [`log_loop_suppressed`], [`log_unresolved`]) so that they match the C.
//!
//! The log lines at levels ≤ 5 are the C texts, with the C words: mirror `<>`,
//! `mirror`/`Mirror`; proxy `==`, `proxy`/`server`/`Server` (so a proxied session times out
//! with `Server connection timed out, closing connections.`, as in C). Deliberate
//! differences (docs/COMPATIBILITY.md, Differences from the C honeytrap):
//! * Partial writes are handled: every byte read is written to the other side, with
//!   non-blocking sockets and a per-direction backlog of one read (a side is not read while
//!   what it sent before is still being written), so two senders can never deadlock the
//!   relay. A direction that makes no write progress for [`WRITE_TIMEOUT`] ends the session.
//! * `read_limit` is enforced exactly and in both directions: at most `read_limit` bytes are
//!   read (and forwarded) from each side (the C program compared only the mirror→client total
//!   and could overshoot by one read). Both directions are read into the caller's buffers
//!   ([`Intake`]), charged to the daemon's memory budget for attack data; when it has no room
//!   for more, the session ends as at the read limit ([`RelayEnd::MemoryBudget`]).
//! * The ports in the copy lines are real, host-order ports, and each line names the
//!   destination of the copy (the C printed the client's address with a byte-swapped port,
//!   and the client's address again for client→proxy copies).
//! * An absolute session limit, and the shutdown flag is checked at least once a second.
//! * A read error ends the session with [`RelayEnd::Error`] (the C took it for a close).
//! * When one side closes, the other is shut down for writing (it sees EOF) and what is
//!   already read from the other side is still delivered before both are closed.
//! * Resolution failures of the proxy host end only the connection ([`resolve_target`]
//!   returns `None`; the C server process exited), and loop prevention covers all loopback
//!   and unspecified addresses and the sensor's own addresses ([`is_loop_target`]).

use crate::budget::{self, Charge, Full, Intake};
use crate::sys::poll::{poll_fds, PollFd};
use crate::sys::{net, strerror};
use crate::{log_debug, log_err, log_info, log_noisy, log_notice, log_warn};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use super::conn::{READ_CHUNK, WRITE_TIMEOUT};

/// Connect timeout of mirror and proxy connections (the C `FASTCONNTIMEOUT`).
pub const FAST_CONN_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle limit of a relayed session (the C `m_read_timeout`).
pub const MIRROR_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest single wait, so that the shutdown flag is seen at least once a second.
const STEP: Duration = Duration::from_secs(1);

/// Which relay mode, with the C original's log prefix and words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayKind {
    Mirror,
    Proxy,
}

impl RelayKind {
    /// Log prefix: `<>` / `==`.
    pub fn prefix(self) -> &'static str {
        match self {
            RelayKind::Mirror => "<>",
            RelayKind::Proxy => "==",
        }
    }

    /// The activity word (C `logact`): `mirror` / `proxy`.
    pub fn act(self) -> &'static str {
        match self {
            RelayKind::Mirror => "mirror",
            RelayKind::Proxy => "proxy",
        }
    }

    /// The far side (C `logstr`): `mirror` / `server`.
    pub fn side(self) -> &'static str {
        match self {
            RelayKind::Mirror => "mirror",
            RelayKind::Proxy => "server",
        }
    }

    /// The far side, capitalised (C `Logstr`): `Mirror` / `Server`.
    pub fn side_title(self) -> &'static str {
        match self {
            RelayKind::Mirror => "Mirror",
            RelayKind::Proxy => "Server",
        }
    }

    /// The mode's name in the connect lines: `Mirror` / `Proxy`.
    pub fn title(self) -> &'static str {
        match self {
            RelayKind::Mirror => "Mirror",
            RelayKind::Proxy => "Proxy",
        }
    }
}

/// Everything the relay loop needs to know.
#[derive(Clone, Debug)]
pub struct RelayParams {
    pub kind: RelayKind,
    /// No data in either direction for this long ends the session ([`MIRROR_READ_TIMEOUT`]);
    /// zero is taken as [`MIRROR_READ_TIMEOUT`].
    pub idle_timeout: Duration,
    /// Most bytes read from each side, for the log line (the caller's [`Intake`]s enforce
    /// it); 0 = unlimited.
    pub read_limit: u32,
    /// Longest session from the call on; zero = no limit.
    pub session_limit: Duration,
    /// Log prefix `%5u/%s` (see [`crate::attack::portstr`]).
    pub portstr: String,
}

/// Why a relayed session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEnd {
    /// The attacker closed its side (EOF).
    ClientClosed,
    /// The mirror/proxy peer closed its side (EOF).
    PeerClosed,
    /// No data either way for `idle_timeout`.
    IdleTimeout,
    /// `read_limit` bytes were read from one side.
    ReadLimit,
    /// The daemon's memory budget for attack data had no room for more.
    MemoryBudget,
    /// `session_limit` passed.
    SessionLimit,
    /// Reading, writing or waiting failed or a write made no progress for
    /// [`WRITE_TIMEOUT`] (the text is the C library's `strerror`).
    Error(String),
    /// The daemon is stopping.
    Shutdown,
}

/// What one relayed session produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelaySession {
    /// Every byte read from the attacker, in order (the attack string).
    pub client_data: Vec<u8>,
    /// Every byte read from the mirror/proxy peer, in order (the `p_conn` payload).
    pub peer_data: Vec<u8>,
    pub end: RelayEnd,
}

/// Opens the outgoing TCP connection to `target` within `timeout` (zero:
/// [`FAST_CONN_TIMEOUT`]) and turns keep-alive on, as the C did.
pub fn connect_target(target: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let timeout = if timeout.is_zero() { FAST_CONN_TIMEOUT } else { timeout };
    let s = TcpStream::connect_timeout(&target, timeout)?;
    let _ = net::set_keepalive(&s);
    Ok(s)
}

/// Opens the outgoing UDP socket of a mirrored or proxied flow (udp/): bound to an
/// ephemeral port of the unspecified address of `target`'s family, `connect()`ed to `target`
/// (so that only its datagrams arrive, and ICMP errors about what was sent to it are reported
/// on the socket, e.g. `ECONNREFUSED` for a closed port), non-blocking. A UDP connect sends
/// nothing and does not wait: it fails only when there is no route to `target` (or no
/// descriptor left).
pub fn connect_udp_target(target: SocketAddr) -> io::Result<UdpSocket> {
    let any = match target {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    let s = UdpSocket::bind(any)?;
    s.connect(target)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Resolves the proxy target `host` (a literal address, `[v6]` included, or a name) for one
/// connection. A name resolving to several addresses gives the first one of `prefer`'s
/// family, else the first one. `None` when it does not resolve: the caller logs
/// [`log_unresolved`] and serves this connection in normal mode. Name resolution blocks
/// (the system resolver's own timeouts apply).
pub fn resolve_target(host: &str, port: u16, prefer: IpAddr) -> Option<SocketAddr> {
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    if host.is_empty() {
        return None;
    }
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().ok()?.collect();
    addrs.iter().find(|a| a.is_ipv4() == prefer.is_ipv4()).or(addrs.first()).copied()
}

/// Whether connecting to `target` could reach this sensor itself: any loopback address
/// (127/8, `::1`), the unspecified address (0.0.0.0/8, `::`) or one of `local_addrs` (at
/// least the connection's local address). IPv4-mapped IPv6 addresses count as their IPv4
/// address. The C original refused only 127.0.0.1.
pub fn is_loop_target(target: IpAddr, local_addrs: &[IpAddr]) -> bool {
    let t = target.to_canonical();
    let special = match t {
        IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 0,
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified(),
    };
    special || local_addrs.iter().any(|a| a.to_canonical() == t)
}

/// NOTICE `<> <portstr>  Mirror connection to <ip>:<port> established.` (or `== … Proxy …`).
pub fn log_established(kind: RelayKind, portstr: &str, target: SocketAddr) {
    log_notice!("{} {}  {} connection to {} established.", kind.prefix(), portstr, kind.title(), target);
}

/// INFO `<> <portstr>  Mirror connection rejected, falling back to normal mode.` (or `== … Proxy …`).
pub fn log_rejected(kind: RelayKind, portstr: &str) {
    log_info!("{} {}  {} connection rejected, falling back to normal mode.", kind.prefix(), portstr, kind.title());
}

/// WARN `<> <portstr>  Warning - Connection to <ip>:<port> suppressed for loop prevention.`
pub fn log_loop_suppressed(kind: RelayKind, portstr: &str, target: SocketAddr) {
    log_warn!("{} {}  Warning - Connection to {} suppressed for loop prevention.", kind.prefix(), portstr, target);
}

/// ERR `   <portstr>  Error - Unable to resolve proxy host <h>.`
pub fn log_unresolved(portstr: &str, host: &str) {
    log_err!("   {}  Error - Unable to resolve proxy host {}.", portstr, host);
}

/// One direction: the bytes read from its source (the caller's buffer), and which of them
/// are still being written to the other side.
struct Dir<'d> {
    data: &'d mut Intake,
    /// Start of the last read in `data`, the chunk being written.
    from: usize,
    /// Bytes of that chunk written.
    sent: usize,
    /// When the direction last read or wrote something (idle and write-progress timer).
    since: Instant,
}

impl<'d> Dir<'d> {
    fn new(data: &'d mut Intake, now: Instant) -> Dir<'d> {
        let from = data.len();
        Dir { data, from, sent: 0, since: now }
    }

    /// Bytes of the chunk being written.
    fn chunk(&self) -> usize {
        self.data.len() - self.from
    }

    fn pending(&self) -> bool {
        self.sent < self.chunk()
    }

    fn clear(&mut self) {
        self.from = self.data.len();
        self.sent = 0;
    }

    /// Writes as much of the pending chunk as `to` takes now; `Ok(true)` once it is all sent.
    fn flush(&mut self, mut to: &TcpStream) -> io::Result<bool> {
        while self.pending() {
            match to.write(&self.data.data()[self.from + self.sent..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    self.sent += n;
                    self.since = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// Index of the attacker's side and of the direction attacker → peer.
const CLIENT: usize = 0;
/// Index of the mirror/proxy side and of the direction peer → attacker.
const PEER: usize = 1;

fn show_peer(s: &TcpStream) -> String {
    s.peer_addr().map_or_else(|_| "unknown".to_string(), |a| a.to_string())
}

/// Relays between the attacker (`client`) and the mirror/proxy `peer` until one side
/// closes, the session idles, a limit is hit, an error occurs or `stop` is set. Both
/// streams are shut down (both directions) and back in blocking mode on return. Never
/// panics on what either side does. What was read is kept in buffers of its own without
/// budget; [`relay_into`] reads into the caller's.
pub fn relay(client: &mut TcpStream, peer: &mut TcpStream, p: &RelayParams, stop: &AtomicBool) -> RelaySession {
    let mut bufs = [Intake::new(Charge::none(), p.read_limit), Intake::new(Charge::none(), p.read_limit)];
    let end = relay_into(client, peer, p, stop, &mut bufs);
    let [c, d] = bufs;
    RelaySession { client_data: c.into_parts().0, peer_data: d.into_parts().0, end }
}

/// [`relay`] into buffers the caller owns (`[from the attacker, from the peer]`, which also
/// enforce `read_limit` and the memory budget), so that what was read survives a panic of
/// the loop. Returns why the session ended.
pub fn relay_into(
    client: &mut TcpStream,
    peer: &mut TcpStream,
    p: &RelayParams,
    stop: &AtomicBool,
    bufs: &mut [Intake; 2],
) -> RelayEnd {
    let start = Instant::now();
    let (client, peer): (&TcpStream, &TcpStream) = (client, peer);
    let streams = [client, peer];
    let k = p.kind;
    let pre = k.prefix();
    let ps = &p.portstr;
    let idle_timeout = if p.idle_timeout.is_zero() { MIRROR_READ_TIMEOUT } else { p.idle_timeout };
    let session_deadline = if p.session_limit.is_zero() { None } else { start.checked_add(p.session_limit) };
    // Where each direction's bytes go, for the copy lines.
    let dest = [show_peer(peer), show_peer(client)];
    let copied = |d: usize, sent: usize, read: usize| {
        if d == PEER {
            log_info!(
                "{} {}* {} (of {}) bytes copied from {} connection to {}.",
                pre,
                ps,
                sent,
                read,
                k.act(),
                dest[d]
            );
        } else {
            log_info!("{} {}* {} (of {}) bytes copied from client connection to {}.", pre, ps, sent, read, dest[d]);
        }
    };
    let write_failed = |d: usize, e: &io::Error| {
        let s = strerror(e);
        if d == PEER {
            log_info!("{} {}  Error - Unable to {} data to client connection.", pre, ps, k.act());
        } else {
            log_info!("{} {}  Error - Unable to {} data to {} connection.", pre, ps, k.act(), k.side());
        }
        log_debug!("{} {}  Write failed: {}.", pre, ps, s);
        RelayEnd::Error(s)
    };

    let read_limit_hit = || {
        log_warn!(
            "{} {}  Warning - Read limit ({} bytes) hit. Closing {} connections.",
            pre,
            ps,
            p.read_limit,
            k.act()
        );
        RelayEnd::ReadLimit
    };
    let [to_peer, to_client] = bufs;
    let mut dirs = [Dir::new(to_peer, start), Dir::new(to_client, start)];
    let mut buf = [0u8; READ_CHUNK];
    // Set once the session is decided to end (a side closed, the read limit): nothing more
    // is read, what was read is still delivered.
    let mut closing: Option<RelayEnd> = None;
    // Half-close: after the client's EOF the peer is still read until it closes too (an
    // HTTP/1.0 client shuts down its sending side and then waits for the answer).
    let mut eof = [false; 2];
    let mut first_close: Option<RelayEnd> = None;

    let end = match client.set_nonblocking(true).and_then(|()| peer.set_nonblocking(true)) {
        Err(e) => {
            let s = strerror(&e);
            log_info!("{} {}  Error - Unable to configure the connections: {}.", pre, ps, s);
            RelayEnd::Error(s)
        }
        Ok(()) => 'relay: loop {
            if stop.load(Ordering::Relaxed) {
                log_debug!("{} {}  Shutting down, closing connections.", pre, ps);
                break RelayEnd::Shutdown;
            }
            let now = Instant::now();
            if session_deadline.is_some_and(|d| now >= d) {
                log_info!(
                    "{} {}  Session limit ({} seconds) reached, closing connections.",
                    pre,
                    ps,
                    p.session_limit.as_secs()
                );
                break RelayEnd::SessionLimit;
            }
            let last_activity = dirs[CLIENT].since.max(dirs[PEER].since);
            let idle_due = last_activity.checked_add(idle_timeout);
            match &closing {
                Some(end) if !dirs.iter().any(Dir::pending) => break end.clone(),
                Some(_) => {}
                None if idle_due.is_some_and(|d| now >= d) => {
                    log_info!("{} {}  {} connection timed out, closing connections.", pre, ps, k.side_title());
                    break RelayEnd::IdleTimeout;
                }
                None => {}
            }
            for d in [PEER, CLIENT] {
                if dirs[d].pending() && now.saturating_duration_since(dirs[d].since) >= WRITE_TIMEOUT {
                    copied(d, dirs[d].sent, dirs[d].chunk());
                    if closing.is_some() {
                        dirs[d].clear();
                        continue 'relay;
                    }
                    break 'relay write_failed(d, &io::Error::from_raw_os_error(libc::ETIMEDOUT));
                }
            }

            // Side `s` is read into direction `s` and receives direction `1 - s`; a side is
            // not read while its previous read is still being written.
            let mut set = Vec::with_capacity(2);
            let mut sides = Vec::with_capacity(2);
            for s in [CLIENT, PEER] {
                let read = closing.is_none() && !eof[s] && !dirs[s].pending();
                let write = dirs[1 - s].pending();
                if read || write {
                    set.push(PollFd { fd: streams[s].as_fd(), read, write });
                    sides.push(s);
                }
            }
            let mut wait = STEP;
            if let Some(d) = session_deadline {
                wait = wait.min(d.saturating_duration_since(now));
            }
            if closing.is_none() {
                if let Some(d) = idle_due {
                    wait = wait.min(d.saturating_duration_since(now));
                }
            }
            for d in dirs.iter().filter(|d| d.pending()) {
                wait = wait.min((d.since + WRITE_TIMEOUT).saturating_duration_since(now));
            }
            let ready = match poll_fds(&set, Some(wait)) {
                Ok(r) => r,
                Err(e) => {
                    let s = strerror(&e);
                    log_info!("{} {}  Error - Select failed: {}.", pre, ps, s);
                    break RelayEnd::Error(s);
                }
            };

            // The peer's side first, as the C did.
            for (&s, r) in sides.iter().zip(&ready).rev() {
                let other = 1 - s;
                if r.write && dirs[other].pending() {
                    // Direction `other` is written to side `s`.
                    match dirs[other].flush(streams[s]) {
                        Ok(true) => copied(other, dirs[other].sent, dirs[other].chunk()),
                        Ok(false) => {}
                        Err(e) => {
                            copied(other, dirs[other].sent, dirs[other].chunk());
                            if closing.is_none() {
                                break 'relay write_failed(other, &e);
                            }
                            dirs[other].clear();
                        }
                    }
                }
                if !r.read || closing.is_some() || eof[s] || dirs[s].pending() {
                    continue;
                }
                let dir = &mut dirs[s];
                let want = READ_CHUNK.min(dir.data.left());
                if want == 0 {
                    closing = Some(read_limit_hit());
                    continue;
                }
                let mut from = streams[s];
                match from.read(&mut buf[..want]) {
                    Ok(0) => {
                        // Let the other side see EOF too; deliver what it already sent.
                        let _ = streams[other].shutdown(Shutdown::Write);
                        eof[s] = true;
                        let this = if s == CLIENT {
                            log_info!("{} {}  Connection closed by foreign host.", pre, ps);
                            log_noisy!("{} {}  {} connection closed.", pre, ps, k.side_title());
                            RelayEnd::ClientClosed
                        } else {
                            log_info!("{} {}  {} connection closed by foreign host.", pre, ps, k.side_title());
                            RelayEnd::PeerClosed
                        };
                        let first = first_close.get_or_insert(this);
                        // The peer's EOF ends the session (as the C did); the client's only
                        // once the peer has answered and closed too.
                        if eof[other] || s == PEER {
                            closing = Some(first.clone());
                        }
                    }
                    Ok(n) => {
                        if dir.data.push(&buf[..n]).1 == Some(Full::Budget) {
                            // Neither kept nor forwarded; what was read before still is.
                            let what = format!("{} connections", k.act());
                            budget::warn_exhausted(pre, ps, dir.data.budget_cap(), &what);
                            closing = Some(RelayEnd::MemoryBudget);
                            continue;
                        }
                        dir.from = dir.data.len() - n;
                        dir.sent = 0;
                        dir.since = Instant::now();
                        crate::fault::inject("relay");
                        match dir.flush(streams[other]) {
                            Ok(true) => copied(s, dir.sent, dir.chunk()),
                            Ok(false) => {}
                            Err(e) => {
                                copied(s, dir.sent, dir.chunk());
                                break 'relay write_failed(s, &e);
                            }
                        }
                        if dir.data.at_limit() {
                            closing = Some(read_limit_hit());
                        }
                    }
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                    Err(e) => {
                        let text = strerror(&e);
                        let name = if s == CLIENT { "client" } else { k.side() };
                        log_info!("{} {}  Error - Could not read from {} connection: {}.", pre, ps, name, text);
                        break 'relay RelayEnd::Error(text);
                    }
                }
            }
        },
    };
    for s in streams {
        let _ = s.shutdown(Shutdown::Both);
        let _ = s.set_nonblocking(false);
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn words_are_the_c_ones() {
        let m = RelayKind::Mirror;
        let p = RelayKind::Proxy;
        assert_eq!(
            (m.prefix(), m.act(), m.side(), m.side_title(), m.title()),
            ("<>", "mirror", "mirror", "Mirror", "Mirror")
        );
        assert_eq!(
            (p.prefix(), p.act(), p.side(), p.side_title(), p.title()),
            ("==", "proxy", "server", "Server", "Proxy")
        );
    }

    #[test]
    fn memory_budget_ends_the_relay_after_delivering_what_was_read() {
        use std::io::Read;
        let pair = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            (l.accept().unwrap().0, c)
        };
        let (mut client, mut attacker) = pair();
        let (mut peer, mut far) = pair();
        attacker.write_all(&[7u8; 40 << 10]).unwrap();
        // Room for one first allocation (16 KiB) in the whole budget.
        let budget = crate::budget::Budget::new(16 << 10);
        let mut bufs = [Intake::new(budget.charge(), 0), Intake::new(budget.charge(), 0)];
        let p = RelayParams {
            kind: RelayKind::Proxy,
            idle_timeout: Duration::from_secs(5),
            read_limit: 0,
            session_limit: Duration::from_secs(20),
            portstr: crate::attack::portstr(1, crate::config::Proto::Tcp),
        };
        let end = relay_into(&mut client, &mut peer, &p, &AtomicBool::new(false), &mut bufs);
        assert_eq!(end, RelayEnd::MemoryBudget);
        assert_eq!((bufs[0].data(), bufs[1].len()), (&[7u8; 16 << 10][..], 0));
        // What was read was delivered before the connections were closed.
        far.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let _ = far.read_to_end(&mut got);
        assert_eq!(got.len(), 16 << 10);
    }

    #[test]
    fn mapped_addresses_are_canonical() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(is_loop_target(mapped, &[]));
        let own: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(is_loop_target(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), &[own]));
        assert!(!is_loop_target(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), &[own]));
    }
}
