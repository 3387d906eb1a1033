//! UDP flows (normal, mirror and proxy mode over UDP): one thread owns a listener's socket,
//! receives every datagram, sorts them into flows by peer, and runs each flow's timers itself,
//! in normal mode and relayed (mirror and proxy mode). Replaces the UDP branch of the C
//! original's dynamic server (dynsrv.c), which `connect()`ed a duplicate of the socket to the
//! triggering packet's source and forked a handler per wake-up — about three per datagram, each
//! sending its own responses and saving its own (mostly empty) record.
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
//! A flow in mirror or proxy mode ([`UdpHost::relay_target`]) gets a socket of its own,
//! `connect()`ed to the target ([`relay::connect_udp_target`]) and polled by the same thread:
//! the peer's datagrams are forwarded to the target and recorded as the attack string, the
//! target's datagrams are sent back to the peer from the flow's local address and recorded as
//! the mirror/proxy payload ([`UdpFlowRecord::upstream`]). No datagram either way for
//! [`UdpParams::relay_timeout`] (60 s, [`MIRROR_READ_TIMEOUT`]), `read_limit` in either
//! direction, the session limit or shutdown ends it. The log lines are those of the TCP relay
//! (relay.rs): `<>`/`==` prefixes, `Mirror|Proxy connection to <target> established.`, the copy
//! lines `* <sent> (of <read>) bytes copied from <mirror|proxy|client> connection to <to>.`
//! (with the real destination and host-order ports, as there). If the target reports an error
//! (ICMP port unreachable: `ECONNREFUSED` on the connected socket) before it has sent anything,
//! the flow falls back to normal mode for the rest of its life (as the C mirror mode did for
//! UDP; INFO `… connection rejected, falling back to normal mode.`), keeping what the peer
//! sent; an error after it answered ends the flow. Every relayed flow holds one socket, so
//! there are at most [`UdpParams::max_flows`] of them per listener.
//!
//! Deliberate differences from the C original (docs/COMPATIBILITY.md, Differences from the
//! C honeytrap):
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
//!   session limit of [`super::conn`] applies; both directions of a flow are charged to the
//!   daemon's memory budget for attack data ([`UdpHost::charge`]), and a datagram it has no
//!   room for ends the flow as at the read limit ([`EndReason::MemoryBudget`], logged);
//! * a panic while handling one flow's datagram or timer ends that flow only, with a log
//!   line; its record (what was received before) is still handed over;
//! * a datagram that does not fit the 65535-byte buffer cannot exist over IPv4 or IPv6
//!   without jumbograms; should one come, its first 65535 bytes are kept;
//! * an empty response file sends nothing (as in [`super::conn`]), and a failed send ends
//!   the flow ([`EndReason::WriteError`], NOISY `Could not send response`);
//! * a relayed flow has one socket to its target, whatever its peer sends, instead of one per
//!   handler, and falls back to normal mode when the target refuses before having answered
//!   anything (the C: exactly when the first datagram had been forwarded).
//!
//! Nothing here blocks except the wait for the next datagram or deadline, which is at most a
//! second, so the stop flag is seen within a second; sends use `MSG_DONTWAIT`.

use super::conn::{effective_interval, panic_text, IDLE_LIMIT};
use super::relay;
use crate::attack::portstr;
use crate::budget::{self, Charge, Full, Intake};
use crate::config::Proto;
use crate::sys::{net, poll, strerror};
use crate::{log_debug, log_err, log_info, log_noisy, log_notice, log_warn};
use std::any::Any;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::AsFd;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

pub use super::conn::{EndReason, ResponsePolicy};
pub use super::relay::{RelayKind, MIRROR_READ_TIMEOUT};

/// Receive buffer: the largest UDP payload.
pub const DATAGRAM_MAX: usize = 65535;
/// Longest single wait, so that the stop flag and the idle check run at least once a second.
const STEP: Duration = Duration::from_secs(1);
/// Datagrams taken in one go before the flows' timers are looked at again.
const BATCH: usize = 256;
/// A table of flows of at least this many places is shrunk once it is three quarters empty.
const SHRINK_ABOVE: usize = 1024;
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
    /// No datagram either way for this long ends a mirrored or proxied flow (the engine:
    /// [`MIRROR_READ_TIMEOUT`]); zero is taken as [`MIRROR_READ_TIMEOUT`].
    pub relay_timeout: Duration,
}

impl UdpParams {
    /// The idle limit of a relayed flow.
    fn relay_idle(&self) -> Duration {
        if self.relay_timeout.is_zero() {
            MIRROR_READ_TIMEOUT
        } else {
            self.relay_timeout
        }
    }
}

/// A finished flow, for the attack pipeline.
#[derive(Debug, PartialEq, Eq)]
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
    /// Bytes sent to the peer.
    pub bytes_out: u64,
    /// The mirror/proxy side of a relayed flow; `None` in normal mode, also after a fallback.
    pub upstream: Option<UdpUpstreamRecord>,
    /// Never [`EndReason::PeerClosed`] (UDP has no end of stream); [`EndReason::ReadError`]
    /// only for a relayed flow whose target reported an error after having answered (errors
    /// of the listener's socket are not a flow's).
    pub end_reason: EndReason,
    /// The share of the memory budget both directions' data hold ([`UdpHost::charge`]).
    pub charge: Charge,
}

/// The mirror/proxy side of a relayed flow, for [`crate::attack::ProxyConn`].
#[derive(Debug, PartialEq, Eq)]
pub struct UdpUpstreamRecord {
    pub kind: RelayKind,
    /// The local address of the flow's socket to the target.
    pub local: SocketAddr,
    pub target: SocketAddr,
    /// Every byte received from the target, in order (at most `read_limit` when one is set).
    pub data: Vec<u8>,
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

    /// Admits a new flow from `remote` to `local`, or says why not; the text completes the
    /// WARN line `Warning - Datagram from <remote> dropped: limit of <text> reached.`
    fn admit(&self, local: SocketAddr, remote: SocketAddr) -> Result<Self::Slot, String>;

    /// Where a new, admitted flow from `remote` to `local` is relayed: `Some((kind, target))`
    /// in mirror or proxy mode, `None` to serve it in normal mode. The host chooses the target
    /// and makes the checks (loop prevention, name resolution), logging why a mirror/proxy
    /// flow falls back to normal mode; serve_udp then opens the flow's socket to `target` and
    /// logs the rest (established, rejected, the copy lines). May block while a proxy host
    /// name resolves.
    fn relay_target(&self, local: SocketAddr, remote: SocketAddr) -> Option<(RelayKind, SocketAddr)>;

    /// A new, empty charge against the daemon's memory budget, for what one direction of a
    /// new flow reads (default: no budget).
    fn charge(&self) -> Charge {
        Charge::none()
    }

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
        // The listener's socket, then the relayed flows' sockets to their targets.
        let mut relayed = Vec::new();
        let ready = {
            let mut fds = Vec::with_capacity(1 + server.flows.len());
            fds.push(socket.as_fd());
            for (key, flow) in &server.flows {
                if let Some(up) = &flow.upstream {
                    fds.push(up.socket.as_fd());
                    relayed.push(*key);
                }
            }
            poll::poll_readable(&fds, Some(wait))
        };
        match ready {
            Ok(r) => {
                for (key, _) in relayed.iter().zip(r.iter().skip(1)).filter(|(_, ready)| **ready) {
                    server.upstream_readable(key, &socket, &mut buf);
                }
                if r.first() == Some(&true) {
                    server.receive(&socket, &mut buf);
                }
            }
            Err(e) => {
                log_warn!("   {}  Warning - Unable to wait for datagrams: {}.", server.ps, strerror(&e));
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The rate limit of the "dropped" warning.
struct DropWarning(crate::log::Throttle);

impl Default for DropWarning {
    fn default() -> Self {
        DropWarning(crate::log::Throttle::new(WARN_INTERVAL))
    }
}

impl DropWarning {
    fn warn(&self, ps: &str, peer: &SocketAddr, why: &str) {
        match self.0.due() {
            None => {}
            Some(0) => log_warn!("   {}  Warning - Datagram from {} dropped: limit of {} reached.", ps, peer, why),
            Some(n) => log_warn!(
                "   {}  Warning - Datagram from {} dropped: limit of {} reached ({} more dropped since the last warning).",
                ps,
                peer,
                why,
                n
            ),
        }
    }
}

/// The mirror/proxy side of a relayed flow.
struct Upstream {
    kind: RelayKind,
    /// Connected to `target`, non-blocking.
    socket: UdpSocket,
    local: SocketAddr,
    target: SocketAddr,
    /// Every byte received from the target (at most `read_limit`).
    data: Intake,
    /// The target has sent a datagram: from now on an error ends the flow instead of
    /// falling back to normal mode.
    answered: bool,
    /// Keeps late answers to this socket from being taken for attacks.
    _own: crate::own_ports::OwnPort,
}

impl Upstream {
    /// Opens the flow's socket to `target`, or logs why the flow falls back to normal mode.
    fn connect(kind: RelayKind, target: SocketAddr, ps: &str, data: Intake) -> Option<Upstream> {
        let opened = relay::connect_udp_target(target).and_then(|socket| Ok((socket.local_addr()?, socket)));
        match opened {
            Ok((local, socket)) => {
                relay::log_established(kind, ps, target);
                let own = crate::own_ports::claim(&socket);
                Some(Upstream { kind, socket, local, target, data, answered: false, _own: own })
            }
            Err(e) => {
                log_debug!("{}  Connection to {} failed: {}.", ps, target, strerror(&e));
                relay::log_rejected(kind, ps);
                None
            }
        }
    }

    /// The record of this side, and the charge of its data.
    fn record(self) -> (UdpUpstreamRecord, Charge) {
        let Upstream { kind, local, target, data, .. } = self;
        let (data, charge) = data.into_parts();
        (UdpUpstreamRecord { kind, local, target, data }, charge)
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
    /// Normal mode: the start of the current idle interval; relayed: the last datagram
    /// either way.
    interval_start: Instant,
    idle: u32,
    sent: bool,
    /// Bytes sent to the peer (responses, or what the relay target answered).
    bytes_out: u64,
    data: Intake,
    /// `Some` while the flow is relayed (mirror or proxy mode).
    upstream: Option<Upstream>,
    slot: S,
}

impl<S> Flow<S> {
    /// A step of this flow's handler panicked: logged, and the flow ends; its record (what
    /// was received before) is still handed over.
    fn panicked(&self, remote: &SocketAddr, payload: &(dyn Any + Send)) -> EndReason {
        let msg = panic_text(payload);
        log_err!(
            "   {}  Error - Handling the flow from {} failed ({}), processing what was read.",
            self.p.portstr,
            remote,
            msg
        );
        EndReason::Panic(msg)
    }

    /// When the flow's next timer fires; `None`: never (an interval too long to represent
    /// and no session limit).
    fn deadline(&self) -> Option<Instant> {
        let idle = if self.upstream.is_some() { self.p.relay_idle() } else { self.interval };
        let due = self.interval_start.checked_add(idle);
        match (due, self.session_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A datagram from the peer: appended to the attack string and, in a relayed flow,
    /// forwarded to the target. Returns why the flow ends, if it does.
    fn take(&mut self, bytes: &[u8]) -> Option<EndReason> {
        let (kept, full) = self.data.push(bytes);
        let ps = &self.p.portstr;
        if full == Some(Full::Budget) {
            // Neither kept nor forwarded.
            let (pre, what) = match &self.upstream {
                Some(up) => (up.kind.prefix(), format!("{} connections", up.kind.act())),
                None => ("  ", "connection".to_string()),
            };
            budget::warn_exhausted(pre, ps, self.data.budget_cap(), &what);
            return Some(EndReason::MemoryBudget);
        }
        let keep = &bytes[..kept];
        self.idle = 0;
        self.interval_start = Instant::now();
        crate::fault::inject("udp-flow");
        if let Some(end) = self.forward(keep) {
            return Some(end);
        }
        let ps = &self.p.portstr;
        match &self.upstream {
            Some(up) if self.data.at_limit() => {
                let k = up.kind;
                log_warn!(
                    "{} {}  Warning - Read limit ({} bytes) hit. Closing {} connections.",
                    k.prefix(),
                    ps,
                    self.p.read_limit,
                    k.act()
                );
                Some(EndReason::ReadLimit)
            }
            Some(_) => None,
            None => {
                log_info!("   {}* {} bytes read.", ps, bytes.len());
                if self.data.at_limit() {
                    log_warn!("   {}  Warning - Read limit ({} bytes) hit. Closing connection.", ps, self.p.read_limit);
                    return Some(EndReason::ReadLimit);
                }
                None
            }
        }
    }

    /// Sends the peer's `bytes` to the target, if the flow is relayed. A target that refused
    /// before answering turns the flow to normal mode; returns why the flow ends, if it does.
    fn forward(&mut self, bytes: &[u8]) -> Option<EndReason> {
        let up = self.upstream.as_mut()?;
        let ps = &self.p.portstr;
        let (k, target) = (up.kind, up.target);
        let sent = loop {
            match up.socket.send(bytes) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r,
            }
        };
        let copied = |n: usize| {
            log_info!(
                "{} {}* {} (of {}) bytes copied from client connection to {}.",
                k.prefix(),
                ps,
                n,
                bytes.len(),
                target
            );
        };
        match sent {
            Ok(n) => copied(n),
            // The socket's buffer is full: the datagram is lost, as it could be on the way.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                copied(0);
                log_debug!("{} {}  Datagram to {} dropped: {}.", k.prefix(), ps, target, strerror(&e));
            }
            // An ICMP error about an earlier datagram, reported by this send (which did not
            // go out).
            Err(e) if !up.answered => self.fall_back(&e),
            Err(e) => {
                copied(0);
                let s = strerror(&e);
                log_info!("{} {}  Error - Unable to {} data to {} connection.", k.prefix(), ps, k.act(), k.side());
                log_debug!("{} {}  Write failed: {}.", k.prefix(), ps, s);
                return Some(EndReason::WriteError(s));
            }
        }
        None
    }

    /// The target refused before answering (the C mirror mode's UDP fallback): normal mode from
    /// now on, its idle intervals starting now.
    fn fall_back(&mut self, e: &io::Error) {
        let Some(up) = self.upstream.take() else { return };
        log_debug!("{}  Connection to {} failed: {}.", self.p.portstr, up.target, strerror(e));
        relay::log_rejected(up.kind, &self.p.portstr);
        self.idle = 0;
        self.sent = false;
        self.interval_start = Instant::now();
    }

    /// Takes the datagrams the target sent (at most [`BATCH`]) and sends them to the peer
    /// `remote` from the flow's local address. Returns why the flow ends, if it does.
    fn take_from_target(&mut self, socket: &UdpSocket, remote: &SocketAddr, buf: &mut [u8]) -> Option<EndReason> {
        for _ in 0..BATCH {
            let up = self.upstream.as_mut()?;
            let ps = &self.p.portstr;
            let k = up.kind;
            let pre = k.prefix();
            match up.socket.recv(buf) {
                Ok(n) => {
                    up.answered = true;
                    let (kept, full) = up.data.push(&buf[..n]);
                    if full == Some(Full::Budget) {
                        budget::warn_exhausted(pre, ps, up.data.budget_cap(), &format!("{} connections", k.act()));
                        return Some(EndReason::MemoryBudget);
                    }
                    let keep = &buf[..kept];
                    self.interval_start = Instant::now();
                    let sent = net::send_datagram(socket, keep, remote, self.reply_from);
                    if let Ok(n) = sent {
                        self.bytes_out += n as u64;
                    }
                    let copied = |n: usize| {
                        log_info!(
                            "{} {}* {} (of {}) bytes copied from {} connection to {}.",
                            pre,
                            ps,
                            n,
                            keep.len(),
                            k.act(),
                            remote
                        );
                    };
                    match sent {
                        Ok(n) => copied(n),
                        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                            copied(0);
                            log_debug!("{} {}  Datagram to {} dropped: {}.", pre, ps, remote, strerror(&e));
                        }
                        Err(e) => {
                            copied(0);
                            let s = strerror(&e);
                            log_info!("{} {}  Error - Unable to {} data to client connection.", pre, ps, k.act());
                            log_debug!("{} {}  Write failed: {}.", pre, ps, s);
                            return Some(EndReason::WriteError(s));
                        }
                    }
                    if up.data.at_limit() {
                        log_warn!(
                            "{} {}  Warning - Read limit ({} bytes) hit. Closing {} connections.",
                            pre,
                            ps,
                            self.p.read_limit,
                            k.act()
                        );
                        return Some(EndReason::ReadLimit);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if !up.answered => {
                    self.fall_back(&e);
                    return None;
                }
                Err(e) => {
                    let s = strerror(&e);
                    log_info!("{} {}  Error - Could not read from {} connection: {}.", pre, ps, k.side(), s);
                    return Some(EndReason::ReadError(s));
                }
            }
        }
        None
    }

    /// Runs the flow's timers at `now`: the session limit, idle intervals and responses.
    /// Returns why the flow ends, if it does.
    fn tick(&mut self, now: Instant, socket: &UdpSocket, remote: &SocketAddr) -> Option<EndReason> {
        let ps = &self.p.portstr;
        if let Some(up) = &self.upstream {
            let pre = up.kind.prefix();
            if self.session_deadline.is_some_and(|d| now >= d) {
                log_info!(
                    "{} {}  Session limit ({} seconds) reached, closing connections.",
                    pre,
                    ps,
                    self.p.session_limit.as_secs()
                );
                return Some(EndReason::SessionLimit);
            }
            if self.interval_start.checked_add(self.p.relay_idle()).is_some_and(|d| now >= d) {
                log_info!("{} {}  {} connection timed out, closing connections.", pre, ps, up.kind.side_title());
                return Some(EndReason::IdleTimeout);
            }
            return None;
        }
        if self.session_deadline.is_some_and(|d| now >= d) {
            log_info!(
                "   {}  Session limit ({} seconds) reached, closing connection.",
                ps,
                self.p.session_limit.as_secs()
            );
            return Some(EndReason::SessionLimit);
        }
        if self.interval_start.checked_add(self.interval).is_none_or(|d| now < d) {
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
                if let Ok(n) = sent {
                    self.bytes_out += n as u64;
                }
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

/// Runs one step of a flow's handler; a panic is caught so that it ends that flow only (see
/// [`Flow::panicked`]), never the socket's other flows.
fn guarded<R>(step: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    std::panic::catch_unwind(AssertUnwindSafe(step))
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
                let ticked = guarded(|| flow.tick(now, socket, &key.0));
                if let Some(reason) = ticked.unwrap_or_else(|p| Some(flow.panicked(&key.0, &*p))) {
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
        let taken = guarded(|| flow.take(bytes));
        if let Some(reason) = taken.unwrap_or_else(|p| Some(flow.panicked(&key.0, &*p))) {
            self.finish(&key, reason);
        }
    }

    /// The socket of the relayed flow `key` is readable: datagrams or an error from its target.
    fn upstream_readable(&mut self, key: &FlowKey, socket: &UdpSocket, buf: &mut [u8]) {
        let Some(flow) = self.flows.get_mut(key) else { return };
        self.last_activity = Instant::now();
        let taken = guarded(|| flow.take_from_target(socket, &key.0, buf));
        if let Some(reason) = taken.unwrap_or_else(|p| Some(flow.panicked(&key.0, &*p))) {
            self.finish(key, reason);
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
        let slot = match self.host.admit(local, remote) {
            Ok(s) => s,
            Err(why) => {
                self.warn.warn(&p.portstr, &remote, &why);
                return None;
            }
        };
        log_notice!("   {}  Handling udp connection request from {} to {}.", p.portstr, remote, local);
        let upstream = self.host.relay_target(local, remote).and_then(|(kind, target)| {
            Upstream::connect(kind, target, &p.portstr, Intake::new(self.host.charge(), p.read_limit))
        });
        let data = Intake::new(self.host.charge(), p.read_limit);
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
            bytes_out: 0,
            data,
            upstream,
            slot,
        };
        Some(self.flows.entry(key).or_insert(flow))
    }

    /// Ends the flow of `key` and hands its record over.
    fn finish(&mut self, key: &FlowKey, end_reason: EndReason) {
        let Some(flow) = self.flows.remove(key) else { return };
        // After a flood the table gives its memory back as it empties.
        let (len, cap) = (self.flows.len(), self.flows.capacity());
        if cap >= SHRINK_ABOVE && len * 4 < cap {
            self.flows.shrink_to(len * 2);
        }
        self.last_activity = Instant::now();
        let (data, mut charge) = flow.data.into_parts();
        let upstream = flow.upstream.map(|up| {
            let (record, c) = up.record();
            charge.absorb(c);
            record
        });
        let record = UdpFlowRecord {
            local: flow.local,
            remote: key.0,
            start: flow.start,
            end: SystemTime::now(),
            data,
            bytes_out: flow.bytes_out,
            upstream,
            end_reason,
            charge,
        };
        self.host.on_end(record, flow.slot);
    }

    /// Ends every flow because the daemon is stopping; their records are still handed over.
    fn shutdown(&mut self) {
        let keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        for key in keys {
            match self.flows.get(&key) {
                Some(Flow { upstream: Some(up), p, .. }) => {
                    log_debug!("{} {}  Shutting down, closing connections.", up.kind.prefix(), p.portstr);
                }
                Some(f) => log_debug!("   {}  Shutting down, closing connection.", f.p.portstr),
                None => {}
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
        /// Every flow is proxied here (loopback, which the engine would refuse for mirror).
        target: Option<SocketAddr>,
        /// The flows' data is charged here.
        budget: Option<Arc<crate::budget::Budget>>,
        /// `max_flows`, when not 2.
        max_flows: Option<usize>,
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
                max_flows: self.max_flows.unwrap_or(2),
                relay_timeout: Duration::ZERO,
            }
        }
        fn admit(&self, _local: SocketAddr, _remote: SocketAddr) -> Result<(), String> {
            Ok(())
        }
        fn relay_target(&self, _local: SocketAddr, _remote: SocketAddr) -> Option<(RelayKind, SocketAddr)> {
            self.target.map(|t| (RelayKind::Proxy, t))
        }
        fn charge(&self) -> Charge {
            self.budget.as_ref().map_or_else(Charge::none, |b| b.charge())
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
        assert_eq!(s.warn.0.suppressed(), 0);
        s.datagram(&datagram("127.0.0.1:4", None), b"x");
        assert_eq!(s.warn.0.suppressed(), 1, "one warning a second");
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
    /// After a flood of flows the table gives its memory back as the flows end.
    #[test]
    fn the_table_of_flows_shrinks_after_a_flood() {
        let h = Host { max_flows: Some(10_000), ..Host::default() };
        let mut s = server(&h, "127.0.0.1:53");
        for port in 1001..=6000 {
            s.datagram(&datagram(&format!("127.0.0.1:{port}"), None), b"ab");
        }
        assert_eq!(s.flows.len(), 5000);
        // The read limit (4) ends the flows; ten stay.
        for port in 1011..=6000 {
            s.datagram(&datagram(&format!("127.0.0.1:{port}"), None), b"cd");
        }
        assert_eq!((s.flows.len(), h.ended.borrow().len()), (10, 4990));
        assert!(s.flows.capacity() < SHRINK_ABOVE, "{}", s.flows.capacity());
        s.shutdown();
    }

    #[test]
    fn memory_budget_ends_a_flow_with_its_record() {
        // The read limit is 4 bytes; the budget has room for one flow's 4 and 1 more.
        let budget = crate::budget::Budget::new(5);
        let h = Host { budget: Some(Arc::clone(&budget)), ..Host::default() };
        let mut s = server(&h, "127.0.0.1:53");
        s.datagram(&datagram("127.0.0.1:1", None), b"ab");
        assert_eq!(budget.used(), 4, "the flow's buffer, up to read_limit");
        s.datagram(&datagram("127.0.0.1:2", None), b"cd");
        assert_eq!(s.flows.len(), 1, "no room for the second flow's data: it ended");
        s.shutdown();
        let ended = h.ended.borrow();
        assert_eq!((ended[0].data.as_slice(), &ended[0].end_reason), (&b""[..], &EndReason::MemoryBudget));
        assert_eq!((ended[1].data.as_slice(), &ended[1].end_reason), (&b"ab"[..], &EndReason::Shutdown));
        assert_eq!(ended[1].charge.bytes(), 4, "the charge moves into the record");
        drop(ended);
        h.ended.borrow_mut().clear();
        assert_eq!(budget.used(), 0);

        // Relayed: what finds no room is not forwarded either.
        let target = UdpSocket::bind("127.0.0.1:0").unwrap();
        target.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let h =
            Host { budget: Some(Arc::clone(&budget)), target: Some(target.local_addr().unwrap()), ..Host::default() };
        let mut s = server(&h, "127.0.0.1:53");
        s.datagram(&datagram("127.0.0.1:1", None), b"ab");
        s.datagram(&datagram("127.0.0.1:2", None), b"cd");
        let mut got = [0u8; 8];
        assert_eq!(target.recv(&mut got).map(|n| got[..n].to_vec()).unwrap(), b"ab");
        assert!(target.recv(&mut got).is_err(), "nothing more forwarded");
        s.shutdown();
        assert_eq!(h.ended.borrow()[0].end_reason, EndReason::MemoryBudget);
    }

    /// A loopback port nobody listens on: datagrams to it are answered by ICMP port
    /// unreachable.
    fn closed_port() -> SocketAddr {
        UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
    }

    /// Waits (at most 5 s) until the socket of the relayed flow `key` is readable.
    fn target_ready(s: &Server<'_, Host>, key: &FlowKey) {
        let up = s.flows[key].upstream.as_ref().expect("relayed");
        let r = poll::poll_readable(&[up.socket.as_fd()], Some(Duration::from_secs(5))).unwrap();
        assert_eq!(r, [true], "nothing from the target in time");
    }

    fn key(peer: &str, local: &str) -> FlowKey {
        (peer.parse().unwrap(), local.parse().unwrap())
    }

    /// The host's read limit is 4 bytes: the data stay below it.
    #[test]
    fn refused_before_any_answer_falls_back_to_normal_mode() {
        let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = vec![0u8; DATAGRAM_MAX];
        // The refusal seen by polling the flow's socket.
        let h = Host { target: Some(closed_port()), ..Host::default() };
        let mut s = server(&h, "127.0.0.1:53");
        let k = key("127.0.0.1:1", "127.0.0.1:53");
        s.datagram(&datagram("127.0.0.1:1", None), b"a");
        target_ready(&s, &k);
        s.upstream_readable(&k, &listener, &mut buf);
        let f = &s.flows[&k];
        assert!(f.upstream.is_none(), "normal mode");
        assert_eq!((f.idle, f.sent), (0, false));
        s.datagram(&datagram("127.0.0.1:1", None), b"b");
        // The refusal reported by the next send instead (which does not go out).
        let h2 = Host { target: Some(closed_port()), ..Host::default() };
        let mut s2 = server(&h2, "127.0.0.1:53");
        s2.datagram(&datagram("127.0.0.1:1", None), b"e");
        target_ready(&s2, &k);
        s2.datagram(&datagram("127.0.0.1:1", None), b"f");
        assert!(s2.flows[&k].upstream.is_none(), "normal mode");
        s.shutdown();
        s2.shutdown();
        for (h, data) in [(&h, b"ab"), (&h2, b"ef")] {
            let ended = h.ended.borrow();
            assert_eq!(ended.len(), 1);
            assert_eq!(ended[0].data, data);
            assert_eq!((&ended[0].upstream, &ended[0].end_reason), (&None, &EndReason::Shutdown));
        }
    }

    #[test]
    fn an_error_after_the_target_answered_ends_the_flow() {
        let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let peer = client.local_addr().unwrap();
        let target = UdpSocket::bind("127.0.0.1:0").unwrap();
        target.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let h = Host { target: Some(target.local_addr().unwrap()), ..Host::default() };
        let mut s = server(&h, &listener.local_addr().unwrap().to_string());
        let k = (peer, s.bound);
        let mut buf = vec![0u8; DATAGRAM_MAX];
        s.datagram(&datagram(&peer.to_string(), None), b"a");
        let mut got = [0u8; 16];
        let (n, from) = target.recv_from(&mut got).unwrap();
        assert_eq!(&got[..n], b"a");
        assert_eq!(from, s.flows[&k].upstream.as_ref().unwrap().local);
        target.send_to(b"xyz", from).unwrap();
        target_ready(&s, &k);
        s.upstream_readable(&k, &listener, &mut buf);
        let (n, back_from) = client.recv_from(&mut got).unwrap();
        assert_eq!((&got[..n], back_from), (&b"xyz"[..], s.bound));
        // The target goes away; the next datagram is refused.
        drop(target);
        s.datagram(&datagram(&peer.to_string(), None), b"b");
        target_ready(&s, &k);
        s.upstream_readable(&k, &listener, &mut buf);
        assert!(s.flows.is_empty());
        let ended = h.ended.borrow();
        assert_eq!(ended[0].data, b"ab");
        assert!(matches!(&ended[0].end_reason, EndReason::ReadError(_)), "{:?}", ended[0].end_reason);
        let up = ended[0].upstream.as_ref().unwrap();
        assert_eq!((up.kind, up.target, up.data.as_slice()), (RelayKind::Proxy, h.target.unwrap(), &b"xyz"[..]));
    }
}
