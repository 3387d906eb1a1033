//! The thread that serves a UDP listener: receives every datagram, sorts them into flows by
//! peer and local address, waits on the relayed flows' sockets, runs the timers and hands each
//! ended flow to its host. Replaces the UDP branch of the C original's dynamic server (dynsrv.c).

use super::flow::Flow;
use super::upstream::Upstream;
use super::*;
use crate::attack::portstr;
use crate::budget::Intake;
use crate::config::Proto;
use crate::server::conn::effective_interval;
use crate::sys::{net, poll, strerror};
use crate::{log_debug, log_notice, log_warn};
use std::any::Any;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::AsFd;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Longest single wait, so that the stop flag and the idle check run at least once a second.
const STEP: Duration = Duration::from_secs(1);
/// A table of flows of at least this many places is shrunk once it is three quarters empty.
const SHRINK_ABOVE: usize = 1024;
/// At most one "datagram dropped" warning per this interval.
const WARN_INTERVAL: Duration = Duration::from_secs(1);

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
            self.warn.warn(&p.session.portstr, &remote, &format!("{} udp flows on this port", p.max_flows));
            return None;
        }
        let slot = match self.host.admit(local, remote) {
            Ok(s) => s,
            Err(why) => {
                self.warn.warn(&p.session.portstr, &remote, &why.to_string());
                return None;
            }
        };
        log_notice!("   {}  Handling udp connection request from {} to {}.", p.session.portstr, remote, local);
        let upstream = self.host.relay_target(local, remote).and_then(|(kind, target)| {
            Upstream::connect(kind, target, &p.session.portstr, Intake::new(self.host.charge(), p.session.read_limit))
        });
        let data = Intake::new(self.host.charge(), p.session.read_limit);
        let now = Instant::now();
        let flow = Flow {
            session_deadline: if p.session.session_limit.is_zero() {
                None
            } else {
                now.checked_add(p.session.session_limit)
            },
            interval: effective_interval(p.session.read_timeout),
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
                    log_debug!("{} {}  Shutting down, closing connections.", up.kind.prefix(), p.session.portstr);
                }
                Some(f) => log_debug!("   {}  Shutting down, closing connection.", f.p.session.portstr),
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
    use std::sync::Arc;

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
                session: SessionParams {
                    read_timeout: Duration::ZERO,
                    read_limit: 4,
                    session_limit: Duration::ZERO,
                    policy: ResponsePolicy::Once,
                    response: None,
                    portstr: portstr(53, Proto::Udp),
                },
                max_flows: self.max_flows.unwrap_or(2),
                relay_timeout: Duration::ZERO,
            }
        }
        fn admit(&self, _local: SocketAddr, _remote: SocketAddr) -> Result<(), Refusal> {
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
