//! nfnetlink messages of the NFQUEUE subsystem: checked, zero-copy views of what the kernel
//! sends (queued packets, ACKs and errors) and emitters for what we send (queue
//! configuration and verdicts).
//!
//! This replaces the message handling that the C original delegated to libnetfilter_queue and
//! libnfnetlink (`nfq_bind_pf`, `nfq_create_queue`, `nfq_set_mode`, `nfq_get_msg_packet_hdr`,
//! `nfq_get_payload`, `nfq_set_verdict`). It owns the byte layout only; the socket is
//! `sys::netlink`, the queue life cycle is `monitor::nfq`.
//!
//! Layouts follow the kernel UAPI headers `linux/netlink.h`, `linux/netfilter/nfnetlink.h`
//! and `linux/netfilter/nfnetlink_queue.h`:
//!
//! ```text
//! nlmsghdr   u32 len | u16 type | u16 flags | u32 seq | u32 pid     (host byte order)
//! nfgenmsg   u8 family | u8 version | be16 res_id (= queue number)
//! nlattr     u16 len | u16 type, payload, padded to 4 bytes        (header in host order)
//! ```
//!
//! NFQUEUE attribute payloads are big endian. Every parser here works on untrusted bytes:
//! all reads are bounds-checked (`get`, checked arithmetic) and a malformed buffer yields an
//! [`Error`], never a panic.

use std::fmt;
use std::ops::Range;

// ---- linux/netlink.h -------------------------------------------------------------------

/// Size of `struct nlmsghdr`, already a multiple of the 4-byte alignment.
pub const NLMSG_HDRLEN: usize = 16;
/// Message type: nothing.
pub const NLMSG_NOOP: u16 = 0x1;
/// Message type: error or, with error code 0, acknowledgement.
pub const NLMSG_ERROR: u16 = 0x2;
/// Message type: end of a multipart message.
pub const NLMSG_DONE: u16 = 0x3;
/// Message type: data lost.
pub const NLMSG_OVERRUN: u16 = 0x4;
/// Flag: this is a request.
pub const NLM_F_REQUEST: u16 = 0x01;
/// Flag: part of a multipart message terminated by `NLMSG_DONE`.
pub const NLM_F_MULTI: u16 = 0x02;
/// Flag: reply with an acknowledgement (an `NLMSG_ERROR` with code 0) on success.
pub const NLM_F_ACK: u16 = 0x04;
/// Size of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;
/// Attribute type flag: the payload holds nested attributes.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// Attribute type flag: the payload is in network byte order.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// Mask that removes the two flag bits from an attribute type.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

// ---- linux/netfilter/nfnetlink.h -------------------------------------------------------

/// Size of `struct nfgenmsg`.
pub const NFGENMSG_LEN: usize = 4;
/// `nfgenmsg.version` of every message.
pub const NFNETLINK_V0: u8 = 0;
/// Subsystem id of nfnetlink_queue; the high byte of the message type.
pub const NFNL_SUBSYS_QUEUE: u8 = 3;
/// `AF_UNSPEC`: the family field of configuration and verdict messages.
pub const AF_UNSPEC: u8 = 0;

// ---- linux/netfilter/nfnetlink_queue.h -------------------------------------------------

/// Packet from the kernel to user space.
pub const NFQNL_MSG_PACKET: u8 = 0;
/// Verdict from user space to the kernel.
pub const NFQNL_MSG_VERDICT: u8 = 1;
/// Queue configuration.
pub const NFQNL_MSG_CONFIG: u8 = 2;

/// Packet attribute: `struct nfqnl_msg_packet_hdr`.
pub const NFQA_PACKET_HDR: u16 = 1;
/// Verdict attribute: `struct nfqnl_msg_verdict_hdr`.
pub const NFQA_VERDICT_HDR: u16 = 2;
/// Packet attribute: the copied packet, starting at the network header.
pub const NFQA_PAYLOAD: u16 = 10;

/// Configuration attribute: `struct nfqnl_msg_config_cmd`.
pub const NFQA_CFG_CMD: u16 = 1;
/// Configuration attribute: `struct nfqnl_msg_config_params`.
pub const NFQA_CFG_PARAMS: u16 = 2;
/// Configuration attribute: be32 maximum queue length.
pub const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
/// Configuration attribute: be32 mask of the flags being changed.
pub const NFQA_CFG_MASK: u16 = 4;
/// Configuration attribute: be32 new values of the flags in the mask.
pub const NFQA_CFG_FLAGS: u16 = 5;

/// Queue flag: accept packets instead of dropping them when the queue is full.
pub const NFQA_CFG_F_FAIL_OPEN: u32 = 1 << 0;
/// Queue flag: deliver GSO packets unsegmented.
pub const NFQA_CFG_F_GSO: u32 = 1 << 2;

/// Configuration command: none.
pub const NFQNL_CFG_CMD_NONE: u8 = 0;
/// Configuration command: bind this socket to the queue number in `res_id`.
pub const NFQNL_CFG_CMD_BIND: u8 = 1;
/// Configuration command: release the queue.
pub const NFQNL_CFG_CMD_UNBIND: u8 = 2;
/// Configuration command: bind a protocol family (a no-op since Linux 3.8).
pub const NFQNL_CFG_CMD_PF_BIND: u8 = 3;
/// Configuration command: unbind a protocol family (a no-op since Linux 3.8).
pub const NFQNL_CFG_CMD_PF_UNBIND: u8 = 4;

/// Copy mode: nothing.
pub const NFQNL_COPY_NONE: u8 = 0;
/// Copy mode: metadata only.
pub const NFQNL_COPY_META: u8 = 1;
/// Copy mode: metadata and up to `copy_range` bytes of the packet.
pub const NFQNL_COPY_PACKET: u8 = 2;

/// The kernel's upper bound on `copy_range` (`NFQNL_MAX_COPY_RANGE`): a payload attribute's
/// length must fit its u16 length field.
pub const NFQNL_MAX_COPY_RANGE: u32 = 0xffff - NLA_HDRLEN as u32;

/// Netfilter verdict (linux/netfilter.h): drop the packet.
pub const NF_DROP: u32 = 0;
/// Netfilter verdict (linux/netfilter.h): let the packet continue.
pub const NF_ACCEPT: u32 = 1;

/// The netlink message type of an NFQUEUE message: `(subsystem << 8) | message`.
pub const fn nfq_msg_type(msg: u8) -> u16 {
    ((NFNL_SUBSYS_QUEUE as u16) << 8) | msg as u16
}

/// Field offsets, as ranges into the structure they belong to.
mod field {
    use std::ops::Range;

    // struct nlmsghdr, from the start of the message.
    pub const NLMSG_LEN: Range<usize> = 0..4;
    pub const NLMSG_TYPE: Range<usize> = 4..6;
    pub const NLMSG_FLAGS: Range<usize> = 6..8;
    pub const NLMSG_SEQ: Range<usize> = 8..12;
    pub const NLMSG_PID: Range<usize> = 12..16;

    // struct nfgenmsg, from the start of the netlink payload.
    pub const NFGEN_FAMILY: usize = 0;
    pub const NFGEN_VERSION: usize = 1;
    pub const NFGEN_RES_ID: Range<usize> = 2..4;

    // struct nlattr, from the start of the attribute.
    pub const NLA_LEN: Range<usize> = 0..2;
    pub const NLA_TYPE: Range<usize> = 2..4;

    // struct nlmsgerr, from the start of the netlink payload.
    pub const ERR_CODE: Range<usize> = 0..4;

    // struct nfqnl_msg_packet_hdr (packed, 7 bytes).
    pub const PKT_ID: Range<usize> = 0..4;
    pub const PKT_HW_PROTOCOL: Range<usize> = 4..6;
    pub const PKT_HOOK: usize = 6;
    pub const PKT_HDR_LEN: usize = 7;

    // struct nfqnl_msg_verdict_hdr (8 bytes).
    pub const VERDICT_VERDICT: Range<usize> = 0..4;
    pub const VERDICT_ID: Range<usize> = 4..8;
    pub const VERDICT_HDR_LEN: usize = 8;

    // struct nfqnl_msg_config_cmd (4 bytes).
    pub const CMD_COMMAND: usize = 0;
    pub const CMD_PF: Range<usize> = 2..4;
    pub const CMD_LEN: usize = 4;

    // struct nfqnl_msg_config_params (packed, 5 bytes).
    pub const PARAMS_RANGE: Range<usize> = 0..4;
    pub const PARAMS_MODE: usize = 4;
    pub const PARAMS_LEN: usize = 5;
}

/// Why a buffer is not a well-formed nfnetlink message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes left than a netlink message header.
    Truncated,
    /// `nlmsg_len` is smaller than the header or larger than the bytes received.
    BadMessageLength(u32),
    /// The payload is too short for its fixed header (`nfgenmsg`, `nlmsgerr`).
    ShortPayload,
    /// An attribute's length is below 4 or runs past the end of its message.
    BadAttribute,
    /// A fixed-size attribute (packet, verdict, config header) is too short.
    ShortAttribute(u16),
    /// A queued-packet message without `NFQA_PACKET_HDR`.
    MissingPacketHeader,
    /// The message is not of the NFQUEUE type the caller asked for.
    WrongType(u16),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "netlink message header truncated"),
            Error::BadMessageLength(len) => write!(f, "bad netlink message length {len}"),
            Error::ShortPayload => write!(f, "netlink payload too short for its header"),
            Error::BadAttribute => write!(f, "malformed netlink attribute"),
            Error::ShortAttribute(kind) => write!(f, "netlink attribute {kind} too short"),
            Error::MissingPacketHeader => write!(f, "queued packet without packet header"),
            Error::WrongType(kind) => write!(f, "unexpected netlink message type {kind:#06x}"),
        }
    }
}

impl std::error::Error for Error {}

// ---- byte helpers: every read is checked -----------------------------------------------

fn ne_u16(b: &[u8], r: Range<usize>) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(r)?.try_into().ok()?))
}

fn ne_u32(b: &[u8], r: Range<usize>) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(r)?.try_into().ok()?))
}

fn ne_i32(b: &[u8], r: Range<usize>) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(r)?.try_into().ok()?))
}

fn be_u16(b: &[u8], r: Range<usize>) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(r)?.try_into().ok()?))
}

fn be_u32(b: &[u8], r: Range<usize>) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(r)?.try_into().ok()?))
}

/// Rounds up to the 4-byte netlink alignment; `None` on overflow.
fn align4(len: usize) -> Option<usize> {
    Some(len.checked_add(3)? & !3)
}

// ---- netlink messages ------------------------------------------------------------------

/// A checked view of one netlink message: at least a header, exactly `nlmsg_len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlMsg<'a> {
    bytes: &'a [u8],
}

impl<'a> NlMsg<'a> {
    /// Checks the message at the start of `buf`: a full header and a `nlmsg_len` between
    /// the header size and `buf.len()`. Bytes after `nlmsg_len` are not part of the view.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < NLMSG_HDRLEN {
            return Err(Error::Truncated);
        }
        let len = ne_u32(buf, field::NLMSG_LEN).ok_or(Error::Truncated)?;
        let ulen = usize::try_from(len).map_err(|_| Error::BadMessageLength(len))?;
        if ulen < NLMSG_HDRLEN {
            return Err(Error::BadMessageLength(len));
        }
        let bytes = buf.get(..ulen).ok_or(Error::BadMessageLength(len))?;
        Ok(NlMsg { bytes })
    }

    /// The whole message, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// `nlmsg_len`.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: a checked message holds at least its header.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// `nlmsg_type`.
    pub fn msg_type(&self) -> u16 {
        ne_u16(self.bytes, field::NLMSG_TYPE).unwrap_or(0)
    }

    /// `nlmsg_flags`.
    pub fn flags(&self) -> u16 {
        ne_u16(self.bytes, field::NLMSG_FLAGS).unwrap_or(0)
    }

    /// `nlmsg_seq`.
    pub fn seq(&self) -> u32 {
        ne_u32(self.bytes, field::NLMSG_SEQ).unwrap_or(0)
    }

    /// `nlmsg_pid`: the sender's port id (0 for the kernel).
    pub fn pid(&self) -> u32 {
        ne_u32(self.bytes, field::NLMSG_PID).unwrap_or(0)
    }

    /// Everything after the header.
    pub fn payload(&self) -> &'a [u8] {
        self.bytes.get(NLMSG_HDRLEN..).unwrap_or(&[])
    }

    /// The `nfgenmsg` header and the attributes that follow it.
    pub fn nfgen(&self) -> Result<(NfGenMsg, Attrs<'a>), Error> {
        let payload = self.payload();
        let family = *payload.get(field::NFGEN_FAMILY).ok_or(Error::ShortPayload)?;
        let version = *payload.get(field::NFGEN_VERSION).ok_or(Error::ShortPayload)?;
        let res_id = be_u16(payload, field::NFGEN_RES_ID).ok_or(Error::ShortPayload)?;
        let attrs = Attrs::new(payload.get(NFGENMSG_LEN..).unwrap_or(&[]));
        Ok((NfGenMsg { family, version, res_id }, attrs))
    }

    /// Classifies the message: queued packet, ACK, error, end of dump or something else.
    pub fn parse(&self) -> Result<Message<'a>, Error> {
        match self.msg_type() {
            NLMSG_ERROR => {
                let code = ne_i32(self.payload(), field::ERR_CODE).ok_or(Error::ShortPayload)?;
                let seq = self.seq();
                if code == 0 {
                    Ok(Message::Ack { seq })
                } else {
                    // The kernel sends a negative errno; saturate the one value without one.
                    let errno = code.checked_neg().unwrap_or(i32::MAX);
                    Ok(Message::Error { seq, errno })
                }
            }
            NLMSG_DONE => Ok(Message::Done),
            NLMSG_OVERRUN => Ok(Message::Overrun),
            t if t == nfq_msg_type(NFQNL_MSG_PACKET) => QueuedPacket::parse(self).map(Message::Packet),
            t => Ok(Message::Other { msg_type: t }),
        }
    }
}

/// Iterates over the netlink messages in one received buffer. After the first malformed
/// message it yields that error once and stops: a bad length leaves no way to resync.
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// The netlink messages in `buf` (what one `recv` returned).
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { rest: buf, failed: false }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<NlMsg<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match NlMsg::new_checked(self.rest) {
            Ok(msg) => {
                // The last message may lack its padding; never step past the end.
                let step = align4(msg.len()).unwrap_or(usize::MAX).min(self.rest.len());
                self.rest = self.rest.get(step..).unwrap_or(&[]);
                Some(Ok(msg))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// What a received netlink message means to an NFQUEUE client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A packet held in the queue, waiting for our verdict.
    Packet(QueuedPacket<'a>),
    /// `NLMSG_ERROR` with code 0: the request with this sequence number succeeded.
    Ack { seq: u32 },
    /// `NLMSG_ERROR` with a nonzero code: the request with this sequence number failed
    /// with this (positive) errno.
    Error { seq: u32, errno: i32 },
    /// `NLMSG_DONE`.
    Done,
    /// `NLMSG_OVERRUN`.
    Overrun,
    /// `NLMSG_NOOP` or a type an NFQUEUE client does not expect.
    Other { msg_type: u16 },
}

/// `struct nfgenmsg`, with `res_id` in host byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NfGenMsg {
    pub family: u8,
    pub version: u8,
    pub res_id: u16,
}

// ---- attributes ------------------------------------------------------------------------

/// One netlink attribute: its type without the flag bits, the flag bits, and its payload
/// (without padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    pub kind: u16,
    pub flags: u16,
    pub data: &'a [u8],
}

/// Iterates over the attributes of a message. After a malformed attribute (length below
/// the header size, or past the end) it yields that error once and stops.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Attrs<'a> {
    /// The attributes in `buf`, which starts at an attribute header.
    pub fn new(buf: &'a [u8]) -> Self {
        Attrs { rest: buf, failed: false }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let len = usize::from(ne_u16(self.rest, field::NLA_LEN).ok_or(Error::BadAttribute)?);
            let raw_type = ne_u16(self.rest, field::NLA_TYPE).ok_or(Error::BadAttribute)?;
            if len < NLA_HDRLEN {
                return Err(Error::BadAttribute);
            }
            let data = self.rest.get(NLA_HDRLEN..len).ok_or(Error::BadAttribute)?;
            let step = align4(len).unwrap_or(usize::MAX).min(self.rest.len());
            let attr = Attr { kind: raw_type & NLA_TYPE_MASK, flags: raw_type & !NLA_TYPE_MASK, data };
            Ok((attr, step))
        })();
        match parsed {
            Ok((attr, step)) => {
                self.rest = self.rest.get(step..).unwrap_or(&[]);
                Some(Ok(attr))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

// ---- queued packets (kernel → us) ------------------------------------------------------

/// A checked view of an `NFQNL_MSG_PACKET` message. Integers are in host byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuedPacket<'a> {
    /// Queue number (`nfgenmsg.res_id`).
    pub queue: u16,
    /// Protocol family of the payload (`AF_INET`, `AF_INET6`, …).
    pub family: u8,
    /// The id a verdict must name.
    pub packet_id: u32,
    /// Link-layer protocol (ETH_P_IP = 0x0800, ETH_P_IPV6 = 0x86dd), 0 if unknown.
    pub hw_protocol: u16,
    /// Netfilter hook the packet was queued from (NF_INET_LOCAL_IN = 1, …).
    pub hook: u8,
    /// The packet from its network header, up to the copy range; empty if the kernel sent
    /// no payload (copy mode "meta").
    pub payload: &'a [u8],
}

impl<'a> QueuedPacket<'a> {
    /// Parses a queued-packet message. Unknown attributes are skipped; a repeated attribute
    /// replaces the earlier one, as in the kernel's `nla_parse`.
    pub fn parse(msg: &NlMsg<'a>) -> Result<Self, Error> {
        let msg_type = msg.msg_type();
        if msg_type != nfq_msg_type(NFQNL_MSG_PACKET) {
            return Err(Error::WrongType(msg_type));
        }
        let (gen, attrs) = msg.nfgen()?;
        let mut header = None;
        let mut payload: &[u8] = &[];
        for attr in attrs {
            let attr = attr?;
            match attr.kind {
                NFQA_PACKET_HDR => {
                    let d = attr.data;
                    if d.len() < field::PKT_HDR_LEN {
                        return Err(Error::ShortAttribute(NFQA_PACKET_HDR));
                    }
                    let short = Error::ShortAttribute(NFQA_PACKET_HDR);
                    let id = be_u32(d, field::PKT_ID).ok_or(short)?;
                    let hw = be_u16(d, field::PKT_HW_PROTOCOL).ok_or(short)?;
                    let hook = *d.get(field::PKT_HOOK).ok_or(short)?;
                    header = Some((id, hw, hook));
                }
                NFQA_PAYLOAD => payload = attr.data,
                _ => {}
            }
        }
        let (packet_id, hw_protocol, hook) = header.ok_or(Error::MissingPacketHeader)?;
        Ok(QueuedPacket { queue: gen.res_id, family: gen.family, packet_id, hw_protocol, hook, payload })
    }
}

// ---- verdicts and configuration (us → kernel) ------------------------------------------

/// A queue configuration command (`NFQA_CFG_CMD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigCmd {
    /// Bind the sending socket to the queue.
    Bind,
    /// Release the queue.
    Unbind,
    /// Bind a protocol family (`AF_INET`, …); accepted and ignored since Linux 3.8.
    PfBind(u16),
    /// Unbind a protocol family; accepted and ignored since Linux 3.8.
    PfUnbind(u16),
}

impl ConfigCmd {
    fn code(self) -> u8 {
        match self {
            ConfigCmd::Bind => NFQNL_CFG_CMD_BIND,
            ConfigCmd::Unbind => NFQNL_CFG_CMD_UNBIND,
            ConfigCmd::PfBind(_) => NFQNL_CFG_CMD_PF_BIND,
            ConfigCmd::PfUnbind(_) => NFQNL_CFG_CMD_PF_UNBIND,
        }
    }

    fn pf(self) -> u16 {
        match self {
            ConfigCmd::Bind | ConfigCmd::Unbind => 0,
            ConfigCmd::PfBind(pf) | ConfigCmd::PfUnbind(pf) => pf,
        }
    }

    /// The command for a code and family, `None` for codes we do not know.
    pub fn from_code(code: u8, pf: u16) -> Option<Self> {
        match code {
            NFQNL_CFG_CMD_BIND => Some(ConfigCmd::Bind),
            NFQNL_CFG_CMD_UNBIND => Some(ConfigCmd::Unbind),
            NFQNL_CFG_CMD_PF_BIND => Some(ConfigCmd::PfBind(pf)),
            NFQNL_CFG_CMD_PF_UNBIND => Some(ConfigCmd::PfUnbind(pf)),
            _ => None,
        }
    }
}

/// How much of each packet the kernel copies to us (`nfqnl_config_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyMode {
    None,
    Meta,
    Packet,
}

impl CopyMode {
    fn code(self) -> u8 {
        match self {
            CopyMode::None => NFQNL_COPY_NONE,
            CopyMode::Meta => NFQNL_COPY_META,
            CopyMode::Packet => NFQNL_COPY_PACKET,
        }
    }

    /// The mode for a code, `None` for codes we do not know.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            NFQNL_COPY_NONE => Some(CopyMode::None),
            NFQNL_COPY_META => Some(CopyMode::Meta),
            NFQNL_COPY_PACKET => Some(CopyMode::Packet),
            _ => None,
        }
    }
}

/// The verdicts we give. The C original only ever accepts; drop exists for tests and future
/// use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Drop,
    Accept,
}

impl Verdict {
    /// The netfilter verdict code.
    pub fn code(self) -> u32 {
        match self {
            Verdict::Drop => NF_DROP,
            Verdict::Accept => NF_ACCEPT,
        }
    }
}

/// The attributes of one `NFQNL_MSG_CONFIG` message. The kernel applies them in this
/// order: command, copy parameters, queue length, flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `NFQA_CFG_CMD`.
    pub cmd: Option<ConfigCmd>,
    /// `NFQA_CFG_PARAMS`: copy mode and copy range in bytes.
    pub params: Option<(CopyMode, u32)>,
    /// `NFQA_CFG_QUEUE_MAXLEN`: packets the kernel holds before it drops (or, with
    /// fail-open, accepts) new ones.
    pub queue_maxlen: Option<u32>,
    /// `NFQA_CFG_MASK` and `NFQA_CFG_FLAGS`: which flags to change, and their new values.
    pub flags: Option<(u32, u32)>,
}

/// Appends one netlink message: header, `nfgenmsg`, attributes; fixes `nlmsg_len` at the end.
struct Builder<'v> {
    out: &'v mut Vec<u8>,
    start: usize,
}

impl<'v> Builder<'v> {
    fn new(out: &'v mut Vec<u8>, msg: u8, flags: u16, seq: u32, family: u8, res_id: u16) -> Self {
        let start = out.len();
        out.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, fixed in finish()
        out.extend_from_slice(&nfq_msg_type(msg).to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: 0, the kernel ignores it
        out.push(family);
        out.push(NFNETLINK_V0);
        out.extend_from_slice(&res_id.to_be_bytes());
        Builder { out, start }
    }

    /// Appends an attribute; `data` longer than an attribute can hold is cut to fit.
    fn attr(&mut self, kind: u16, data: &[u8]) {
        let max = usize::from(u16::MAX) - NLA_HDRLEN;
        let data = data.get(..max).unwrap_or(data);
        let len = u16::try_from(NLA_HDRLEN + data.len()).unwrap_or(u16::MAX);
        self.out.extend_from_slice(&len.to_ne_bytes());
        self.out.extend_from_slice(&kind.to_ne_bytes());
        self.out.extend_from_slice(data);
        let padded = align4(data.len()).unwrap_or(data.len());
        self.out.resize(self.out.len() + (padded - data.len()), 0);
    }

    fn finish(self) {
        let len = u32::try_from(self.out.len() - self.start).unwrap_or(u32::MAX);
        if let Some(slot) = self.out.get_mut(self.start..self.start + 4) {
            slot.copy_from_slice(&len.to_ne_bytes());
        }
    }
}

fn request_flags(ack: bool) -> u16 {
    if ack {
        NLM_F_REQUEST | NLM_F_ACK
    } else {
        NLM_F_REQUEST
    }
}

/// Appends an `NFQNL_MSG_CONFIG` message for `queue` carrying every attribute set in
/// `config`. With `ack` the kernel answers with an ACK or an error for `seq`.
pub fn emit_config(out: &mut Vec<u8>, seq: u32, ack: bool, queue: u16, config: &Config) {
    let mut b = Builder::new(out, NFQNL_MSG_CONFIG, request_flags(ack), seq, AF_UNSPEC, queue);
    if let Some(cmd) = config.cmd {
        let mut d = [0u8; field::CMD_LEN];
        d[field::CMD_COMMAND] = cmd.code();
        d[field::CMD_PF].copy_from_slice(&cmd.pf().to_be_bytes());
        b.attr(NFQA_CFG_CMD, &d);
    }
    if let Some((mode, range)) = config.params {
        let mut d = [0u8; field::PARAMS_LEN];
        d[field::PARAMS_RANGE].copy_from_slice(&range.to_be_bytes());
        d[field::PARAMS_MODE] = mode.code();
        b.attr(NFQA_CFG_PARAMS, &d);
    }
    if let Some(maxlen) = config.queue_maxlen {
        b.attr(NFQA_CFG_QUEUE_MAXLEN, &maxlen.to_be_bytes());
    }
    if let Some((mask, flags)) = config.flags {
        b.attr(NFQA_CFG_MASK, &mask.to_be_bytes());
        b.attr(NFQA_CFG_FLAGS, &flags.to_be_bytes());
    }
    b.finish();
}

/// Appends a configuration command (bind, unbind, pf_bind, pf_unbind) for `queue`.
pub fn emit_config_cmd(out: &mut Vec<u8>, seq: u32, ack: bool, queue: u16, cmd: ConfigCmd) {
    let config = Config { cmd: Some(cmd), ..Config::default() };
    emit_config(out, seq, ack, queue, &config);
}

/// Appends a copy-mode setting for `queue`; `range` is the number of packet bytes copied.
pub fn emit_config_params(out: &mut Vec<u8>, seq: u32, ack: bool, queue: u16, mode: CopyMode, range: u32) {
    let config = Config { params: Some((mode, range)), ..Config::default() };
    emit_config(out, seq, ack, queue, &config);
}

/// Appends a queue length setting for `queue`.
pub fn emit_queue_maxlen(out: &mut Vec<u8>, seq: u32, ack: bool, queue: u16, maxlen: u32) {
    let config = Config { queue_maxlen: Some(maxlen), ..Config::default() };
    emit_config(out, seq, ack, queue, &config);
}

/// Appends a message that turns the fail-open flag of `queue` on or off (only that flag).
pub fn emit_fail_open(out: &mut Vec<u8>, seq: u32, ack: bool, queue: u16, on: bool) {
    let value = if on { NFQA_CFG_F_FAIL_OPEN } else { 0 };
    let config = Config { flags: Some((NFQA_CFG_F_FAIL_OPEN, value)), ..Config::default() };
    emit_config(out, seq, ack, queue, &config);
}

/// Appends an `NFQNL_MSG_VERDICT` message for packet `packet_id` of `queue`.
pub fn emit_verdict(out: &mut Vec<u8>, seq: u32, ack: bool, queue: u16, packet_id: u32, verdict: Verdict) {
    let mut b = Builder::new(out, NFQNL_MSG_VERDICT, request_flags(ack), seq, AF_UNSPEC, queue);
    let mut d = [0u8; field::VERDICT_HDR_LEN];
    d[field::VERDICT_VERDICT].copy_from_slice(&verdict.code().to_be_bytes());
    d[field::VERDICT_ID].copy_from_slice(&packet_id.to_be_bytes());
    b.attr(NFQA_VERDICT_HDR, &d);
    b.finish();
}

/// Appends an `NFQNL_MSG_PACKET` message as the kernel would send it (packet header and
/// payload only). Used by tests and the fuzz target to check the parser by round trip; the
/// payload is cut to [`NFQNL_MAX_COPY_RANGE`] like the kernel does.
pub fn emit_packet(out: &mut Vec<u8>, seq: u32, packet: &QueuedPacket<'_>) {
    let mut b = Builder::new(out, NFQNL_MSG_PACKET, 0, seq, packet.family, packet.queue);
    let mut d = [0u8; field::PKT_HDR_LEN];
    d[field::PKT_ID].copy_from_slice(&packet.packet_id.to_be_bytes());
    d[field::PKT_HW_PROTOCOL].copy_from_slice(&packet.hw_protocol.to_be_bytes());
    d[field::PKT_HOOK] = packet.hook;
    b.attr(NFQA_PACKET_HDR, &d);
    if !packet.payload.is_empty() {
        b.attr(NFQA_PAYLOAD, packet.payload);
    }
    b.finish();
}

/// A parsed `NFQNL_MSG_VERDICT` message (what [`emit_verdict`] writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerdictMsg {
    pub queue: u16,
    pub packet_id: u32,
    /// The raw netfilter verdict code.
    pub verdict: u32,
}

/// Parses a verdict message; the counterpart of [`emit_verdict`].
pub fn parse_verdict(msg: &NlMsg<'_>) -> Result<VerdictMsg, Error> {
    let msg_type = msg.msg_type();
    if msg_type != nfq_msg_type(NFQNL_MSG_VERDICT) {
        return Err(Error::WrongType(msg_type));
    }
    let (gen, attrs) = msg.nfgen()?;
    let mut found = None;
    for attr in attrs {
        let attr = attr?;
        if attr.kind == NFQA_VERDICT_HDR {
            let short = Error::ShortAttribute(NFQA_VERDICT_HDR);
            let verdict = be_u32(attr.data, field::VERDICT_VERDICT).ok_or(short)?;
            let id = be_u32(attr.data, field::VERDICT_ID).ok_or(short)?;
            found = Some((verdict, id));
        }
    }
    let (verdict, packet_id) = found.ok_or(Error::ShortAttribute(NFQA_VERDICT_HDR))?;
    Ok(VerdictMsg { queue: gen.res_id, packet_id, verdict })
}

/// Parses a configuration message into its queue number and [`Config`]; the counterpart of
/// [`emit_config`]. Unknown commands and copy modes are reported as short attributes.
pub fn parse_config(msg: &NlMsg<'_>) -> Result<(u16, Config), Error> {
    let msg_type = msg.msg_type();
    if msg_type != nfq_msg_type(NFQNL_MSG_CONFIG) {
        return Err(Error::WrongType(msg_type));
    }
    let (gen, attrs) = msg.nfgen()?;
    let mut config = Config::default();
    let mut mask = None;
    let mut flags = None;
    for attr in attrs {
        let attr = attr?;
        let d = attr.data;
        let short = Error::ShortAttribute(attr.kind);
        match attr.kind {
            NFQA_CFG_CMD => {
                let code = *d.get(field::CMD_COMMAND).ok_or(short)?;
                let pf = be_u16(d, field::CMD_PF).ok_or(short)?;
                config.cmd = Some(ConfigCmd::from_code(code, pf).ok_or(short)?);
            }
            NFQA_CFG_PARAMS => {
                let range = be_u32(d, field::PARAMS_RANGE).ok_or(short)?;
                let mode = *d.get(field::PARAMS_MODE).ok_or(short)?;
                config.params = Some((CopyMode::from_code(mode).ok_or(short)?, range));
            }
            NFQA_CFG_QUEUE_MAXLEN => config.queue_maxlen = Some(be_u32(d, 0..4).ok_or(short)?),
            NFQA_CFG_MASK => mask = Some(be_u32(d, 0..4).ok_or(short)?),
            NFQA_CFG_FLAGS => flags = Some(be_u32(d, 0..4).ok_or(short)?),
            _ => {}
        }
    }
    if let (Some(m), Some(f)) = (mask, flags) {
        config.flags = Some((m, f));
    }
    Ok((gen.res_id, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::XorShift;

    /// Concatenates byte pieces; keeps hand-built messages readable and endian-correct.
    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn nlhdr(len: u32, msg_type: u16, flags: u16, seq: u32, pid: u32) -> Vec<u8> {
        cat(&[
            &len.to_ne_bytes(),
            &msg_type.to_ne_bytes(),
            &flags.to_ne_bytes(),
            &seq.to_ne_bytes(),
            &pid.to_ne_bytes(),
        ])
    }

    fn nla(len: u16, kind: u16) -> Vec<u8> {
        cat(&[&len.to_ne_bytes(), &kind.to_ne_bytes()])
    }

    const PACKET_TYPE: u16 = 0x0300;

    /// A hand-built queued packet: queue 7, AF_INET, id 0x01020304, ETH_P_IP, hook 1,
    /// payload "abcde" (padded to 8).
    fn packet_bytes() -> Vec<u8> {
        let body = cat(&[
            &[2, 0, 0, 7],
            &nla(11, NFQA_PACKET_HDR),
            &[1, 2, 3, 4, 0x08, 0x00, 1, 0],
            &nla(9, NFQA_PAYLOAD),
            b"abcde\0\0\0",
        ]);
        let len = (NLMSG_HDRLEN + body.len()) as u32;
        cat(&[&nlhdr(len, PACKET_TYPE, 0, 0, 0), &body])
    }

    fn only(buf: &[u8]) -> Result<Message<'_>, Error> {
        let mut it = messages(buf);
        let msg = it.next().expect("one message")?;
        assert!(it.next().is_none(), "exactly one message");
        msg.parse()
    }

    #[test]
    fn message_type_values_match_the_uapi() {
        assert_eq!(nfq_msg_type(NFQNL_MSG_PACKET), 0x0300);
        assert_eq!(nfq_msg_type(NFQNL_MSG_VERDICT), 0x0301);
        assert_eq!(nfq_msg_type(NFQNL_MSG_CONFIG), 0x0302);
        assert_eq!(NLA_TYPE_MASK, 0x3fff);
    }

    #[test]
    fn hand_built_packet_parses() {
        let buf = packet_bytes();
        let expected = QueuedPacket {
            queue: 7,
            family: 2,
            packet_id: 0x0102_0304,
            hw_protocol: 0x0800,
            hook: 1,
            payload: b"abcde",
        };
        assert_eq!(only(&buf), Ok(Message::Packet(expected)));
    }

    /// One datagram exactly as Linux 6.18 (x86-64, so host order is little endian)
    /// delivered it for a UDP datagram "honeytrap" to 127.0.0.1:9999 on queue 0 in copy
    /// mode packet: packet header, in-device index, hardware address, payload. The kernel
    /// did not pad the last attribute nor the message (nlmsg_len 97).
    #[cfg(target_endian = "little")]
    #[test]
    fn real_kernel_message_parses() {
        let buf: &[u8] = REAL_CAPTURE;
        let msg = messages(buf).next().unwrap().unwrap();
        let Ok(Message::Packet(p)) = msg.parse() else {
            panic!("not a packet: {:?}", msg.parse());
        };
        assert_eq!(p.queue, 0);
        assert_eq!(p.family, 2);
        assert_eq!(p.hw_protocol, 0x0800);
        assert_eq!(p.hook, 1);
        assert_eq!(p.packet_id, REAL_CAPTURE_ID);
        assert_eq!(p.payload.len(), 37);
        assert_eq!(p.payload.first(), Some(&0x45));
        assert_eq!(p.payload.get(9), Some(&17)); // IPPROTO_UDP
        assert_eq!(p.payload.get(22..24), Some(&9999u16.to_be_bytes()[..]));
        assert!(p.payload.ends_with(b"honeytrap"));
    }

    #[test]
    fn packet_round_trip() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(1500).collect();
        for (queue, family, id, hook, payload) in [
            (0u16, 2u8, 1u32, 1u8, &payload[..]),
            (65535, 10, u32::MAX, 4, &payload[..1]),
            (3, 2, 0, 0, &payload[..0]),
            (1, 2, 42, 1, &payload[..3]),
        ] {
            let p = QueuedPacket { queue, family, packet_id: id, hw_protocol: 0x86dd, hook, payload };
            let mut out = Vec::new();
            emit_packet(&mut out, 9, &p);
            assert_eq!(out.len() % 4, 0);
            assert_eq!(only(&out), Ok(Message::Packet(p)));
        }
    }

    #[test]
    fn packet_payload_is_cut_to_max_copy_range() {
        let big = vec![0xaa; 70_000];
        let p = QueuedPacket { queue: 0, family: 2, packet_id: 5, hw_protocol: 0x0800, hook: 1, payload: &big };
        let mut out = Vec::new();
        emit_packet(&mut out, 0, &p);
        let Ok(Message::Packet(q)) = only(&out) else {
            panic!("not a packet");
        };
        assert_eq!(q.payload.len(), NFQNL_MAX_COPY_RANGE as usize);
    }

    #[test]
    fn verdict_bytes_are_exact() {
        let mut out = Vec::new();
        emit_verdict(&mut out, 7, false, 0x0102, 0x0a0b_0c0d, Verdict::Accept);
        let expected = cat(&[
            &nlhdr(32, 0x0301, NLM_F_REQUEST, 7, 0),
            &[AF_UNSPEC, NFNETLINK_V0, 0x01, 0x02],
            &nla(12, NFQA_VERDICT_HDR),
            &[0, 0, 0, 1],
            &[0x0a, 0x0b, 0x0c, 0x0d],
        ]);
        assert_eq!(out, expected);
    }

    #[test]
    fn config_cmd_bytes_are_exact() {
        let mut out = Vec::new();
        emit_config_cmd(&mut out, 1, true, 0, ConfigCmd::PfBind(2));
        let expected = cat(&[
            &nlhdr(28, 0x0302, NLM_F_REQUEST | NLM_F_ACK, 1, 0),
            &[0, 0, 0, 0],
            &nla(8, NFQA_CFG_CMD),
            &[NFQNL_CFG_CMD_PF_BIND, 0, 0, 2],
        ]);
        assert_eq!(out, expected);
    }

    #[test]
    fn config_params_bytes_are_exact() {
        let mut out = Vec::new();
        emit_config_params(&mut out, 2, true, 5, CopyMode::Packet, 0xffff);
        let expected = cat(&[
            &nlhdr(32, 0x0302, NLM_F_REQUEST | NLM_F_ACK, 2, 0),
            &[0, 0, 0, 5],
            &nla(9, NFQA_CFG_PARAMS),
            &[0, 0, 0xff, 0xff, NFQNL_COPY_PACKET, 0, 0, 0],
        ]);
        assert_eq!(out, expected);
    }

    #[test]
    fn verdict_round_trip() {
        for (queue, id, verdict) in [(0, 1, Verdict::Accept), (u16::MAX, u32::MAX, Verdict::Drop)] {
            let mut out = Vec::new();
            emit_verdict(&mut out, 3, true, queue, id, verdict);
            let msg = messages(&out).next().unwrap().unwrap();
            assert_eq!(msg.flags(), NLM_F_REQUEST | NLM_F_ACK);
            assert_eq!(msg.seq(), 3);
            assert_eq!(parse_verdict(&msg), Ok(VerdictMsg { queue, packet_id: id, verdict: verdict.code() }));
            assert_eq!(msg.parse(), Ok(Message::Other { msg_type: 0x0301 }));
        }
    }

    #[test]
    fn config_round_trip() {
        let all = Config {
            cmd: Some(ConfigCmd::Bind),
            params: Some((CopyMode::Packet, 0xffff)),
            queue_maxlen: Some(4096),
            flags: Some((NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO, NFQA_CFG_F_FAIL_OPEN)),
        };
        let configs = [
            all,
            Config::default(),
            Config { cmd: Some(ConfigCmd::PfUnbind(10)), ..Config::default() },
            Config { cmd: Some(ConfigCmd::Unbind), params: Some((CopyMode::Meta, 0)), ..Config::default() },
        ];
        for (i, config) in configs.iter().enumerate() {
            let mut out = Vec::new();
            emit_config(&mut out, i as u32, false, i as u16, config);
            let msg = messages(&out).next().unwrap().unwrap();
            assert_eq!(parse_config(&msg), Ok((i as u16, *config)));
        }
        let mut out = Vec::new();
        emit_fail_open(&mut out, 0, true, 9, true);
        emit_queue_maxlen(&mut out, 1, true, 9, 100);
        let parsed: Vec<_> = messages(&out).map(|m| parse_config(&m.unwrap()).unwrap()).collect();
        assert_eq!(
            parsed,
            [
                (9, Config { flags: Some((NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN)), ..Config::default() }),
                (9, Config { queue_maxlen: Some(100), ..Config::default() }),
            ]
        );
    }

    #[test]
    fn ack_error_done_and_others() {
        // struct nlmsgerr: error code, then the header of the request it answers.
        let ack = cat(&[&nlhdr(36, NLMSG_ERROR, 0, 11, 0), &0i32.to_ne_bytes(), &nlhdr(28, 0x0302, 5, 11, 0)]);
        let err = cat(&[&nlhdr(36, NLMSG_ERROR, 0, 12, 0), &(-1i32).to_ne_bytes(), &nlhdr(28, 0x0302, 5, 12, 0)]);
        let weird = cat(&[&nlhdr(20, NLMSG_ERROR, 0, 13, 0), &i32::MIN.to_ne_bytes()]);
        let done = nlhdr(20, NLMSG_DONE, NLM_F_MULTI, 0, 0);
        let noop = nlhdr(16, NLMSG_NOOP, 0, 0, 0);
        let overrun = nlhdr(16, NLMSG_OVERRUN, 0, 0, 0);
        let buf = cat(&[&ack, &err, &weird, &done, &[0; 4], &noop, &overrun]);
        let got: Vec<_> = messages(&buf).map(|m| m.unwrap().parse()).collect();
        assert_eq!(
            got,
            [
                Ok(Message::Ack { seq: 11 }),
                Ok(Message::Error { seq: 12, errno: 1 }),
                Ok(Message::Error { seq: 13, errno: i32::MAX }),
                Ok(Message::Done),
                Ok(Message::Other { msg_type: NLMSG_NOOP }),
                Ok(Message::Overrun),
            ]
        );
    }

    #[test]
    fn several_messages_in_one_buffer() {
        let mut buf = packet_bytes();
        let mut second = Vec::new();
        emit_packet(
            &mut second,
            0,
            &QueuedPacket { queue: 7, family: 2, packet_id: 2, hw_protocol: 0x0800, hook: 1, payload: b"xyz" },
        );
        buf.extend_from_slice(&second);
        let ids: Vec<u32> = messages(&buf)
            .map(|m| match m.unwrap().parse().unwrap() {
                Message::Packet(p) => p.packet_id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, [0x0102_0304, 2]);
    }

    #[test]
    fn unpadded_last_message_is_accepted() {
        let mut buf = Vec::new();
        emit_packet(
            &mut buf,
            0,
            &QueuedPacket { queue: 0, family: 2, packet_id: 1, hw_protocol: 0x0800, hook: 1, payload: b"a" },
        );
        // Fix nlmsg_len to the unpadded size and drop the padding.
        let len = buf.len() - 3;
        buf.truncate(len);
        buf[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        let Ok(Message::Packet(p)) = only(&buf) else {
            panic!("not a packet");
        };
        assert_eq!(p.payload, b"a");
    }

    #[test]
    fn truncated_header() {
        let buf = packet_bytes();
        for n in 1..NLMSG_HDRLEN {
            let got: Vec<_> = messages(&buf[..n]).collect();
            assert_eq!(got, [Err(Error::Truncated)], "{n} bytes");
        }
        assert_eq!(messages(&[]).count(), 0);
    }

    #[test]
    fn nlmsg_len_too_small_or_too_large() {
        let good = packet_bytes();
        for bad_len in [0u32, 1, 15, good.len() as u32 + 1, u32::MAX] {
            let mut buf = good.clone();
            buf[0..4].copy_from_slice(&bad_len.to_ne_bytes());
            let got: Vec<_> = messages(&buf).collect();
            assert_eq!(got, [Err(Error::BadMessageLength(bad_len))]);
        }
        // A good message followed by a bad one: the good one, then the error, then stop.
        let mut buf = good.clone();
        buf.extend_from_slice(&nlhdr(8, NLMSG_NOOP, 0, 0, 0));
        buf.extend_from_slice(&good);
        let got: Vec<_> = messages(&buf).map(|m| m.map(|m| m.len())).collect();
        assert_eq!(got, [Ok(good.len()), Err(Error::BadMessageLength(8))]);
    }

    #[test]
    fn nlmsg_len_shorter_than_buffer_cuts_the_view() {
        let mut buf = packet_bytes();
        // Claim only the header and nfgenmsg: the attributes are outside the message.
        buf[0..4].copy_from_slice(&20u32.to_ne_bytes());
        let msg = NlMsg::new_checked(&buf).unwrap();
        assert_eq!(msg.len(), 20);
        assert_eq!(msg.parse(), Err(Error::MissingPacketHeader));
    }

    #[test]
    fn attribute_len_below_header() {
        for bad in [0u16, 1, 3] {
            let body = cat(&[&[2, 0, 0, 0], &nla(bad, NFQA_PACKET_HDR), &[0; 8]]);
            let buf = cat(&[&nlhdr(16 + body.len() as u32, PACKET_TYPE, 0, 0, 0), &body]);
            assert_eq!(only(&buf), Err(Error::BadAttribute), "nla_len {bad}");
        }
    }

    #[test]
    fn attribute_overrunning_its_message() {
        let body = cat(&[
            &[2, 0, 0, 0],
            &nla(11, NFQA_PACKET_HDR),
            &[0, 0, 0, 1, 8, 0, 1, 0],
            &nla(200, NFQA_PAYLOAD),
            b"short",
        ]);
        let buf = cat(&[&nlhdr(16 + body.len() as u32, PACKET_TYPE, 0, 0, 0), &body]);
        assert_eq!(only(&buf), Err(Error::BadAttribute));
        // Fewer than 4 bytes left for an attribute header.
        let body = cat(&[&[2, 0, 0, 0], &[1, 0]]);
        let buf = cat(&[&nlhdr(22, PACKET_TYPE, 0, 0, 0), &body]);
        assert_eq!(only(&buf), Err(Error::BadAttribute));
    }

    #[test]
    fn missing_or_short_packet_header() {
        let body = cat(&[&[2, 0, 0, 0], &nla(8, NFQA_PAYLOAD), b"data"]);
        let buf = cat(&[&nlhdr(16 + body.len() as u32, PACKET_TYPE, 0, 0, 0), &body]);
        assert_eq!(only(&buf), Err(Error::MissingPacketHeader));

        let body = cat(&[&[2, 0, 0, 0], &nla(10, NFQA_PACKET_HDR), &[0; 8]]);
        let buf = cat(&[&nlhdr(16 + body.len() as u32, PACKET_TYPE, 0, 0, 0), &body]);
        assert_eq!(only(&buf), Err(Error::ShortAttribute(NFQA_PACKET_HDR)));

        // No room even for nfgenmsg.
        let buf = cat(&[&nlhdr(18, PACKET_TYPE, 0, 0, 0), &[2, 0]]);
        assert_eq!(only(&buf), Err(Error::ShortPayload));
        // An error message without its code.
        let buf = nlhdr(16, NLMSG_ERROR, 0, 0, 0);
        assert_eq!(only(&buf), Err(Error::ShortPayload));
    }

    #[test]
    fn attribute_flag_bits_are_masked() {
        let body = cat(&[&[2, 0, 0, 0], &nla(11, NFQA_PACKET_HDR | NLA_F_NET_BYTEORDER), &[0, 0, 0, 9, 8, 0, 1, 0]]);
        let buf = cat(&[&nlhdr(16 + body.len() as u32, PACKET_TYPE, 0, 0, 0), &body]);
        let Ok(Message::Packet(p)) = only(&buf) else {
            panic!("not a packet");
        };
        assert_eq!(p.packet_id, 9);
        let attr = Attrs::new(&body[4..]).next().unwrap().unwrap();
        assert_eq!(attr.flags, NLA_F_NET_BYTEORDER);
    }

    #[test]
    fn wrong_type_for_the_specific_parsers() {
        let buf = packet_bytes();
        let msg = NlMsg::new_checked(&buf).unwrap();
        assert_eq!(parse_verdict(&msg), Err(Error::WrongType(0x0300)));
        assert_eq!(parse_config(&msg).map(|_| ()), Err(Error::WrongType(0x0300)));
        let noop = nlhdr(16, NLMSG_NOOP, 0, 0, 0);
        let msg = NlMsg::new_checked(&noop).unwrap();
        assert_eq!(QueuedPacket::parse(&msg), Err(Error::WrongType(NLMSG_NOOP)));
    }

    #[test]
    fn errors_display() {
        for e in [
            Error::Truncated,
            Error::BadMessageLength(3),
            Error::ShortPayload,
            Error::BadAttribute,
            Error::ShortAttribute(1),
            Error::MissingPacketHeader,
            Error::WrongType(0x0302),
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    /// Walks every message and attribute of `buf` through every parser (what the fuzz
    /// target does).
    pub(crate) fn exercise(buf: &[u8]) -> usize {
        let mut seen = 0;
        for msg in messages(buf) {
            let Ok(msg) = msg else { break };
            seen += 1;
            if let Ok(Message::Packet(p)) = msg.parse() {
                // Whatever parses as a packet must survive emit → parse unchanged.
                let mut out = Vec::new();
                emit_packet(&mut out, msg.seq(), &p);
                let again = messages(&out).next().and_then(Result::ok).map(|m| m.parse());
                assert_eq!(again, Some(Ok(Message::Packet(p))));
            }
            let _ = parse_verdict(&msg);
            let _ = parse_config(&msg);
            if let Ok((_, attrs)) = msg.nfgen() {
                seen += attrs.take_while(Result::is_ok).count();
            }
        }
        seen
    }

    /// About 100 000 pseudo-random buffers, half of them mutations of valid messages so the
    /// parser gets past the first length check, none may panic.
    #[test]
    fn pseudo_random_buffers_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut valid = packet_bytes();
        emit_config(
            &mut valid,
            1,
            true,
            0,
            &Config {
                cmd: Some(ConfigCmd::Bind),
                params: Some((CopyMode::Packet, 0xffff)),
                queue_maxlen: Some(1),
                flags: Some((1, 1)),
            },
        );
        emit_verdict(&mut valid, 2, false, 0, 3, Verdict::Accept);
        let mut parsed = 0usize;
        let mut buf = Vec::with_capacity(512);
        for round in 0..100_000u32 {
            buf.clear();
            if round % 2 == 0 {
                let len = (rng.next() % 256) as usize;
                buf.extend((0..len).map(|_| rng.next() as u8));
                // Often make the first length plausible.
                if len >= 4 && rng.next().is_multiple_of(2) {
                    let claim = (rng.next() % (len as u64 + 8)) as u32;
                    buf[0..4].copy_from_slice(&claim.to_ne_bytes());
                }
            } else {
                buf.extend_from_slice(&valid);
                for _ in 0..=(rng.next() % 4) {
                    let at = (rng.next() as usize) % buf.len();
                    buf[at] = rng.next() as u8;
                }
                let cut = (rng.next() as usize) % (buf.len() + 1);
                buf.truncate(cut);
            }
            parsed += exercise(&buf);
        }
        // The mutated valid messages must mostly still parse: proves the test reaches deep.
        assert!(parsed > 50_000, "only {parsed} messages and attributes parsed");
    }

    const REAL_CAPTURE_ID: u32 = 1;
    const REAL_CAPTURE: &[u8] = &[
        // nlmsghdr: len 97, type 0x0300, flags 0, seq 0, pid 0
        0x61, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        // nfgenmsg: AF_INET, version 0, queue 0
        0x02, 0x00, 0x00, 0x00, //
        // NFQA_PACKET_HDR: id 1, ETH_P_IP, hook 1 (local in), padding
        0x0b, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x01, 0x00, //
        // NFQA_IFINDEX_INDEV: 1 (lo)
        0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x01, //
        // NFQA_HWADDR: address length 6, all zero
        0x10, 0x00, 0x09, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        // NFQA_PAYLOAD: 37 bytes, unpadded
        0x29, 0x00, 0x0a, 0x00, //
        // IPv4 header: 127.0.0.1 -> 127.0.0.1, UDP
        0x45, 0x00, 0x00, 0x25, 0xdc, 0xf3, 0x40, 0x00, 0x40, 0x11, 0x5f, 0xd2, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00,
        0x00, 0x01, //
        // UDP header: port 48958 -> 9999, length 17
        0xbf, 0x3e, 0x27, 0x0f, 0x00, 0x11, 0xe8, 0xd0, //
        // "honeytrap"
        0x68, 0x6f, 0x6e, 0x65, 0x79, 0x74, 0x72, 0x61, 0x70,
    ];

    /// The kernel's acknowledgement of a bind request with sequence number 1, as received
    /// on the same system: `NLMSG_ERROR`, flags `NLM_F_CAPPED`, code 0, request header.
    const REAL_ACK: &[u8] = &[
        36, 0, 0, 0, 2, 0, 0, 1, 1, 0, 0, 0, 0, 46, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 2, 3, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[cfg(target_endian = "little")]
    #[test]
    fn real_kernel_ack_parses() {
        assert_eq!(only(REAL_ACK), Ok(Message::Ack { seq: 1 }));
    }
}
