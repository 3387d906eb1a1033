//! Mirror and proxy relaying over real loopback connections: a "peer" listener on 127.0.0.1:0
//! with a scripted server thread, a honeypot listener whose accepted connection is relayed to
//! the peer by `relay` in a thread, and a real client. Idle timeouts are 200 ms; every wait is
//! bounded.

use honeytrap::attack::portstr;
use honeytrap::config::Proto;
use honeytrap::server::relay::{
    connect_target, is_loop_target, relay, resolve_target, RelayEnd, RelayKind, RelayParams, RelaySession,
    FAST_CONN_TIMEOUT,
};
use honeytrap::sys::net::set_buffer_sizes;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const IDLE: Duration = Duration::from_millis(200);
/// Longest any scenario may take before the test gives up.
const WATCHDOG: Duration = Duration::from_secs(20);

fn params(kind: RelayKind, port: u16) -> RelayParams {
    RelayParams {
        kind,
        idle_timeout: Duration::from_secs(10),
        read_limit: 0,
        session_limit: Duration::ZERO,
        portstr: portstr(port, Proto::Tcp),
    }
}

/// What one end of a connection received, and whether it saw EOF (or a reset) in time.
#[derive(Debug, Default, PartialEq, Eq)]
struct Got {
    data: Vec<u8>,
    eof: bool,
}

/// Reads until EOF or an error, for at most `limit`.
fn read_to_end(s: &mut TcpStream, limit: Duration) -> Got {
    let deadline = Instant::now() + limit;
    let mut got = Got::default();
    let mut buf = [0u8; 16384];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return got;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => {
                got.eof = true;
                return got;
            }
            Ok(n) => got.data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => {
                got.eof = true;
                return got;
            }
        }
    }
}

/// Reads exactly `n` bytes within `limit` (fewer on EOF or timeout).
fn read_n(s: &mut TcpStream, n: usize, limit: Duration) -> Vec<u8> {
    let deadline = Instant::now() + limit;
    let mut out = vec![0u8; n];
    let mut have = 0;
    while have < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut out[have..]) {
            Ok(0) => break,
            Ok(k) => have += k,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => break,
        }
    }
    out.truncate(have);
    out
}

/// Deterministic test data.
fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(31).wrapping_add(usize::from(seed)) % 251) as u8).collect()
}

/// A peer that collects everything until EOF.
fn collect(mut s: TcpStream) -> Got {
    read_to_end(&mut s, WATCHDOG)
}

/// A peer that echoes everything back until EOF and reports what it read.
fn echo(mut s: TcpStream) -> Got {
    let deadline = Instant::now() + WATCHDOG;
    let mut got = Got::default();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        match s.read(&mut buf) {
            Ok(0) => {
                got.eof = true;
                break;
            }
            Ok(n) => {
                got.data.extend_from_slice(&buf[..n]);
                if s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => break,
        }
    }
    got
}

struct Harness {
    /// `None` once the test has closed it.
    client: Option<TcpStream>,
    result: mpsc::Receiver<(RelaySession, Duration)>,
    peer: mpsc::Receiver<Got>,
    stop: Arc<AtomicBool>,
    peer_addr: SocketAddr,
    client_addr: SocketAddr,
}

impl Harness {
    /// Starts the peer (running `script` on its accepted connection), the relay and the client.
    fn start(p: RelayParams, script: impl FnOnce(TcpStream) -> Got + Send + 'static) -> Harness {
        Harness::start_with(p, script, None)
    }

    /// As [`Harness::start`]; with `small` set, the listeners' receive buffers (inherited by
    /// the accepted sockets: shrinking them after the handshake can stall TCP) and the
    /// relay's send buffers get about that size, so that the relay's writes fill them and
    /// complete in parts.
    fn start_with(
        p: RelayParams,
        script: impl FnOnce(TcpStream) -> Got + Send + 'static,
        small: Option<u32>,
    ) -> Harness {
        let shrink_send = move |s: &TcpStream| {
            if small.is_some() {
                set_buffer_sizes(s, small, None).unwrap();
            }
        };
        let shrink_recv = move |l: &TcpListener| {
            if small.is_some() {
                set_buffer_sizes(l, None, small).unwrap();
            }
        };
        let peer_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        shrink_recv(&peer_listener);
        let peer_addr = peer_listener.local_addr().unwrap();
        let (peer_tx, peer) = mpsc::channel();
        thread::Builder::new()
            .name("relay-test-peer".into())
            .spawn(move || {
                let (s, _) = peer_listener.accept().unwrap();
                let _ = peer_tx.send(script(s));
            })
            .unwrap();

        let honeypot = TcpListener::bind("127.0.0.1:0").unwrap();
        shrink_recv(&honeypot);
        let addr = honeypot.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let (tx, result) = mpsc::channel();
        thread::Builder::new()
            .name("relay-test".into())
            .spawn(move || {
                let (mut c, _) = honeypot.accept().unwrap();
                let mut up = connect_target(peer_addr, FAST_CONN_TIMEOUT).unwrap();
                shrink_send(&c);
                shrink_send(&up);
                let t = Instant::now();
                let r = relay(&mut c, &mut up, &p, &st);
                let _ = tx.send((r, t.elapsed()));
            })
            .unwrap();
        let client = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        let client_addr = client.local_addr().unwrap();
        Harness { client: Some(client), result, peer, stop, peer_addr, client_addr }
    }

    fn c(&mut self) -> &mut TcpStream {
        self.client.as_mut().expect("client still open")
    }

    /// The session and how long `relay` ran, once it has returned.
    fn session(&self) -> (RelaySession, Duration) {
        match self.result.recv_timeout(WATCHDOG) {
            Ok(r) => r,
            Err(_) => {
                self.stop.store(true, Ordering::Relaxed);
                panic!("relay did not finish within {WATCHDOG:?}");
            }
        }
    }

    /// What the peer's script reported.
    fn peer(&self) -> Got {
        self.peer.recv_timeout(WATCHDOG).expect("peer script finished")
    }
}

#[test]
fn both_directions_are_recorded_exactly() {
    let mut h = Harness::start(params(RelayKind::Mirror, 4301), |mut s| {
        s.write_all(b"220 hello\r\n").unwrap();
        echo(s)
    });
    assert_eq!(read_n(h.c(), 11, WATCHDOG), b"220 hello\r\n");
    h.c().write_all(b"USER x\r\n").unwrap();
    assert_eq!(read_n(h.c(), 8, WATCHDOG), b"USER x\r\n");
    h.c().write_all(b"PASS \x00\xff\r\n").unwrap();
    assert_eq!(read_n(h.c(), 9, WATCHDOG), b"PASS \x00\xff\r\n");
    h.c().shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(h.c(), WATCHDOG), Got { data: Vec::new(), eof: true });
    let (s, _) = h.session();
    assert_eq!(s.client_data, b"USER x\r\nPASS \x00\xff\r\n");
    assert_eq!(s.peer_data, b"220 hello\r\nUSER x\r\nPASS \x00\xff\r\n");
    assert_eq!(s.end, RelayEnd::ClientClosed);
    assert_eq!(h.peer(), Got { data: b"USER x\r\nPASS \x00\xff\r\n".to_vec(), eof: true });
}

/// 1 MiB each way at once through small socket buffers, with both receivers starting late:
/// the relay's writes fill the buffers and complete in parts, and the relay must not
/// deadlock while both sides send.
#[test]
fn a_mebibyte_each_way_with_partial_writes() {
    const N: usize = 1 << 20;
    let to_client = pattern(N, 1);
    let to_peer = pattern(N, 2);
    let tc = to_client.clone();
    let script = move |s: TcpStream| {
        let mut w = s.try_clone().unwrap();
        let writer = thread::spawn(move || w.write_all(&tc).is_ok());
        thread::sleep(Duration::from_millis(300));
        let got = collect(s);
        assert!(writer.join().unwrap(), "peer write");
        got
    };
    let mut h = Harness::start_with(params(RelayKind::Proxy, 4302), script, Some(4096));
    let mut w = h.c().try_clone().unwrap();
    let tp = to_peer.clone();
    let writer = thread::spawn(move || w.write_all(&tp).is_ok());
    thread::sleep(Duration::from_millis(300));
    let received = read_n(h.c(), N, WATCHDOG);
    assert!(writer.join().unwrap(), "client write");
    assert!(received == to_client, "client received {} bytes, not the peer's 1 MiB", received.len());
    h.c().shutdown(Shutdown::Write).unwrap();
    assert!(read_to_end(h.c(), WATCHDOG).eof);

    let (s, _) = h.session();
    assert_eq!(s.end, RelayEnd::ClientClosed);
    assert!(s.client_data == to_peer, "client_data: {} bytes", s.client_data.len());
    assert!(s.peer_data == to_client, "peer_data: {} bytes", s.peer_data.len());
    let got = h.peer();
    assert!(got.eof);
    assert!(got.data == to_peer, "peer received {} bytes", got.data.len());
}

#[test]
fn client_close_ends_the_session_and_the_peer_sees_eof() {
    let mut h = Harness::start(params(RelayKind::Mirror, 4303), collect);
    h.c().write_all(b"abc").unwrap();
    // Give the relay the data before the FIN (a close with unread data would be a reset).
    let got_at_peer = {
        thread::sleep(Duration::from_millis(100));
        h.client = None;
        h.peer()
    };
    assert_eq!(got_at_peer, Got { data: b"abc".to_vec(), eof: true });
    let (s, took) = h.session();
    assert_eq!(
        (s.client_data.as_slice(), s.peer_data.as_slice(), s.end),
        (&b"abc"[..], &b""[..], RelayEnd::ClientClosed)
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn peer_close_ends_the_session_and_the_client_gets_everything() {
    let mut h = Harness::start(params(RelayKind::Proxy, 4304), |mut s| {
        s.write_all(b"bye\r\n").unwrap();
        Got::default()
    });
    assert_eq!(read_to_end(h.c(), WATCHDOG), Got { data: b"bye\r\n".to_vec(), eof: true });
    let (s, _) = h.session();
    assert_eq!(s, RelaySession { client_data: Vec::new(), peer_data: b"bye\r\n".to_vec(), end: RelayEnd::PeerClosed });
}

#[test]
fn idle_timeout_closes_both_sides() {
    let mut p = params(RelayKind::Mirror, 4305);
    p.idle_timeout = IDLE;
    let mut h = Harness::start(p, collect);
    let got = read_to_end(h.c(), WATCHDOG);
    assert_eq!(got, Got { data: Vec::new(), eof: true });
    let (s, took) = h.session();
    assert_eq!(s.end, RelayEnd::IdleTimeout);
    assert!(took >= IDLE && took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(h.peer(), Got { data: Vec::new(), eof: true });
}

#[test]
fn traffic_in_either_direction_resets_the_idle_timer() {
    let mut p = params(RelayKind::Mirror, 4306);
    p.idle_timeout = IDLE;
    let mut h = Harness::start(p, echo);
    let t = Instant::now();
    for i in 0..6u8 {
        h.c().write_all(&[i]).unwrap();
        assert_eq!(read_n(h.c(), 1, WATCHDOG), [i]);
        thread::sleep(Duration::from_millis(100));
    }
    let active = t.elapsed();
    assert!(read_to_end(h.c(), WATCHDOG).eof);
    let (s, took) = h.session();
    assert_eq!(s.end, RelayEnd::IdleTimeout);
    assert_eq!(s.client_data, [0, 1, 2, 3, 4, 5]);
    assert_eq!(s.peer_data, [0, 1, 2, 3, 4, 5]);
    assert!(took >= active && took >= Duration::from_millis(600), "{took:?}");
}

#[test]
fn read_limit_from_the_client() {
    let mut p = params(RelayKind::Mirror, 4307);
    p.read_limit = 10;
    let data = pattern(100, 3);
    let mut h = Harness::start(p, collect);
    h.c().write_all(&data).unwrap();
    let (s, _) = h.session();
    assert_eq!(s, RelaySession { client_data: data[..10].to_vec(), peer_data: Vec::new(), end: RelayEnd::ReadLimit });
    // Exactly the limit was forwarded before the peer got EOF.
    assert_eq!(h.peer(), Got { data: data[..10].to_vec(), eof: true });
    assert!(read_to_end(h.c(), WATCHDOG).eof);
}

#[test]
fn read_limit_from_the_peer() {
    let mut p = params(RelayKind::Proxy, 4308);
    p.read_limit = 10;
    let data = pattern(100, 4);
    let d = data.clone();
    let mut h = Harness::start(p, move |mut s| {
        s.write_all(&d).unwrap();
        collect(s)
    });
    assert_eq!(read_to_end(h.c(), WATCHDOG), Got { data: data[..10].to_vec(), eof: true });
    let (s, _) = h.session();
    assert_eq!(s, RelaySession { client_data: Vec::new(), peer_data: data[..10].to_vec(), end: RelayEnd::ReadLimit });
    assert!(h.peer().eof);
}

#[test]
fn read_limit_counts_each_direction_separately() {
    let mut p = params(RelayKind::Mirror, 4309);
    p.read_limit = 8;
    let mut h = Harness::start(p, echo);
    h.c().write_all(b"12345").unwrap();
    assert_eq!(read_n(h.c(), 5, WATCHDOG), b"12345");
    h.c().write_all(b"6789").unwrap();
    let (s, _) = h.session();
    assert_eq!(s.end, RelayEnd::ReadLimit);
    assert_eq!(s.client_data, b"12345678");
    // The echo of "678" may or may not have been read before the session ended.
    assert!(s.peer_data.starts_with(b"12345") && s.peer_data.len() <= 8, "{:?}", s.peer_data);
}

#[test]
fn session_limit_ends_a_busy_session() {
    let mut p = params(RelayKind::Mirror, 4310);
    p.session_limit = Duration::from_millis(400);
    let mut h = Harness::start(p, echo);
    let t = Instant::now();
    let mut sent = 0usize;
    // Keep the session busy well past its limit; the relay must close anyway.
    while t.elapsed() < Duration::from_secs(5) {
        if h.c().write_all(b"x").is_err() {
            break;
        }
        sent += 1;
        if read_n(h.c(), 1, Duration::from_millis(500)).is_empty() {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let (s, took) = h.session();
    assert_eq!(s.end, RelayEnd::SessionLimit);
    assert!(took >= Duration::from_millis(400) && took < Duration::from_millis(1500), "{took:?}");
    assert!(sent >= 5 && s.client_data.len() <= sent, "{sent} sent, {} relayed", s.client_data.len());
}

#[test]
fn stop_flag_ends_the_session_within_a_second() {
    let mut p = params(RelayKind::Proxy, 4311);
    p.idle_timeout = Duration::from_secs(60);
    let mut h = Harness::start(p, collect);
    thread::sleep(Duration::from_millis(200));
    h.stop.store(true, Ordering::Relaxed);
    let t = Instant::now();
    let (s, _) = h.session();
    assert_eq!(s.end, RelayEnd::Shutdown);
    assert!(t.elapsed() < Duration::from_millis(1500), "{:?}", t.elapsed());
    assert!(read_to_end(h.c(), WATCHDOG).eof);
    assert!(h.peer().eof);
}

#[test]
fn loop_targets() {
    let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let own = [v4(192, 0, 2, 10), "2001:db8::10".parse().unwrap()];
    for t in [
        v4(127, 0, 0, 1),
        v4(127, 1, 2, 3),
        v4(0, 0, 0, 0),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        "::ffff:127.0.0.1".parse().unwrap(),
        v4(192, 0, 2, 10),
        "2001:db8::10".parse().unwrap(),
        "::ffff:192.0.2.10".parse().unwrap(),
    ] {
        assert!(is_loop_target(t, &own), "{t} is a loop target");
    }
    for t in [v4(192, 0, 2, 11), v4(8, 8, 8, 8), v4(10, 0, 0, 1), "2001:db8::11".parse().unwrap()] {
        assert!(!is_loop_target(t, &own), "{t} is not a loop target");
    }
    assert!(!is_loop_target(v4(192, 0, 2, 10), &[]));
}

#[test]
fn resolve_literals_and_localhost() {
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(resolve_target("192.0.2.7", 8080, v4), Some("192.0.2.7:8080".parse().unwrap()));
    // A literal is taken as it is, whatever family is preferred.
    assert_eq!(resolve_target("192.0.2.7", 80, v6), Some("192.0.2.7:80".parse().unwrap()));
    assert_eq!(resolve_target("2001:db8::1", 80, v4), Some("[2001:db8::1]:80".parse().unwrap()));
    assert_eq!(resolve_target("[2001:db8::1]", 80, v4), Some("[2001:db8::1]:80".parse().unwrap()));
    assert_eq!(resolve_target("", 80, v4), None);

    // Name resolution blocks; bound it.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send((resolve_target("localhost", 8080, v4), resolve_target("no-such-host.invalid", 80, v4)));
    });
    let (local, bogus) = rx.recv_timeout(Duration::from_secs(30)).expect("resolver answered");
    let local = local.expect("localhost resolves");
    assert!(local.ip().is_loopback() && local.port() == 8080, "{local}");
    assert!(local.is_ipv4(), "IPv4 preferred: {local}");
    assert_eq!(bogus, None);
}

#[test]
fn connect_target_reaches_a_listener_and_reports_refusal() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let s = connect_target(addr, FAST_CONN_TIMEOUT).unwrap();
    assert_eq!(s.peer_addr().unwrap(), addr);
    drop((s, l));
    let t = Instant::now();
    assert!(connect_target(addr, Duration::ZERO).is_err(), "nothing listens any more");
    assert!(t.elapsed() < FAST_CONN_TIMEOUT + Duration::from_secs(1));
}

/// The log lines are the C texts of mirror and proxy mode with real destination addresses and
/// host-order ports. Other tests of this binary log to the same file meanwhile; this one's
/// lines carry their own ports.
#[test]
fn log_lines_use_the_c_texts() {
    use honeytrap::log;
    use honeytrap::server::relay::{log_established, log_loop_suppressed, log_rejected, log_unresolved};
    let path = std::env::temp_dir().join(format!("honeytrap-relay-log-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    log::set_file(&path, log::open_file(&path).unwrap());
    log::set_level(log::Level::Noisy);

    // Mirror: data both ways, then the client closes.
    let mut h = Harness::start(params(RelayKind::Mirror, 4401), |mut s| {
        s.write_all(b"hi").unwrap();
        echo(s)
    });
    assert_eq!(read_n(h.c(), 2, WATCHDOG), b"hi");
    h.c().write_all(b"abc").unwrap();
    assert_eq!(read_n(h.c(), 3, WATCHDOG), b"abc");
    h.c().shutdown(Shutdown::Write).unwrap();
    h.session();
    let (m_client, m_peer) = (h.client_addr, h.peer_addr);

    // Proxy: idle timeout.
    let mut p = params(RelayKind::Proxy, 4402);
    p.idle_timeout = IDLE;
    let h = Harness::start(p, collect);
    h.session();

    // Proxy: the server closes.
    let h = Harness::start(params(RelayKind::Proxy, 4403), |_| Got::default());
    h.session();

    // Mirror: read limit.
    let mut p = params(RelayKind::Mirror, 4404);
    p.read_limit = 4;
    let mut h = Harness::start(p, collect);
    h.c().write_all(b"123456").unwrap();
    h.session();

    let target: SocketAddr = "192.0.2.9:23".parse().unwrap();
    log_established(RelayKind::Mirror, &portstr(4405, Proto::Tcp), target);
    log_established(RelayKind::Proxy, &portstr(4405, Proto::Tcp), "[2001:db8::9]:8080".parse().unwrap());
    log_rejected(RelayKind::Mirror, &portstr(4406, Proto::Tcp));
    log_rejected(RelayKind::Proxy, &portstr(4406, Proto::Tcp));
    log_loop_suppressed(RelayKind::Mirror, &portstr(4407, Proto::Tcp), "127.0.0.1:4407".parse().unwrap());
    log_unresolved(&portstr(4408, Proto::Tcp), "proxy.example");

    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let lines = |tag: &str| -> Vec<String> {
        text.lines().filter(|l| l.contains(tag)).map(|l| l.get(22..).unwrap_or_default().to_string()).collect()
    };
    assert_eq!(
        lines(" 4401/tcp"),
        [
            format!("<>  4401/tcp* 2 (of 2) bytes copied from mirror connection to {m_client}."),
            format!("<>  4401/tcp* 3 (of 3) bytes copied from client connection to {m_peer}."),
            format!("<>  4401/tcp* 3 (of 3) bytes copied from mirror connection to {m_client}."),
            "<>  4401/tcp  Connection closed by foreign host.".to_string(),
            "<>  4401/tcp  Mirror connection closed.".to_string(),
            "<>  4401/tcp  Mirror connection closed by foreign host.".to_string(),
        ]
    );
    assert_eq!(lines(" 4402/tcp"), ["==  4402/tcp  Server connection timed out, closing connections."]);
    assert_eq!(lines(" 4403/tcp"), ["==  4403/tcp  Server connection closed by foreign host."]);
    let l = lines(" 4404/tcp");
    assert_eq!(l.len(), 2, "{l:?}");
    assert!(l[0].starts_with("<>  4404/tcp* 4 (of 4) bytes copied from client connection to 127.0.0.1:"), "{l:?}");
    assert_eq!(l[1], "<>  4404/tcp  Warning - Read limit (4 bytes) hit. Closing mirror connections.");
    assert_eq!(
        lines(" 4405/tcp"),
        [
            "<>  4405/tcp  Mirror connection to 192.0.2.9:23 established.",
            "==  4405/tcp  Proxy connection to [2001:db8::9]:8080 established.",
        ]
    );
    assert_eq!(
        lines(" 4406/tcp"),
        [
            "<>  4406/tcp  Mirror connection rejected, falling back to normal mode.",
            "==  4406/tcp  Proxy connection rejected, falling back to normal mode.",
        ]
    );
    assert_eq!(
        lines(" 4407/tcp"),
        ["<>  4407/tcp  Warning - Connection to 127.0.0.1:4407 suppressed for loop prevention."]
    );
    assert_eq!(lines(" 4408/tcp"), ["    4408/tcp  Error - Unable to resolve proxy host proxy.example."]);
}
