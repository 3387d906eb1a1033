//! UDP flows over real loopback sockets (one handler per flow, unlike the C original's several
//! per datagram): `serve_udp` in a thread with a test host that collects the flow records, real
//! client sockets on other ports. The idle interval is 100 ms, so an idle flow ends after about
//! 1.1 s. Relayed flows go to a scripted UDP peer on loopback, which the test host names as the
//! target directly (the engine refuses loopback targets for mirror mode). Every wait is
//! bounded.

mod common;

use honeytrap::server::capacity::Room;
use honeytrap::server::limits::{Kind, Limits, Policy, Refusal, Slot};
use honeytrap::server::udp::{
    serve_udp, EndReason, RelayKind, ResponsePolicy, SessionParams, UdpExit, UdpFlowRecord, UdpHost, UdpParams,
};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_millis(100);
/// Longest wait for anything that should happen.
const WATCHDOG: Duration = Duration::from_secs(10);
/// How long "nothing more happens" is watched.
const QUIET: Duration = Duration::from_millis(300);

fn params() -> UdpParams {
    UdpParams {
        session: SessionParams {
            read_timeout: INTERVAL,
            read_limit: 0,
            session_limit: Duration::ZERO,
            policy: ResponsePolicy::Once,
            response: None,
            portstr: honeytrap::attack::portstr(31337, honeytrap::config::Proto::Udp),
        },
        max_flows: 1000,
        relay_timeout: Duration::ZERO,
    }
}

struct TestHost {
    params: UdpParams,
    limits: Limits,
    records: mpsc::Sender<UdpFlowRecord>,
    idle_exit: Option<Duration>,
    /// Every flow is relayed here.
    target: Option<(RelayKind, SocketAddr)>,
}

/// Limits with a hard cap of `total` connections and a share of `per_source` (applied once
/// three quarters of the cap are taken).
fn caps(total: u32, per_source: u32) -> Limits {
    Limits::new(Policy { cap: Some(total), share: per_source })
}

impl UdpHost for TestHost {
    type Slot = Slot;

    fn params(&self, _local: SocketAddr) -> UdpParams {
        self.params.clone()
    }

    fn admit(&self, _local: SocketAddr, remote: SocketAddr) -> Result<Slot, Refusal> {
        let kind = Kind::Flow { relayed: self.target.is_some() };
        self.limits.admit(remote.ip(), kind, &Room::UNLIMITED).map_err(|cause| Refusal { cause, peer: remote.ip() })
    }

    fn relay_target(&self, _local: SocketAddr, _remote: SocketAddr) -> Option<(RelayKind, SocketAddr)> {
        self.target
    }

    fn on_end(&self, record: UdpFlowRecord, slot: Slot) {
        drop(slot);
        let _ = self.records.send(record);
    }

    fn on_idle(&self, idle: Duration, socket: UdpSocket) -> Option<UdpSocket> {
        match self.idle_exit {
            Some(t) if idle >= t => None,
            _ => Some(socket),
        }
    }
}

struct Server {
    /// Where clients send to.
    addr: SocketAddr,
    records: mpsc::Receiver<UdpFlowRecord>,
    exit: mpsc::Receiver<(UdpExit, Instant)>,
    stop: Arc<AtomicBool>,
    limits: Limits,
}

impl Server {
    /// A server on `bind`.
    fn start(bind: &str, p: UdpParams, limits: Limits, idle_exit: Option<Duration>) -> Option<Server> {
        match honeytrap::sys::net::udp_socket(&bind.parse().unwrap()) {
            Ok(s) => Some(Server::serve(s, p, limits, idle_exit, None)),
            Err(e) => {
                common::skip(&common::this_test(), &format!("cannot bind {bind}: {e}"));
                None
            }
        }
    }

    /// A server on `bind` that relays every flow to `target`.
    fn relayed(bind: &str, p: UdpParams, kind: RelayKind, target: SocketAddr) -> Server {
        let socket = honeytrap::sys::net::udp_socket(&bind.parse().unwrap()).unwrap();
        Server::serve(socket, p, caps(100, 100), None, Some((kind, target)))
    }

    /// A server on `socket`.
    fn serve(
        socket: UdpSocket,
        p: UdpParams,
        limits: Limits,
        idle_exit: Option<Duration>,
        target: Option<(RelayKind, SocketAddr)>,
    ) -> Server {
        let addr = socket.local_addr().unwrap();
        let (tx, records) = mpsc::channel();
        let (etx, exit) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let host = TestHost { params: p, limits: limits.clone(), records: tx, idle_exit, target };
        let st = Arc::clone(&stop);
        thread::Builder::new()
            .name("udp-test".into())
            .spawn(move || {
                let r = serve_udp(socket, &host, &st);
                let _ = etx.send((r, Instant::now()));
            })
            .unwrap();
        Server { addr, records, exit, stop, limits }
    }

    fn record(&self) -> UdpFlowRecord {
        self.records.recv_timeout(WATCHDOG).expect("no flow record in time")
    }

    fn records(&self, n: usize) -> Vec<UdpFlowRecord> {
        (0..n).map(|_| self.record()).collect()
    }

    fn no_more_records(&self) {
        if let Ok(r) = self.records.recv_timeout(QUIET) {
            panic!("unexpected record {r:?}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A client socket on the loopback address of `server`'s family.
fn client(server: SocketAddr) -> UdpSocket {
    let c = UdpSocket::bind(if server.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }).unwrap();
    c.set_read_timeout(Some(WATCHDOG)).unwrap();
    c
}

/// The next datagram for `c` (bounded by its read timeout) and where it came from.
fn response(c: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut b = vec![0u8; 65536];
    let (n, from) = c.recv_from(&mut b).expect("no response in time");
    b.truncate(n);
    (b, from)
}

/// Datagrams already queued for `c`, without waiting.
fn queued(c: &UdpSocket) -> usize {
    c.set_nonblocking(true).unwrap();
    let mut b = [0u8; 2048];
    let mut n = 0;
    loop {
        match c.recv(&mut b) {
            Ok(_) => n += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    c.set_nonblocking(false).unwrap();
    n
}

fn one_datagram(bind: &str, response_file: Option<&[u8]>) {
    let p =
        UdpParams { session: SessionParams { response: response_file.map(Arc::from), ..params().session }, ..params() };
    let Some(s) = Server::start(bind, p, caps(100, 100), None) else { return };
    let c = client(s.addr);
    let sent = Instant::now();
    c.send_to(b"hello", s.addr).unwrap();
    let (r, from) = response(&c);
    let waited = sent.elapsed();
    assert_eq!(r, response_file.unwrap_or(b"\n"));
    assert_eq!(from, s.addr);
    assert!(waited >= INTERVAL, "response after {waited:?}");
    let rec = s.record();
    let took = sent.elapsed();
    assert_eq!(rec.data, b"hello");
    assert_eq!(rec.end_reason, EndReason::IdleTimeout);
    assert_eq!((rec.local, rec.remote), (s.addr, c.local_addr().unwrap()));
    assert!(rec.start <= rec.end);
    // 11 idle intervals.
    assert!(took >= INTERVAL * 11 && took < INTERVAL * 11 + Duration::from_secs(2), "flow lasted {took:?}");
    assert_eq!(queued(&c), 0, "more than one response");
    s.no_more_records();
    assert_eq!(queued(&c), 0);
    assert_eq!(s.limits.taken(), 0);
}

#[test]
fn one_datagram_one_record_one_response_v4() {
    one_datagram("127.0.0.1:0", None);
}

#[test]
fn one_datagram_one_record_one_response_v6() {
    one_datagram("[::1]:0", None);
}

#[test]
fn response_file_is_sent_as_one_datagram() {
    one_datagram("127.0.0.1:0", Some(b"SSH-2.0-OpenSSH\r\n\x00\xff binary"));
    one_datagram("[::1]:0", Some(&[0x5a; 4000]));
}

#[test]
fn several_datagrams_from_one_peer_make_one_record_in_order() {
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let Some(s) = Server::start(bind, params(), caps(100, 100), None) else { continue };
        let c = client(s.addr);
        for part in [&b"one "[..], b"two ", b"", b"three"] {
            c.send_to(part, s.addr).unwrap();
            thread::sleep(Duration::from_millis(30));
        }
        let rec = s.record();
        assert_eq!(rec.data, b"one two three");
        assert_eq!(rec.remote, c.local_addr().unwrap());
        assert_eq!(queued(&c), 1, "exactly one response");
        s.no_more_records();
    }
}

#[test]
fn two_peers_make_two_records() {
    let Some(s) = Server::start("127.0.0.1:0", params(), caps(100, 100), None) else { return };
    let a = client(s.addr);
    let b = client(s.addr);
    a.send_to(b"from a", s.addr).unwrap();
    b.send_to(b"from b", s.addr).unwrap();
    a.send_to(b", again", s.addr).unwrap();
    let recs: HashMap<SocketAddr, UdpFlowRecord> = s.records(2).into_iter().map(|r| (r.remote, r)).collect();
    assert_eq!(recs[&a.local_addr().unwrap()].data, b"from a, again");
    assert_eq!(recs[&b.local_addr().unwrap()].data, b"from b");
    assert_eq!((queued(&a), queued(&b)), (1, 1));
    s.no_more_records();
}

#[test]
fn repeat_policy_answers_every_idle_interval() {
    let p = UdpParams {
        session: SessionParams {
            policy: ResponsePolicy::Repeat,
            response: Some(Arc::from(&b"R"[..])),
            ..params().session
        },
        ..params()
    };
    let Some(s) = Server::start("127.0.0.1:0", p, caps(100, 100), None) else { return };
    let c = client(s.addr);
    c.send_to(b"x", s.addr).unwrap();
    let rec = s.record();
    assert_eq!((rec.data.as_slice(), rec.end_reason), (&b"x"[..], EndReason::IdleTimeout));
    assert_eq!(queued(&c), 10);
}

#[test]
fn read_limit_is_exact_and_the_peer_may_start_again() {
    let p = UdpParams { session: SessionParams { read_limit: 10, ..params().session }, ..params() };
    let Some(s) = Server::start("127.0.0.1:0", p, caps(100, 100), None) else { return };
    let c = client(s.addr);
    let sent = Instant::now();
    for _ in 0..3 {
        c.send_to(b"abcd", s.addr).unwrap();
    }
    let rec = s.record();
    assert!(sent.elapsed() < Duration::from_secs(1), "read limit did not end the flow at once");
    assert_eq!((rec.data.as_slice(), rec.end_reason), (&b"abcdabcdab"[..], EndReason::ReadLimit));
    // A later datagram opens a new flow.
    c.send_to(b"zz", s.addr).unwrap();
    let rec = s.record();
    assert_eq!((rec.data.as_slice(), rec.end_reason), (&b"zz"[..], EndReason::IdleTimeout));
    assert_eq!(queued(&c), 1, "no response to the first flow, one to the second");
}

#[test]
fn session_limit_ends_a_busy_flow() {
    let p = UdpParams {
        session: SessionParams { session_limit: Duration::from_millis(400), ..params().session },
        ..params()
    };
    let Some(s) = Server::start("127.0.0.1:0", p, caps(100, 100), None) else { return };
    let c = client(s.addr);
    let sent = Instant::now();
    let sender = {
        let c = c.try_clone().unwrap();
        let to = s.addr;
        thread::spawn(move || {
            for _ in 0..20 {
                let _ = c.send_to(b"k", to);
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let rec = s.record();
    let took = sent.elapsed();
    assert_eq!(rec.end_reason, EndReason::SessionLimit);
    assert!(!rec.data.is_empty() && rec.data.iter().all(|&b| b == b'k'));
    assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(3), "{took:?}");
    sender.join().unwrap();
}

#[test]
fn flow_cap_drops_new_flows_only() {
    let p = UdpParams { max_flows: 2, ..params() };
    let Some(s) = Server::start("127.0.0.1:0", p, caps(100, 100), None) else { return };
    let (a, b, c) = (client(s.addr), client(s.addr), client(s.addr));
    a.send_to(b"a1", s.addr).unwrap();
    b.send_to(b"b1", s.addr).unwrap();
    thread::sleep(Duration::from_millis(30));
    for _ in 0..5 {
        c.send_to(b"dropped", s.addr).unwrap();
    }
    // Open flows still take data.
    a.send_to(b"a2", s.addr).unwrap();
    let recs: HashMap<SocketAddr, UdpFlowRecord> = s.records(2).into_iter().map(|r| (r.remote, r)).collect();
    assert_eq!(recs[&a.local_addr().unwrap()].data, b"a1a2");
    assert_eq!(recs[&b.local_addr().unwrap()].data, b"b1");
    s.no_more_records();
    assert_eq!(queued(&c), 0, "a dropped peer got a response");
    // With room again, the third peer is served.
    c.send_to(b"c1", s.addr).unwrap();
    let rec = s.record();
    assert_eq!((rec.remote, rec.data.as_slice()), (c.local_addr().unwrap(), &b"c1"[..]));
}

#[test]
fn global_caps_count_udp_flows() {
    let limits = caps(1, 1);
    let Some(s) = Server::start("127.0.0.1:0", params(), limits.clone(), None) else { return };
    let (a, b) = (client(s.addr), client(s.addr));
    a.send_to(b"first", s.addr).unwrap();
    thread::sleep(Duration::from_millis(50));
    assert_eq!(limits.taken(), 1, "the open flow holds a slot");
    b.send_to(b"refused", s.addr).unwrap();
    let rec = s.record();
    assert_eq!(rec.data, b"first");
    s.no_more_records();
    assert_eq!(limits.taken(), 0, "the slot is freed with the record");
    assert_eq!(queued(&b), 0);
}

#[test]
fn stop_ends_flows_and_still_reports_them() {
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let Some(s) = Server::start(bind, params(), caps(100, 100), None) else { continue };
        let (a, b) = (client(s.addr), client(s.addr));
        a.send_to(b"partial a", s.addr).unwrap();
        b.send_to(b"partial b", s.addr).unwrap();
        thread::sleep(Duration::from_millis(50));
        let stopped = Instant::now();
        s.stop.store(true, Ordering::SeqCst);
        let (exit, at) = s.exit.recv_timeout(WATCHDOG).expect("serve_udp did not return");
        assert!(matches!(exit, UdpExit::Stopped), "{exit:?}");
        assert!(at.duration_since(stopped) < Duration::from_millis(1500));
        let mut recs = s.records(2);
        recs.sort_by(|x, y| x.data.cmp(&y.data));
        assert_eq!(recs[0].data, b"partial a");
        assert_eq!(recs[1].data, b"partial b");
        assert!(recs.iter().all(|r| r.end_reason == EndReason::Shutdown));
        s.no_more_records();
        assert_eq!(s.limits.taken(), 0);
    }
}

#[test]
fn fifty_source_ports_make_fifty_records_none_empty() {
    let Some(s) = Server::start("127.0.0.1:0", params(), caps(1000, 1000), None) else { return };
    let clients: Vec<UdpSocket> = (0..50).map(|_| client(s.addr)).collect();
    for (i, c) in clients.iter().enumerate() {
        c.send_to(format!("datagram {i}").as_bytes(), s.addr).unwrap();
    }
    let recs = s.records(50);
    let by_peer: HashMap<SocketAddr, UdpFlowRecord> = recs.into_iter().map(|r| (r.remote, r)).collect();
    assert_eq!(by_peer.len(), 50);
    for (i, c) in clients.iter().enumerate() {
        let r = &by_peer[&c.local_addr().unwrap()];
        assert_eq!(r.data, format!("datagram {i}").as_bytes());
        assert_eq!(r.end_reason, EndReason::IdleTimeout);
        assert_eq!(queued(c), 1, "client {i}");
    }
    s.no_more_records();
}

/// A socket bound to the unspecified address records where each datagram went and answers
/// from there: 127.0.0.2 is only told apart from 127.0.0.1 by IP_PKTINFO.
#[test]
fn unspecified_bind_records_and_answers_from_the_real_local_address() {
    for (bind, dst, client_bind) in [("0.0.0.0:0", "127.0.0.2", "127.0.0.1:0"), ("[::]:0", "::1", "[::1]:0")] {
        let Some(s) = Server::start(bind, params(), caps(100, 100), None) else { continue };
        let Ok(c) = UdpSocket::bind(client_bind) else { continue };
        c.set_read_timeout(Some(WATCHDOG)).unwrap();
        let to = SocketAddr::new(dst.parse().unwrap(), s.addr.port());
        c.send_to(b"where am i", to).unwrap();
        let (r, from) = response(&c);
        assert_eq!((r.as_slice(), from), (&b"\n"[..], to));
        let rec = s.record();
        assert_eq!((rec.local, rec.remote, rec.data.as_slice()), (to, c.local_addr().unwrap(), &b"where am i"[..]));
    }
}

/// A socket made elsewhere, without pktinfo, and a datagram queued before `serve_udp` turns
/// it on: the datagram carries only its destination, which is still recorded and answered
/// from.
#[test]
fn datagram_queued_before_pktinfo_keeps_its_local_address() {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let to: SocketAddr = ([127, 0, 0, 2], port).into();
    let c = client(to);
    c.send_to(b"early", to).unwrap();
    thread::sleep(Duration::from_millis(50));
    let s = Server::serve(socket, params(), caps(100, 100), None, None);
    let (r, from) = response(&c);
    assert_eq!((r.as_slice(), from), (&b"\n"[..], to));
    c.send_to(b" later", to).unwrap();
    let rec = s.record();
    assert_eq!((rec.local, rec.data.as_slice()), (to, &b"early later"[..]));
}

#[test]
fn idle_socket_exits_through_on_idle_but_never_with_an_open_flow() {
    let idle = Duration::from_millis(300);
    let Some(s) = Server::start("127.0.0.1:0", params(), caps(100, 100), Some(idle)) else { return };
    let c = client(s.addr);
    c.send_to(b"keep me", s.addr).unwrap();
    let sent = Instant::now();
    let rec = s.record();
    let ended = Instant::now();
    assert_eq!(rec.data, b"keep me");
    let (exit, at) = s.exit.recv_timeout(WATCHDOG).expect("serve_udp did not return");
    assert!(matches!(exit, UdpExit::Idle), "{exit:?}");
    assert!(at.duration_since(sent) >= INTERVAL * 11, "exited with the flow open");
    let after = at.duration_since(ended);
    assert!(after >= idle - Duration::from_millis(200) && after < idle + Duration::from_secs(3), "{after:?}");
    // The socket is closed: the port can be bound again without SO_REUSEADDR.
    assert!(UdpSocket::bind(s.addr).is_ok());
}

#[test]
fn quiet_socket_exits_when_asked() {
    let Some(s) = Server::start("[::1]:0", params(), caps(100, 100), Some(Duration::from_millis(200))) else {
        return;
    };
    let (exit, _) = s.exit.recv_timeout(WATCHDOG).expect("serve_udp did not return");
    assert!(matches!(exit, UdpExit::Idle));
    s.no_more_records();
}

/// A scripted UDP peer, the target of relayed flows: answers every datagram with the
/// datagrams `script` returns and reports what it received, until dropped (30 s at most).
struct Peer {
    addr: SocketAddr,
    seen: mpsc::Receiver<(Vec<u8>, SocketAddr)>,
    stop: Arc<AtomicBool>,
}

impl Peer {
    fn start(bind: &str, script: fn(&[u8]) -> Vec<Vec<u8>>) -> Peer {
        let sock = UdpSocket::bind(bind).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = sock.local_addr().unwrap();
        let (tx, seen) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(30);
            let mut b = vec![0u8; 65536];
            while !st.load(Ordering::SeqCst) && Instant::now() < end {
                if let Ok((n, from)) = sock.recv_from(&mut b) {
                    for reply in script(&b[..n]) {
                        let _ = sock.send_to(&reply, from);
                    }
                    let _ = tx.send((b[..n].to_vec(), from));
                }
            }
        });
        Peer { addr, seen, stop }
    }

    /// The next datagram the peer received, and its sender.
    fn seen(&self) -> (Vec<u8>, SocketAddr) {
        self.seen.recv_timeout(WATCHDOG).expect("the target received nothing in time")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn echo(d: &[u8]) -> Vec<Vec<u8>> {
    let mut r = b"ECHO:".to_vec();
    r.extend_from_slice(d);
    if d == b"two" {
        vec![r, b"MORE".to_vec()]
    } else {
        vec![r]
    }
}

fn silent(_: &[u8]) -> Vec<Vec<u8>> {
    Vec::new()
}

/// A loopback port nobody listens on: datagrams to it are answered by ICMP port unreachable.
fn closed_port(bind: &str) -> SocketAddr {
    UdpSocket::bind(bind).unwrap().local_addr().unwrap()
}

const RELAY_IDLE: Duration = Duration::from_millis(500);

fn relay_params() -> UdpParams {
    UdpParams { relay_timeout: RELAY_IDLE, ..params() }
}

#[test]
fn proxy_relays_both_ways_and_records_both_directions() {
    for (bind, peer_bind) in [("127.0.0.1:0", "127.0.0.1:0"), ("[::1]:0", "[::1]:0")] {
        let peer = Peer::start(peer_bind, echo);
        let s = Server::relayed(bind, relay_params(), RelayKind::Proxy, peer.addr);
        let c = client(s.addr);
        c.send_to(b"one", s.addr).unwrap();
        let (got, up_local) = peer.seen();
        assert_eq!(got, b"one");
        assert_ne!(up_local.port(), s.addr.port(), "the flow has a socket of its own");
        assert_eq!(response(&c), (b"ECHO:one".to_vec(), s.addr));
        c.send_to(b"two", s.addr).unwrap();
        assert_eq!(peer.seen(), (b"two".to_vec(), up_local), "one socket per flow");
        assert_eq!(response(&c), (b"ECHO:two".to_vec(), s.addr));
        assert_eq!(response(&c), (b"MORE".to_vec(), s.addr));
        let last = Instant::now();
        let rec = s.record();
        let idle = last.elapsed();
        assert!(
            idle >= RELAY_IDLE - Duration::from_millis(50) && idle < RELAY_IDLE + Duration::from_secs(2),
            "{idle:?}"
        );
        assert_eq!((rec.data.as_slice(), &rec.end_reason), (&b"onetwo"[..], &EndReason::IdleTimeout));
        assert_eq!((rec.local, rec.remote), (s.addr, c.local_addr().unwrap()));
        let up = rec.upstream.expect("the proxy side is recorded");
        assert_eq!((up.kind, up.target, up.local), (RelayKind::Proxy, peer.addr, up_local));
        assert_eq!(up.data, b"ECHO:oneECHO:twoMORE");
        // No normal-mode response was sent (it would have come after 100 ms).
        assert_eq!(queued(&c), 0);
        s.no_more_records();
    }
}

#[test]
fn mirror_kind_is_recorded() {
    let peer = Peer::start("127.0.0.1:0", echo);
    let s = Server::relayed("127.0.0.1:0", relay_params(), RelayKind::Mirror, peer.addr);
    let c = client(s.addr);
    c.send_to(b"m", s.addr).unwrap();
    assert_eq!(response(&c), (b"ECHO:m".to_vec(), s.addr));
    let rec = s.record();
    let up = rec.upstream.unwrap();
    assert_eq!((up.kind, up.data.as_slice()), (RelayKind::Mirror, &b"ECHO:m"[..]));
}

#[test]
fn read_limit_applies_to_the_client_direction() {
    let peer = Peer::start("127.0.0.1:0", silent);
    let s = Server::relayed(
        "127.0.0.1:0",
        UdpParams { session: SessionParams { read_limit: 10, ..params().session }, ..relay_params() },
        RelayKind::Proxy,
        peer.addr,
    );
    let c = client(s.addr);
    let sent = Instant::now();
    c.send_to(b"abcdefgh", s.addr).unwrap();
    c.send_to(b"ijklmn", s.addr).unwrap();
    let rec = s.record();
    assert!(sent.elapsed() < Duration::from_secs(1), "the read limit did not end the flow at once");
    assert_eq!((rec.data.as_slice(), &rec.end_reason), (&b"abcdefghij"[..], &EndReason::ReadLimit));
    assert_eq!(rec.upstream.unwrap().data, b"");
    // Exactly the bytes kept were forwarded.
    assert_eq!(peer.seen().0, b"abcdefgh");
    assert_eq!(peer.seen().0, b"ij");
}

#[test]
fn read_limit_applies_to_the_target_direction() {
    fn big(_: &[u8]) -> Vec<Vec<u8>> {
        vec![b"0123456789ABCDEF".to_vec(), b"never".to_vec()]
    }
    let peer = Peer::start("127.0.0.1:0", big);
    let s = Server::relayed(
        "127.0.0.1:0",
        UdpParams { session: SessionParams { read_limit: 10, ..params().session }, ..relay_params() },
        RelayKind::Proxy,
        peer.addr,
    );
    let c = client(s.addr);
    let sent = Instant::now();
    c.send_to(b"hi", s.addr).unwrap();
    assert_eq!(response(&c), (b"0123456789".to_vec(), s.addr));
    let rec = s.record();
    assert!(sent.elapsed() < Duration::from_secs(1), "the read limit did not end the flow at once");
    assert_eq!((rec.data.as_slice(), &rec.end_reason), (&b"hi"[..], &EndReason::ReadLimit));
    assert_eq!(rec.upstream.unwrap().data, b"0123456789");
    assert_eq!(queued(&c), 0, "nothing beyond the limit reached the client");
}

/// The C mirror mode's UDP fallback: the target answers the first datagram with ICMP port
/// unreachable, and the flow is served in normal mode from then on.
#[test]
fn refused_target_falls_back_to_normal_mode() {
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let s = Server::relayed(bind, relay_params(), RelayKind::Proxy, closed_port(bind));
        let c = client(s.addr);
        let sent = Instant::now();
        c.send_to(b"knock", s.addr).unwrap();
        // Normal mode's response after one idle interval.
        assert_eq!(response(&c), (b"\n".to_vec(), s.addr));
        assert!(sent.elapsed() >= INTERVAL);
        c.send_to(b" again", s.addr).unwrap();
        let rec = s.record();
        assert_eq!((rec.data.as_slice(), &rec.end_reason), (&b"knock again"[..], &EndReason::IdleTimeout));
        assert_eq!(rec.upstream, None, "no proxy side after the fallback");
        let took = sent.elapsed();
        assert!(took >= INTERVAL * 11 && took < INTERVAL * 11 + Duration::from_secs(3), "{took:?}");
        assert_eq!(queued(&c), 0, "one response (policy once)");
    }
}

#[test]
fn relayed_flow_idles_out_after_the_relay_timeout() {
    let peer = Peer::start("127.0.0.1:0", silent);
    let s = Server::relayed("127.0.0.1:0", relay_params(), RelayKind::Proxy, peer.addr);
    let c = client(s.addr);
    c.send_to(b"a", s.addr).unwrap();
    thread::sleep(RELAY_IDLE / 2);
    // Activity restarts the idle time.
    c.send_to(b"b", s.addr).unwrap();
    let last = Instant::now();
    let rec = s.record();
    let idle = last.elapsed();
    assert!(idle >= RELAY_IDLE - Duration::from_millis(50) && idle < RELAY_IDLE + Duration::from_secs(2), "{idle:?}");
    assert_eq!((rec.data.as_slice(), &rec.end_reason), (&b"ab"[..], &EndReason::IdleTimeout));
    assert_eq!(queued(&c), 0, "a relayed flow sends no normal-mode responses");
}

#[test]
fn session_limit_shorter_than_the_relay_timeout_ends_the_flow() {
    let peer = Peer::start("127.0.0.1:0", silent);
    // The relay timeout is the default 60 s.
    let p = UdpParams {
        session: SessionParams { session_limit: Duration::from_millis(400), ..params().session },
        ..params()
    };
    let s = Server::relayed("127.0.0.1:0", p, RelayKind::Proxy, peer.addr);
    let c = client(s.addr);
    let sent = Instant::now();
    c.send_to(b"s", s.addr).unwrap();
    let rec = s.record();
    let took = sent.elapsed();
    assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(3), "{took:?}");
    assert_eq!(rec.end_reason, EndReason::SessionLimit);
    assert!(rec.upstream.is_some());
}

#[test]
fn stop_ends_relayed_flows_and_still_reports_them() {
    let peer = Peer::start("127.0.0.1:0", echo);
    let s = Server::relayed("127.0.0.1:0", relay_params(), RelayKind::Proxy, peer.addr);
    let c = client(s.addr);
    c.send_to(b"x", s.addr).unwrap();
    assert_eq!(response(&c).0, b"ECHO:x");
    s.stop.store(true, Ordering::SeqCst);
    let (exit, _) = s.exit.recv_timeout(WATCHDOG).expect("serve_udp did not return");
    assert!(matches!(exit, UdpExit::Stopped), "{exit:?}");
    let rec = s.record();
    assert_eq!(rec.end_reason, EndReason::Shutdown);
    assert_eq!(rec.upstream.unwrap().data, b"ECHO:x");
}

/// The log lines of one flow, and one "dropped" warning however many datagrams are dropped
/// within a second. The port in the prefix is this test's own, so that the other tests'
/// lines (same process, same log) are left out.
#[test]
fn log_lines() {
    let path = std::env::temp_dir().join(format!("honeytrap-udp-mode-{}.log", std::process::id()));
    honeytrap::log::set_file(&path, honeytrap::log::open_file(&path).unwrap());
    honeytrap::log::set_level(honeytrap::log::Level::Noisy);
    let p = UdpParams {
        session: SessionParams {
            portstr: honeytrap::attack::portstr(4242, honeytrap::config::Proto::Udp),
            ..params().session
        },
        max_flows: 1,
        ..params()
    };
    let Some(s) = Server::start("127.0.0.1:0", p, caps(100, 100), None) else { return };
    let (a, b) = (client(s.addr), client(s.addr));
    a.send_to(b"hello", s.addr).unwrap();
    a.send_to(b"you", s.addr).unwrap();
    thread::sleep(Duration::from_millis(30));
    for _ in 0..20 {
        b.send_to(b"dropped", s.addr).unwrap();
    }
    let rec = s.record();
    assert_eq!(rec.data, b"helloyou");

    // Relayed flows (ports 4243-4245): proxy, mirror, and proxy to a closed port.
    let peer = Peer::start("127.0.0.1:0", echo);
    let relayed = |port: u16, kind: RelayKind, target: SocketAddr| {
        let p = UdpParams {
            session: SessionParams {
                portstr: honeytrap::attack::portstr(port, honeytrap::config::Proto::Udp),
                ..params().session
            },
            relay_timeout: Duration::from_millis(300),
            ..params()
        };
        let s = Server::relayed("127.0.0.1:0", p, kind, target);
        let c = client(s.addr);
        c.send_to(b"hello", s.addr).unwrap();
        let (r, _) = response(&c);
        let rec = s.record();
        (s.addr, c.local_addr().unwrap(), r, rec)
    };
    let (px, pc, r, _) = relayed(4243, RelayKind::Proxy, peer.addr);
    assert_eq!(r, b"ECHO:hello");
    let (mx, mc, r, _) = relayed(4244, RelayKind::Mirror, peer.addr);
    assert_eq!(r, b"ECHO:hello");
    let closed = closed_port("127.0.0.1:0");
    let (_, _, r, _) = relayed(4245, RelayKind::Proxy, closed);
    assert_eq!(r, b"\n");

    let log = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let port_lines = |port: &str| -> Vec<String> {
        log.lines().filter(|l| l.contains(port)).map(|l| l.split_once("] ").map_or(l, |(_, m)| m).to_string()).collect()
    };
    let t = peer.addr;
    assert_eq!(
        port_lines(" 4243/udp"),
        [
            format!("    4243/udp  Handling udp connection request from {pc} to {px}."),
            format!("==  4243/udp  Proxy connection to {t} established."),
            format!("==  4243/udp* 5 (of 5) bytes copied from client connection to {t}."),
            format!("==  4243/udp* 10 (of 10) bytes copied from proxy connection to {pc}."),
            "==  4243/udp  Server connection timed out, closing connections.".to_string(),
        ]
    );
    assert_eq!(
        port_lines(" 4244/udp"),
        [
            format!("    4244/udp  Handling udp connection request from {mc} to {mx}."),
            format!("<>  4244/udp  Mirror connection to {t} established."),
            format!("<>  4244/udp* 5 (of 5) bytes copied from client connection to {t}."),
            format!("<>  4244/udp* 10 (of 10) bytes copied from mirror connection to {mc}."),
            "<>  4244/udp  Mirror connection timed out, closing connections.".to_string(),
        ]
    );
    let fallback = port_lines(" 4245/udp");
    for line in [
        format!("==  4245/udp  Proxy connection to {closed} established."),
        format!("==  4245/udp* 5 (of 5) bytes copied from client connection to {closed}."),
        "==  4245/udp  Proxy connection rejected, falling back to normal mode.".to_string(),
        "    4245/udp  No data for 0 second(s), sending '\\n'.".to_string(),
        "    4245/udp  Timeout expired, closing connection.".to_string(),
    ] {
        assert!(fallback.contains(&line), "missing {line:?} in {fallback:#?}");
    }
    let lines: Vec<&str> =
        log.lines().filter(|l| l.contains(" 4242/udp")).map(|l| l.split_once("] ").map_or(l, |(_, m)| m)).collect();
    let count = |needle: &str| lines.iter().filter(|l| **l == needle).count();
    let (la, lb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    assert_eq!(
        count(&format!("    4242/udp  Handling udp connection request from {la} to {}.", s.addr)),
        1,
        "{lines:#?}"
    );
    assert_eq!(count("    4242/udp* 5 bytes read."), 1, "{lines:#?}");
    assert_eq!(count("    4242/udp* 3 bytes read."), 1, "{lines:#?}");
    assert_eq!(count("    4242/udp  No data for 0 second(s), sending '\\n'."), 1, "{lines:#?}");
    assert_eq!(count("    4242/udp  Timeout expired, closing connection."), 1, "{lines:#?}");
    let dropped =
        format!("    4242/udp  Warning - Datagram from {lb} dropped: limit of 1 udp flows on this port reached.");
    assert_eq!(count(&dropped), 1, "{lines:#?}");
    assert_eq!(lines.len(), 6, "{lines:#?}");
}
