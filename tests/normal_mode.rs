//! Normal mode over real loopback connections (default responses, both `response_policy`
//! values): a listener on port 0, `serve_normal` in a thread, a real client. The idle interval
//! is 100 ms so that the 11-interval idle limit takes about a second. Every wait is bounded.

mod common;

use honeytrap::server::conn::{serve_normal, EndReason, ResponsePolicy, Session, SessionParams};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_millis(100);
/// Longest any scenario may take before the test gives up.
const WATCHDOG: Duration = Duration::from_secs(20);

fn params(policy: ResponsePolicy, response: Option<&[u8]>) -> SessionParams {
    SessionParams {
        read_timeout: INTERVAL,
        read_limit: 0,
        session_limit: Duration::ZERO,
        policy,
        response: response.map(Arc::from),
        portstr: honeytrap::attack::portstr(31337, honeytrap::config::Proto::Tcp),
    }
}

/// A server thread handling one connection, and the client connected to it.
struct Harness {
    /// `None` once the test has closed it.
    client: Option<TcpStream>,
    result: mpsc::Receiver<Session>,
    stop: Arc<AtomicBool>,
    connected: Instant,
}

impl Harness {
    fn start(bind: SocketAddr, p: SessionParams) -> Option<Harness> {
        let listener = match TcpListener::bind(bind) {
            Ok(l) => l,
            Err(e) => {
                common::skip(&common::this_test(), &format!("cannot listen on {bind}: {e}"));
                return None;
            }
        };
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, result) = mpsc::channel();
        let st = stop.clone();
        thread::Builder::new()
            .name("normal-mode-test".into())
            .spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let _ = tx.send(serve_normal(&mut s, &p, &st));
            })
            .unwrap();
        let client = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        let connected = Instant::now();
        Some(Harness { client: Some(client), result, stop, connected })
    }

    fn v4(p: SessionParams) -> Harness {
        Harness::start("127.0.0.1:0".parse().unwrap(), p).unwrap()
    }

    fn c(&mut self) -> &mut TcpStream {
        self.client.as_mut().expect("client still open")
    }

    /// Closes the client socket (with unread data in it, the kernel sends a reset).
    fn close_client(&mut self) {
        self.client = None;
    }

    /// Reads until EOF (or an error such as a reset), at most until `limit` after connecting.
    /// Returns the bytes, the time of each arrival since connecting and whether EOF was seen.
    fn read_to_end(&mut self, limit: Duration) -> Reading {
        let deadline = self.connected + limit;
        let mut r = Reading::default();
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return r;
            }
            self.c().set_read_timeout(Some(left)).unwrap();
            match self.c().read(&mut buf) {
                Ok(0) => {
                    r.closed_at = Some(self.connected.elapsed());
                    return r;
                }
                Ok(n) => {
                    r.data.extend_from_slice(&buf[..n]);
                    r.arrivals.push(self.connected.elapsed());
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {
                    r.closed_at = Some(self.connected.elapsed());
                    return r;
                }
            }
        }
    }

    /// The session, once the server thread has finished.
    fn session(&self) -> Session {
        match self.result.recv_timeout(WATCHDOG) {
            Ok(s) => s,
            Err(_) => {
                self.stop.store(true, Ordering::Relaxed);
                panic!("serve_normal did not finish within {WATCHDOG:?}");
            }
        }
    }
}

#[derive(Debug, Default)]
struct Reading {
    data: Vec<u8>,
    arrivals: Vec<Duration>,
    closed_at: Option<Duration>,
}

const BANNER: &[u8] = b"220 Welcome to localhost\n";

fn once_silent_client(bind: SocketAddr) {
    let Some(mut h) = Harness::start(bind, params(ResponsePolicy::Once, Some(BANNER))) else { return };
    let r = h.read_to_end(Duration::from_secs(10));
    assert_eq!(r.data, BANNER, "the response exactly once");
    let first = r.arrivals[0];
    assert!(first >= INTERVAL && first < Duration::from_millis(900), "response at {first:?}");
    let closed = r.closed_at.expect("EOF");
    assert!(closed >= INTERVAL * 11 && closed < Duration::from_secs(5), "closed at {closed:?}");
    let s = h.session();
    assert_eq!(s.sent, BANNER.len() as u64, "bytes sent");
    assert_eq!((s.data, s.end), (Vec::new(), EndReason::IdleTimeout));
}

#[test]
fn once_silent_client_gets_the_response_once_then_eof_after_11_intervals() {
    once_silent_client("127.0.0.1:0".parse().unwrap());
}

#[test]
fn ipv6_once_silent_client() {
    once_silent_client(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)));
}

#[test]
fn repeat_sends_the_response_every_idle_interval() {
    let mut h = Harness::v4(params(ResponsePolicy::Repeat, Some(BANNER)));
    let r = h.read_to_end(Duration::from_secs(10));
    assert_eq!(r.data, BANNER.repeat(10), "ten responses, one per idle interval");
    let closed = r.closed_at.expect("EOF");
    assert!(closed >= INTERVAL * 11 && closed < Duration::from_secs(5), "closed at {closed:?}");
    // Spread over the intervals, not a burst.
    let last = *r.arrivals.last().unwrap();
    assert!(last >= INTERVAL * 9, "last response at {last:?}");
    assert_eq!(h.session().end, EndReason::IdleTimeout);
}

#[test]
fn data_resets_the_idle_counter_repeat() {
    let mut h = Harness::v4(params(ResponsePolicy::Repeat, Some(b"R")));
    let before = h.read_to_end(Duration::from_millis(650));
    assert!(before.closed_at.is_none());
    h.c().write_all(b"hello").unwrap();
    let after = h.read_to_end(Duration::from_secs(10));
    let total = before.data.len() + after.data.len();
    // Without the reset the peer would get at most ten responses in all.
    assert!(total > 10 && total <= 17, "{total} responses");
    // Ten more after the data (plus one that may have been on its way when it was sent).
    assert!((10..=11).contains(&after.data.len()), "{} after the data", after.data.len());
    assert!(after.closed_at.is_some());
    {
        let got = h.session();
        assert_eq!((got.data, got.end), (b"hello".to_vec(), EndReason::IdleTimeout));
    }
}

#[test]
fn data_resets_the_idle_counter_once() {
    let mut h = Harness::v4(params(ResponsePolicy::Once, Some(b"R")));
    let before = h.read_to_end(Duration::from_millis(600));
    assert_eq!(before.data, b"R");
    h.c().write_all(b"more").unwrap();
    let sent_at = h.connected.elapsed();
    let after = h.read_to_end(Duration::from_secs(10));
    assert!(after.data.is_empty(), "no second response with Once");
    let closed = after.closed_at.expect("EOF");
    assert!(closed >= sent_at + INTERVAL * 11, "closed at {closed:?}, data sent at {sent_at:?}");
    {
        let got = h.session();
        assert_eq!((got.data, got.end), (b"more".to_vec(), EndReason::IdleTimeout));
    }
}

#[test]
fn newline_when_there_is_no_response() {
    let mut h = Harness::v4(params(ResponsePolicy::Once, None));
    let r = h.read_to_end(Duration::from_secs(10));
    assert_eq!(r.data, b"\n");
    assert!(r.closed_at.is_some());
    assert_eq!(h.session().end, EndReason::IdleTimeout);
}

#[test]
fn responses_are_binary_safe() {
    let mut response: Vec<u8> = (0..=255u8).collect();
    response.extend_from_slice(b"\0\0\r\n\0");
    // Larger than a socket buffer write, to exercise partial writes.
    response.extend(std::iter::repeat_n(0xa5, 300_000));
    let mut h = Harness::v4(params(ResponsePolicy::Once, Some(&response)));
    let r = h.read_to_end(Duration::from_secs(10));
    assert!(r.data == response, "{} bytes received of {}", r.data.len(), response.len());
    assert_eq!(h.session().end, EndReason::IdleTimeout);
}

#[test]
fn read_limit_closes_and_caps_the_data() {
    let mut p = params(ResponsePolicy::Once, Some(BANNER));
    p.read_limit = 1000;
    let mut h = Harness::v4(p);
    let sent: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    h.c().write_all(&sent).unwrap();
    let s = h.session();
    assert_eq!(s.end, EndReason::ReadLimit);
    assert_eq!(s.data, &sent[..1000]);
    let r = h.read_to_end(Duration::from_secs(10));
    assert!(r.closed_at.is_some(), "the client sees the connection end");
}

#[test]
fn read_limit_exactly_reached_by_small_reads() {
    let mut p = params(ResponsePolicy::Once, None);
    p.read_limit = 6;
    let mut h = Harness::v4(p);
    h.c().write_all(b"abc").unwrap();
    thread::sleep(Duration::from_millis(30));
    h.c().write_all(b"defghi").unwrap();
    let s = h.session();
    {
        let got = s;
        assert_eq!((got.data, got.end), (b"abcdef".to_vec(), EndReason::ReadLimit));
    }
}

#[test]
fn session_limit_ends_a_session_that_is_never_idle_long_enough() {
    let mut p = params(ResponsePolicy::Repeat, Some(b"R"));
    p.session_limit = Duration::from_millis(400);
    let mut h = Harness::v4(p);
    // Keep sending, so the idle limit is never reached.
    let mut sent = 0usize;
    while h.connected.elapsed() < Duration::from_millis(1500) {
        if h.c().write_all(b"x").is_err() {
            break;
        }
        sent += 1;
        thread::sleep(Duration::from_millis(40));
    }
    let s = h.session();
    assert_eq!(s.end, EndReason::SessionLimit);
    assert!(!s.data.is_empty() && s.data.len() <= sent);
    let took = h.connected.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
}

#[test]
fn session_limit_before_the_idle_limit() {
    let mut p = params(ResponsePolicy::Once, Some(BANNER));
    p.session_limit = Duration::from_millis(350);
    let mut h = Harness::v4(p);
    let r = h.read_to_end(Duration::from_secs(10));
    assert_eq!(r.data, BANNER);
    let closed = r.closed_at.expect("EOF");
    assert!(closed >= Duration::from_millis(350) && closed < INTERVAL * 11, "closed at {closed:?}");
    assert_eq!(h.session().end, EndReason::SessionLimit);
}

fn peer_close(bind: SocketAddr) {
    let Some(mut h) = Harness::start(bind, params(ResponsePolicy::Once, Some(BANNER))) else { return };
    h.c().write_all(b"GET / HTTP/1.0\r\n").unwrap();
    thread::sleep(Duration::from_millis(20));
    h.c().write_all(b"\r\n").unwrap();
    h.c().shutdown(std::net::Shutdown::Write).unwrap();
    let s = h.session();
    {
        let got = s;
        assert_eq!((got.data, got.end), (b"GET / HTTP/1.0\r\n\r\n".to_vec(), EndReason::PeerClosed));
    }
}

#[test]
fn peer_close_gives_all_data() {
    peer_close("127.0.0.1:0".parse().unwrap());
}

#[test]
fn ipv6_peer_close_gives_all_data() {
    peer_close(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)));
}

#[test]
fn peer_drop_right_after_data() {
    let mut h = Harness::v4(params(ResponsePolicy::Once, None));
    h.c().write_all(&[0u8; 10_000]).unwrap();
    h.close_client();
    let s = h.session();
    assert_eq!(s.end, EndReason::PeerClosed);
    assert_eq!(s.data, vec![0u8; 10_000]);
}

#[test]
fn reset_by_peer_ends_with_an_error_not_a_panic() {
    let mut h = Harness::v4(params(ResponsePolicy::Repeat, Some(BANNER)));
    h.c().write_all(b"x").unwrap();
    // Wait until a response sits unread in the client's buffer: closing then sends RST.
    h.c().set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(h.c().peek(&mut b).unwrap(), 1);
    h.close_client();
    let s = h.session();
    assert_eq!(s.data, b"x");
    match &s.end {
        EndReason::ReadError(e) | EndReason::WriteError(e) => {
            assert!(e == "Connection reset by peer" || e == "Broken pipe", "{e}")
        }
        other => panic!("unexpected end {other:?}"),
    }
}

#[test]
fn shutdown_flag_stops_a_session() {
    let h = Harness::v4(params(ResponsePolicy::Repeat, Some(BANNER)));
    thread::sleep(Duration::from_millis(250));
    h.stop.store(true, Ordering::Relaxed);
    let t = Instant::now();
    assert_eq!(h.session().end, EndReason::Shutdown);
    assert!(t.elapsed() < Duration::from_millis(1500));
}

/// The log lines are the C texts of normal mode. Other tests of this binary log to the same
/// file meanwhile; this one's lines carry their own port.
#[test]
fn log_lines_use_the_c_texts() {
    use honeytrap::log;
    let path = std::env::temp_dir().join(format!("honeytrap-normal-mode-log-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    log::set_file(&path, log::open_file(&path).unwrap());
    log::set_level(log::Level::Noisy);

    let tagged = |port: u16| {
        let mut p = params(ResponsePolicy::Once, None);
        p.portstr = honeytrap::attack::portstr(port, honeytrap::config::Proto::Tcp);
        p
    };
    // Data, then silence: bytes read, the '\n' response, the idle timeout.
    let mut h = Harness::v4(tagged(4201));
    h.c().write_all(b"19 bytes of attack\n").unwrap();
    h.read_to_end(Duration::from_secs(10));
    h.session();
    // A read limit.
    let mut p = tagged(4202);
    p.read_limit = 5;
    p.response = Some(Arc::from(&b"R"[..]));
    let mut h = Harness::v4(p);
    h.c().write_all(b"123456").unwrap();
    h.session();
    // The peer closes.
    let mut h = Harness::v4(tagged(4203));
    h.close_client();
    h.session();

    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let lines = |tag: &str| -> Vec<String> {
        text.lines().filter(|l| l.contains(tag)).map(|l| l.get(22..).unwrap_or_default().to_string()).collect()
    };
    // "   " + portstr (`%5u/%s`) + the message.
    assert_eq!(
        lines(" 4201/tcp"),
        [
            "    4201/tcp* 19 bytes read.",
            "    4201/tcp  No data for 0 second(s), sending '\\n'.",
            "    4201/tcp  Timeout expired, closing connection.",
        ]
    );
    assert_eq!(
        lines(" 4202/tcp"),
        ["    4202/tcp* 5 bytes read.", "    4202/tcp  Warning - Read limit (5 bytes) hit. Closing connection."]
    );
    assert_eq!(lines(" 4203/tcp"), ["    4203/tcp  Connection closed by foreign host."]);
    assert!(!text.contains("Sending response failed"));
}
