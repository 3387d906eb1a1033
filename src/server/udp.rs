//! UDP in normal mode (SPEC §6.2, §6.4, §6.6): one thread owns a listener's socket, receives
//! every datagram, sorts them into flows by peer, and runs each flow's normal-mode timers
//! itself. Replaces the UDP branch of the C original's dynamic server (dynsrv.c), which
//! `connect()`ed a duplicate of the socket to the triggering packet's source and forked a
//! handler per wake-up — about three per datagram, each sending its own responses and saving
//! its own (mostly empty) record (SPEC §6.2, §13.4).
//!
//! A flow is what a TCP connection is in [`super::conn`]: the datagrams of one peer address
//! and port to one local address. Its first datagram logs the `Handling udp connection
//! request` line; every datagram is appended to the attack string (`* <n> bytes read.`) and
//! restarts the idle interval; idle intervals send the port's response (or `\n`) to the peer
//! once or every interval ([`ResponsePolicy`]), and the eleventh idle interval in a row,
//! `read_limit`, the session limit or shutdown ends the flow. Its record then goes to
//! [`UdpHost::on_end`], exactly once. The log lines at levels ≤ 5 are the C texts of normal
//! mode; the session-limit and "datagram dropped" lines are new, like the features.
//!
//! Deliberate differences from the C original (SPEC §15.2):
//! * one flow (and one record) per peer and local address instead of several handlers per
//!   datagram; later datagrams of the same peer belong to its flow instead of being lost to
//!   a connected duplicate socket, and datagrams of other peers get flows of their own;
//! * each record carries the real local address of its datagrams: a socket bound to the
//!   unspecified address learns every datagram's destination (`IP_PKTINFO` /
//!   `IPV6_RECVPKTINFO`), and the replies leave from that same address;
//! * concurrent flows are capped per socket ([`UdpParams::max_flows`]) and through
//!   [`UdpHost::admit`] (the daemon's global and per-source caps); a datagram that would open
//!   a flow beyond a cap is dropped with a WARN line, at most one per second;
//! * `read_limit` is exact (the tail of the datagram that crosses it is dropped), and the
//!   session limit of [`super::conn`] applies;
//! * a datagram that does not fit the 65535-byte buffer cannot exist over IPv4 or IPv6
//!   without jumbograms; should one come, its first 65535 bytes are kept;
//! * an empty response file sends nothing (as in [`super::conn`]), and a failed send ends
//!   the flow ([`EndReason::WriteError`], NOISY `Could not send response`).
//!
//! Nothing here blocks except the wait for the next datagram or deadline, which is at most a
//! second, so the stop flag is seen within a second; sends use `MSG_DONTWAIT`.

use super::conn::{effective_interval, IDLE_LIMIT};
use crate::attack::portstr;
use crate::config::Proto;
use crate::sys::{net, poll, strerror};
use crate::{log_debug, log_info, log_noisy, log_notice, log_warn};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

pub use super::conn::{EndReason, ResponsePolicy};

/// Receive buffer: the largest UDP payload.
pub const DATAGRAM_MAX: usize = 65535;
/// Longest single wait, so that the stop flag and the idle check run at least once a second.
const STEP: Duration = Duration::from_secs(1);
/// Datagrams taken in one go before the flows' timers are looked at again.
const BATCH: usize = 256;
/// At most one "datagram dropped" warning per this interval.
const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// What a new flow needs to know; asked from [`UdpHost::params`] for every new flow, so new
/// settings (SIGHUP) apply to flows opened afterwards.
#[derive(Clone, Debug)]
pub struct UdpParams {
    /// The idle interval (`-r`, default 1 s); zero is taken as 1 s, as in [`super::conn`].
    pub read_timeout: Duration,
    /// Most bytes kept from the peer; 0 = unlimited.
    pub read_limit: u32,
    /// Longest flow from its first datagram on; zero = no limit.
    pub session_limit: Duration,
    pub policy: ResponsePolicy,
    /// The port's response file; `None` sends a single `\n`.
    pub response: Option<Arc<[u8]>>,
    /// Log prefix `%5u/%s` (see [`crate::attack::portstr`]).
    pub portstr: String,
    /// Most flows open at once on this socket; a datagram that would open another one is
    /// dropped (0: every new flow is dropped).
    pub max_flows: usize,
}

/// A finished flow, for the attack pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpFlowRecord {
    /// The address the peer's datagrams were sent to (the real one, also on a socket bound
    /// to the unspecified address).
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// When the first datagram arrived.
    pub start: SystemTime,
    pub end: SystemTime,
    /// Every byte received, in order (at most `read_limit` when one is set).
    pub data: Vec<u8>,
    /// Never [`EndReason::PeerClosed`] or [`EndReason::ReadError`] (UDP has no end of stream
    /// and receive errors are not a flow's).
    pub end_reason: EndReason,
}

/// Why [`serve_udp`] returned.
#[derive(Debug)]
pub enum UdpExit {
    /// The stop flag was set; every open flow was ended and handed to [`UdpHost::on_end`].
    Stopped,
    /// [`UdpHost::on_idle`] took the socket and closed it.
    Idle,
    /// The socket could not be used at all (no local address).
    Failed(io::Error),
}

/// What the owner of a UDP listener (the engine) provides. All methods are called on the
/// listener's thread, which serves every flow of the socket, so they must not block for long.
pub trait UdpHost {
    /// Held for the lifetime of a flow, e.g. a [`super::limits::Slot`], so that global caps
    /// count UDP flows; given back with the flow's record to [`UdpHost::on_end`].
    type Slot;

    /// Settings for a new flow to `local` (the flow's local address).
    fn params(&self, local: SocketAddr) -> UdpParams;

    /// Admits a new flow from `remote`, or says why not; the text completes the WARN line
    /// `Warning - Datagram from <remote> dropped: limit of <text> reached.`
    fn admit(&self, remote: SocketAddr) -> Result<Self::Slot, String>;

    /// A flow has ended. Called on the listener's thread: whatever may block (the attack
    /// pipeline: files, downloads) belongs in a thread of its own, which keeps `slot` until
    /// it is done.
    fn on_end(&self, record: UdpFlowRecord, slot: Self::Slot);

    /// Called when no flow is open, at least once a second and after every batch of
    /// datagrams that opened none; `idle` is the time since the last datagram, the last end
    /// of a flow or the start, whichever is latest. Return `Some(socket)` to carry on, or
    /// drop the socket and return `None` to end [`serve_udp`] with [`UdpExit::Idle`] — e.g.
    /// remove the listener from a table and drop the socket while holding the table's lock,
    /// so a request never finds a listener that no longer reads.
    fn on_idle(&self, idle: Duration, socket: UdpSocket) -> Option<UdpSocket>;
}

/// Serves `socket` until `stop` is set or [`UdpHost::on_idle`] closes it; see the module
/// documentation. Meant to own a listener's thread.
pub fn serve_udp<H: UdpHost>(socket: UdpSocket, host: &H, stop: &AtomicBool) -> UdpExit {
    let bound = match socket.local_addr() {
        Ok(a) => a,
        Err(e) => return UdpExit::Failed(e),
    };
    let ps = portstr(bound.port(), Proto::Udp);
    // Without pktinfo a socket bound to the unspecified address records it as the local
    // address and lets the kernel pick the replies' source; a bound address is exact anyway.
    // (`net::udp_socket` turns it on before binding, so that no datagram misses it.)
    if let Err(e) = net::set_recv_pktinfo(&socket) {
        log_debug!("   {}  Unable to learn the destination of datagrams: {}.", ps, strerror(&e));
    }
    let mut server =
        Server { host, bound, ps, flows: HashMap::new(), last_activity: Instant::now(), warn: DropWarning::default() };
    let mut buf = vec![0u8; DATAGRAM_MAX];
    let mut socket = socket;
    loop {
        if stop.load(Ordering::SeqCst) {
            server.shutdown();
            return UdpExit::Stopped;
        }
        let next = server.run_timers(&socket);
        if server.flows.is_empty() {
            match host.on_idle(server.last_activity.elapsed(), socket) {
                Some(s) => socket = s,
                None => return UdpExit::Idle,
            }
        }
        let wait = next.map_or(STEP, |d| d.saturating_duration_since(Instant::now()).min(STEP));
        match poll::poll_readable(&[socket.as_fd()], Some(wait)) {
            Ok(r) if r.first() == Some(&true) => server.receive(&socket, &mut buf),
            Ok(_) => {}
            Err(e) => {
                log_warn!("   {}  Warning - Unable to wait for datagrams: {}.", server.ps, strerror(&e));
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The rate limit of the "dropped" warning.
#[derive(Default)]
struct DropWarning {
    last: Option<Instant>,
    suppressed: u64,
}

impl DropWarning {
    fn warn(&mut self, ps: &str, peer: &SocketAddr, why: &str) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < WARN_INTERVAL) {
            self.suppressed += 1;
            return;
        }
        self.last = Some(now);
        if self.suppressed > 0 {
            log_warn!(
                "   {}  Warning - Datagram from {} dropped: limit of {} reached ({} more dropped since the last warning).",
                ps,
                peer,
                why,
                self.suppressed
            );
        } else {
            log_warn!("   {}  Warning - Datagram from {} dropped: limit of {} reached.", ps, peer, why);
        }
        self.suppressed = 0;
    }
}

/// One flow's state.
struct Flow<S> {
    p: UdpParams,
    local: SocketAddr,
    /// The source address of replies; `None`: the kernel's choice.
    reply_from: Option<IpAddr>,
    start: SystemTime,
    session_deadline: Option<Instant>,
    interval: Duration,
    interval_start: Instant,
    idle: u32,
    sent: bool,
    data: Vec<u8>,
    slot: S,
}

impl<S> Flow<S> {
    /// When the flow's next timer fires; `None`: never (an interval too long to represent
    /// and no session limit).
    fn deadline(&self) -> Option<Instant> {
        let due = self.interval_start.checked_add(self.interval);
        match (due, self.session_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Appends a datagram; `true` when the read limit is reached.
    fn take(&mut self, bytes: &[u8]) -> bool {
        let ps = &self.p.portstr;
        let limit = match usize::try_from(self.p.read_limit) {
            Ok(0) | Err(_) => usize::MAX,
            Ok(n) => n,
        };
        let keep = bytes.len().min(limit.saturating_sub(self.data.len()));
        self.data.extend_from_slice(&bytes[..keep]);
        log_info!("   {}* {} bytes read.", ps, bytes.len());
        self.idle = 0;
        self.interval_start = Instant::now();
        if self.p.read_limit > 0 && self.data.len() >= limit {
            log_warn!("   {}  Warning - Read limit ({} bytes) hit. Closing connection.", ps, self.p.read_limit);
            return true;
        }
        false
    }

    /// Runs the flow's timers at `now`: the session limit, idle intervals and responses.
    /// Returns why the flow ends, if it does.
    fn tick(&mut self, now: Instant, socket: &UdpSocket, remote: &SocketAddr) -> Option<EndReason> {
        let ps = &self.p.portstr;
        if self.session_deadline.is_some_and(|d| now >= d) {
            log_info!(
                "   {}  Session limit ({} seconds) reached, closing connection.",
                ps,
                self.p.session_limit.as_secs()
            );
            return Some(EndReason::SessionLimit);
        }
        if !self.interval_start.checked_add(self.interval).is_some_and(|d| now >= d) {
            return None;
        }
        self.idle += 1;
        if self.idle > IDLE_LIMIT {
            log_info!("   {}  Timeout expired, closing connection.", ps);
            return Some(EndReason::IdleTimeout);
        }
        if self.p.policy == ResponsePolicy::Repeat || !self.sent {
            self.sent = true;
            let secs = self.interval.as_secs();
            let response: &[u8] = match &self.p.response {
                Some(r) => {
                    log_noisy!("   {}  No data for {} second(s), sending default response.", ps, secs);
                    r
                }
                None => {
                    log_noisy!("   {}  No data for {} second(s), sending '\\n'.", ps, secs);
                    b"\n"
                }
            };
            if !response.is_empty() {
                let sent = net::send_datagram(socket, response, remote, self.reply_from);
                let failure = match sent {
                    Ok(n) if n == response.len() => None,
                    Ok(_) => Some(io::Error::from(io::ErrorKind::WriteZero)),
                    Err(e) => Some(e),
                };
                if let Some(e) = failure {
                    let s = strerror(&e);
                    log_noisy!("   {}  Could not send response: {}.", ps, s);
                    return Some(EndReason::WriteError(s));
                }
            }
        }
        self.interval_start = Instant::now();
        None
    }
}

/// A flow is the datagrams of one peer to one local address.
type FlowKey = (SocketAddr, SocketAddr);

struct Server<'h, H: UdpHost> {
    host: &'h H,
    /// The socket's own address.
    bound: SocketAddr,
    /// Log prefix of the socket's port.
    ps: String,
    flows: HashMap<FlowKey, Flow<H::Slot>>,
    last_activity: Instant,
    warn: DropWarning,
}

impl<H: UdpHost> Server<'_, H> {
    /// Runs every flow's timers; returns the earliest deadline of the flows left.
    fn run_timers(&mut self, socket: &UdpSocket) -> Option<Instant> {
        let now = Instant::now();
        let mut ended = Vec::new();
        let mut next: Option<Instant> = None;
        for (key, flow) in self.flows.iter_mut() {
            if flow.deadline().is_some_and(|d| now >= d) {
                if let Some(reason) = flow.tick(now, socket, &key.0) {
                    ended.push((*key, reason));
                    continue;
                }
            }
            if let Some(d) = flow.deadline() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        for (key, reason) in ended {
            self.finish(&key, reason);
        }
        next
    }

    /// Takes the queued datagrams (at most [`BATCH`]).
    fn receive(&mut self, socket: &UdpSocket, buf: &mut [u8]) {
        for _ in 0..BATCH {
            match net::recv_datagram(socket, buf) {
                Ok(d) => {
                    if d.truncated {
                        log_debug!("   {}  Datagram from {} truncated to {} bytes.", self.ps, d.peer, d.len);
                    }
                    self.datagram(&d, buf.get(..d.len).unwrap_or_default());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // An ICMP error reported on the socket: it belongs to no flow.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH)
                    ) => {}
                Err(e) => {
                    log_warn!("   {}  Warning - Unable to receive a datagram: {}.", self.ps, strerror(&e));
                    thread::sleep(Duration::from_millis(100));
                    return;
                }
            }
        }
    }

    /// The local address a datagram was sent to, and the address to answer it from.
    fn local_of(&self, d: &net::Datagram) -> (SocketAddr, Option<IpAddr>) {
        let Some(pi) = d.pktinfo else { return (self.bound, None) };
        let local = match pi.dst {
            // fe80::/10 (Ipv6Addr::is_unicast_link_local needs Rust 1.84).
            IpAddr::V6(ip) if ip.segments()[0] & 0xffc0 == 0xfe80 => {
                SocketAddr::V6(SocketAddrV6::new(ip, self.bound.port(), 0, pi.ifindex))
            }
            ip => SocketAddr::new(ip, self.bound.port()),
        };
        // A socket bound to one address answers from it; one bound to the unspecified
        // address from where the datagram went, unless that is no source address. A
        // datagram queued before pktinfo was turned on has no `spec_dst` (the kernel fills
        // only the header's destination then).
        let usable = |ip: IpAddr| match ip {
            IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
            IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
        };
        let from = if pi.spec_dst.is_unspecified() { pi.dst } else { pi.spec_dst };
        let reply_from = (self.bound.ip().is_unspecified() && usable(from)).then_some(from);
        (local, reply_from)
    }

    fn datagram(&mut self, d: &net::Datagram, bytes: &[u8]) {
        self.last_activity = Instant::now();
        let (local, reply_from) = self.local_of(d);
        if d.peer == local {
            // Our own address (spoofed, or our reply come back): answering would talk to itself.
            log_debug!("   {}  Datagram from the listener's own address {} ignored.", self.ps, local);
            return;
        }
        let key = (d.peer, local);
        let flow = match self.flows.get_mut(&key) {
            Some(f) => f,
            None => match self.open(key, reply_from) {
                Some(f) => f,
                None => return,
            },
        };
        if flow.take(bytes) {
            self.finish(&key, EndReason::ReadLimit);
        }
    }

    /// Opens a flow for `key` if the caps allow it.
    fn open(&mut self, key: FlowKey, reply_from: Option<IpAddr>) -> Option<&mut Flow<H::Slot>> {
        let (remote, local) = key;
        let p = self.host.params(local);
        if self.flows.len() >= p.max_flows {
            self.warn.warn(&p.portstr, &remote, &format!("{} udp flows on this port", p.max_flows));
            return None;
        }
        let slot = match self.host.admit(remote) {
            Ok(s) => s,
            Err(why) => {
                self.warn.warn(&p.portstr, &remote, &why);
                return None;
            }
        };
        log_notice!("   {}  Handling udp connection request from {} to {}.", p.portstr, remote, local);
        let now = Instant::now();
        let flow = Flow {
            session_deadline: if p.session_limit.is_zero() { None } else { now.checked_add(p.session_limit) },
            interval: effective_interval(p.read_timeout),
            interval_start: now,
            p,
            local,
            reply_from,
            start: SystemTime::now(),
            idle: 0,
            sent: false,
            data: Vec::new(),
            slot,
        };
        Some(self.flows.entry(key).or_insert(flow))
    }

    /// Ends the flow of `key` and hands its record over.
    fn finish(&mut self, key: &FlowKey, end_reason: EndReason) {
        let Some(flow) = self.flows.remove(key) else { return };
        self.last_activity = Instant::now();
        let record = UdpFlowRecord {
            local: flow.local,
            remote: key.0,
            start: flow.start,
            end: SystemTime::now(),
            data: flow.data,
            end_reason,
        };
        self.host.on_end(record, flow.slot);
    }

    /// Ends every flow because the daemon is stopping; their records are still handed over.
    fn shutdown(&mut self) {
        let keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        for key in keys {
            if let Some(f) = self.flows.get(&key) {
                log_debug!("   {}  Shutting down, closing connection.", f.p.portstr);
            }
            self.finish(&key, EndReason::Shutdown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Host {
        ended: RefCell<Vec<UdpFlowRecord>>,
    }

    impl UdpHost for Host {
        type Slot = ();
        fn params(&self, _local: SocketAddr) -> UdpParams {
            UdpParams {
                read_timeout: Duration::ZERO,
                read_limit: 4,
                session_limit: Duration::ZERO,
                policy: ResponsePolicy::Once,
                response: None,
                portstr: portstr(53, Proto::Udp),
                max_flows: 2,
            }
        }
        fn admit(&self, _remote: SocketAddr) -> Result<(), String> {
            Ok(())
        }
        fn on_end(&self, record: UdpFlowRecord, _slot: ()) {
            self.ended.borrow_mut().push(record);
        }
        fn on_idle(&self, _idle: Duration, socket: UdpSocket) -> Option<UdpSocket> {
            Some(socket)
        }
    }

    fn server<'h>(host: &'h Host, bound: &str) -> Server<'h, Host> {
        let bound: SocketAddr = bound.parse().unwrap();
        Server {
            host,
            bound,
            ps: portstr(bound.port(), Proto::Udp),
            flows: HashMap::new(),
            last_activity: Instant::now(),
            warn: DropWarning::default(),
        }
    }

    fn datagram(peer: &str, dst: Option<(&str, &str, u32)>) -> net::Datagram {
        net::Datagram {
            len: 0,
            peer: peer.parse().unwrap(),
            pktinfo: dst.map(|(dst, spec, ifindex)| net::PktInfo {
                dst: dst.parse().unwrap(),
                spec_dst: spec.parse().unwrap(),
                ifindex,
            }),
            truncated: false,
        }
    }

    #[test]
    fn local_address_and_reply_source() {
        let h = Host::default();
        let any4 = server(&h, "0.0.0.0:53");
        let a = |d| any4.local_of(&d);
        assert_eq!(a(datagram("1.2.3.4:9", None)), ("0.0.0.0:53".parse().unwrap(), None));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(a(datagram("1.2.3.4:9", Some(("10.0.0.1", "10.0.0.1", 2)))), ((ip, 53).into(), Some(ip)));
        // A broadcast is answered from the interface's address; without one, not at all.
        assert_eq!(a(datagram("1.2.3.4:9", Some(("255.255.255.255", "10.0.0.1", 2)))).1, Some(ip));
        assert_eq!(a(datagram("1.2.3.4:9", Some(("255.255.255.255", "0.0.0.0", 0)))).1, None);
        // Queued before pktinfo was on: the header's destination.
        assert_eq!(a(datagram("1.2.3.4:9", Some(("10.0.0.1", "0.0.0.0", 0)))).1, Some(ip));
        // A socket bound to one address lets the kernel answer from it.
        let one = server(&h, "10.0.0.1:53");
        assert_eq!(one.local_of(&datagram("1.2.3.4:9", Some(("10.0.0.1", "10.0.0.1", 2)))).1, None);
        let any6 = server(&h, "[::]:53");
        let (local, from) = any6.local_of(&datagram("[fe80::2]:9", Some(("fe80::1", "fe80::1", 7))));
        assert_eq!(local, "[fe80::1%7]:53".parse().unwrap());
        assert_eq!(from, Some("fe80::1".parse().unwrap()));
        assert_eq!(any6.local_of(&datagram("[fe80::2]:9", Some(("ff02::1", "ff02::1", 7)))).1, None);
    }

    #[test]
    fn own_address_is_ignored_and_caps_apply() {
        let h = Host::default();
        let mut s = server(&h, "127.0.0.1:53");
        s.datagram(&datagram("127.0.0.1:53", None), b"loop");
        assert!(s.flows.is_empty());
        for peer in ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"] {
            s.datagram(&datagram(peer, None), b"ab");
        }
        assert_eq!(s.flows.len(), 2, "max_flows");
        assert_eq!(s.warn.suppressed, 0);
        s.datagram(&datagram("127.0.0.1:4", None), b"x");
        assert_eq!(s.warn.suppressed, 1, "one warning a second");
        // The read limit (4) ends a flow at once, with exactly 4 bytes.
        s.datagram(&datagram("127.0.0.1:1", None), b"cdef");
        assert_eq!(s.flows.len(), 1);
        s.shutdown();
        let ended = h.ended.borrow();
        assert_eq!(ended.len(), 2);
        assert_eq!((ended[0].data.as_slice(), &ended[0].end_reason), (&b"abcd"[..], &EndReason::ReadLimit));
        assert_eq!((ended[1].data.as_slice(), &ended[1].end_reason), (&b"ab"[..], &EndReason::Shutdown));
        assert!(s.flows.is_empty());
    }
}
