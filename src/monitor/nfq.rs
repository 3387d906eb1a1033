//! The NFQUEUE connection monitor's queue: binds a netfilter queue over a raw netlink
//! socket, receives the packets the kernel holds for us, and gives verdicts on them.
//!
//! Replaces the libnetfilter_queue calls of the C original's nfq monitor:
//! `nfq_open`, `nfq_unbind_pf`/`nfq_bind_pf`, `nfq_create_queue`, `nfq_set_mode`,
//! `nfq_handle_packet` and `nfq_set_verdict`. It owns the queue's life cycle only; the
//! message layout is `wire::nfnetlink`, the socket is `sys::netlink`, and deciding what a
//! packet means (which port, which mode) belongs to the monitor loop.
//!
//! Differences from the C original, on purpose:
//! * The queue is opened with the fail-open flag (`NFQA_CFG_F_FAIL_OPEN`): when the kernel
//!   queue is full, or our socket buffer is, the kernel *accepts* new packets instead of
//!   dropping them, so a flood degrades into connections the honeypot does not see, never
//!   into a host that refuses all traffic. Kernels without the flag (before 3.6) still
//!   work; [`NfqQueue::fail_open`] then reports `false`.
//! * The bind and the copy mode go to the kernel in one message, so no packet is ever
//!   delivered in the default "metadata only" mode between the two.
//! * Every configuration step asks for an acknowledgement and waits for it (bounded in
//!   time), so failures surface at start-up with their errno, not as silence later.
//! * The receive buffer holds a full 0xffff-byte packet plus headers (the C original used
//!   8192 bytes).
//! * Verdicts can be given from any thread through a [`VerdictSender`], so a server thread
//!   can release the held SYN once its listener is bound (ARCHITECTURE.md).

use crate::sys::netlink::{NetlinkSocket, Received, NETLINK_NETFILTER};
use crate::sys::poll::poll_readable;
use crate::wire::nfnetlink::{self as nfnl, Config, ConfigCmd, CopyMode, Message, Verdict, NFQA_CFG_F_FAIL_OPEN};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of each packet the kernel copies to us (as the C original: copy mode "packet", range
/// 0xffff). The kernel caps it at [`nfnl::NFQNL_MAX_COPY_RANGE`].
pub const COPY_RANGE: u32 = 0xffff;

/// Size of our receive buffer: a full copy range plus room for the netlink header, the
/// `nfgenmsg` and every metadata attribute the kernel may add.
pub const RECV_BUFFER_LEN: usize = 0xffff + 8192;

/// The socket receive buffer we ask for, so a burst of held packets fits while the monitor
/// loop is busy. Failing to get it is not an error; the system default is used.
const SOCKET_BUFFER_LEN: usize = 4 << 20;

/// How long to wait for the kernel to acknowledge a configuration request. The kernel
/// answers synchronously, so this only bounds a broken kernel or a flood of packets.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// At most this many datagrams are read while waiting for one acknowledgement.
const ACK_MAX_DATAGRAMS: usize = 4096;

/// At most this many datagrams are read by one [`NfqQueue::recv`] call.
const RECV_MAX_DATAGRAMS: usize = 64;

/// A packet the kernel holds until we give a verdict on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The id to pass to [`NfqQueue::verdict`].
    pub id: u32,
    /// Protocol family of the payload (`AF_INET` = 2, `AF_INET6` = 10).
    pub family: u8,
    /// Link-layer protocol (0x0800 IPv4, 0x86dd IPv6), 0 if unknown.
    pub hw_protocol: u16,
    /// Netfilter hook the packet was queued from (1 = input).
    pub hook: u8,
    /// The packet from its IP header on, at most [`COPY_RANGE`] bytes.
    pub payload: Vec<u8>,
}

/// Counters of what [`NfqQueue`] received besides packets; for log lines and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NfqStats {
    /// Packets delivered to the caller.
    pub packets: u64,
    /// Messages that failed to parse (a packet in one stays held until the queue closes).
    pub malformed: u64,
    /// Datagrams longer than the receive buffer.
    pub truncated: u64,
    /// Error messages from the kernel not answering a configuration request, e.g. a
    /// verdict for an unknown packet id.
    pub kernel_errors: u64,
    /// The errno of the last such error, 0 if none.
    pub last_errno: i32,
    /// Datagrams from a sender other than the kernel, ignored.
    pub foreign: u64,
    /// Times the socket reported lost messages (`ENOBUFS`, `NLMSG_OVERRUN`).
    pub overruns: u64,
}

/// What the queue and its verdict senders share: the socket and the sequence counter.
#[derive(Debug)]
struct Shared {
    sock: NetlinkSocket,
    queue: u16,
    seq: AtomicU32,
}

impl Shared {
    fn next_seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn verdict(&self, packet_id: u32, verdict: Verdict) -> io::Result<()> {
        let mut msg = Vec::with_capacity(32);
        nfnl::emit_verdict(&mut msg, self.next_seq(), false, self.queue, packet_id, verdict);
        self.sock.send(&msg)
    }
}

/// Gives verdicts on packets of one queue from any thread. Cheap to clone. It keeps the
/// queue's socket, and so the queue binding, alive as long as it lives: drop every sender
/// with the queue, or the kernel keeps queueing to a socket nobody reads (with fail-open
/// it then accepts once the socket buffer is full).
#[derive(Clone, Debug)]
pub struct VerdictSender {
    shared: Arc<Shared>,
}

impl VerdictSender {
    /// Lets the packet continue (`accept`) or drops it. The kernel does not acknowledge
    /// verdicts; an error for an unknown id shows up in [`NfqStats::kernel_errors`].
    pub fn verdict(&self, packet_id: u32, accept: bool) -> io::Result<()> {
        self.shared.verdict(packet_id, to_verdict(accept))
    }
}

fn to_verdict(accept: bool) -> Verdict {
    if accept {
        Verdict::Accept
    } else {
        Verdict::Drop
    }
}

/// A bound netfilter queue. Closing it (dropping it and every [`VerdictSender`]) releases
/// the queue; the kernel then drops the packets still held.
#[derive(Debug)]
pub struct NfqQueue {
    shared: Arc<Shared>,
    buf: Vec<u8>,
    pending: VecDeque<Packet>,
    stats: NfqStats,
    fail_open: bool,
}

impl NfqQueue {
    /// Binds queue `queue_num` (the C original always uses 0) in copy mode "packet" with
    /// range [`COPY_RANGE`] and turns on fail-open.
    ///
    /// The sequence: `PF_UNBIND` then `PF_BIND` for `AF_INET` and `AF_INET6` (no-ops since
    /// Linux 3.8; errors ignored except `PF_BIND` for `AF_INET`, which the C original also
    /// treats as fatal), then `BIND` with the copy parameters, then the fail-open flag.
    ///
    /// Errors carry the kernel's errno: `EPERM` means no `CAP_NET_ADMIN` in this network
    /// namespace, or another socket already holds the queue; `EBUSY` means this socket
    /// already holds it; `TimedOut` means the kernel never answered.
    pub fn open(queue_num: u16) -> io::Result<NfqQueue> {
        let sock = NetlinkSocket::open(NETLINK_NETFILTER)?;
        // Both are optimisations; the defaults work.
        let _ = sock.set_recv_buffer(SOCKET_BUFFER_LEN);
        let _ = sock.set_no_enobufs(true);
        let mut q = NfqQueue {
            shared: Arc::new(Shared { sock, queue: queue_num, seq: AtomicU32::new(1) }),
            buf: vec![0; RECV_BUFFER_LEN],
            pending: VecDeque::new(),
            stats: NfqStats::default(),
            fail_open: false,
        };

        for pf in [libc::AF_INET as u16, libc::AF_INET6 as u16] {
            let _ = q.configure(&cmd(ConfigCmd::PfUnbind(pf)))?;
            let bound = q.configure(&cmd(ConfigCmd::PfBind(pf)))?;
            if pf == libc::AF_INET as u16 {
                bound.map_err(io::Error::from_raw_os_error)?;
            }
        }

        let bind =
            Config { cmd: Some(ConfigCmd::Bind), params: Some((CopyMode::Packet, COPY_RANGE)), ..Config::default() };
        q.configure(&bind)?.map_err(io::Error::from_raw_os_error)?;

        let fail_open = Config { flags: Some((NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN)), ..Config::default() };
        match q.configure(&fail_open)? {
            Ok(()) => q.fail_open = true,
            // Kernels before 3.6 know no flags; the queue works without.
            Err(errno) if errno == libc::EOPNOTSUPP || errno == libc::EINVAL => {}
            Err(errno) => return Err(io::Error::from_raw_os_error(errno)),
        }
        Ok(q)
    }

    /// The queue number.
    pub fn queue_num(&self) -> u16 {
        self.shared.queue
    }

    /// Whether the kernel accepted the fail-open flag.
    pub fn fail_open(&self) -> bool {
        self.fail_open
    }

    /// What was received besides packets so far.
    pub fn stats(&self) -> NfqStats {
        self.stats
    }

    /// The socket, for the monitor loop's `poll`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.shared.sock.as_fd()
    }

    /// A handle that gives verdicts from another thread.
    pub fn verdict_sender(&self) -> VerdictSender {
        VerdictSender { shared: Arc::clone(&self.shared) }
    }

    /// Lets the packet continue (`accept`) or drops it.
    pub fn verdict(&self, packet_id: u32, accept: bool) -> io::Result<()> {
        self.shared.verdict(packet_id, to_verdict(accept))
    }

    /// Sets how many packets the kernel holds before it drops (or, with fail-open,
    /// accepts) new ones; the kernel default is 1024.
    pub fn set_queue_maxlen(&mut self, maxlen: u32) -> io::Result<()> {
        let config = Config { queue_maxlen: Some(maxlen), ..Config::default() };
        self.configure(&config)?.map_err(io::Error::from_raw_os_error)
    }

    /// Waits up to `timeout` (`None`: forever) for held packets and returns them, oldest
    /// first; empty if none arrived in time. Every returned packet needs a verdict.
    pub fn recv(&mut self, timeout: Option<Duration>) -> io::Result<Vec<Packet>> {
        if self.pending.is_empty() {
            let ready = poll_readable(&[self.fd()], timeout)?;
            if ready.first() == Some(&true) {
                for _ in 0..RECV_MAX_DATAGRAMS {
                    if !self.read_datagram(None)?.1 {
                        break;
                    }
                }
            }
        }
        let packets: Vec<Packet> = self.pending.drain(..).collect();
        self.stats.packets += packets.len() as u64;
        Ok(packets)
    }

    /// Sends one configuration message with `NLM_F_ACK` and waits for its answer.
    /// `Ok(Err(errno))` is the kernel's refusal; `Err` is a failure to talk to it.
    fn configure(&mut self, config: &Config) -> io::Result<Result<(), i32>> {
        let seq = self.shared.next_seq();
        let mut msg = Vec::with_capacity(64);
        nfnl::emit_config(&mut msg, seq, true, self.shared.queue, config);
        self.shared.sock.send(&msg)?;

        let deadline = Instant::now() + ACK_TIMEOUT;
        for _ in 0..ACK_MAX_DATAGRAMS {
            let left = deadline.saturating_duration_since(Instant::now());
            let ready = poll_readable(&[self.fd()], Some(left))?;
            if ready.first() != Some(&true) {
                break;
            }
            if let (Some(answer), _) = self.read_datagram(Some(seq))? {
                return Ok(answer);
            }
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "no answer from the kernel to an NFQUEUE configuration request"))
    }

    /// Reads one datagram without blocking. Packets go to `pending`; the answer to
    /// request `want` (if given and present) is returned. The flag is false when there was
    /// nothing to read.
    fn read_datagram(&mut self, want: Option<u32>) -> io::Result<(Option<Result<(), i32>>, bool)> {
        let got = match self.shared.sock.recv(&mut self.buf, true) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((None, false)),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                self.stats.overruns += 1;
                return Ok((None, true));
            }
            Err(e) => return Err(e),
        };
        let data = self.buf.get(..got.len).unwrap_or(&[]);
        let answer = absorb(data, got, want, &mut self.pending, &mut self.stats);
        Ok((answer, true))
    }
}

impl AsFd for NfqQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

impl AsRawFd for NfqQueue {
    fn as_raw_fd(&self) -> RawFd {
        self.shared.sock.as_raw_fd()
    }
}

fn cmd(cmd: ConfigCmd) -> Config {
    Config { cmd: Some(cmd), ..Config::default() }
}

/// Sorts the messages of one datagram: packets into `pending`, counters into `stats`, and
/// the answer to request `want` into the return value.
fn absorb(
    data: &[u8],
    got: Received,
    want: Option<u32>,
    pending: &mut VecDeque<Packet>,
    stats: &mut NfqStats,
) -> Option<Result<(), i32>> {
    if got.sender != 0 {
        stats.foreign += 1;
        return None;
    }
    if got.truncated {
        stats.truncated += 1;
    }
    let mut answer = None;
    for msg in nfnl::messages(data) {
        let parsed = msg.and_then(|m| m.parse());
        match parsed {
            Ok(Message::Packet(p)) => pending.push_back(Packet {
                id: p.packet_id,
                family: p.family,
                hw_protocol: p.hw_protocol,
                hook: p.hook,
                payload: p.payload.to_vec(),
            }),
            Ok(Message::Ack { seq }) if Some(seq) == want => answer = Some(Ok(())),
            Ok(Message::Error { seq, errno }) if Some(seq) == want => answer = Some(Err(errno)),
            Ok(Message::Error { errno, .. }) => {
                stats.kernel_errors += 1;
                stats.last_errno = errno;
            }
            Ok(Message::Overrun) => stats.overruns += 1,
            Ok(Message::Ack { .. } | Message::Done | Message::Other { .. }) => {}
            Err(_) => stats.malformed += 1,
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nfnetlink::QueuedPacket;

    fn kernel(len: usize) -> Received {
        Received { len, truncated: false, sender: 0 }
    }

    fn packet(id: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        nfnl::emit_packet(
            &mut out,
            0,
            &QueuedPacket { queue: 0, family: 2, packet_id: id, hw_protocol: 0x0800, hook: 1, payload },
        );
        out
    }

    fn error(seq: u32, code: i32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&20u32.to_ne_bytes());
        out.extend_from_slice(&nfnl::NLMSG_ERROR.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&code.to_ne_bytes());
        out
    }

    #[test]
    fn absorb_sorts_packets_answers_and_errors() {
        let mut data = packet(1, b"one");
        data.extend_from_slice(&error(5, 0));
        data.extend_from_slice(&error(6, -libc::ENOENT));
        data.extend_from_slice(&packet(2, b"two"));
        let mut pending = VecDeque::new();
        let mut stats = NfqStats::default();

        let answer = absorb(&data, kernel(data.len()), Some(5), &mut pending, &mut stats);
        assert_eq!(answer, Some(Ok(())));
        let ids: Vec<u32> = pending.iter().map(|p| p.id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(pending[1].payload, b"two");
        assert_eq!(stats.kernel_errors, 1);
        assert_eq!(stats.last_errno, libc::ENOENT);

        let answer = absorb(&data, kernel(data.len()), Some(6), &mut pending, &mut stats);
        assert_eq!(answer, Some(Err(libc::ENOENT)));
        assert_eq!(pending.len(), 4);
    }

    #[test]
    fn absorb_ignores_foreign_senders_and_counts_malformed() {
        let data = packet(1, b"x");
        let mut pending = VecDeque::new();
        let mut stats = NfqStats::default();
        let foreign = Received { sender: 4242, ..kernel(data.len()) };
        assert_eq!(absorb(&data, foreign, None, &mut pending, &mut stats), None);
        assert!(pending.is_empty());
        assert_eq!(stats.foreign, 1);

        let cut = &data[..data.len() - 4];
        let truncated = Received { truncated: true, ..kernel(cut.len()) };
        assert_eq!(absorb(cut, truncated, None, &mut pending, &mut stats), None);
        assert!(pending.is_empty());
        assert_eq!(stats.truncated, 1);
        assert_eq!(stats.malformed, 1);
    }
}
