//! Root-only: `NfqQueue` against the real kernel, inside a private network namespace.
//!
//! The outer run (root, with `ip` and `iptables`) creates a network namespace, brings
//! up `lo` there, adds `-A INPUT -p udp --dport 9999 -j NFQUEUE --queue-num 0` to the
//! namespace's own iptables, and runs this test binary again inside the namespace with
//! [`INNER_ENV`] set. The inner run binds queue 0, sends UDP datagrams to 127.0.0.1:9999,
//! and checks that they are held until a verdict: dropped ones never arrive, accepted ones
//! do. The host's iptables and interfaces are never touched; the namespace is always
//! deleted. Without root or the tools the test says why and passes without running (fails
//! under HONEYTRAP_REQUIRE_ALL_TESTS=1, as in CI).

mod common;

use honeytrap::monitor::nfq::{NfqQueue, Packet};
use std::io;
use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

/// Set in the environment of the inner run.
const INNER_ENV: &str = "HONEYTRAP_NFQ_TEST_INNER";
/// This test's name, for `--exact`.
const TEST_NAME: &str = "nfq_holds_udp_until_verdict";
/// Printed by a successful inner run; proves the inner run really ran this test.
const INNER_OK: &str = "nfq inner run: ok";
const PORT: u16 = 9999;
/// Upper bound for the whole inner run.
const INNER_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for one queued packet to show up.
const PACKET_TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn nfq_holds_udp_until_verdict() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner();
    } else {
        outer();
    }
}

// ---- outer run: namespace set-up and tear-down -----------------------------------------

fn outer() {
    if !common::root_or_skip(TEST_NAME, &["ip", "iptables"]) {
        return;
    }
    common::rerun_in_netns(TEST_NAME, INNER_ENV, INNER_OK, INNER_TIMEOUT, |ns| {
        let port = PORT.to_string();
        let rule = ["-w", "-A", "INPUT", "-p", "udp", "--dport", &port, "-j", "NFQUEUE", "--queue-num", "0"];
        let st = ns.command("iptables").args(rule).status().expect("iptables");
        assert!(st.success(), "iptables {rule:?}: {st}");
    });
}

// ---- inner run: inside the namespace ---------------------------------------------------

/// Checks that `ip` is an IPv4 UDP datagram to 127.0.0.1:[`PORT`] carrying `data`.
fn check_udp_to_port(ip: &[u8], data: &[u8]) -> Result<(), String> {
    let version_ihl = *ip.first().ok_or("empty payload")?;
    if version_ihl >> 4 != 4 {
        return Err(format!("not IPv4: first byte {version_ihl:#04x}"));
    }
    let ihl = usize::from(version_ihl & 0x0f) * 4;
    if ihl < 20 || ip.len() < ihl + 8 {
        return Err(format!("short packet: ihl {ihl}, {} bytes", ip.len()));
    }
    if ip[9] != 17 {
        return Err(format!("protocol {} is not UDP", ip[9]));
    }
    if ip[16..20] != [127, 0, 0, 1] {
        return Err(format!("destination {:?} is not 127.0.0.1", &ip[16..20]));
    }
    let udp = &ip[ihl..];
    let dport = u16::from_be_bytes([udp[2], udp[3]]);
    if dport != PORT {
        return Err(format!("destination port {dport}"));
    }
    if &udp[8..] != data {
        return Err(format!("UDP payload {:?}", String::from_utf8_lossy(&udp[8..])));
    }
    Ok(())
}

/// Sends `data` to 127.0.0.1:[`PORT`] from its own thread, as an attacker would.
fn send_from_thread(data: &'static [u8]) {
    thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(data, ("127.0.0.1", PORT)).unwrap();
    })
    .join()
    .unwrap();
}

/// Waits for the queued datagram carrying `data`; other queued packets are accepted.
fn wait_for(q: &mut NfqQueue, data: &[u8]) -> Packet {
    let deadline = Instant::now() + PACKET_TIMEOUT;
    for _ in 0..1000 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        for p in q.recv(Some(left)).unwrap() {
            match check_udp_to_port(&p.payload, data) {
                Ok(()) => return p,
                Err(why) => {
                    println!("ignoring queued packet {}: {why}", p.id);
                    q.verdict(p.id, true).unwrap();
                }
            }
        }
    }
    panic!("no queued packet with {:?} within {PACKET_TIMEOUT:?}", String::from_utf8_lossy(data));
}

fn inner() {
    let receiver = UdpSocket::bind(("127.0.0.1", PORT)).unwrap();
    let mut q = NfqQueue::open(0).expect("bind NFQUEUE 0");
    assert_eq!(q.queue_num(), 0);
    assert!(q.fail_open(), "kernel refused the fail-open flag");

    // A second socket cannot take a queue that is bound.
    let err = NfqQueue::open(0).expect_err("second bind of queue 0");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");

    // Dropped: held, then never delivered.
    send_from_thread(b"drop-me");
    let p = wait_for(&mut q, b"drop-me");
    assert_eq!((p.family, p.hw_protocol, p.hook), (2, 0x0800, 1));
    q.verdict(p.id, false).unwrap();
    // The kernel no longer holds it: a second verdict names an unknown id (ENOENT), and
    // accepting it now must not deliver it either.
    q.verdict(p.id, true).unwrap();
    let deadline = Instant::now() + PACKET_TIMEOUT;
    while q.stats().kernel_errors == 0 && Instant::now() < deadline {
        assert!(q.recv(Some(Duration::from_millis(100))).unwrap().is_empty());
    }
    let stats = q.stats();
    assert_eq!(stats.kernel_errors, 1, "{stats:?}");
    assert_eq!(stats.last_errno, libc::ENOENT, "{stats:?}");
    receiver.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 64];
    let err = receiver.recv_from(&mut buf).expect_err("dropped datagram arrived");
    assert!(matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut), "{err}");

    // Accepted from another thread: delivered.
    send_from_thread(b"accept-me");
    let p = wait_for(&mut q, b"accept-me");
    let sender = q.verdict_sender();
    thread::spawn(move || sender.verdict(p.id, true).unwrap()).join().unwrap();
    receiver.set_read_timeout(Some(PACKET_TIMEOUT)).unwrap();
    let (n, _) = receiver.recv_from(&mut buf).expect("accepted datagram");
    assert_eq!(&buf[..n], b"accept-me");

    let stats = q.stats();
    assert_eq!((stats.packets, stats.kernel_errors), (2, 1), "{stats:?}");
    assert_eq!(stats.malformed + stats.truncated + stats.foreign, 0, "{stats:?}");
    println!("{INNER_OK}");
}
