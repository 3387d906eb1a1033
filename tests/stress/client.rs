//! The attacking side, run inside the client namespace: TCP sessions driven by one poll loop
//! (thousands at once, dripping, held open), plain blocking sessions for rates, large
//! uploads, a raw SYN scan and a UDP flood. Every wait is bounded.

use crate::common::load::{nb_connect, sockaddr_in};
use crate::env::SRV;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a session waits for the daemon's response (sent after one idle read timeout).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(20);
/// A held connection sends one byte this often so the daemon's idle limit (11 read timeouts)
/// never closes it.
const KEEPALIVE: Duration = Duration::from_secs(4);

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(SRV, port))
}

/// A payload starting with the session's marker `@<tag>:<n>@`, by which its attack file is
/// found, then `len` bytes of filler.
pub fn payload(marker: &str, len: usize, seed: u64) -> Vec<u8> {
    let mut v = marker.as_bytes().to_vec();
    v.push(b' ');
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while v.len() < marker.len() + 1 + len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(b'a' + (x % 26) as u8);
    }
    v
}

pub fn marker(tag: &str, n: usize) -> String {
    format!("@{tag}:{n}@")
}

/// Session `i`'s marker and payload (`len` bytes after the marker), for [`quick_sessions`].
pub fn tagged(tag: &'static str, len: usize) -> impl Fn(usize) -> (String, Vec<u8>) + Sync {
    move |i| {
        let m = marker(tag, i);
        let p = payload(&m, len, i as u64);
        (m, p)
    }
}

/// What one TCP session did, seen from the client.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub marker: String,
    pub port: u16,
    /// Every byte the client wrote (the payload, plus keep-alive bytes of held sessions).
    pub sent: Vec<u8>,
    pub connected: bool,
    /// The daemon's response arrived (it read the payload and served the connection).
    pub responded: bool,
    /// The session ended as planned: after our half-close the daemon closed cleanly (read
    /// to EOF), and the response came when one was waited for.
    pub completed: bool,
    pub error: Option<String>,
}

/// One session of [`run_sessions`].
#[derive(Clone, Debug)]
pub struct Plan {
    pub marker: String,
    pub port: u16,
    pub payload: Vec<u8>,
    /// Send the payload one byte per interval instead of at once (the first `head` bytes
    /// at once).
    pub drip: Option<Duration>,
    pub head: usize,
}

pub struct RunOpts {
    /// Sessions in progress at most.
    pub concurrency: usize,
    /// Connects in flight at most.
    pub connect_inflight: usize,
    /// Wait for the daemon's response before closing (proves it served the connection).
    pub wait_response: bool,
    /// Keep every session open until all have their response (or failed), then close all.
    pub hold_all: bool,
    pub deadline: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Pending,
    Connecting,
    Sending,
    Awaiting,
    Held,
    Closing,
    Done,
}

struct S {
    plan: usize,
    sock: Option<TcpStream>,
    phase: Phase,
    since: Instant,
    off: usize,
    next_drip: Instant,
    last_send: Instant,
    out: Outcome,
}

/// Runs `plans` from one thread with `poll`: connect, send (at once or dripped), optionally
/// wait for the response, optionally hold every session until all are served, then
/// half-close and read to EOF. `at_hold` runs once while all sessions are held. Returns one
/// outcome per plan, in order.
pub fn run_sessions(plans: &[Plan], o: &RunOpts, at_hold: &mut dyn FnMut()) -> Vec<Outcome> {
    let now = Instant::now();
    let mut ss: Vec<S> = (0..plans.len())
        .map(|i| S {
            plan: i,
            sock: None,
            phase: Phase::Pending,
            since: now,
            off: 0,
            next_drip: now,
            last_send: now,
            out: Outcome { marker: plans[i].marker.clone(), port: plans[i].port, ..Outcome::default() },
        })
        .collect();
    let mut next = 0usize;
    let mut released = !o.hold_all;
    let mut buf = vec![0u8; 65536];
    let mut pfds: Vec<libc::pollfd> = Vec::new();
    let mut idx: Vec<usize> = Vec::new();
    loop {
        let now = Instant::now();
        if now >= o.deadline {
            for s in ss.iter_mut().filter(|s| s.phase != Phase::Done) {
                fail(s, "harness deadline");
            }
            break;
        }
        let active = ss.iter().filter(|s| !matches!(s.phase, Phase::Pending | Phase::Done)).count();
        let connecting = ss.iter().filter(|s| s.phase == Phase::Connecting).count();
        let (mut active, mut connecting) = (active, connecting);
        while next < ss.len() && active < o.concurrency && connecting < o.connect_inflight {
            let s = &mut ss[next];
            next += 1;
            let to = SocketAddrV4::new(SRV, plans[s.plan].port);
            match nb_connect(to) {
                Ok(sock) => {
                    s.sock = Some(sock);
                    s.phase = Phase::Connecting;
                    s.since = now;
                    active += 1;
                    connecting += 1;
                }
                Err(e) => fail(s, &format!("connect: {e}")),
            }
        }
        if !released {
            let waiting = ss.iter().any(|s| !matches!(s.phase, Phase::Held | Phase::Done));
            if !waiting {
                at_hold();
                released = true;
                for s in ss.iter_mut().filter(|s| s.phase == Phase::Held) {
                    close_write(s);
                }
            }
        }
        // Timers: timeouts, drip, keep-alive.
        for s in ss.iter_mut() {
            let age = now.duration_since(s.since);
            match s.phase {
                Phase::Connecting if age > CONNECT_TIMEOUT => fail(s, "connect timeout"),
                Phase::Sending => {
                    let p = &plans[s.plan];
                    if p.drip.is_some() && now >= s.next_drip && s.off < p.payload.len() {
                        let end = if s.off < p.head { p.head.min(p.payload.len()) } else { s.off + 1 };
                        match s.sock.as_ref().map(|mut k| k.write(&p.payload[s.off..end])) {
                            Some(Ok(n)) if n > 0 => {
                                s.out.sent.extend_from_slice(&p.payload[s.off..s.off + n]);
                                s.off += n;
                                s.last_send = now;
                                if s.off >= p.head {
                                    s.next_drip = now + p.drip.unwrap_or_default();
                                }
                            }
                            Some(Err(e)) if e.kind() == ErrorKind::WouldBlock => {}
                            Some(Err(e)) => fail(s, &format!("write: {}", e.kind())),
                            _ => {}
                        }
                    }
                    if s.phase == Phase::Sending && s.off >= p.payload.len() {
                        after_send(s, o, released);
                    } else if p.drip.is_none() && age > IO_TIMEOUT {
                        fail(s, "send timeout");
                    }
                }
                Phase::Awaiting if age > RESPONSE_TIMEOUT => fail(s, "no response"),
                Phase::Held if now.duration_since(s.last_send) >= KEEPALIVE => {
                    if let Some(Ok(1)) = s.sock.as_ref().map(|mut k| k.write(b"k")) {
                        s.out.sent.push(b'k');
                    }
                    s.last_send = now;
                }
                Phase::Closing if age > IO_TIMEOUT => fail(s, "no EOF after our half-close"),
                _ => {}
            }
        }
        if ss.iter().all(|s| s.phase == Phase::Done) && next >= ss.len() {
            break;
        }
        pfds.clear();
        idx.clear();
        for (i, s) in ss.iter().enumerate() {
            let Some(sock) = s.sock.as_ref() else { continue };
            let events = match s.phase {
                Phase::Connecting => libc::POLLOUT,
                Phase::Sending if plans[s.plan].drip.is_none() => libc::POLLOUT | libc::POLLIN,
                Phase::Sending | Phase::Awaiting | Phase::Held | Phase::Closing => libc::POLLIN,
                _ => continue,
            };
            pfds.push(libc::pollfd { fd: sock.as_raw_fd(), events, revents: 0 });
            idx.push(i);
        }
        // SAFETY: `pfds` is a valid array of pollfd of the given length.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 10) };
        if rc <= 0 {
            continue;
        }
        let now = Instant::now();
        for (k, p) in pfds.iter().enumerate() {
            if p.revents == 0 {
                continue;
            }
            let s = &mut ss[idx[k]];
            if s.phase == Phase::Connecting {
                let ok = matches!(s.sock.as_ref().map(|k| k.take_error()), Some(Ok(None)))
                    && p.revents & (libc::POLLERR | libc::POLLHUP) == 0;
                if !ok {
                    fail(s, "connect failed");
                    continue;
                }
                s.out.connected = true;
                s.phase = Phase::Sending;
                s.since = now;
                s.last_send = now;
                s.next_drip = now;
                continue;
            }
            if p.revents & libc::POLLOUT != 0 && s.phase == Phase::Sending {
                let pl = &plans[s.plan].payload;
                match s.sock.as_ref().map(|mut k| k.write(&pl[s.off..])) {
                    Some(Ok(n)) => {
                        s.out.sent.extend_from_slice(&pl[s.off..s.off + n]);
                        s.off += n;
                        s.last_send = now;
                        if s.off >= pl.len() {
                            after_send(s, o, released);
                        }
                    }
                    Some(Err(e)) if e.kind() == ErrorKind::WouldBlock => {}
                    Some(Err(e)) => {
                        fail(s, &format!("write: {}", e.kind()));
                        continue;
                    }
                    None => {}
                }
            }
            if p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                read_ready(s, &mut buf, o, released);
            }
        }
    }
    ss.into_iter().map(|s| s.out).collect()
}

fn fail(s: &mut S, why: &str) {
    s.out.error = Some(why.to_string());
    s.phase = Phase::Done;
    s.sock = None;
}

fn after_send(s: &mut S, o: &RunOpts, released: bool) {
    if o.wait_response && !s.out.responded {
        s.phase = Phase::Awaiting;
        s.since = Instant::now();
    } else if !released {
        s.phase = Phase::Held;
    } else {
        close_write(s);
    }
}

fn close_write(s: &mut S) {
    if let Some(k) = s.sock.as_ref() {
        if let Err(e) = k.shutdown(Shutdown::Write) {
            fail(s, &format!("shutdown: {}", e.kind()));
            return;
        }
    }
    s.phase = Phase::Closing;
    s.since = Instant::now();
}

fn read_ready(s: &mut S, buf: &mut [u8], o: &RunOpts, released: bool) {
    for _ in 0..64 {
        let r = match s.sock.as_ref() {
            Some(mut k) => k.read(buf),
            None => return,
        };
        match r {
            Ok(0) => {
                if s.phase == Phase::Closing {
                    s.out.completed = !o.wait_response || s.out.responded;
                    if !s.out.completed {
                        s.out.error = Some("closed without a response".into());
                    }
                    s.phase = Phase::Done;
                    s.sock = None;
                } else {
                    fail(s, "closed by the daemon before our half-close");
                }
                return;
            }
            Ok(_) => {
                s.out.responded = true;
                if s.phase == Phase::Awaiting {
                    if released {
                        close_write(s);
                    } else {
                        s.phase = Phase::Held;
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                fail(s, &format!("read: {}", e.kind()));
                return;
            }
        }
    }
}

/// Blocking sessions from `threads` threads until `n` were made or the deadline passed:
/// connect, send the payload `make(i)` gives (may be empty), half-close, read to EOF; each
/// thread starts a session at most every `gap`. Completed when the daemon closed cleanly
/// after our half-close.
pub fn quick_sessions(
    threads: usize,
    n: usize,
    port: u16,
    deadline: Instant,
    gap: Duration,
    make: impl Fn(usize) -> (String, Vec<u8>) + Sync,
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| {
                    let mut v = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n || Instant::now() >= deadline {
                            break;
                        }
                        let t = Instant::now();
                        let (marker, payload) = make(i);
                        v.push(quick(port, marker, payload));
                        if let Some(rest) = gap.checked_sub(t.elapsed()) {
                            thread::sleep(rest);
                        }
                    }
                    v
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

pub fn quick(port: u16, marker: String, payload: Vec<u8>) -> Outcome {
    let mut o = Outcome { marker, port, ..Outcome::default() };
    let r = (|| -> std::io::Result<()> {
        let mut s = TcpStream::connect_timeout(&addr(port), CONNECT_TIMEOUT)?;
        o.connected = true;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        s.write_all(&payload)?;
        o.sent = payload;
        s.shutdown(Shutdown::Write)?;
        let mut sink = Vec::new();
        s.read_to_end(&mut sink)?;
        o.responded = !sink.is_empty();
        Ok(())
    })();
    match r {
        Ok(()) => o.completed = true,
        Err(e) => o.error = Some(format!("{:?}", e.kind())),
    }
    o
}

/// A session of the `full` kind, blocking: connect, send, wait for the response, half-close,
/// read to EOF.
pub fn served(port: u16, marker: String, payload: Vec<u8>) -> Outcome {
    let plan = Plan { marker, port, payload, drip: None, head: 0 };
    let o = RunOpts {
        concurrency: 1,
        connect_inflight: 1,
        wait_response: true,
        hold_all: false,
        deadline: Instant::now() + Duration::from_secs(60),
    };
    run_sessions(std::slice::from_ref(&plan), &o, &mut || {}).pop().unwrap_or_default()
}

/// Sends `payload` over one connection in 1 MiB writes (the daemon may stop reading and
/// close: the write then fails, which is expected); if all was written, half-closes and
/// reads to EOF. `sent` is what the kernel took.
pub fn upload(port: u16, marker: String, payload: &[u8]) -> Outcome {
    let mut o = Outcome { marker, port, ..Outcome::default() };
    let Ok(mut s) = TcpStream::connect_timeout(&addr(port), CONNECT_TIMEOUT) else {
        o.error = Some("connect failed".into());
        return o;
    };
    o.connected = true;
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let mut off = 0;
    while off < payload.len() {
        let end = (off + (1 << 20)).min(payload.len());
        match s.write(&payload[off..end]) {
            Ok(0) => break,
            Ok(n) => off += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                o.error = Some(format!("write after {off} bytes: {:?}", e.kind()));
                break;
            }
        }
    }
    o.sent = payload[..off].to_vec();
    if off == payload.len() {
        let _ = s.shutdown(Shutdown::Write);
        let mut sink = Vec::new();
        match s.read_to_end(&mut sink) {
            Ok(_) => o.completed = true,
            Err(e) => o.error = Some(format!("read: {:?}", e.kind())),
        }
    } else {
        // Cut by the daemon: the session is over from its side.
        o.completed = true;
    }
    o
}

// ---------------------------------------------------------------------------------------------
// Raw SYN scan

fn csum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One SYN from `src:sport` to `dst:dport`, TCP header only (the kernel adds the IP header).
pub fn syn_segment(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, seq: u32) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..8].copy_from_slice(&seq.to_be_bytes());
    h[12] = 5 << 4;
    h[13] = 0x02;
    h[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let mut pseudo = Vec::with_capacity(32);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, libc::IPPROTO_TCP as u8, 0, 20]);
    pseudo.extend_from_slice(&h);
    let c = csum(&pseudo, 0);
    h[16..18].copy_from_slice(&c.to_be_bytes());
    h
}

/// Sends one SYN to every port 1–65535 of the sensor from a raw socket (no handshake is
/// completed: the client kernel answers each SYN-ACK with a reset), at most `rate` per
/// second. Returns (sent, failed sends).
pub fn syn_scan(src: Ipv4Addr, sport: u16, rate: u32, deadline: Instant) -> (u64, u64) {
    // SAFETY: plain socket(2); the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_TCP) };
    assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
    let sa = sockaddr_in(SocketAddrV4::new(SRV, 0));
    let (mut sent, mut failed) = (0u64, 0u64);
    let t0 = Instant::now();
    for port in 1..=65535u16 {
        if Instant::now() >= deadline {
            break;
        }
        let due = t0 + Duration::from_secs_f64(f64::from(port) / f64::from(rate));
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            thread::sleep(d);
        }
        let seg = syn_segment(src, SRV, sport, port, 0x1000_0000 ^ u32::from(port).wrapping_mul(2_654_435_761));
        let mut ok = false;
        for _ in 0..100 {
            // SAFETY: `seg` and `sa` are valid for the given lengths; `fd` is our socket.
            let rc = unsafe {
                libc::sendto(
                    fd,
                    seg.as_ptr().cast(),
                    seg.len(),
                    0,
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                )
            };
            if rc == seg.len() as isize {
                ok = true;
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        if ok {
            sent += 1;
        } else {
            failed += 1;
        }
    }
    // SAFETY: closes the socket opened above, used by nothing else.
    unsafe { libc::close(fd) };
    (sent, failed)
}

// ---------------------------------------------------------------------------------------------
// UDP flood

/// One datagram from each of `n` source ports (`first_sport` upwards) to `port`, at most
/// `rate` a second: each a flow of its own. Returns the (marker, payload) of every datagram
/// sent.
pub fn udp_flood(n: usize, first_sport: u16, port: u16, rate: u32, deadline: Instant) -> Vec<(String, Vec<u8>)> {
    let mut sent = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        if Instant::now() >= deadline {
            break;
        }
        let due = t0 + Duration::from_secs_f64(i as f64 / f64::from(rate));
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            thread::sleep(d);
        }
        let sport = first_sport + i as u16;
        let Ok(s) = UdpSocket::bind(SocketAddrV4::new(crate::env::CLI, sport)) else { continue };
        let m = marker("udp", i);
        let p = payload(&m, 24, i as u64);
        if s.send_to(&p, addr(port)).is_ok() {
            sent.push((m, p));
        }
    }
    sent
}

/// A stop flag shared with server threads.
pub type Stop = Arc<AtomicBool>;
