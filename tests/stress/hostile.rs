//! Download servers that misbehave, run in the client namespace for the daemon's download
//! clients to meet: they drip, never answer, never end their headers, send garbage, or
//! send far more than any sample may be. Every server and connection stops on the shared
//! flag, and each is bounded in bytes and time of its own.

use crate::client::Stop;
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Longest life of one server connection.
const CONN_MAX: Duration = Duration::from_secs(300);
/// Longest life of a server.
const SERVER_MAX: Duration = Duration::from_secs(900);
/// Most bytes one connection or transfer sends.
const BYTES_MAX: u64 = 256 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// HTTP head, then one body byte every 2 s.
    HttpDrip,
    /// Reads the request, never answers.
    HttpSilent,
    /// 1 MiB of random bytes instead of a reply.
    HttpGarbage,
    /// `Content-Length: 100000000000`, then zeros as fast as the client takes them.
    HttpHuge,
    /// A status line, then header lines without end.
    HttpEndlessHead,
    /// Random bytes on the FTP control connection.
    FtpGarbage,
    /// A multi-line greeting, one continuation line every 2 s, never finished.
    FtpDrip,
    /// Answers a read request with DATA blocks without end.
    TftpHuge,
    /// Answers a read request with random datagrams.
    TftpGarbage,
}

pub const KINDS: [Kind; 9] = [
    Kind::HttpDrip,
    Kind::HttpSilent,
    Kind::HttpGarbage,
    Kind::HttpHuge,
    Kind::HttpEndlessHead,
    Kind::FtpGarbage,
    Kind::FtpDrip,
    Kind::TftpHuge,
    Kind::TftpGarbage,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::HttpDrip => "http-drip",
            Kind::HttpSilent => "http-silent",
            Kind::HttpGarbage => "http-garbage",
            Kind::HttpHuge => "http-huge",
            Kind::HttpEndlessHead => "http-endless-head",
            Kind::FtpGarbage => "ftp-garbage",
            Kind::FtpDrip => "ftp-drip",
            Kind::TftpHuge => "tftp-huge",
            Kind::TftpGarbage => "tftp-garbage",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Kind::HttpDrip => 8001,
            Kind::HttpSilent => 8002,
            Kind::HttpGarbage => 8003,
            Kind::HttpHuge => 8004,
            Kind::HttpEndlessHead => 8005,
            Kind::FtpGarbage => 2121,
            Kind::FtpDrip => 2122,
            Kind::TftpHuge => 6969,
            Kind::TftpGarbage => 6970,
        }
    }

    /// The URL an attack names for this server.
    pub fn url(self, host: std::net::Ipv4Addr, n: usize) -> String {
        let name = self.name();
        match self {
            Kind::FtpGarbage | Kind::FtpDrip => format!("ftp://anonymous:x@{host}:{}/{name}-{n}.bin", self.port()),
            Kind::TftpHuge | Kind::TftpGarbage => format!("tftp://{host}:{}/{name}-{n}.bin", self.port()),
            _ => format!("http://{host}:{}/{name}-{n}.sh", self.port()),
        }
    }

    /// Ends quickly on the daemon's side (no drip, no silence): done once the connection or
    /// transfer is over.
    pub fn fast(self) -> bool {
        !matches!(self, Kind::HttpDrip | Kind::HttpSilent | Kind::FtpDrip)
    }
}

/// The running servers; `finished` counts ended connections/transfers of the fast kinds.
pub struct Servers {
    pub finished: Arc<AtomicUsize>,
}

fn rnd(seed: &mut u64, buf: &mut [u8]) {
    for b in buf.iter_mut() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *b = *seed as u8;
    }
}

/// Starts every server on `host` (call from a thread inside the client namespace; the
/// threads started here stay in it). They run until `stop` is set.
pub fn start(host: std::net::Ipv4Addr, stop: &Stop) -> Servers {
    let finished = Arc::new(AtomicUsize::new(0));
    for kind in KINDS {
        let (stop, finished) = (Arc::clone(stop), Arc::clone(&finished));
        let at = SocketAddrV4::new(host, kind.port());
        if matches!(kind, Kind::TftpHuge | Kind::TftpGarbage) {
            let sock = UdpSocket::bind(at).unwrap_or_else(|e| panic!("bind {at}: {e}"));
            thread::spawn(move || tftp_server(kind, sock, host, &stop, &finished));
            continue;
        }
        let l = TcpListener::bind(at).unwrap_or_else(|e| panic!("bind {at}: {e}"));
        l.set_nonblocking(true).unwrap();
        thread::spawn(move || {
            let until = Instant::now() + SERVER_MAX;
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                match l.accept() {
                    Ok((c, _)) => {
                        let (stop, finished) = (Arc::clone(&stop), Arc::clone(&finished));
                        thread::spawn(move || {
                            let _ = c.set_nonblocking(false);
                            tcp_conn(kind, c, &stop);
                            if kind.fast() {
                                finished.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
    }
    Servers { finished }
}

/// Sleeps `d` in steps, false when `stop` was set or `until` passed.
fn nap(d: Duration, stop: &Stop, until: Instant) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) || Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(50).min(d));
    }
    true
}

fn tcp_conn(kind: Kind, mut c: TcpStream, stop: &Stop) {
    let until = Instant::now() + CONN_MAX;
    let _ = c.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let mut seed = 0x1234_5678_9abc_def0u64 ^ u64::from(kind.port());
    let is_http = !matches!(kind, Kind::FtpGarbage | Kind::FtpDrip);
    if is_http {
        // The request head (bounded).
        let mut req = Vec::new();
        let mut b = [0u8; 4096];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
            match c.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => req.extend_from_slice(&b[..n]),
            }
        }
    }
    let mut sent = 0u64;
    match kind {
        Kind::HttpDrip => {
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n");
            while nap(Duration::from_secs(2), stop, until) && c.write_all(b"#").is_ok() {}
        }
        Kind::HttpSilent => while nap(Duration::from_secs(1), stop, until) {},
        Kind::HttpGarbage => {
            let mut b = vec![0u8; 1 << 20];
            rnd(&mut seed, &mut b);
            let _ = c.write_all(&b);
        }
        Kind::HttpHuge => {
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n");
            let z = vec![0u8; 1 << 16];
            while sent < BYTES_MAX && !stop.load(Ordering::Relaxed) && Instant::now() < until && c.write_all(&z).is_ok()
            {
                sent += z.len() as u64;
            }
        }
        Kind::HttpEndlessHead => {
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\n");
            let line = format!("X-Filler: {}\r\n", "a".repeat(200));
            while sent < BYTES_MAX
                && !stop.load(Ordering::Relaxed)
                && Instant::now() < until
                && c.write_all(line.as_bytes()).is_ok()
            {
                sent += line.len() as u64;
            }
        }
        Kind::FtpGarbage => {
            let mut b = vec![0u8; 1 << 16];
            while sent < (16 << 20) && !stop.load(Ordering::Relaxed) && Instant::now() < until {
                rnd(&mut seed, &mut b);
                if c.write_all(&b).is_err() {
                    break;
                }
                sent += b.len() as u64;
            }
        }
        Kind::FtpDrip => {
            let _ = c.write_all(b"220-Welcome\r\n");
            while nap(Duration::from_secs(2), stop, until) && c.write_all(b"220-still here\r\n").is_ok() {}
        }
        Kind::TftpHuge | Kind::TftpGarbage => {}
    }
    let _ = c.shutdown(std::net::Shutdown::Both);
}

fn tftp_server(kind: Kind, sock: UdpSocket, host: std::net::Ipv4Addr, stop: &Stop, finished: &Arc<AtomicUsize>) {
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let mut b = [0u8; 1024];
    let until = Instant::now() + SERVER_MAX;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        let Ok((n, peer)) = sock.recv_from(&mut b) else { continue };
        if n < 2 || b[1] != 1 {
            continue; // only read requests start a transfer
        }
        let (stop, finished) = (Arc::clone(stop), Arc::clone(finished));
        thread::spawn(move || {
            // A transfer ID of its own, as TFTP servers answer.
            if let Ok(t) = UdpSocket::bind(SocketAddrV4::new(host, 0)) {
                tftp_transfer(kind, &t, peer, &stop);
            }
            finished.fetch_add(1, Ordering::Relaxed);
        });
    }
}

fn tftp_transfer(kind: Kind, t: &UdpSocket, peer: std::net::SocketAddr, stop: &Stop) {
    let until = Instant::now() + CONN_MAX;
    let _ = t.set_read_timeout(Some(Duration::from_secs(3)));
    let mut seed = 0x0bad_cafe_u64;
    let mut ack = [0u8; 64];
    match kind {
        Kind::TftpHuge => {
            // DATA blocks of 512 bytes, lock-step with the ACKs, until the client stops.
            let mut block: u16 = 1;
            let mut sent = 0u64;
            let mut pkt = vec![0u8; 516];
            pkt[1] = 3;
            while sent < BYTES_MAX && !stop.load(Ordering::Relaxed) && Instant::now() < until {
                pkt[2..4].copy_from_slice(&block.to_be_bytes());
                let mut acked = false;
                for _ in 0..3 {
                    if t.send_to(&pkt, peer).is_err() {
                        return;
                    }
                    match t.recv_from(&mut ack) {
                        Ok((n, _)) if n >= 4 && ack[1] == 4 && ack[2..4] == block.to_be_bytes() => {
                            acked = true;
                            break;
                        }
                        Ok((n, _)) if n >= 2 && ack[1] == 5 => return, // the client gave up
                        _ => {}
                    }
                }
                if !acked {
                    return;
                }
                sent += 512;
                block = block.wrapping_add(1);
            }
        }
        Kind::TftpGarbage => {
            let mut g = [0u8; 700];
            for _ in 0..200 {
                if stop.load(Ordering::Relaxed) || Instant::now() >= until {
                    return;
                }
                rnd(&mut seed, &mut g);
                let len = 1 + (g[0] as usize * 2) % g.len();
                let _ = t.send_to(&g[..len], peer);
                thread::sleep(Duration::from_millis(20));
            }
        }
        _ => {}
    }
}
