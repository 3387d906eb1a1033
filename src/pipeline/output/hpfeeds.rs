//! The hpfeeds output (`plugin-hpfeeds`, new in this version; the C honeytrap had no fleet
//! feed): publishes events and downloaded samples to an hpfeeds broker, the honeypot
//! community's publish/subscribe feed.
//!
//! The protocol ([`wire`]): every message is a 32-bit big-endian length (header included),
//! an opcode byte and a body; strings are prefixed with one length byte. The broker opens
//! with `OP_INFO` (its name and a nonce); the client answers `OP_AUTH` (ident,
//! SHA-1(nonce ‖ secret)) and then sends `OP_PUBLISH` (ident, channel, payload). The broker
//! never acknowledges: it answers a refused authentication or publication with `OP_ERROR`
//! and closes the connection.
//!
//! Capture never waits for the broker: [`Hpfeeds::publish_event`] and
//! [`Hpfeeds::publish_file`] put the message on a bounded queue (at most `queue_size`
//! messages and [`QUEUE_BYTES`] bytes) that one sender thread drains; it connects,
//! authenticates and reconnects with back-off (1 s doubling to 60 s), and a reader thread per
//! connection logs the broker's `OP_ERROR` texts and notices when it hangs up. Drops are
//! counted ([`Hpfeeds::stats`]); an unreachable broker produces one log line per minute.
//!
//! Messages on the files channel are the raw bytes of the sample and nothing else, as
//! dionaea's `mwbinary.dionaea.sensorunique` channel does: subscribers hash the payload
//! themselves, and the events channel carries the metadata (the download event names the
//! sha256). A sample that does not fit into one message of the reference broker
//! ([`MAX_MESSAGE`], 1 MiB body) is not published and counts as dropped.
//!
//! After `OP_AUTH` the client waits [`AUTH_WAIT`] for an `OP_ERROR` before publishing, so
//! that wrong credentials are reported as such instead of as a dropped connection.

use super::sender::{
    parse_queue_size, spawn_sender, tcp_connect, LinkError, Policy, SendError, SendQueue, Sender, Transport,
    QUEUE_BYTES,
};
use super::syslog::parse_host_port;
use super::OutputError;
use crate::config::{Plugin, PluginConfig};
use crate::log::Throttle;
use crate::log_warn;
use crate::sys::strerror;
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Default broker port.
pub const DEFAULT_PORT: u16 = 10000;
pub const DEFAULT_EVENTS_CHANNEL: &str = "honeytrap.events";
pub const DEFAULT_FILES_CHANNEL: &str = "honeytrap.files";
/// Largest message sent: the reference broker's limit for `OP_PUBLISH` (header + 1 MiB).
pub const MAX_MESSAGE: usize = wire::HEADER + (1 << 20);
/// Largest message accepted from the broker (it only sends `OP_INFO` and `OP_ERROR` to a
/// publisher); anything longer ends the connection.
pub const MAX_BROKER_MESSAGE: usize = 64 * 1024;
/// How long the broker has to refuse an authentication before publishing starts.
pub const AUTH_WAIT: Duration = Duration::from_millis(300);
/// Limit for the broker's greeting.
const GREETING_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest broker error text logged.
const MAX_ERROR_TEXT: usize = 200;

/// The hpfeeds wire format: parse and emit, no I/O except [`read_message`].
pub(crate) mod wire {
    use std::io::{self, Read};

    pub const OP_ERROR: u8 = 0;
    pub const OP_INFO: u8 = 1;
    pub const OP_AUTH: u8 = 2;
    pub const OP_PUBLISH: u8 = 3;
    pub const OP_SUBSCRIBE: u8 = 4;
    pub const OP_UNSUBSCRIBE: u8 = 5;
    /// Length (4 bytes, big-endian, whole message) and opcode.
    pub const HEADER: usize = 5;

    /// One message; byte strings borrow the buffer they were parsed from.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Message<'a> {
        Error(&'a [u8]),
        Info { name: &'a [u8], nonce: &'a [u8] },
        Auth { ident: &'a [u8], hash: &'a [u8] },
        Publish { ident: &'a [u8], channel: &'a [u8], payload: &'a [u8] },
        Subscribe { ident: &'a [u8], channel: &'a [u8] },
        Unsubscribe { ident: &'a [u8], channel: &'a [u8] },
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum WireError {
        /// The length field is below the header size.
        TooShort(u32),
        /// The length field is above the caller's limit.
        TooLong(u32),
        UnknownOpcode(u8),
        /// A length-prefixed string runs past the end of the body.
        Truncated,
        /// A string to emit is longer than 255 bytes.
        StringTooLong,
    }

    impl std::fmt::Display for WireError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                WireError::TooShort(n) => write!(f, "message length {n} below the header size"),
                WireError::TooLong(n) => write!(f, "message length {n} above the limit"),
                WireError::UnknownOpcode(o) => write!(f, "unknown opcode {o}"),
                WireError::Truncated => write!(f, "truncated string"),
                WireError::StringTooLong => write!(f, "string longer than 255 bytes"),
            }
        }
    }

    /// Checks a header: (opcode, whole message length), at most `max` bytes.
    pub fn check_header(h: &[u8; HEADER], max: usize) -> Result<(u8, usize), WireError> {
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        if (len as usize) < HEADER {
            return Err(WireError::TooShort(len));
        }
        if len as usize > max {
            return Err(WireError::TooLong(len));
        }
        if h[4] > OP_UNSUBSCRIBE {
            return Err(WireError::UnknownOpcode(h[4]));
        }
        Ok((h[4], len as usize))
    }

    fn string(b: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
        let (&n, rest) = b.split_first().ok_or(WireError::Truncated)?;
        if rest.len() < n as usize {
            return Err(WireError::Truncated);
        }
        Ok(rest.split_at(n as usize))
    }

    /// Parses the body of a message with opcode `op`.
    pub fn parse_body(op: u8, body: &[u8]) -> Result<Message<'_>, WireError> {
        Ok(match op {
            OP_ERROR => Message::Error(body),
            OP_INFO => {
                let (name, nonce) = string(body)?;
                Message::Info { name, nonce }
            }
            OP_AUTH => {
                let (ident, hash) = string(body)?;
                Message::Auth { ident, hash }
            }
            OP_PUBLISH => {
                let (ident, rest) = string(body)?;
                let (channel, payload) = string(rest)?;
                Message::Publish { ident, channel, payload }
            }
            OP_SUBSCRIBE => {
                let (ident, channel) = string(body)?;
                Message::Subscribe { ident, channel }
            }
            OP_UNSUBSCRIBE => {
                let (ident, channel) = string(body)?;
                Message::Unsubscribe { ident, channel }
            }
            o => return Err(WireError::UnknownOpcode(o)),
        })
    }

    /// Parses one message at the start of `buf` (at most `max` bytes long): `Ok(None)` when
    /// more bytes are needed, else the message and the bytes it took.
    #[cfg(test)]
    pub fn parse(buf: &[u8], max: usize) -> Result<Option<(Message<'_>, usize)>, WireError> {
        let Some(h) = buf.first_chunk::<HEADER>() else { return Ok(None) };
        let (op, len) = check_header(h, max)?;
        if buf.len() < len {
            return Ok(None);
        }
        Ok(Some((parse_body(op, &buf[HEADER..len])?, len)))
    }

    /// The header of a message with a `body_len`-byte body.
    pub fn header(op: u8, body_len: usize) -> [u8; HEADER] {
        let len = u32::try_from(HEADER + body_len).unwrap_or(u32::MAX).to_be_bytes();
        [len[0], len[1], len[2], len[3], op]
    }

    fn put_string(out: &mut Vec<u8>, s: &[u8]) -> Result<(), WireError> {
        out.push(u8::try_from(s.len()).map_err(|_| WireError::StringTooLong)?);
        out.extend_from_slice(s);
        Ok(())
    }

    /// The body of `m`, without header.
    pub fn emit_body(m: &Message<'_>) -> Result<(u8, Vec<u8>), WireError> {
        let mut b = Vec::new();
        let op = match *m {
            Message::Error(t) => {
                b.extend_from_slice(t);
                OP_ERROR
            }
            Message::Info { name, nonce } => {
                put_string(&mut b, name)?;
                b.extend_from_slice(nonce);
                OP_INFO
            }
            Message::Auth { ident, hash } => {
                put_string(&mut b, ident)?;
                b.extend_from_slice(hash);
                OP_AUTH
            }
            Message::Publish { ident, channel, payload } => {
                put_string(&mut b, ident)?;
                put_string(&mut b, channel)?;
                b.extend_from_slice(payload);
                OP_PUBLISH
            }
            Message::Subscribe { ident, channel } | Message::Unsubscribe { ident, channel } => {
                put_string(&mut b, ident)?;
                b.extend_from_slice(channel);
                if matches!(m, Message::Subscribe { .. }) {
                    OP_SUBSCRIBE
                } else {
                    OP_UNSUBSCRIBE
                }
            }
        };
        Ok((op, b))
    }

    /// The whole message `m`.
    pub fn emit(m: &Message<'_>) -> Result<Vec<u8>, WireError> {
        let (op, body) = emit_body(m)?;
        let mut out = header(op, body.len()).to_vec();
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// SHA-1(nonce ‖ secret), the `OP_AUTH` proof.
    pub fn auth_hash(nonce: &[u8], secret: &[u8]) -> [u8; 20] {
        use sha1::{Digest, Sha1};
        let mut h = Sha1::new();
        h.update(nonce);
        h.update(secret);
        h.finalize().into()
    }

    /// Reads one message (opcode, body) of at most `max` bytes. `Ok(None)` when the read
    /// timed out before the first byte; a time-out inside a message is an error.
    pub fn read_message(r: &mut impl Read, max: usize) -> io::Result<Option<(u8, Vec<u8>)>> {
        let mut h = [0u8; HEADER];
        let mut got = 0;
        while got < HEADER {
            match r.read(&mut h[got..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(e) if got == 0 && matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let (op, len) = check_header(&h, max).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let mut body = vec![0u8; len - HEADER];
        r.read_exact(&mut body)?;
        Ok(Some((op, body)))
    }
}

/// Printable text of a broker's error (others become `?`), capped.
fn error_text(b: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(&b[..b.len().min(MAX_ERROR_TEXT)])
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if b.len() > MAX_ERROR_TEXT {
        s + "…"
    } else {
        s
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chan {
    Events,
    Files,
}

struct Live {
    stream: TcpStream,
    alive: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

struct HpfeedsTransport {
    host: String,
    port: u16,
    ident: String,
    secret: String,
    events_channel: String,
    files_channel: String,
    live: Option<Live>,
    broker_errors: Arc<Throttle>,
}

fn io_err(what: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => format!("{what}: the broker closed the connection"),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!("{what}: timed out"),
        _ => format!("{what}: {}", strerror(e)),
    }
}

impl HpfeedsTransport {
    fn handshake(&self, s: &mut TcpStream) -> Result<(), LinkError> {
        use LinkError::Protocol;
        s.set_read_timeout(Some(GREETING_TIMEOUT)).map_err(LinkError::io)?;
        let (op, body) = wire::read_message(s, MAX_BROKER_MESSAGE)
            .map_err(|e| Protocol(io_err("greeting", &e)))?
            .ok_or_else(|| Protocol("greeting: timed out".into()))?;
        let nonce = match wire::parse_body(op, &body).map_err(|e| Protocol(format!("greeting: {e}")))? {
            wire::Message::Info { nonce, .. } => nonce.to_vec(),
            wire::Message::Error(t) => return Err(Protocol(format!("broker error: {}", error_text(t)))),
            _ => return Err(Protocol(format!("greeting: unexpected opcode {op}"))),
        };
        let hash = wire::auth_hash(&nonce, self.secret.as_bytes());
        let auth = wire::emit(&wire::Message::Auth { ident: self.ident.as_bytes(), hash: &hash })
            .map_err(|e| Protocol(e.to_string()))?;
        s.write_all(&auth).map_err(|e| Protocol(io_err("authentication", &e)))?;
        s.set_read_timeout(Some(AUTH_WAIT)).map_err(LinkError::io)?;
        match wire::read_message(s, MAX_BROKER_MESSAGE) {
            Ok(None) => {}
            Ok(Some((op, body))) => {
                if let Ok(wire::Message::Error(t)) = wire::parse_body(op, &body) {
                    return Err(Protocol(format!("authentication as {:?} refused: {}", self.ident, error_text(t))));
                }
                return Err(Protocol(format!("authentication: unexpected opcode {op}")));
            }
            Err(e) => return Err(Protocol(io_err("authentication", &e))),
        }
        s.set_read_timeout(None).map_err(LinkError::io)
    }
}

/// Reads what the broker sends while we publish: logs `OP_ERROR` texts (throttled) and
/// clears `alive` when the connection ends or breaks the protocol.
fn reader(mut s: TcpStream, alive: Arc<AtomicBool>, errors: Arc<Throttle>, who: String) {
    loop {
        match wire::read_message(&mut s, MAX_BROKER_MESSAGE) {
            Ok(None) => continue,
            Ok(Some((op, body))) => {
                if let Ok(wire::Message::Error(t)) = wire::parse_body(op, &body) {
                    if let Some(quiet) = errors.due() {
                        log_warn!("{}: broker error: {}{}", who, error_text(t), crate::log::more_since(quiet));
                    }
                }
            }
            Err(_) => break,
        }
    }
    alive.store(false, Ordering::Release);
}

impl Transport for HpfeedsTransport {
    type Item = (Chan, Vec<u8>);

    fn describe(&self) -> String {
        if self.host.contains(':') {
            format!("hpfeeds [{}]:{}", self.host, self.port)
        } else {
            format!("hpfeeds {}:{}", self.host, self.port)
        }
    }

    fn is_connected(&self) -> bool {
        self.live.is_some()
    }

    fn connect(&mut self) -> Result<(), LinkError> {
        let mut s = tcp_connect(&self.host, self.port)?;
        if let Err(e) = self.handshake(&mut s) {
            let _ = s.shutdown(std::net::Shutdown::Both);
            return Err(e);
        }
        let alive = Arc::new(AtomicBool::new(true));
        let r = s.try_clone().map_err(LinkError::io)?;
        let (a, errors, who) = (alive.clone(), self.broker_errors.clone(), self.describe());
        let reader = std::thread::Builder::new()
            .name("hpfeeds-reader".into())
            .spawn(move || reader(r, a, errors, who))
            .map_err(|err| LinkError::Thread { name: "reader", err })?;
        self.live = Some(Live { stream: s, alive, reader: Some(reader) });
        Ok(())
    }

    fn send(&mut self, (chan, payload): &(Chan, Vec<u8>)) -> Result<(), SendError> {
        let channel = match chan {
            Chan::Events => &self.events_channel,
            Chan::Files => &self.files_channel,
        };
        let body_len = 2 + self.ident.len() + channel.len() + payload.len();
        if wire::HEADER + body_len > MAX_MESSAGE {
            return Err(SendError::Permanent(format!("{} bytes do not fit into one hpfeeds message", payload.len())));
        }
        let Some(live) = self.live.as_mut() else { return Err(SendError::Broken("not connected".into())) };
        if !live.alive.load(Ordering::Acquire) {
            return Err(SendError::Broken("the broker closed the connection".into()));
        }
        let mut head = wire::header(wire::OP_PUBLISH, body_len).to_vec();
        head.push(self.ident.len() as u8);
        head.extend_from_slice(self.ident.as_bytes());
        head.push(channel.len() as u8);
        head.extend_from_slice(channel.as_bytes());
        live.stream
            .write_all(&head)
            .and_then(|()| live.stream.write_all(payload))
            .map_err(|e| SendError::Broken(io_err("publish", &e)))
    }

    fn disconnect(&mut self) {
        if let Some(mut live) = self.live.take() {
            let _ = live.stream.shutdown(std::net::Shutdown::Both);
            if let Some(r) = live.reader.take() {
                let _ = r.join(); // the shutdown ends its read at once
            }
        }
    }
}

/// The configured hpfeeds publisher with its sender thread.
pub struct Hpfeeds {
    queue: Arc<SendQueue<(Chan, Vec<u8>)>>,
    sender: Sender,
    max_payload: usize,
    too_big: Throttle,
    who: String,
}

impl Hpfeeds {
    /// Reads a `plugin-hpfeeds` entry and starts the sender thread. `host`, `ident` and
    /// `secret` are required. Nothing is connected yet: an unreachable broker is retried.
    pub fn start(cfg: &PluginConfig) -> Result<Hpfeeds, OutputError> {
        if cfg.plugin != Plugin::Hpfeeds {
            return Err(OutputError::WrongPlugin { got: cfg.plugin, expect: Plugin::Hpfeeds });
        }
        let bad = |key, why| OutputError::BadOption { plugin: Plugin::Hpfeeds, key, why };
        let required = |k: &'static str| match cfg.option(k) {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => Err(bad(k, format!("{k} is required"))),
        };
        // A name, an address, or an IPv6 address with or without brackets; never a port.
        let host = required("host")?;
        let host = if host.parse::<std::net::Ipv6Addr>().is_ok() {
            host
        } else if host.starts_with('[') && host.ends_with(']') || !host.contains(':') {
            parse_host_port(&host, DEFAULT_PORT).map_err(|e| bad("host", format!("host: {e}")))?.0
        } else {
            return Err(bad("host", format!("host {host:?}: give the port with the port key")));
        };
        let port = match cfg.option("port") {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n != 0 => n,
                _ => return Err(bad("port", format!("invalid port {p:?}"))),
            },
        };
        let ident = required("ident")?;
        let secret = required("secret")?;
        let chan = |k: &'static str, d: &str| -> Result<String, OutputError> {
            let c = cfg.option(k).unwrap_or(d);
            if c.is_empty() || c.len() > 255 {
                return Err(bad(k, format!("{k} must be 1 to 255 bytes long")));
            }
            Ok(c.to_string())
        };
        let events_channel = chan("events_channel", DEFAULT_EVENTS_CHANNEL)?;
        let files_channel = chan("files_channel", DEFAULT_FILES_CHANNEL)?;
        if ident.len() > 255 {
            return Err(bad("ident", "ident must be at most 255 bytes long".into()));
        }
        let queue_size = parse_queue_size(Plugin::Hpfeeds, cfg.option("queue_size"))?;
        let max_payload = MAX_MESSAGE - wire::HEADER - 2 - ident.len() - files_channel.len();
        let transport = HpfeedsTransport {
            host,
            port,
            ident,
            secret,
            events_channel,
            files_channel,
            live: None,
            broker_errors: Arc::new(Throttle::new(super::sender::WARN_INTERVAL)),
        };
        let who = transport.describe();
        let queue = Arc::new(SendQueue::counted(queue_size, QUEUE_BYTES, crate::stats::Output::Hpfeeds));
        let sender = spawn_sender(Plugin::Hpfeeds, queue.clone(), transport, Policy::STREAM, false)?;
        Ok(Hpfeeds { queue, sender, max_payload, too_big: Throttle::new(super::sender::WARN_INTERVAL), who })
    }

    /// Queues one event (a JSON line) for the events channel. Never blocks.
    pub fn publish_event(&self, json: &str) {
        let b = json.trim_end_matches(['\n', '\r']).as_bytes().to_vec();
        let n = b.len();
        self.queue.push((Chan::Events, b), n);
    }

    /// Queues one sample (its raw bytes) for the files channel. Never blocks; a sample too
    /// big for one message is dropped (counted, and logged at most once a minute).
    pub fn publish_file(&self, payload: Vec<u8>) {
        if payload.len() > self.max_payload {
            self.queue.count_dropped(1);
            if let Some(quiet) = self.too_big.due() {
                log_warn!(
                    "{}: sample of {} bytes not published (at most {} bytes fit into one message){}",
                    self.who,
                    payload.len(),
                    self.max_payload,
                    crate::log::more_since(quiet)
                );
            }
            return;
        }
        let n = payload.len();
        self.queue.push((Chan::Files, payload), n);
    }

    /// (messages published, messages dropped) so far.
    pub fn stats(&self) -> (u64, u64) {
        self.queue.stats()
    }
}

impl Drop for Hpfeeds {
    fn drop(&mut self) {
        self.sender.stop(&self.queue);
    }
}

#[cfg(test)]
mod tests {
    use super::wire::*;
    use super::*;
    use crate::config::Span;
    use std::io::Read;

    #[test]
    fn parse_a_broker_greeting() {
        // As the reference broker sends it: name "hpfeeds", 4-byte nonce.
        let b = b"\x00\x00\x00\x11\x01\x07hpfeeds\x01\x02\x03\x04";
        assert_eq!(
            parse(b, MAX_BROKER_MESSAGE),
            Ok(Some((Message::Info { name: b"hpfeeds", nonce: b"\x01\x02\x03\x04" }, 17)))
        );
        assert_eq!(parse(&b[..16], MAX_BROKER_MESSAGE), Ok(None));
        assert_eq!(parse(&b[..4], MAX_BROKER_MESSAGE), Ok(None));
    }

    #[test]
    fn bad_messages_are_errors() {
        assert_eq!(parse(b"\x00\x00\x00\x04\x01", 100), Err(WireError::TooShort(4)));
        assert_eq!(parse(b"\x00\x00\x01\x00\x00", 100), Err(WireError::TooLong(256)));
        assert_eq!(parse(b"\xff\xff\xff\xff\x00", usize::MAX), Ok(None), "needs more bytes");
        assert_eq!(parse(b"\x00\x00\x00\x05\x09", 100), Err(WireError::UnknownOpcode(9)));
        assert_eq!(parse(b"\x00\x00\x00\x07\x01\x05a", 100), Err(WireError::Truncated));
        assert_eq!(parse(b"\x00\x00\x00\x05\x03", 100), Err(WireError::Truncated));
    }

    #[test]
    fn emit_and_parse_round_trip() {
        let msgs = [
            Message::Error(b"accessfail"),
            Message::Info { name: b"b", nonce: &[9; 20] },
            Message::Auth { ident: b"sensor", hash: &[7; 20] },
            Message::Publish { ident: b"sensor", channel: b"honeytrap.events", payload: b"{\"x\": 1}" },
            Message::Subscribe { ident: b"s", channel: b"c" },
            Message::Unsubscribe { ident: b"s", channel: b"c" },
        ];
        for m in msgs {
            let b = emit(&m).unwrap();
            assert_eq!(parse(&b, 1 << 20), Ok(Some((m.clone(), b.len()))));
        }
        assert_eq!(emit(&Message::Auth { ident: &[b'a'; 256], hash: b"" }), Err(WireError::StringTooLong));
    }

    #[test]
    fn publish_bytes_are_exact() {
        let b = emit(&Message::Publish { ident: b"id", channel: b"ch", payload: b"xyz" }).unwrap();
        assert_eq!(b, b"\x00\x00\x00\x0e\x03\x02id\x02chxyz");
    }

    #[test]
    fn auth_hash_is_sha1_of_nonce_then_secret() {
        // sha1("abc") = a9993e36...; split as nonce "a", secret "bc".
        let h = auth_hash(b"a", b"bc");
        assert_eq!(h[..4], [0xa9, 0x99, 0x3e, 0x36]);
    }

    #[test]
    fn hostile_bytes_never_panic() {
        // A deterministic sweep of short inputs and random-ish longer ones.
        let mut x: u32 = 0x1234_5678;
        for len in 0..64usize {
            for _ in 0..200 {
                let buf: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        if x.is_multiple_of(3) {
                            0
                        } else {
                            x as u8
                        }
                    })
                    .collect();
                let _ = parse(&buf, 64);
                let _ = read_message(&mut &buf[..], 64);
            }
        }
    }

    #[test]
    fn read_message_is_bounded_and_reports_timeouts() {
        let big = [0u8, 0, 0x10, 0, 0];
        assert_eq!(read_message(&mut &big[..], 1024).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let short = [0u8, 0, 0, 9, 0, b'a'];
        assert_eq!(read_message(&mut &short[..], 1024).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let ok = [0u8, 0, 0, 6, 0, b'a'];
        assert_eq!(read_message(&mut &ok[..], 1024).unwrap(), Some((OP_ERROR, b"a".to_vec())));
        struct Timeout;
        impl Read for Timeout {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::WouldBlock.into())
            }
        }
        assert_eq!(read_message(&mut Timeout, 10).unwrap(), None);
    }

    #[test]
    fn error_texts_are_printable_and_capped() {
        assert_eq!(error_text(b"bad\nident\x00"), "bad?ident?");
        assert_eq!(error_text(&[b'x'; 500]).chars().count(), MAX_ERROR_TEXT + 1);
    }

    fn cfg(opts: &[(&str, &str)]) -> PluginConfig {
        PluginConfig {
            plugin: Plugin::Hpfeeds,
            options: opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            span: Span { file: "t.conf".into(), line: 1, col: 1 },
        }
    }

    #[test]
    fn config() {
        // Port 9 on loopback: nobody listens there.
        let base = [("host", "127.0.0.1"), ("port", "9"), ("ident", "i"), ("secret", "s")];
        assert!(Hpfeeds::start(&cfg(&base)).is_ok());
        for host in ["::1", "[::1]", "localhost"] {
            assert!(
                Hpfeeds::start(&cfg(&[("host", host), ("port", "9"), ("ident", "i"), ("secret", "s")])).is_ok(),
                "{host}"
            );
        }
        for drop_key in ["host", "ident", "secret"] {
            let o: Vec<_> = base.iter().copied().filter(|(k, _)| *k != drop_key).collect();
            assert!(Hpfeeds::start(&cfg(&o)).is_err(), "without {drop_key}");
        }
        for extra in [
            ("port", "0"),
            ("port", "65536"),
            ("queue_size", "0"),
            ("events_channel", ""),
            ("host", "a b"),
            ("host", "broker:10001"),
            ("host", "[::1]:10001"),
        ] {
            let mut o = vec![extra];
            o.extend(base);
            assert!(Hpfeeds::start(&cfg(&o)).is_err(), "{extra:?}");
        }
    }

    #[test]
    fn oversized_samples_are_dropped_at_once() {
        // Port 9 on loopback: nobody listens, so nothing is sent either.
        let h = Hpfeeds::start(&cfg(&[("host", "127.0.0.1"), ("port", "9"), ("ident", "i"), ("secret", "s")])).unwrap();
        h.publish_file(vec![0; MAX_MESSAGE]);
        assert_eq!(h.stats(), (0, 1));
    }
}
