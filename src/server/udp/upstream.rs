//! The mirror/proxy side of a relayed UDP flow: its own socket, `connect()`ed to the target,
//! and what the target sent. Replaces the relayed half of the UDP handlers of the C
//! original's dynamic server (dynsrv.c with the mirror and proxy modes of proxy.c).

use super::*;
use crate::budget::{Charge, Intake};
use crate::log_debug;
use crate::own_ports;
use crate::server::relay;
use crate::sys::strerror;
use std::net::{SocketAddr, UdpSocket};

/// The mirror/proxy side of a relayed flow.
pub(super) struct Upstream {
    pub(super) kind: RelayKind,
    /// Connected to `target`, non-blocking.
    pub(super) socket: UdpSocket,
    pub(super) local: SocketAddr,
    pub(super) target: SocketAddr,
    /// Every byte received from the target (at most `read_limit`).
    pub(super) data: Intake,
    /// The target has sent a datagram: from now on an error ends the flow instead of
    /// falling back to normal mode.
    pub(super) answered: bool,
    /// Keeps late answers to this socket from being taken for attacks.
    pub(super) _own: own_ports::OwnPort,
}

impl Upstream {
    /// Opens the flow's socket to `target`, or logs why the flow falls back to normal mode.
    pub(super) fn connect(kind: RelayKind, target: SocketAddr, ps: &str, data: Intake) -> Option<Upstream> {
        let opened = relay::connect_udp_target(target).and_then(|socket| Ok((socket.local_addr()?, socket)));
        match opened {
            Ok((local, socket)) => {
                relay::log_established(kind, ps, target);
                let own = own_ports::claim(&socket);
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
    pub(super) fn record(self) -> (UdpUpstreamRecord, Charge) {
        let Upstream { kind, local, target, data, .. } = self;
        let (data, charge) = data.into_parts();
        (UdpUpstreamRecord { kind, local, target, data }, charge)
    }
}
