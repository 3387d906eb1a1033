//! One UDP flow: the datagrams of one peer to one local address, its idle and session timers,
//! responses, limits, and for a relayed flow the forwarding both ways and the fall-back to
//! normal mode. Replaces the per-datagram handlers of the C original's dynamic server (dynsrv.c).

use super::upstream::Upstream;
use super::*;
use crate::budget::{self, Full, Intake};
use crate::server::conn::{panic_text, IDLE_LIMIT};
use crate::server::relay;
use crate::sys::{net, strerror};
use crate::{log_debug, log_err, log_info, log_noisy, log_warn};
use std::any::Any;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

/// One flow's state.
pub(super) struct Flow<S> {
    pub(super) p: UdpParams,
    pub(super) local: SocketAddr,
    /// The source address of replies; `None`: the kernel's choice.
    pub(super) reply_from: Option<IpAddr>,
    pub(super) start: SystemTime,
    pub(super) session_deadline: Option<Instant>,
    pub(super) interval: Duration,
    /// Normal mode: the start of the current idle interval; relayed: the last datagram
    /// either way.
    pub(super) interval_start: Instant,
    pub(super) idle: u32,
    pub(super) sent: bool,
    /// Bytes sent to the peer (responses, or what the relay target answered).
    pub(super) bytes_out: u64,
    pub(super) data: Intake,
    /// `Some` while the flow is relayed (mirror or proxy mode).
    pub(super) upstream: Option<Upstream>,
    pub(super) slot: S,
}

impl<S> Flow<S> {
    /// A step of this flow's handler panicked: logged, and the flow ends; its record (what
    /// was received before) is still handed over.
    pub(super) fn panicked(&self, remote: &SocketAddr, payload: &(dyn Any + Send)) -> EndReason {
        let msg = panic_text(payload);
        log_err!(
            "   {}  Error - Handling the flow from {} failed ({}), processing what was read.",
            self.p.session.portstr,
            remote,
            msg
        );
        EndReason::Panic(msg)
    }

    /// When the flow's next timer fires; `None`: never (an interval too long to represent
    /// and no session limit).
    pub(super) fn deadline(&self) -> Option<Instant> {
        let idle = if self.upstream.is_some() { self.p.relay_idle() } else { self.interval };
        let due = self.interval_start.checked_add(idle);
        match (due, self.session_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A datagram from the peer: appended to the attack string and, in a relayed flow,
    /// forwarded to the target. Returns why the flow ends, if it does.
    pub(super) fn take(&mut self, bytes: &[u8]) -> Option<EndReason> {
        let (kept, full) = self.data.push(bytes);
        let ps = &self.p.session.portstr;
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
        let ps = &self.p.session.portstr;
        match &self.upstream {
            Some(up) if self.data.at_limit() => {
                let k = up.kind;
                log_warn!(
                    "{} {}  Warning - Read limit ({} bytes) hit. Closing {} connections.",
                    k.prefix(),
                    ps,
                    self.p.session.read_limit,
                    k.act()
                );
                Some(EndReason::ReadLimit)
            }
            Some(_) => None,
            None => {
                log_info!("   {}* {} bytes read.", ps, bytes.len());
                if self.data.at_limit() {
                    log_warn!(
                        "   {}  Warning - Read limit ({} bytes) hit. Closing connection.",
                        ps,
                        self.p.session.read_limit
                    );
                    return Some(EndReason::ReadLimit);
                }
                None
            }
        }
    }

    /// Sends the peer's `bytes` to the target, if the flow is relayed. A target that refused
    /// before answering turns the flow to normal mode; returns why the flow ends, if it does.
    pub(super) fn forward(&mut self, bytes: &[u8]) -> Option<EndReason> {
        let up = self.upstream.as_mut()?;
        let ps = &self.p.session.portstr;
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
    pub(super) fn fall_back(&mut self, e: &io::Error) {
        let Some(up) = self.upstream.take() else { return };
        log_debug!("{}  Connection to {} failed: {}.", self.p.session.portstr, up.target, strerror(e));
        relay::log_rejected(up.kind, &self.p.session.portstr);
        self.idle = 0;
        self.sent = false;
        self.interval_start = Instant::now();
    }

    /// Takes the datagrams the target sent (at most [`BATCH`]) and sends them to the peer
    /// `remote` from the flow's local address. Returns why the flow ends, if it does.
    pub(super) fn take_from_target(
        &mut self,
        socket: &UdpSocket,
        remote: &SocketAddr,
        buf: &mut [u8],
    ) -> Option<EndReason> {
        for _ in 0..BATCH {
            let up = self.upstream.as_mut()?;
            let ps = &self.p.session.portstr;
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
                            self.p.session.read_limit,
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
    pub(super) fn tick(&mut self, now: Instant, socket: &UdpSocket, remote: &SocketAddr) -> Option<EndReason> {
        let ps = &self.p.session.portstr;
        if let Some(up) = &self.upstream {
            let pre = up.kind.prefix();
            if self.session_deadline.is_some_and(|d| now >= d) {
                log_info!(
                    "{} {}  Session limit ({} seconds) reached, closing connections.",
                    pre,
                    ps,
                    self.p.session.session_limit.as_secs()
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
                self.p.session.session_limit.as_secs()
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
        if self.p.session.policy == ResponsePolicy::Repeat || !self.sent {
            self.sent = true;
            let secs = self.interval.as_secs();
            let response: &[u8] = match &self.p.session.response {
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
