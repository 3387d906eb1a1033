//! `ConnRequest`: a connection attempt to a port nobody serves, the one thing a monitor
//! (src/monitor/) hands to the dynamic servers (src/server/engine.rs). It lives apart from
//! both so that neither knows the other: the daemon wires the monitor's requests to the
//! engine. Replaces the (protocol, address, port) the C original's monitors passed to
//! `start_dynamic_server`.

use crate::config::Proto;
use std::net::SocketAddr;

/// A connection attempt to a port nobody serves, as seen by a monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnRequest {
    pub proto: Proto,
    /// The attacked address and port (ours).
    pub local: SocketAddr,
    /// The attacker's address and port.
    pub remote: SocketAddr,
}
