//! TFTP client: octet read requests (RFC 1350) with retransmission, replacing the transfer of
//! htm_tftpDownload.c.
//!
//! Deliberate differences from the C original (all of them fixes):
//! * the read request and the last ACK are retransmitted when no answer comes (the original
//!   waited once and gave up), at most [`MAX_TRIES`] sends per step;
//! * a last block of any size below 512 bytes ends the transfer (the original tested the
//!   datagram length with its header, so files whose last block held 508–511 bytes were
//!   never completed);
//! * block numbers wrap after 65535 (to 0, or to 1 as some servers do), so files above
//!   32 MiB arrive whole up to `Limits::max_size`;
//! * only datagrams from the server's address are used; the first DATA fixes the server's
//!   transfer ID and datagrams from another port get an ERROR 5 (RFC 1350 §4); blocks are
//!   stored in sequence, never in arrival order;
//! * every wait is bounded (unknown opcodes no longer block without a timeout) and the whole
//!   transfer ends at `Context::deadline`.
//!
//! The protocol logic is I/O-free: packet.rs is the pure packet parser, [`Receiver`] the
//! block sequencing; [`fetch`] is the socket shell.

pub mod packet;

use super::policy::canonical;
use super::{Context, Error, Fetched};
use crate::pipeline::request::{Request, Scheme};
use packet::{error_name, Packet, BLOCK_SIZE};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Longest file name requested, in bytes (a 512-byte request with `00 01`, two NULs and
/// `octet`; the original's limit too).
pub const MAX_FILE_NAME: usize = 503;
/// Longest a single wait for the next datagram lasts before the last packet (the read
/// request or the last ACK) is sent again; cut further to `Context::wait()`, so a smaller
/// `Limits::io_timeout` shortens it.
pub const RETRANSMIT_TIMEOUT: Duration = Duration::from_secs(2);
/// Most sends of one packet (the first one included) without an answer before the
/// transfer is given up with `Error::Timeout`.
pub const MAX_TRIES: u32 = 5;
/// Longest server error text kept for the logs.
const MAX_ERROR_TEXT: usize = 128;
/// Ignored datagrams (garbage, unknown opcodes, strangers) logged per transfer: a hostile
/// server must not be able to flood the log.
const MAX_LOGGED_IGNORED: u32 = 5;

/// Error codes we send.
const ERR_DISK_FULL: u16 = 3;
const ERR_UNKNOWN_TID: u16 = 5;

/// Attacker-controlled bytes made fit for a log line ([`crate::text::printable`]).
pub fn printable(b: &[u8], cap: usize) -> String {
    crate::text::printable(b, cap)
}

/// What the receiver makes of a DATA packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The expected block, stored: acknowledge it and wait for the next.
    Ack(u16),
    /// The expected block, stored, and shorter than 512 bytes: acknowledge it, the file is
    /// complete.
    Last(u16),
    /// The block acknowledged last, again (our ACK was lost): acknowledge again, not stored.
    Duplicate(u16),
    /// Any other block number (old, or ahead of sequence): ignored.
    Ignored,
    /// Storing the block would exceed the size cap: nothing stored, the transfer must end.
    TooLarge,
}

/// The receiving side of a read transfer, without I/O: block sequencing (with wrap-around),
/// duplicates, the end of the file and the size cap.
#[derive(Clone, Debug)]
pub struct Receiver {
    data: Vec<u8>,
    /// Block number acknowledged last; `None` before the first block.
    last: Option<u16>,
    max_size: usize,
}

impl Receiver {
    pub fn new(max_size: usize) -> Receiver {
        Receiver { data: Vec::new(), last: None, max_size }
    }

    /// The bytes received so far.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The block number acknowledged last.
    pub fn last_block(&self) -> Option<u16> {
        self.last
    }

    fn expects(&self, block: u16) -> bool {
        match self.last {
            None => block == 1,
            // After block 65535 the number wraps; servers restart at 0 (tftp-hpa's default,
            // most others) or at 1. Block 1 cannot be a stale packet here: it was 65534
            // blocks ago.
            Some(u16::MAX) => block == 0 || block == 1,
            Some(last) => block == last.wrapping_add(1),
        }
    }

    /// Takes one DATA packet (`data` at most 512 bytes, as `Packet::parse` guarantees; a
    /// longer one is ignored).
    pub fn receive(&mut self, block: u16, data: &[u8]) -> Step {
        if data.len() > BLOCK_SIZE {
            Step::Ignored
        } else if self.expects(block) {
            if data.len() > self.max_size.saturating_sub(self.data.len()) {
                return Step::TooLarge;
            }
            self.data.extend_from_slice(data);
            self.last = Some(block);
            if data.len() < BLOCK_SIZE {
                Step::Last(block)
            } else {
                Step::Ack(block)
            }
        } else if self.last == Some(block) {
            Step::Duplicate(block)
        } else {
            Step::Ignored
        }
    }
}

/// The socket of a transfer: bound to the attacked address when it has the server's family
/// (the request leaves from the address the attacker saw), else to the unspecified address
/// of that family.
fn bind(local: IpAddr, server: SocketAddr) -> Result<UdpSocket, Error> {
    let local = canonical(local);
    let any = match server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    if local.is_ipv4() == server.is_ipv4() && !local.is_unspecified() {
        match UdpSocket::bind(SocketAddr::new(local, 0)) {
            Ok(s) => return Ok(s),
            Err(e) => crate::log_debug!(
                "TFTP download - Unable to bind to {}: {}, using any address.",
                local,
                crate::sys::strerror(&e)
            ),
        }
    }
    UdpSocket::bind(SocketAddr::new(any, 0)).map_err(Error::Io)
}

/// The wait for the next datagram before a retransmission, or the logged deadline error.
fn step_wait(ctx: &Context, file: &str, got: usize) -> Result<Duration, Error> {
    match ctx.wait() {
        Ok(w) => Ok(w.min(RETRANSMIT_TIMEOUT)),
        Err(e) => {
            crate::log_warn!(
                "TFTP download - Transfer timeout for '{}', download time limit reached after {} bytes.",
                file,
                got
            );
            Err(e)
        }
    }
}

/// Fetches `path` from the TFTP server `server` (normally port 69) in octet mode.
///
/// Bounded by `ctx`: each wait lasts at most `min(ctx.wait(), RETRANSMIT_TIMEOUT)`, a packet
/// is sent at most `MAX_TRIES` times without an answer, the file at most
/// `ctx.limits.max_size` bytes, the whole transfer ends at `ctx.deadline`.
///
/// Errors: `Refused` for a file name that is empty, longer than 503 bytes or contains a
/// NUL, and for a server the policy forbids; `Connect` when the request cannot be sent;
/// `Protocol` for an ERROR packet from the server (code and sanitised text); `Timeout`;
/// `TooLarge`; `Io`.
pub fn fetch(server: SocketAddr, path: &str, ctx: &Context) -> Result<Fetched, Error> {
    let shown = printable(path.as_bytes(), MAX_FILE_NAME);
    if path.is_empty() || path.len() > MAX_FILE_NAME || path.contains('\0') {
        crate::log_warn!("TFTP download - Refusing file name '{}' ({} bytes).", shown, path.len());
        return Err(Error::Refused(format!(
            "TFTP file name must be 1 to {} bytes without NUL, not {} bytes",
            MAX_FILE_NAME,
            path.len()
        )));
    }
    if server.port() == 0 {
        return Err(Error::Refused(format!("{}: port 0", server)));
    }
    ctx.policy.check(server.ip())?;
    crate::log_notice!("TFTP download - Requesting '{}' from {}.", shown, server.ip());

    let sock = bind(ctx.local_ip, server)?;
    // Late DATA packets to this port are not attacks (see crate::own_ports).
    let _own = crate::own_ports::claim(&sock);
    let server_ip = canonical(server.ip());
    let rrq = Packet::Rrq { file: path.as_bytes(), mode: b"octet" }.emit();
    let mut recv = Receiver::new(ctx.limits.max_size);
    // Where ACKs go: the server's transfer ID once the first block has fixed it.
    let mut peer: Option<SocketAddr> = None;
    // The packet retransmitted on timeout, and how often it has been sent.
    let mut last_sent = rrq;
    let mut tries = 1;
    let mut ignored = 0u32;
    let mut buf = [0u8; 2048];

    let mut wait = step_wait(ctx, &shown, 0)?;
    sock.send_to(&last_sent, server).map_err(|e| Error::Connect(server, e))?;
    crate::log_noisy!("TFTP download - Read request sent: \"RRQ {} octet\" (1. try)", shown);
    let mut timer = Instant::now() + wait;

    loop {
        let now = Instant::now();
        if now >= timer {
            if tries >= MAX_TRIES {
                crate::log_warn!(
                    "TFTP download - Transfer timeout for '{}', no data from {} for {:.1} seconds ({} tries).",
                    shown,
                    server.ip(),
                    wait.as_secs_f64(),
                    tries
                );
                return Err(Error::Timeout);
            }
            wait = step_wait(ctx, &shown, recv.data().len())?;
            tries += 1;
            match (peer, recv.last_block()) {
                (Some(to), Some(block)) => {
                    sock.send_to(&last_sent, to)?;
                    crate::log_debug!("TFTP download - ACK {} sent again ({}. try).", block, tries);
                }
                _ => {
                    sock.send_to(&last_sent, server).map_err(|e| Error::Connect(server, e))?;
                    crate::log_noisy!("TFTP download - Read request sent: \"RRQ {} octet\" ({}. try)", shown, tries);
                }
            }
            timer = Instant::now() + wait;
            continue;
        }
        sock.set_read_timeout(Some((timer - now).max(Duration::from_millis(1))))?;
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(Error::Io(e)),
        };
        if canonical(from.ip()) != server_ip {
            if ignored < MAX_LOGGED_IGNORED {
                crate::log_noisy!("TFTP download - Ignoring datagram from {}, not the server.", from);
            }
            ignored = ignored.saturating_add(1);
            continue;
        }
        if let Some(p) = peer.filter(|p| p.port() != from.port()) {
            // RFC 1350 §4: tell the stranger, keep the transfer going.
            let err = Packet::Error { code: ERR_UNKNOWN_TID, message: error_name(ERR_UNKNOWN_TID).as_bytes() };
            let _ = sock.send_to(&err.emit(), from);
            if ignored < MAX_LOGGED_IGNORED {
                crate::log_noisy!(
                    "TFTP download - Datagram from {} while the transfer uses port {}/udp, error 5 sent.",
                    from,
                    p.port()
                );
            }
            ignored = ignored.saturating_add(1);
            continue;
        }
        match Packet::parse(&buf[..n]) {
            Some(Packet::Data { block, data }) => match recv.receive(block, data) {
                step @ (Step::Ack(b) | Step::Last(b)) => {
                    if peer.is_none() {
                        crate::log_noisy!("TFTP download - Remote host uses port {}/udp.", from.port());
                        peer = Some(from);
                    }
                    last_sent = Packet::Ack { block: b }.emit();
                    sock.send_to(&last_sent, from)?;
                    if step == Step::Last(b) {
                        let data = recv.into_data();
                        crate::log_info!("TFTP download - Received {} bytes of '{}' from {}.", data.len(), shown, from);
                        return Ok(Fetched { data, remote: server, uri: uri(server, path) });
                    }
                    tries = 1;
                    wait = step_wait(ctx, &shown, recv.data().len())?;
                    timer = Instant::now() + wait;
                }
                Step::Duplicate(b) => {
                    // Not a retransmission of ours: the retry count and timer stay.
                    sock.send_to(&Packet::Ack { block: b }.emit(), from)?;
                    crate::log_debug!("TFTP download - Duplicate block {} acknowledged again.", b);
                }
                Step::Ignored => {
                    if ignored < MAX_LOGGED_IGNORED {
                        crate::log_noisy!("TFTP download - Ignoring out-of-sequence block {}.", block);
                    }
                    ignored = ignored.saturating_add(1);
                }
                Step::TooLarge => {
                    let max = ctx.limits.max_size;
                    let err = Packet::Error { code: ERR_DISK_FULL, message: b"File too large" };
                    let _ = sock.send_to(&err.emit(), from);
                    crate::log_warn!(
                        "TFTP download - '{}' from {} exceeds the size limit of {} bytes, transfer aborted.",
                        shown,
                        server.ip(),
                        max
                    );
                    return Err(Error::TooLarge(max));
                }
            },
            Some(Packet::Error { code, message }) => {
                let text = printable(message, MAX_ERROR_TEXT);
                if code == 1 {
                    crate::log_err!("TFTP download error - File not found.");
                } else {
                    crate::log_err!("TFTP download error - Read Request failed.");
                }
                crate::log_info!("TFTP download - Error {} ({}) from {}: \"{}\".", code, error_name(code), from, text);
                return Err(Error::Protocol(format!("TFTP error {} ({}): \"{}\"", code, error_name(code), text)));
            }
            Some(Packet::Other(op)) => {
                if ignored < MAX_LOGGED_IGNORED {
                    crate::log_warn!("TFTP download warning - Don't know how to handle opcode {}.", op);
                }
                ignored = ignored.saturating_add(1);
            }
            Some(Packet::Rrq { .. }) | Some(Packet::Ack { .. }) | None => {
                if ignored < MAX_LOGGED_IGNORED {
                    crate::log_warn!("TFTP download warning - Ignoring unexpected {}-byte datagram from {}.", n, from);
                }
                ignored = ignored.saturating_add(1);
            }
        }
    }
}

/// `tftp://host/file` (IPv6 in brackets, port only when not 69).
fn uri(server: SocketAddr, path: &str) -> String {
    Request {
        scheme: Scheme::Tftp,
        host: server.ip().to_string(),
        port: Some(server.port()),
        user: None,
        pass: None,
        path: path.to_string(),
        filename: String::new(),
        data: Vec::new(),
    }
    .uri()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::download::{Limits, Policy};

    fn blocks(sizes: &[usize]) -> (Receiver, Vec<Step>) {
        let mut r = Receiver::new(usize::MAX);
        let steps = sizes.iter().enumerate().map(|(i, &n)| r.receive(i as u16 + 1, &vec![i as u8; n])).collect();
        (r, steps)
    }

    #[test]
    fn last_block_is_any_size_below_512() {
        // The C defect: 508–511-byte last blocks were never recognised.
        for last in [0, 1, 100, 507, 508, 509, 510, 511] {
            let (r, steps) = blocks(&[512, last]);
            assert_eq!(steps, vec![Step::Ack(1), Step::Last(2)], "{}", last);
            assert_eq!(r.data().len(), 512 + last);
        }
        let (r, steps) = blocks(&[0]);
        assert_eq!((steps, r.data().len()), (vec![Step::Last(1)], 0));
        let (_, steps) = blocks(&[512, 512]);
        assert_eq!(steps, vec![Step::Ack(1), Step::Ack(2)]);
    }

    #[test]
    fn duplicates_and_out_of_sequence() {
        let mut r = Receiver::new(usize::MAX);
        assert_eq!(r.receive(0, &[1; 512]), Step::Ignored);
        assert_eq!(r.receive(1, &[1; 513]), Step::Ignored);
        assert_eq!(r.receive(2, &[1; 512]), Step::Ignored);
        assert_eq!(r.receive(1, &[1; 512]), Step::Ack(1));
        assert_eq!(r.receive(1, &[9; 512]), Step::Duplicate(1));
        assert_eq!(r.receive(3, &[9; 512]), Step::Ignored);
        assert_eq!(r.receive(2, &[2; 512]), Step::Ack(2));
        assert_eq!(r.receive(1, &[9; 512]), Step::Ignored);
        assert_eq!(r.receive(3, &[3; 10]), Step::Last(3));
        assert_eq!(r.data(), [vec![1; 512], vec![2; 512], vec![3; 10]].concat());
    }

    #[test]
    fn block_numbers_wrap() {
        for restart in [0u16, 1] {
            let mut r = Receiver::new(usize::MAX);
            for b in 1..=u16::MAX {
                assert_eq!(r.receive(b, &[b as u8; 512]), Step::Ack(b));
            }
            assert_eq!(r.receive(65535, &[0; 512]), Step::Duplicate(65535));
            assert_eq!(r.receive(2, &[0; 512]), Step::Ignored);
            assert_eq!(r.receive(restart, &[7; 512]), Step::Ack(restart));
            assert_eq!(r.receive(restart + 1, &[8; 3]), Step::Last(restart + 1));
            let d = r.into_data();
            assert_eq!(d.len(), 65536 * 512 + 3);
            assert_eq!(&d[65534 * 512..65534 * 512 + 1], &[255]);
            assert_eq!(&d[65535 * 512..], [vec![7; 512], vec![8; 3]].concat().as_slice());
        }
    }

    #[test]
    fn size_cap() {
        let mut r = Receiver::new(1024);
        assert_eq!(r.receive(1, &[0; 512]), Step::Ack(1));
        assert_eq!(r.receive(2, &[0; 512]), Step::Ack(2));
        // Exactly the cap is fine; an empty last block still fits.
        assert_eq!(r.receive(3, &[]), Step::Last(3));
        let mut r = Receiver::new(1000);
        assert_eq!(r.receive(1, &[0; 512]), Step::Ack(1));
        assert_eq!(r.receive(2, &[0; 489]), Step::TooLarge);
        assert_eq!(r.data().len(), 512);
        assert_eq!(r.receive(2, &[0; 488]), Step::Last(2));
    }

    #[test]
    fn printable_escapes_and_bounds() {
        assert_eq!(printable(b"File not found", 128), "File not found");
        assert_eq!(printable(b"a\nb\x1b[31m\\", 128), "a\\x0ab\\x1b[31m\\x5c");
        assert_eq!(printable(&[b'x'; 200], 4), "xxxx...");
    }

    #[test]
    fn uris() {
        assert_eq!(uri("1.2.3.4:69".parse().unwrap(), "evil.exe"), "tftp://1.2.3.4/evil.exe");
        assert_eq!(uri("[2001:db8::2]:69".parse().unwrap(), "/a/b"), "tftp://[2001:db8::2]//a/b");
        assert_eq!(uri("1.2.3.4:6969".parse().unwrap(), "x"), "tftp://1.2.3.4:6969/x");
    }

    #[test]
    fn refused_before_sending() {
        let policy = Policy { allow_local: false, sensor: vec!["10.77.0.1".parse().unwrap()] };
        let limits = Limits::default();
        let ctx = Context {
            local_ip: "10.77.0.1".parse().unwrap(),
            attacker: "10.77.0.2".parse().unwrap(),
            ftp_host: None,
            policy: &policy,
            limits: &limits,
            deadline: Instant::now() + Duration::from_secs(5),
        };
        let good: SocketAddr = "192.0.2.1:69".parse().unwrap();
        let long = "a".repeat(504);
        for name in ["", "a\0b", long.as_str()] {
            assert!(matches!(fetch(good, name, &ctx), Err(Error::Refused(_))), "{:?}", name);
        }
        for bad in ["127.0.0.1:69", "10.77.0.1:69", "[::1]:69", "0.0.0.0:69", "192.0.2.1:0"] {
            assert!(matches!(fetch(bad.parse().unwrap(), "x", &ctx), Err(Error::Refused(_))), "{}", bad);
        }
    }
}
