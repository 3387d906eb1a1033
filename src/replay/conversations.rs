//! Pure: the conversations of a capture, from decoded TCP segments and UDP datagrams to the
//! finished conversations a live sensor would have recorded. No I/O and no clock: times are
//! the capture's.
//!
//! TCP: the server is the side that answered a SYN (its SYN-ACK), or, with a sensor address
//! given, the side with that address. The client's bytes are reassembled in sequence order:
//! out-of-order segments are held until the hole before them is filled, retransmitted and
//! overlapping bytes are taken once (the first copy wins, as a receiving stack does), and a
//! hole that is never filled is skipped and reported as a gap. A conversation ends with a
//! RST, with a FIN from both sides, when it was idle for [`Limits::tcp_idle`] or when it
//! lasted [`Limits::session_limit`]. A SYN that was never answered (a port nobody served, or
//! a refused first attempt) is no conversation.
//!
//! UDP: the datagrams of one peer to one address and port of the sensor (the receiver of the
//! first datagram, or the sensor address given) form a flow, which ends after
//! [`Limits::udp_idle`] without a datagram or after [`Limits::session_limit`], as the live
//! server's flows do.
//!
//! Memory is bounded: the bytes kept per conversation ([`Limits::keep`]), the out-of-order
//! bytes held per stream ([`PENDING_MAX`]), the bytes held by all open conversations
//! ([`Limits::total`]; beyond it the largest one is finished early) and their number
//! ([`Limits::conversations`]; beyond it the one idle longest is finished early).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

/// Out-of-order bytes one stream holds at most; beyond, the hole before them is given up.
pub const PENDING_MAX: usize = 4 << 20;
/// Out-of-order segments one stream holds at most.
pub const PENDING_SEGMENTS: usize = 4096;
/// Connections of the sensor's own, and conversations closed, remembered at most (to leave
/// their later packets out).
const OUTGOING_MAX: usize = 65_536;

/// The bounds of a replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Client bytes kept per conversation (the sensor's `read_limit`); more are counted only.
    pub keep: usize,
    /// Bytes all open conversations hold at most.
    pub total: usize,
    /// Open conversations at most.
    pub conversations: usize,
    /// A TCP conversation without a segment for this long has ended.
    pub tcp_idle: Duration,
    /// A UDP flow without a datagram for this long has ended.
    pub udp_idle: Duration,
    /// Longest conversation; zero: no limit.
    pub session_limit: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            keep: 20 << 20,
            total: 512 << 20,
            conversations: 65_536,
            tcp_idle: Duration::from_secs(120),
            udp_idle: Duration::from_secs(11),
            session_limit: Duration::from_secs(300),
        }
    }
}

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
}

/// Why a conversation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// FIN from both sides, or a RST.
    Closed,
    /// No packet for the idle time.
    Idle,
    /// The session limit passed.
    SessionLimit,
    /// Finished early to keep memory within [`Limits::total`] or [`Limits::conversations`].
    Evicted,
    /// The end of the capture.
    EndOfCapture,
}

/// A conversation that has ended, as the sensor would have recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub transport: Transport,
    /// The attacker.
    pub client: SocketAddr,
    /// The sensor.
    pub server: SocketAddr,
    /// The first packet (the SYN, or the first datagram).
    pub start: SystemTime,
    /// The last packet.
    pub end: SystemTime,
    /// The client's bytes, in order, at most [`Limits::keep`].
    pub data: Vec<u8>,
    /// Client bytes beyond [`Limits::keep`], counted only.
    pub cut: u64,
    /// Bytes the server sent (each byte once).
    pub bytes_out: u64,
    /// Holes in the client's bytes that were never filled: (offset, length).
    pub gaps: Vec<(u64, u64)>,
    /// Client bytes that arrived more than once (retransmits, overlaps), taken once.
    pub repeated: u64,
    pub ending: Ending,
}

/// One direction of a TCP conversation: its bytes in sequence order.
#[derive(Debug, Default)]
struct Stream {
    /// The sequence number of the first data byte, once known.
    base: Option<u32>,
    /// Bytes placed so far (the offset the next in-order byte has), holes included.
    next: u64,
    /// The bytes kept (only for the client's direction).
    data: Vec<u8>,
    keep: bool,
    cut: u64,
    /// Out-of-order segments by offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    gaps: Vec<(u64, u64)>,
    repeated: u64,
    fin: bool,
}

impl Stream {
    fn new(keep: bool) -> Stream {
        Stream { keep, ..Stream::default() }
    }

    /// The offset of `seq` in this stream, near [`Stream::next`] (sequence numbers wrap).
    fn offset(&self, base: u32, seq: u32) -> i64 {
        let rel = seq.wrapping_sub(base);
        let diff = rel.wrapping_sub(self.next as u32) as i32;
        self.next as i64 + i64::from(diff)
    }

    /// A segment: `seq`, `syn` and `fin` as sent, `payload` its data. Returns the bytes the
    /// stream holds beyond what it held before (for the total bound), which may be negative.
    fn segment(&mut self, seq: u32, syn: bool, fin: bool, payload: &[u8], limits: &Limits) -> isize {
        let before = self.held();
        if syn && self.base.is_none() {
            self.base = Some(seq.wrapping_add(1));
        }
        let base = *self.base.get_or_insert(seq);
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        if !payload.is_empty() {
            let off = self.offset(base, data_seq);
            self.place(off, payload, limits);
        }
        if fin {
            self.fin = true;
        }
        self.held() as isize - before as isize
    }

    /// Bytes held in memory.
    fn held(&self) -> usize {
        self.data.len() + self.pending_bytes
    }

    fn place(&mut self, off: i64, payload: &[u8], limits: &Limits) {
        let end = off + payload.len() as i64;
        let next = self.next as i64;
        if end <= next {
            self.repeated += payload.len() as u64;
            return;
        }
        let (off, payload) = if off < next {
            let skip = (next - off) as usize;
            self.repeated += skip as u64;
            (next, &payload[skip..])
        } else {
            (off, payload)
        };
        let off = off as u64;
        if off == self.next {
            self.push(payload, limits);
            self.drain_pending(limits);
            return;
        }
        // Ahead of a hole: held until the hole is filled. Of two segments at one offset the
        // first stays; the longer tail of the second is kept when the first is shorter.
        match self.pending.get(&off) {
            Some(have) if have.len() >= payload.len() => self.repeated += payload.len() as u64,
            have => {
                let old = have.map_or(0, Vec::len);
                self.repeated += old as u64;
                self.pending_bytes = self.pending_bytes - old + payload.len();
                self.pending.insert(off, payload.to_vec());
            }
        }
        if self.pending_bytes > PENDING_MAX || self.pending.len() > PENDING_SEGMENTS {
            self.skip_hole(limits);
        }
    }

    /// Appends in-order bytes.
    fn push(&mut self, bytes: &[u8], limits: &Limits) {
        if self.keep {
            let room = limits.keep.saturating_sub(self.data.len());
            let take = room.min(bytes.len());
            self.data.extend_from_slice(&bytes[..take]);
            self.cut += (bytes.len() - take) as u64;
        }
        self.next += bytes.len() as u64;
    }

    /// Moves the held segments that now follow on into place.
    fn drain_pending(&mut self, limits: &Limits) {
        while let Some((&off, _)) = self.pending.first_key_value() {
            if off > self.next {
                break;
            }
            let seg = self.pending.remove(&off).unwrap_or_default();
            self.pending_bytes -= seg.len();
            let skip = (self.next - off) as usize;
            if skip >= seg.len() {
                self.repeated += seg.len() as u64;
                continue;
            }
            self.repeated += skip as u64;
            self.push(&seg[skip..], limits);
        }
    }

    /// Gives up the hole before the first held segment: noted as a gap.
    fn skip_hole(&mut self, limits: &Limits) {
        if let Some((&off, _)) = self.pending.first_key_value() {
            if off > self.next {
                self.gaps.push((self.next, off - self.next));
                self.next = off;
            }
            self.drain_pending(limits);
        }
    }

    /// At the end: every hole left is a gap; the held bytes after it are placed.
    fn finish(&mut self, limits: &Limits) {
        while !self.pending.is_empty() {
            self.skip_hole(limits);
        }
    }
}

/// A TCP conversation in progress.
#[derive(Debug)]
struct TcpConv {
    client: SocketAddr,
    server: SocketAddr,
    start: SystemTime,
    last: SystemTime,
    /// The server answered the SYN, or no SYN was seen (taken up mid-way with a sensor
    /// address given).
    answered: bool,
    up: Stream,
    down: Stream,
}

/// A UDP flow in progress.
#[derive(Debug)]
struct UdpFlow {
    client: SocketAddr,
    server: SocketAddr,
    start: SystemTime,
    last: SystemTime,
    data: Vec<u8>,
    cut: u64,
    bytes_out: u64,
}

/// Counts of what did not become a conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// TCP segments of no known conversation (captured mid-way, no sensor address given; or
    /// another host's).
    pub tcp_orphans: u64,
    /// SYNs never answered.
    pub unanswered: u64,
    /// Datagrams and segments that involve no sensor address (when one is given).
    pub not_sensor: u64,
}

/// The open conversations of a capture.
#[derive(Debug)]
pub struct Conversations {
    limits: Limits,
    sensor: Option<IpAddr>,
    tcp: HashMap<(SocketAddr, SocketAddr), TcpConv>,
    udp: HashMap<(SocketAddr, SocketAddr), UdpFlow>,
    held: usize,
    /// Connections the sensor opened itself (with a sensor address given), left out.
    outgoing: HashSet<(SocketAddr, SocketAddr)>,
    /// Conversations that ended with FIN or RST: their last packets open no new one.
    closed: HashSet<(SocketAddr, SocketAddr)>,
    pub skipped: Skipped,
}

impl Conversations {
    /// `sensor`: the sensor's address, when known; else each conversation's server is found
    /// from its packets.
    pub fn new(limits: Limits, sensor: Option<IpAddr>) -> Conversations {
        Conversations {
            limits,
            sensor,
            tcp: HashMap::new(),
            udp: HashMap::new(),
            held: 0,
            outgoing: HashSet::new(),
            closed: HashSet::new(),
            skipped: Skipped::default(),
        }
    }

    /// Conversations open now.
    pub fn open(&self) -> usize {
        self.tcp.len() + self.udp.len()
    }

    /// Bytes the open conversations hold.
    pub fn held(&self) -> usize {
        self.held
    }

    /// A TCP segment from `src` to `dst`. Conversations it ends, or that had to end to make
    /// room, are appended to `done`.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        &mut self,
        ts: SystemTime,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        flags: u8,
        payload: &[u8],
        done: &mut Vec<Finished>,
    ) {
        use crate::wire::tcp::{FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN};
        let (syn, ack, fin, rst) =
            (flags & FLAG_SYN != 0, flags & FLAG_ACK != 0, flags & FLAG_FIN != 0, flags & FLAG_RST != 0);
        if self.foreign(src, dst) {
            return;
        }
        let (key, from_client) = if let Some(known) = known(&self.tcp, src, dst) {
            known
        } else if !syn && (self.closed.contains(&(src, dst)) || self.closed.contains(&(dst, src))) {
            // The last ACKs and retransmits of a conversation that has ended.
            self.skipped.tcp_orphans += 1;
            return;
        } else if self.outgoing.contains(&(src, dst)) || self.outgoing.contains(&(dst, src)) {
            self.skipped.not_sensor += 1;
            return;
        } else if syn && !ack {
            if self.sensor.is_some_and(|s| dst.ip() != s) {
                // The sensor's own connection out (a download, a proxied connection).
                if self.outgoing.len() >= OUTGOING_MAX {
                    self.outgoing.clear();
                }
                self.outgoing.insert((src, dst));
                self.skipped.not_sensor += 1;
                return;
            }
            self.make_room(ts, done);
            self.closed.remove(&(src, dst));
            self.tcp.insert((src, dst), TcpConv::new(src, dst, ts, false));
            ((src, dst), true)
        } else if syn && ack && self.sensor.is_none_or(|s| src.ip() == s) {
            // The SYN was not captured: the answer names the roles.
            self.make_room(ts, done);
            self.tcp.insert((dst, src), TcpConv::new(dst, src, ts, true));
            ((dst, src), false)
        } else if let Some(s) = self.sensor.filter(|_| !rst && !syn && !payload.is_empty()) {
            // Taken up mid-way: the sensor address names the server.
            let k = if dst.ip() == s { (src, dst) } else { (dst, src) };
            self.make_room(ts, done);
            self.tcp.insert(k, TcpConv::new(k.0, k.1, ts, true));
            (k, k.0 == src)
        } else {
            self.skipped.tcp_orphans += 1;
            return;
        };
        let limits = self.limits;
        let Some(c) = self.tcp.get_mut(&key) else { return };
        if syn && !ack && from_client && c.up.base.is_some_and(|b| b != seq.wrapping_add(1)) {
            // A new SYN on a used 4-tuple: the old conversation is over.
            let old = self.tcp.remove(&key);
            if let Some(old) = old {
                self.finish_tcp(old, Ending::Closed, done);
            }
            self.tcp.insert(key, TcpConv::new(key.0, key.1, ts, false));
        }
        let Some(c) = self.tcp.get_mut(&key) else { return };
        c.last = ts;
        let grown = if from_client {
            c.up.segment(seq, syn, fin, payload, &limits)
        } else {
            if syn && ack {
                c.answered = true;
            }
            c.down.segment(seq, syn, fin, payload, &limits)
        };
        self.held = self.held.saturating_add_signed(grown);
        let closed = rst || (c.up.fin && c.down.fin);
        let over =
            !limits.session_limit.is_zero() && ts.duration_since(c.start).unwrap_or_default() >= limits.session_limit;
        if closed || over {
            if self.closed.len() >= OUTGOING_MAX {
                self.closed.clear();
            }
            self.closed.insert(key);
            if let Some(c) = self.tcp.remove(&key) {
                self.finish_tcp(c, if closed { Ending::Closed } else { Ending::SessionLimit }, done);
            }
        }
        self.keep_total(done);
    }

    /// A UDP datagram from `src` to `dst`.
    pub fn udp(&mut self, ts: SystemTime, src: SocketAddr, dst: SocketAddr, payload: &[u8], done: &mut Vec<Finished>) {
        if self.foreign(src, dst) {
            return;
        }
        let (key, from_client) = if let Some(known) = known(&self.udp, src, dst) {
            known
        } else if self.sensor.is_none_or(|s| dst.ip() == s) {
            self.make_room(ts, done);
            self.udp.insert(
                (src, dst),
                UdpFlow { client: src, server: dst, start: ts, last: ts, data: Vec::new(), cut: 0, bytes_out: 0 },
            );
            ((src, dst), true)
        } else {
            // The sensor sends first: a flow of its own (a lookup, a download), not an attack.
            self.skipped.not_sensor += 1;
            return;
        };
        let limits = self.limits;
        // The session limit ends a flow; a later datagram starts a new one.
        if let Some(f) = self.udp.get(&key) {
            let over = !limits.session_limit.is_zero()
                && ts.duration_since(f.start).unwrap_or_default() >= limits.session_limit;
            if over {
                if let Some(f) = self.udp.remove(&key) {
                    self.finish_udp(f, Ending::SessionLimit, done);
                }
                if !from_client {
                    return;
                }
                self.udp.insert(
                    key,
                    UdpFlow { client: src, server: dst, start: ts, last: ts, data: Vec::new(), cut: 0, bytes_out: 0 },
                );
            }
        }
        let Some(f) = self.udp.get_mut(&key) else { return };
        f.last = ts;
        if from_client {
            let take = limits.keep.saturating_sub(f.data.len()).min(payload.len());
            f.data.extend_from_slice(&payload[..take]);
            f.cut += (payload.len() - take) as u64;
            self.held += take;
        } else {
            f.bytes_out += payload.len() as u64;
        }
        self.keep_total(done);
    }

    /// Whether a packet between `src` and `dst` involves no sensor address (one is given):
    /// counted and left out.
    fn foreign(&mut self, src: SocketAddr, dst: SocketAddr) -> bool {
        let out = self.sensor.is_some_and(|s| src.ip() != s && dst.ip() != s);
        if out {
            self.skipped.not_sensor += 1;
        }
        out
    }

    /// Ends the conversations idle at `now` (capture time).
    pub fn expire(&mut self, now: SystemTime, done: &mut Vec<Finished>) {
        let limits = self.limits;
        let idle = |last: SystemTime, max: Duration| now.duration_since(last).unwrap_or_default() >= max;
        let tcp: Vec<_> = self.tcp.iter().filter(|(_, c)| idle(c.last, limits.tcp_idle)).map(|(k, _)| *k).collect();
        for k in tcp {
            if let Some(c) = self.tcp.remove(&k) {
                self.finish_tcp(c, Ending::Idle, done);
            }
        }
        let udp: Vec<_> = self.udp.iter().filter(|(_, f)| idle(f.last, limits.udp_idle)).map(|(k, _)| *k).collect();
        for k in udp {
            if let Some(f) = self.udp.remove(&k) {
                self.finish_udp(f, Ending::Idle, done);
            }
        }
    }

    /// Ends every open conversation (the end of the capture), oldest first.
    pub fn finish_all(&mut self, done: &mut Vec<Finished>) {
        let mut tcp: Vec<TcpConv> = self.tcp.drain().map(|(_, c)| c).collect();
        tcp.sort_by_key(|c| c.start);
        let mut udp: Vec<UdpFlow> = self.udp.drain().map(|(_, f)| f).collect();
        udp.sort_by_key(|f| f.start);
        for c in tcp {
            self.finish_tcp(c, Ending::EndOfCapture, done);
        }
        for f in udp {
            self.finish_udp(f, Ending::EndOfCapture, done);
        }
        done.sort_by_key(|f| f.start);
    }

    fn finish_tcp(&mut self, mut c: TcpConv, ending: Ending, done: &mut Vec<Finished>) {
        self.held = self.held.saturating_sub(c.up.held() + c.down.held());
        if !c.answered {
            self.skipped.unanswered += 1;
            return;
        }
        let limits = self.limits;
        c.up.finish(&limits);
        c.down.finish(&limits);
        done.push(Finished {
            transport: Transport::Tcp,
            client: c.client,
            server: c.server,
            start: c.start,
            end: c.last,
            data: c.up.data,
            cut: c.up.cut,
            bytes_out: c.down.next,
            gaps: c.up.gaps,
            repeated: c.up.repeated,
            ending,
        });
    }

    fn finish_udp(&mut self, f: UdpFlow, ending: Ending, done: &mut Vec<Finished>) {
        self.held = self.held.saturating_sub(f.data.len());
        done.push(Finished {
            transport: Transport::Udp,
            client: f.client,
            server: f.server,
            start: f.start,
            end: f.last,
            data: f.data,
            cut: f.cut,
            bytes_out: f.bytes_out,
            gaps: Vec::new(),
            repeated: 0,
            ending,
        });
    }

    /// Before a new conversation opens: at [`Limits::conversations`], the one idle longest
    /// ends.
    fn make_room(&mut self, _now: SystemTime, done: &mut Vec<Finished>) {
        if self.open() < self.limits.conversations {
            return;
        }
        let tcp = self.tcp.iter().min_by_key(|(_, c)| c.last).map(|(k, c)| (*k, c.last));
        let udp = self.udp.iter().min_by_key(|(_, f)| f.last).map(|(k, f)| (*k, f.last));
        match (tcp, udp) {
            (Some((k, t)), Some((_, u))) if t <= u => self.evict(Transport::Tcp, k, done),
            (Some((k, _)), None) => self.evict(Transport::Tcp, k, done),
            (_, Some((k, _))) => self.evict(Transport::Udp, k, done),
            (None, None) => {}
        }
    }

    /// Beyond [`Limits::total`], the conversations holding most end early.
    fn keep_total(&mut self, done: &mut Vec<Finished>) {
        while self.held > self.limits.total {
            let tcp = self
                .tcp
                .iter()
                .max_by_key(|(_, c)| c.up.held() + c.down.held())
                .map(|(k, c)| (*k, c.up.held() + c.down.held()));
            let udp = self.udp.iter().max_by_key(|(_, f)| f.data.len()).map(|(k, f)| (*k, f.data.len()));
            match (tcp, udp) {
                (Some((k, t)), Some((_, u))) if t >= u => self.evict(Transport::Tcp, k, done),
                (Some((k, _)), None) => self.evict(Transport::Tcp, k, done),
                (_, Some((k, _))) => self.evict(Transport::Udp, k, done),
                (None, None) => {
                    self.held = 0;
                    break;
                }
            }
        }
    }

    fn evict(&mut self, t: Transport, k: (SocketAddr, SocketAddr), done: &mut Vec<Finished>) {
        match t {
            Transport::Tcp => {
                if let Some(c) = self.tcp.remove(&k) {
                    self.finish_tcp(c, Ending::Evicted, done);
                }
            }
            Transport::Udp => {
                if let Some(f) = self.udp.remove(&k) {
                    self.finish_udp(f, Ending::Evicted, done);
                }
            }
        }
    }
}

/// The key of the open conversation between `src` and `dst`, and whether `src` is its
/// client.
fn known<V>(
    map: &HashMap<(SocketAddr, SocketAddr), V>,
    src: SocketAddr,
    dst: SocketAddr,
) -> Option<((SocketAddr, SocketAddr), bool)> {
    if map.contains_key(&(src, dst)) {
        Some(((src, dst), true))
    } else if map.contains_key(&(dst, src)) {
        Some(((dst, src), false))
    } else {
        None
    }
}

impl TcpConv {
    fn new(client: SocketAddr, server: SocketAddr, ts: SystemTime, answered: bool) -> TcpConv {
        TcpConv { client, server, start: ts, last: ts, answered, up: Stream::new(true), down: Stream::new(false) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::{FLAG_ACK, FLAG_FIN, FLAG_PSH, FLAG_RST, FLAG_SYN};
    use std::time::UNIX_EPOCH;

    const C: &str = "192.0.2.7:40000";
    const S: &str = "198.51.100.1:445";

    fn t(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_800_000_000_000 + ms)
    }

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A handshake between C (ISN `ci`) and S (ISN `si`) at time 0.
    fn handshake(cv: &mut Conversations, ci: u32, si: u32, done: &mut Vec<Finished>) {
        cv.tcp(t(0), a(C), a(S), ci, FLAG_SYN, b"", done);
        cv.tcp(t(1), a(S), a(C), si, FLAG_SYN | FLAG_ACK, b"", done);
        cv.tcp(t(2), a(C), a(S), ci.wrapping_add(1), FLAG_ACK, b"", done);
    }

    fn close(cv: &mut Conversations, cseq: u32, sseq: u32, done: &mut Vec<Finished>) {
        cv.tcp(t(900), a(S), a(C), sseq, FLAG_FIN | FLAG_ACK, b"", done);
        cv.tcp(t(901), a(C), a(S), cseq, FLAG_FIN | FLAG_ACK, b"", done);
    }

    #[test]
    fn in_order_bytes_and_the_answer() {
        let mut cv = Conversations::new(Limits::default(), None);
        let mut done = Vec::new();
        handshake(&mut cv, 1000, 5000, &mut done);
        cv.tcp(t(3), a(C), a(S), 1001, FLAG_PSH | FLAG_ACK, b"GET / ", &mut done);
        cv.tcp(t(4), a(C), a(S), 1007, FLAG_PSH | FLAG_ACK, b"HTTP/1.0\r\n\r\n", &mut done);
        cv.tcp(t(5), a(S), a(C), 5001, FLAG_PSH | FLAG_ACK, b"HTTP/1.0 200 OK\r\n", &mut done);
        assert!(done.is_empty());
        close(&mut cv, 1019, 5018, &mut done);
        assert_eq!(done.len(), 1);
        let f = &done[0];
        assert_eq!((f.client, f.server, f.transport, f.ending), (a(C), a(S), Transport::Tcp, Ending::Closed));
        assert_eq!(f.data, b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!((f.bytes_out, f.start, f.end), (17, t(0), t(901)));
        assert!(f.gaps.is_empty() && f.repeated == 0);
        assert_eq!(cv.open(), 0);
        assert_eq!(cv.held(), 0);
    }

    #[test]
    fn out_of_order_retransmits_and_overlaps_are_placed_once() {
        let mut cv = Conversations::new(Limits::default(), None);
        let mut done = Vec::new();
        // ISNs near the wrap.
        let ci = u32::MAX - 3;
        handshake(&mut cv, ci, 7, &mut done);
        let at = |off: u32| ci.wrapping_add(1).wrapping_add(off);
        cv.tcp(t(3), a(C), a(S), at(6), FLAG_ACK, b"ghij", &mut done); // ahead
        cv.tcp(t(4), a(C), a(S), at(0), FLAG_ACK, b"abc", &mut done);
        cv.tcp(t(5), a(C), a(S), at(0), FLAG_ACK, b"abc", &mut done); // retransmit
        cv.tcp(t(6), a(C), a(S), at(2), FLAG_ACK, b"cdefg", &mut done); // overlaps both sides
        cv.tcp(t(7), a(C), a(S), at(10), FLAG_ACK, b"k", &mut done);
        close(&mut cv, at(11), 8, &mut done);
        let f = &done[0];
        assert_eq!(f.data, b"abcdefghijk");
        assert_eq!(f.repeated, 3 + 1 + 1);
        assert!(f.gaps.is_empty());
    }

    #[test]
    fn a_hole_never_filled_is_a_gap() {
        let mut cv = Conversations::new(Limits::default(), None);
        let mut done = Vec::new();
        handshake(&mut cv, 100, 200, &mut done);
        cv.tcp(t(3), a(C), a(S), 101, FLAG_ACK, b"head", &mut done);
        cv.tcp(t(4), a(C), a(S), 111, FLAG_ACK, b"tail", &mut done);
        cv.tcp(t(5), a(C), a(S), 115, FLAG_RST, b"", &mut done);
        let f = &done[0];
        assert_eq!(f.data, b"headtail");
        assert_eq!(f.gaps, vec![(4, 6)]);
    }

    #[test]
    fn unanswered_syns_and_orphans_are_no_records() {
        let mut cv = Conversations::new(Limits::default(), None);
        let mut done = Vec::new();
        cv.tcp(t(0), a(C), a(S), 1, FLAG_SYN, b"", &mut done);
        cv.tcp(t(1), a(S), a(C), 0, FLAG_RST | FLAG_ACK, b"", &mut done);
        cv.tcp(t(2), a(C), a(S), 77, FLAG_ACK, b"mid-way", &mut done);
        assert!(done.is_empty());
        assert_eq!(cv.skipped.unanswered, 1);
        assert_eq!(cv.skipped.tcp_orphans, 1);
        // With the sensor address, a conversation captured mid-way is taken up.
        let mut cv = Conversations::new(Limits::default(), Some(a(S).ip()));
        cv.tcp(t(2), a(C), a(S), 77, FLAG_ACK, b"mid-", &mut done);
        cv.tcp(t(3), a(C), a(S), 81, FLAG_ACK, b"way", &mut done);
        cv.finish_all(&mut done);
        assert_eq!(done[0].data, b"mid-way");
        assert_eq!(done[0].ending, Ending::EndOfCapture);
    }

    #[test]
    fn the_sensor_address_chooses_the_server() {
        let mut cv = Conversations::new(Limits::default(), Some(a(S).ip()));
        let mut done = Vec::new();
        // The sensor's own connection out (a download): not an attack.
        cv.tcp(t(0), a(S), a(C), 1, FLAG_SYN, b"", &mut done);
        cv.tcp(t(1), a(C), a(S), 9, FLAG_SYN | FLAG_ACK, b"", &mut done);
        cv.tcp(t(2), a(S), a(C), 2, FLAG_ACK, b"RETR x", &mut done);
        cv.udp(t(3), a(S), a("192.0.2.53:53"), b"query", &mut done);
        cv.udp(t(3), a("192.0.2.9:1"), a("192.0.2.10:2"), b"other", &mut done);
        cv.finish_all(&mut done);
        assert!(done.is_empty(), "{done:?}");
        assert_eq!(cv.skipped.not_sensor, 5);
    }

    #[test]
    fn udp_flows_by_peer_with_idle_and_session_limits() {
        let limits =
            Limits { udp_idle: Duration::from_secs(11), session_limit: Duration::from_secs(30), ..Limits::default() };
        let mut cv = Conversations::new(limits, None);
        let mut done = Vec::new();
        let (c, s) = (a("192.0.2.7:5000"), a("198.51.100.1:69"));
        cv.udp(t(0), c, s, b"\x00\x01a", &mut done);
        cv.udp(t(500), s, c, b"\x00\x05err", &mut done);
        cv.udp(t(1000), c, s, b"\x00\x01b", &mut done);
        cv.expire(t(11_999), &mut done);
        assert!(done.is_empty());
        cv.expire(t(12_000), &mut done);
        assert_eq!(done.len(), 1);
        assert_eq!(
            (done[0].data.as_slice(), done[0].bytes_out, done[0].ending),
            (&b"\x00\x01a\x00\x01b"[..], 5, Ending::Idle)
        );
        // One datagram every 10 s: the session limit ends the flow after 30 s.
        done.clear();
        for i in 0..5u64 {
            cv.udp(t(20_000 + i * 10_000), c, s, b"x", &mut done);
        }
        assert_eq!(done.len(), 1, "{done:?}");
        assert_eq!((done[0].data.len(), done[0].ending), (3, Ending::SessionLimit));
        cv.finish_all(&mut done);
        assert_eq!(done[1].data.len(), 2);
    }

    #[test]
    fn memory_stays_within_the_limits() {
        let limits = Limits { keep: 10, total: 64, conversations: 3, ..Limits::default() };
        let mut cv = Conversations::new(limits, None);
        let mut done = Vec::new();
        handshake(&mut cv, 0, 0, &mut done);
        cv.tcp(t(3), a(C), a(S), 1, FLAG_ACK, &[b'x'; 25], &mut done);
        assert_eq!(cv.held(), 10);
        for i in 0..5u16 {
            let c = SocketAddr::new(a(C).ip(), 1000 + i);
            cv.udp(t(10 + u64::from(i)), c, a(S), &[b'u'; 40], &mut done);
            assert!(cv.open() <= 3 && cv.held() <= 64, "{} {}", cv.open(), cv.held());
        }
        assert!(done.iter().any(|f| f.ending == Ending::Evicted));
        let tcp = done.iter().find(|f| f.transport == Transport::Tcp).unwrap();
        assert_eq!((tcp.data.len(), tcp.cut), (10, 15));
        // Out-of-order bytes beyond PENDING_MAX give up the hole.
        let mut cv = Conversations::new(Limits { keep: 64 << 20, ..Limits::default() }, None);
        let mut done = Vec::new();
        handshake(&mut cv, 0, 0, &mut done);
        let chunk = vec![b'z'; 64 << 10];
        for i in 0..(PENDING_MAX / chunk.len() + 2) as u32 {
            cv.tcp(t(3), a(C), a(S), 1 + 100 + i * chunk.len() as u32, FLAG_ACK, &chunk, &mut done);
            assert!(cv.held() <= PENDING_MAX + 2 * chunk.len(), "{}", cv.held());
        }
        cv.finish_all(&mut done);
        assert_eq!(done[0].gaps, vec![(0, 100)]);
    }

    #[test]
    fn the_last_packets_of_a_closed_conversation_open_none() {
        let mut cv = Conversations::new(Limits::default(), Some(a(S).ip()));
        let mut done = Vec::new();
        handshake(&mut cv, 10, 20, &mut done);
        cv.tcp(t(3), a(C), a(S), 11, FLAG_ACK, b"data", &mut done);
        close(&mut cv, 15, 21, &mut done);
        cv.tcp(t(902), a(S), a(C), 22, FLAG_ACK, b"", &mut done);
        cv.tcp(t(903), a(C), a(S), 11, FLAG_ACK, b"data", &mut done);
        // The port used again: a new conversation.
        cv.tcp(t(1000), a(C), a(S), 500, FLAG_SYN, b"", &mut done);
        cv.tcp(t(1001), a(S), a(C), 600, FLAG_SYN | FLAG_ACK, b"", &mut done);
        cv.tcp(t(1002), a(C), a(S), 501, FLAG_ACK, b"again", &mut done);
        cv.finish_all(&mut done);
        let data: Vec<&[u8]> = done.iter().map(|f| f.data.as_slice()).collect();
        assert_eq!(data, vec![&b"data"[..], &b"again"[..]]);
        assert_eq!(cv.skipped.tcp_orphans, 2);
    }

    #[test]
    fn a_new_syn_on_a_used_tuple_starts_a_new_conversation() {
        let mut cv = Conversations::new(Limits::default(), None);
        let mut done = Vec::new();
        handshake(&mut cv, 10, 20, &mut done);
        cv.tcp(t(3), a(C), a(S), 11, FLAG_ACK, b"one", &mut done);
        handshake(&mut cv, 90_000, 30, &mut done);
        cv.tcp(t(3), a(C), a(S), 90_001, FLAG_ACK, b"two", &mut done);
        cv.finish_all(&mut done);
        let data: Vec<&[u8]> = done.iter().map(|f| f.data.as_slice()).collect();
        assert_eq!(data, vec![&b"one"[..], &b"two"[..]]);
    }
}
