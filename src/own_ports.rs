//! The UDP ports of honeytrap's own outgoing sockets (the sockets of UDP mirror/proxy flows
//! and of TFTP downloads), so that datagrams arriving on them are not taken for attacks.
//!
//! With an NFQUEUE rule for all UDP (`-p udp` without a state match) or with pcap, the
//! answers of a relay target or a TFTP server reach the monitor like any datagram. While our
//! socket is open, binding a server on its port fails and nothing worse happens; but an
//! answer that arrives just after the socket closed would find the port free and be served,
//! and recorded, as an attack of its own. Ports are therefore remembered while in use and
//! for [`QUIET`] afterwards, and the engine leaves requests for them alone. A module of its
//! own because capture (the UDP servers, the engine) and the downloads (the TFTP client)
//! both use it and neither may reach into the other.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a port stays ours after its socket is closed.
pub const QUIET: Duration = Duration::from_secs(60);

/// Port → (sockets open on it, when the last one was closed).
type Table = HashMap<u16, (u32, Option<Instant>)>;

static PORTS: Mutex<Option<Table>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut Table) -> T) -> T {
    let mut g = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(HashMap::new))
}

/// A port of ours while the guard lives, and for [`QUIET`] after it is dropped.
#[derive(Debug)]
pub struct OwnPort(Option<u16>);

/// Registers the local port of `socket` (nothing if it has none).
pub fn claim(socket: &UdpSocket) -> OwnPort {
    let port = socket.local_addr().ok().map(|a| a.port()).filter(|&p| p != 0);
    if let Some(p) = port {
        with(|m| {
            let e = m.entry(p).or_insert((0, None));
            e.0 += 1;
            e.1 = None;
        });
    }
    OwnPort(port)
}

impl Drop for OwnPort {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            with(|m| {
                if let Some(e) = m.get_mut(&p) {
                    e.0 = e.0.saturating_sub(1);
                    if e.0 == 0 {
                        e.1 = Some(Instant::now());
                    }
                }
            });
        }
    }
}

/// Whether UDP `port` belongs to one of our own sockets, now or within [`QUIET`].
pub fn is_own(port: u16) -> bool {
    with(|m| {
        if m.len() > 256 {
            m.retain(|_, e| e.0 > 0 || e.1.is_some_and(|t| t.elapsed() < QUIET));
        }
        m.get(&port).is_some_and(|e| e.0 > 0 || e.1.is_some_and(|t| t.elapsed() < QUIET))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_ours_while_in_use_and_a_while_after() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        assert!(!is_own(port));
        let guard = claim(&s);
        let second = claim(&s);
        assert!(is_own(port));
        drop(guard);
        assert!(is_own(port), "still used by the second guard");
        drop(second);
        assert!(is_own(port), "released just now: quiet period");
        with(|m| m.get_mut(&port).unwrap().1 = Instant::now().checked_sub(QUIET + Duration::from_secs(1)));
        assert!(!is_own(port));
    }
}
