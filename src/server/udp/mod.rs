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
//! `connect()`ed to the target ([`super::relay::connect_udp_target`]) and polled by the same thread:
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
//! The files: server.rs (the socket's thread, [`serve_udp`]), flow.rs (one flow), upstream.rs
//! (a relayed flow's socket to its target); this file holds what the engine sees.
//!
//! Nothing here blocks except the wait for the next datagram or deadline, which is at most a
//! second, so the stop flag is seen within a second; sends use `MSG_DONTWAIT`.

use super::limits::Refusal;
use crate::budget::Charge;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime};

pub use super::conn::{EndReason, ResponsePolicy, SessionParams};
pub use super::relay::{RelayKind, MIRROR_READ_TIMEOUT};
pub use server::serve_udp;

mod flow;
mod server;
mod upstream;

/// Receive buffer: the largest UDP payload.
pub const DATAGRAM_MAX: usize = 65535;
/// Datagrams taken in one go before the flows' timers are looked at again.
const BATCH: usize = 256;

/// What a new flow needs to know; asked from [`UdpHost::params`] for every new flow, so new
/// settings (SIGHUP) apply to flows opened afterwards.
#[derive(Clone, Debug)]
pub struct UdpParams {
    /// What a flow shares with a TCP session: idle interval, read and session limits,
    /// response and log prefix.
    pub session: SessionParams,
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

    /// Admits a new flow from `remote` to `local`, or says why not; the refusal's text
    /// completes the WARN line `Warning - Datagram from <remote> dropped: limit of <text>
    /// reached.`
    fn admit(&self, local: SocketAddr, remote: SocketAddr) -> Result<Self::Slot, Refusal>;

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
