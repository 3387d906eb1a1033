//! Dynamic servers (docs/COMPATIBILITY.md, Servers and modes): the listeners bound on demand
//! and their connections (engine.rs), the admission of connections (limits.rs) within the
//! capacity the system gives (capacity.rs), the normal-mode default responses (responses.rs),
//! the normal-mode connection loop (conn.rs) and its UDP counterpart, one thread per socket
//! serving every flow (udp/), and the mirror/proxy relay (relay.rs). The ports of our own
//! outgoing UDP sockets, which the engine leaves alone, are kept in src/own_ports.rs, shared
//! with the TFTP client. Replaces the C original's dynsrv.c and proxy.c.

pub mod capacity;
pub mod conn;
pub(crate) mod engine;
pub mod limits;
pub mod relay;
pub(crate) mod responses;
pub(crate) mod settings;
pub mod udp;
