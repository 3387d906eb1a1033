//! Link-layer framing of captured frames, by pcap link type (DLT): where the IP packet starts
//! and which IP version the link layer says it is.
//!
//! Replaces the C original's `pcap_offset` table in pcapmon.c, which skipped a
//! fixed number of bytes per link type and then read an IPv4 header. Here every link type
//! is decoded the way libpcap's own filter compiler (gencode.c) reads it, because the
//! capture filter that selected the frame used those offsets:
//!
//! | DLT                          | framing                                               |
//! |------------------------------|-------------------------------------------------------|
//! | RAW 12 (14 on OpenBSD, 101)  | none; version from the first nibble                   |
//! | NULL 0                       | 4-byte address family, host byte order (either works) |
//! |                              | AF_INET 2; AF_INET6 10 (Linux), 24, 28, 30 (BSDs)     |
//! | LOOP 108                     | 4-byte address family, network byte order             |
//! | EN10MB 1                     | 14 bytes + 802.1Q/802.1ad tags; ethertype             |
//! | LINUX_SLL 113                | 16 bytes (+ tags libpcap re-inserts); protocol at 14  |
//! | LINUX_SLL2 276               | 20 bytes; protocol at 0                               |
//! | SLIP 8                       | 16-byte BSD SLIP header; version from the nibble      |
//! | PPP 9, PPP_SERIAL 50         | optional `ff 03`, 1- or 2-byte PPP protocol; or Cisco |
//! |                              | HDLC (`0f`/`8f 00` + ethertype)                       |
//! | SUNATM 123                   | 4-byte pseudo header + LLC/SNAP (8); ethertype        |
//! | FDDI 10                      | 13 bytes + LLC/SNAP (8); ethertype                    |
//! | IEEE802 6 (Token Ring)       | 14 bytes + routing field if present + LLC/SNAP (8)    |
//! | PFLOG 117                    | the length in its first byte, rounded up to 4; AF     |
//!
//! Deliberate differences from the C table (docs/COMPATIBILITY.md, Differences from the C
//! honeytrap): SLIP was skipped by 2 bytes instead of 16, PPP by 2 even when the `ff 03`
//! framing precedes the protocol, SUNATM by 8 instead of 12, PFLOG by a fixed 50 instead of the
//! header's own length byte — each put the "IP header" in the wrong place. All IPv6 framings
//! are new; so is LINUX_SLL2.
//!
//! Where the link layer names the protocol, the first nibble of the packet must agree; where
//! it does not, the nibble must be 4 or 6. So [`ip_payload`] always hands back bytes that start
//! like an IP packet of the version the link layer meant.
//!
//! [`sender`] reads what a link-layer header says about who sent the frame (Linux cooked
//! captures: the packet type; Ethernet: the source address; SLIP: the direction byte), for
//! the pcap monitor, which takes only refusals this host sent.

use super::bytes::{be_u16, byte};
use std::fmt;

pub const DLT_NULL: i32 = 0;
pub const DLT_EN10MB: i32 = 1;
pub const DLT_IEEE802: i32 = 6;
pub const DLT_SLIP: i32 = 8;
pub const DLT_PPP: i32 = 9;
pub const DLT_FDDI: i32 = 10;
pub const DLT_RAW: i32 = 12;
/// `DLT_RAW` as OpenBSD numbers it.
pub const DLT_RAW_OPENBSD: i32 = 14;
pub const DLT_PPP_SERIAL: i32 = 50;
/// The link type savefiles use for raw IP (libpcap maps it to `DLT_RAW` when reading).
pub const LINKTYPE_RAW: i32 = 101;
pub const DLT_LOOP: i32 = 108;
pub const DLT_LINUX_SLL: i32 = 113;
pub const DLT_PFLOG: i32 = 117;
pub const DLT_SUNATM: i32 = 123;
pub const DLT_LINUX_SLL2: i32 = 276;

/// Every link type [`ip_payload`] decodes.
pub const SUPPORTED: [i32; 15] = [
    DLT_NULL,
    DLT_EN10MB,
    DLT_IEEE802,
    DLT_SLIP,
    DLT_PPP,
    DLT_FDDI,
    DLT_RAW,
    DLT_RAW_OPENBSD,
    DLT_PPP_SERIAL,
    LINKTYPE_RAW,
    DLT_LOOP,
    DLT_LINUX_SLL,
    DLT_PFLOG,
    DLT_SUNATM,
    DLT_LINUX_SLL2,
];

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q customer VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service VLAN tag (QinQ).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// The pre-standard QinQ tag some switches still send.
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// The most VLAN tags skipped before giving up.
pub const MAX_VLAN_TAGS: usize = 4;

/// `AF_INET`, the same on every system.
pub const AF_INET: u32 = 2;
/// `AF_INET6` on Linux. Linux never captures with a 4-byte family header itself, but its
/// libpcap compiles `ip6` for DLT_NULL/DLT_LOOP as this value, so frames it lets through
/// carry it.
pub const AF_INET6_LINUX: u32 = 10;
/// `AF_INET6` on NetBSD and OpenBSD.
pub const AF_INET6_BSD: u32 = 24;
/// `AF_INET6` on FreeBSD and DragonFly.
pub const AF_INET6_FREEBSD: u32 = 28;
/// `AF_INET6` on macOS.
pub const AF_INET6_DARWIN: u32 = 30;

pub const PPP_ADDRESS: u8 = 0xff;
pub const PPP_CONTROL: u8 = 0x03;
pub const PPP_IP: u16 = 0x0021;
pub const PPP_IPV6: u16 = 0x0057;
pub const CHDLC_UNICAST: u8 = 0x0f;
pub const CHDLC_BROADCAST: u8 = 0x8f;

pub const ETHERNET_HEADER_LEN: usize = 14;
pub const VLAN_TAG_LEN: usize = 4;
pub const NULL_HEADER_LEN: usize = 4;
pub const SLL_HEADER_LEN: usize = 16;
pub const SLL2_HEADER_LEN: usize = 20;
pub const SLIP_HEADER_LEN: usize = 16;
pub const SUNATM_HEADER_LEN: usize = 4;
pub const FDDI_HEADER_LEN: usize = 13;
pub const TOKEN_RING_HEADER_LEN: usize = 14;
/// LLC (`aa aa 03`) + SNAP (3-byte OUI, 2-byte ethertype).
pub const LLC_SNAP_LEN: usize = 8;
/// The shortest pflog header ever used (OpenBSD 3.4: up to and including `dir`).
pub const PFLOG_MIN_HEADER_LEN: u8 = 45;
/// The pflog header of current OpenBSD and FreeBSD (before padding).
pub const PFLOG_HEADER_LEN: u8 = 61;

/// Linux cooked-capture packet types (`sll_pkttype`, linux/if_packet.h): addressed to this
/// host, and sent by it.
pub const PACKET_HOST: u16 = 0;
pub const PACKET_OUTGOING: u16 = 4;
/// The hardware type of a loopback device (`ARPHRD_LOOPBACK`), as a cooked header shows it.
pub const ARPHRD_LOOPBACK: u16 = 772;
/// The direction byte of a BSD SLIP header: received, sent.
pub const SLIPDIR_IN: u8 = 0;
pub const SLIPDIR_OUT: u8 = 1;

/// Field offsets inside the link-layer headers.
mod field {
    use std::ops::Range;

    pub const ETHER_SRC: Range<usize> = 6..12;
    pub const ETHER_TYPE: usize = 12;
    pub const SLL_PKTTYPE: Range<usize> = 0..2;
    pub const SLL_HATYPE: Range<usize> = 2..4;
    pub const SLL_PROTOCOL: usize = 14;
    pub const SLL2_PROTOCOL: Range<usize> = 0..2;
    pub const SLL2_HATYPE: Range<usize> = 8..10;
    pub const SLL2_PKTTYPE: usize = 10;
    pub const SLIP_DIRECTION: usize = 0;
    pub const NULL_FAMILY: Range<usize> = 0..4;
    pub const TOKEN_RING_SRC0: usize = 8;
    pub const PFLOG_LENGTH: usize = 0;
    pub const PFLOG_AF: usize = 1;
    pub const LLC_DSAP: usize = 0;
    pub const LLC_SSAP: usize = 1;
    pub const LLC_CONTROL: usize = 2;
    pub const SNAP_TYPE: Range<usize> = 6..8;
}

/// Why a frame does not yield an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A link type this module does not decode.
    Unsupported(i32),
    /// The frame ends inside its link-layer header, or right after it.
    Truncated,
    /// The link layer carries something other than IP: the ethertype, address family or PPP
    /// protocol it names.
    NotIp(u32),
    /// A link header that is not what its link type promises (LLC without SNAP, a pflog
    /// length below the minimum, unknown serial framing).
    BadHeader,
    /// More than [`MAX_VLAN_TAGS`] VLAN tags.
    TooManyVlanTags,
    /// The first nibble is neither 4 nor 6 (link types that do not name the protocol).
    BadVersion(u8),
    /// The link layer says one IP version, the packet's first nibble another.
    VersionMismatch { link: u8, packet: u8 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unsupported(dlt) => write!(f, "link type {dlt} is not supported"),
            Error::Truncated => write!(f, "frame shorter than its link-layer header"),
            Error::NotIp(p) => write!(f, "link-layer protocol {p:#06x} is not IP"),
            Error::BadHeader => write!(f, "malformed link-layer header"),
            Error::TooManyVlanTags => write!(f, "more than {MAX_VLAN_TAGS} VLAN tags"),
            Error::BadVersion(v) => write!(f, "IP version {v} is neither 4 nor 6"),
            Error::VersionMismatch { link, packet } => {
                write!(f, "link layer says IPv{link}, packet says version {packet}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// True for the link types [`ip_payload`] decodes.
pub fn supported(dlt: i32) -> bool {
    SUPPORTED.contains(&dlt)
}

/// The link type number a savefile header uses for `dlt` (only raw IP differs).
pub fn linktype(dlt: i32) -> i32 {
    match dlt {
        DLT_RAW | DLT_RAW_OPENBSD => LINKTYPE_RAW,
        other => other,
    }
}

/// The IP packet in `frame` captured on a link of type `dlt`: the bytes from the IP header
/// to the end of the frame (trailing padding included; the IP views cut it off).
pub fn ip_payload(dlt: i32, frame: &[u8]) -> Result<&[u8], Error> {
    let (offset, link_version) = framing(dlt, frame)?;
    let packet = frame.get(offset..).ok_or(Error::Truncated)?;
    let nibble = byte(packet, 0).ok_or(Error::Truncated)? >> 4;
    match link_version {
        Some(link) if link != nibble => Err(Error::VersionMismatch { link, packet: nibble }),
        None if nibble != 4 && nibble != 6 => Err(Error::BadVersion(nibble)),
        _ => Ok(packet),
    }
}

/// Where the network layer starts, and the IP version the link layer names (if it does).
fn framing(dlt: i32, frame: &[u8]) -> Result<(usize, Option<u8>), Error> {
    match dlt {
        DLT_RAW | DLT_RAW_OPENBSD | LINKTYPE_RAW => Ok((0, None)),
        DLT_SLIP => Ok((SLIP_HEADER_LEN, None)),
        DLT_NULL | DLT_LOOP => {
            let raw: [u8; 4] =
                frame.get(field::NULL_FAMILY).ok_or(Error::Truncated)?.try_into().map_err(|_| Error::Truncated)?;
            let be = u32::from_be_bytes(raw);
            // DLT_NULL is in the byte order of the capturing host, which a savefile does not
            // record; the families are small numbers, so only one order can match.
            let family = if dlt == DLT_NULL { [be, u32::from_le_bytes(raw)] } else { [be, be] };
            let version = family.iter().find_map(|&af| family_version(af)).ok_or(Error::NotIp(be))?;
            Ok((NULL_HEADER_LEN, Some(version)))
        }
        DLT_EN10MB => ethertype_chain(frame, field::ETHER_TYPE),
        DLT_LINUX_SLL => {
            if frame.len() < SLL_HEADER_LEN {
                return Err(Error::Truncated);
            }
            ethertype_chain(frame, field::SLL_PROTOCOL)
        }
        DLT_LINUX_SLL2 => {
            if frame.len() < SLL2_HEADER_LEN {
                return Err(Error::Truncated);
            }
            let proto = be_u16(frame, field::SLL2_PROTOCOL).ok_or(Error::Truncated)?;
            Ok((SLL2_HEADER_LEN, Some(ethertype_version(proto)?)))
        }
        DLT_PPP | DLT_PPP_SERIAL => ppp(frame),
        DLT_SUNATM => llc_snap(frame, SUNATM_HEADER_LEN),
        DLT_FDDI => llc_snap(frame, FDDI_HEADER_LEN),
        DLT_IEEE802 => {
            let src0 = byte(frame, field::TOKEN_RING_SRC0).ok_or(Error::Truncated)?;
            // The high bit of the source address announces a routing information field,
            // whose length is in the low five bits of its first byte.
            let rif = if src0 & 0x80 != 0 {
                usize::from(byte(frame, TOKEN_RING_HEADER_LEN).ok_or(Error::Truncated)? & 0x1f)
            } else {
                0
            };
            llc_snap(frame, TOKEN_RING_HEADER_LEN + rif)
        }
        DLT_PFLOG => {
            let len = byte(frame, field::PFLOG_LENGTH).ok_or(Error::Truncated)?;
            if len < PFLOG_MIN_HEADER_LEN {
                return Err(Error::BadHeader);
            }
            let af = u32::from(byte(frame, field::PFLOG_AF).ok_or(Error::Truncated)?);
            let version = family_version(af).ok_or(Error::NotIp(af))?;
            Ok(((usize::from(len) + 3) & !3, Some(version)))
        }
        other => Err(Error::Unsupported(other)),
    }
}

fn family_version(af: u32) -> Option<u8> {
    match af {
        AF_INET => Some(4),
        AF_INET6_LINUX | AF_INET6_BSD | AF_INET6_FREEBSD | AF_INET6_DARWIN => Some(6),
        _ => None,
    }
}

fn ethertype_version(ethertype: u16) -> Result<u8, Error> {
    match ethertype {
        ETHERTYPE_IPV4 => Ok(4),
        ETHERTYPE_IPV6 => Ok(6),
        other => Err(Error::NotIp(u32::from(other))),
    }
}

fn is_vlan(ethertype: u16) -> bool {
    matches!(ethertype, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD)
}

/// An ethertype at `at`, possibly a VLAN tag whose own type follows its 2-byte TCI; the
/// network layer starts after the last type.
fn ethertype_chain(frame: &[u8], mut at: usize) -> Result<(usize, Option<u8>), Error> {
    let mut tags = 0usize;
    loop {
        let ethertype = be_u16(frame, at..at + 2).ok_or(Error::Truncated)?;
        if !is_vlan(ethertype) {
            return Ok((at + 2, Some(ethertype_version(ethertype)?)));
        }
        if tags == MAX_VLAN_TAGS {
            return Err(Error::TooManyVlanTags);
        }
        tags += 1;
        at += VLAN_TAG_LEN;
    }
}

/// An 802.2 LLC header with SNAP at `at`, carrying an ethertype.
fn llc_snap(frame: &[u8], at: usize) -> Result<(usize, Option<u8>), Error> {
    let llc = frame.get(at..at + LLC_SNAP_LEN).ok_or(Error::Truncated)?;
    if byte(llc, field::LLC_DSAP) != Some(0xaa)
        || byte(llc, field::LLC_SSAP) != Some(0xaa)
        || byte(llc, field::LLC_CONTROL) != Some(0x03)
    {
        return Err(Error::BadHeader);
    }
    let ethertype = be_u16(llc, field::SNAP_TYPE).ok_or(Error::Truncated)?;
    Ok((at + LLC_SNAP_LEN, Some(ethertype_version(ethertype)?)))
}

/// PPP (RFC 1661/1662): optional `ff 03` address and control, then a protocol of two bytes,
/// or one when compressed (an odd first byte). Cisco HDLC (`0f`/`8f`, `00`, ethertype) also
/// appears on `DLT_PPP_SERIAL` links.
fn ppp(frame: &[u8]) -> Result<(usize, Option<u8>), Error> {
    let first = byte(frame, 0).ok_or(Error::Truncated)?;
    if first == CHDLC_UNICAST || first == CHDLC_BROADCAST {
        if byte(frame, 1).ok_or(Error::Truncated)? != 0 {
            return Err(Error::BadHeader);
        }
        let ethertype = be_u16(frame, 2..4).ok_or(Error::Truncated)?;
        return Ok((4, Some(ethertype_version(ethertype)?)));
    }
    let at = if first == PPP_ADDRESS && byte(frame, 1) == Some(PPP_CONTROL) { 2 } else { 0 };
    let (protocol, len) = match byte(frame, at).ok_or(Error::Truncated)? {
        b if b & 1 == 1 => (u16::from(b), 1),
        _ => (be_u16(frame, at..at + 2).ok_or(Error::Truncated)?, 2),
    };
    let version = match protocol {
        PPP_IP => 4,
        PPP_IPV6 => 6,
        other => return Err(Error::NotIp(u32::from(other))),
    };
    Ok((at + len, Some(version)))
}

/// Who sent a captured frame, as far as its link-layer header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// This host: a frame it sent, or one on a loopback device (which carries only this
    /// host's own traffic; a capture on Linux shows such frames as received only).
    Local,
    /// Another host: a frame received from the network.
    Remote,
    /// An Ethernet frame's source address, for the caller to compare with the interface's.
    Mac([u8; 6]),
    /// The link layer does not say (raw IP, PPP, …), or the frame is too short to tell.
    Unknown,
}

/// What the link-layer header of `frame` (link type `dlt`) says about its sender.
pub fn sender(dlt: i32, frame: &[u8]) -> Sender {
    let cooked = |pkttype: Option<u16>, hatype: Option<u16>| match (pkttype, hatype) {
        (Some(PACKET_OUTGOING), Some(_)) | (Some(_), Some(ARPHRD_LOOPBACK)) => Sender::Local,
        (Some(_), Some(_)) => Sender::Remote,
        _ => Sender::Unknown,
    };
    match dlt {
        DLT_EN10MB => frame.get(field::ETHER_SRC).and_then(|m| m.try_into().ok()).map_or(Sender::Unknown, Sender::Mac),
        DLT_LINUX_SLL => cooked(be_u16(frame, field::SLL_PKTTYPE), be_u16(frame, field::SLL_HATYPE)),
        DLT_LINUX_SLL2 => cooked(byte(frame, field::SLL2_PKTTYPE).map(u16::from), be_u16(frame, field::SLL2_HATYPE)),
        DLT_SLIP => match byte(frame, field::SLIP_DIRECTION) {
            Some(SLIPDIR_OUT) => Sender::Local,
            Some(SLIPDIR_IN) => Sender::Remote,
            _ => Sender::Unknown,
        },
        _ => Sender::Unknown,
    }
}

// ---- emitters (tests, generated captures) ----------------------------------------------

/// The MAC addresses our frames use (the documentation range of RFC 7042).
pub const MAC_DST: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0x01];
pub const MAC_SRC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0x02];

fn packet_version(ip_packet: &[u8]) -> Result<u8, Error> {
    match byte(ip_packet, 0).ok_or(Error::Truncated)? >> 4 {
        v @ (4 | 6) => Ok(v),
        v => Err(Error::BadVersion(v)),
    }
}

fn ethertype_of(version: u8) -> u16 {
    if version == 6 {
        ETHERTYPE_IPV6
    } else {
        ETHERTYPE_IPV4
    }
}

const SNAP_PREFIX: [u8; 6] = [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00];

/// Appends an Ethernet frame carrying `ip_packet`, behind the VLAN tags `(TPID, TCI)` given.
pub fn emit_ethernet(out: &mut Vec<u8>, tags: &[(u16, u16)], ip_packet: &[u8]) -> Result<(), Error> {
    let version = packet_version(ip_packet)?;
    out.extend_from_slice(&MAC_DST);
    out.extend_from_slice(&MAC_SRC);
    for (tpid, tci) in tags {
        out.extend_from_slice(&tpid.to_be_bytes());
        out.extend_from_slice(&tci.to_be_bytes());
    }
    out.extend_from_slice(&ethertype_of(version).to_be_bytes());
    out.extend_from_slice(ip_packet);
    Ok(())
}

/// Appends `ip_packet` framed as a capture on a link of type `dlt` would show it (outgoing,
/// where the framing says so). DLT_NULL, DLT_LOOP and PFLOG carry this host's `AF_INET6`
/// (what its libpcap compiles `ip6` to), DLT_NULL in this host's byte order.
pub fn emit_frame(out: &mut Vec<u8>, dlt: i32, ip_packet: &[u8]) -> Result<(), Error> {
    let version = packet_version(ip_packet)?;
    let ethertype = ethertype_of(version).to_be_bytes();
    let family = if version == 6 { libc::AF_INET6 as u32 } else { AF_INET };
    let ppp_proto = if version == 6 { PPP_IPV6 } else { PPP_IP }.to_be_bytes();
    match dlt {
        DLT_RAW | DLT_RAW_OPENBSD | LINKTYPE_RAW => {}
        DLT_NULL => out.extend_from_slice(&family.to_ne_bytes()),
        DLT_LOOP => out.extend_from_slice(&family.to_be_bytes()),
        DLT_EN10MB => return emit_ethernet(out, &[], ip_packet),
        DLT_LINUX_SLL => {
            // Packet type 4 (outgoing), ARPHRD_ETHER, 6-byte address padded to 8, protocol.
            out.extend_from_slice(&[0, 4, 0, 1, 0, 6]);
            out.extend_from_slice(&MAC_SRC);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&ethertype);
        }
        DLT_LINUX_SLL2 => {
            // Protocol, reserved, interface index 1, ARPHRD_ETHER, outgoing, address.
            out.extend_from_slice(&ethertype);
            out.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 4, 6]);
            out.extend_from_slice(&MAC_SRC);
            out.extend_from_slice(&[0, 0]);
        }
        DLT_SLIP => {
            // Direction 1 (outgoing), then the (unused) compression state.
            out.push(1);
            out.extend_from_slice(&[0; SLIP_HEADER_LEN - 1]);
        }
        DLT_PPP | DLT_PPP_SERIAL => {
            out.extend_from_slice(&[PPP_ADDRESS, PPP_CONTROL]);
            out.extend_from_slice(&ppp_proto);
        }
        DLT_SUNATM => {
            // Flags (traffic type 2: LLC multiplexed), VPI 0, VCI 32, LLC/SNAP.
            out.extend_from_slice(&[0x02, 0, 0, 32]);
            out.extend_from_slice(&SNAP_PREFIX);
            out.extend_from_slice(&ethertype);
        }
        DLT_FDDI => {
            out.push(0x50); // frame control: asynchronous LLC
            out.extend_from_slice(&MAC_DST);
            out.extend_from_slice(&MAC_SRC);
            out.extend_from_slice(&SNAP_PREFIX);
            out.extend_from_slice(&ethertype);
        }
        DLT_IEEE802 => {
            out.extend_from_slice(&[0x10, 0x40]); // access control, frame control: LLC
            out.extend_from_slice(&MAC_DST);
            out.extend_from_slice(&MAC_SRC);
            out.extend_from_slice(&SNAP_PREFIX);
            out.extend_from_slice(&ethertype);
        }
        DLT_PFLOG => {
            // Length 61, family, action pass, reason 0, interface "lo0", rest zero; padded
            // to 64 bytes as BPF_WORDALIGN does.
            let mut hdr = [0u8; 64];
            hdr[field::PFLOG_LENGTH] = PFLOG_HEADER_LEN;
            hdr[field::PFLOG_AF] = family as u8;
            hdr[4..7].copy_from_slice(b"lo0");
            out.extend_from_slice(&hdr);
        }
        other => return Err(Error::Unsupported(other)),
    }
    out.extend_from_slice(ip_packet);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ipv4, ipv6};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4_packet() -> Vec<u8> {
        let mut out = Vec::new();
        ipv4::emit(&mut out, &ipv4::Repr::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 6), &[0; 20]);
        out
    }

    fn v6_packet() -> Vec<u8> {
        let mut out = Vec::new();
        ipv6::emit(&mut out, &ipv6::Repr::new(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 6), &[0; 20]);
        out
    }

    #[test]
    fn every_supported_link_type_round_trips() {
        for dlt in SUPPORTED {
            assert!(supported(dlt));
            for packet in [v4_packet(), v6_packet()] {
                let mut frame = Vec::new();
                emit_frame(&mut frame, dlt, &packet).unwrap();
                assert_eq!(ip_payload(dlt, &frame), Ok(&packet[..]), "DLT {dlt}");
                // Every cut inside the link header is an error, never a panic or a packet.
                let header = frame.len() - packet.len();
                for cut in 0..=header {
                    assert!(ip_payload(dlt, &frame[..cut]).is_err(), "DLT {dlt} cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn unsupported_link_types() {
        for dlt in [-1, 2, 3, 105, 127, 147, 228, 229, 277, i32::MAX] {
            assert!(!supported(dlt));
            assert_eq!(ip_payload(dlt, &v4_packet()), Err(Error::Unsupported(dlt)));
            assert_eq!(emit_frame(&mut Vec::new(), dlt, &v4_packet()), Err(Error::Unsupported(dlt)));
        }
    }

    #[test]
    fn savefile_link_types() {
        assert_eq!(linktype(DLT_RAW), LINKTYPE_RAW);
        assert_eq!(linktype(DLT_RAW_OPENBSD), LINKTYPE_RAW);
        assert_eq!(linktype(DLT_EN10MB), DLT_EN10MB);
        assert_eq!(linktype(DLT_LINUX_SLL2), DLT_LINUX_SLL2);
    }

    /// A real frame captured on Linux `lo` (tests/data/pcap/real-lo-ethernet.pcap): Ethernet
    /// with zero addresses, IPv4 TCP RST|ACK from 127.0.0.1:7001 (closed) to 127.0.0.1:51856.
    const REAL_LO_RST: [u8; 54] = [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00, //
        0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x3c, 0xce, 127, 0, 0, 1, 127, 0, 0, 1, //
        0x1b, 0x59, 0xca, 0x90, 0, 0, 0, 0, 0xc7, 0xe7, 0xeb, 0x4d, 0x50, 0x14, 0, 0, 0x18, 0xaf, 0, 0,
    ];

    #[test]
    fn ethernet_real_frame() {
        let ip = ip_payload(DLT_EN10MB, &REAL_LO_RST).unwrap();
        assert_eq!(ip, &REAL_LO_RST[ETHERNET_HEADER_LEN..]);
        // The same packet as the "any" device shows it (Linux cooked header, outgoing).
        let mut sll = vec![0, 0, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(ip);
        assert_eq!(ip_payload(DLT_LINUX_SLL, &sll), Ok(ip));
    }

    #[test]
    fn ethernet_vlan_tags() {
        let packet = v6_packet();
        for tags in [
            vec![(ETHERTYPE_VLAN, 100)],
            vec![(ETHERTYPE_QINQ, 10), (ETHERTYPE_VLAN, 20)],
            vec![(ETHERTYPE_QINQ_OLD, 1); MAX_VLAN_TAGS],
        ] {
            let mut frame = Vec::new();
            emit_ethernet(&mut frame, &tags, &packet).unwrap();
            assert_eq!(ip_payload(DLT_EN10MB, &frame), Ok(&packet[..]), "{tags:?}");
        }
        let mut frame = Vec::new();
        emit_ethernet(&mut frame, &[(ETHERTYPE_VLAN, 1); MAX_VLAN_TAGS + 1], &packet).unwrap();
        assert_eq!(ip_payload(DLT_EN10MB, &frame), Err(Error::TooManyVlanTags));
        // A tag and nothing after it.
        assert_eq!(ip_payload(DLT_EN10MB, &frame[..ETHERNET_HEADER_LEN + 2]), Err(Error::Truncated));
    }

    #[test]
    fn sll_with_reinserted_vlan_tag() {
        let packet = v4_packet();
        let mut frame = vec![0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
        frame.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        frame.extend_from_slice(&[0, 5]);
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        frame.extend_from_slice(&packet);
        assert_eq!(ip_payload(DLT_LINUX_SLL, &frame), Ok(&packet[..]));
    }

    #[test]
    fn non_ip_and_mismatched_versions() {
        let mut arp = MAC_DST.to_vec();
        arp.extend_from_slice(&MAC_SRC);
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(ip_payload(DLT_EN10MB, &arp), Err(Error::NotIp(0x0806)));

        // Ethertype IPv4, IPv6 packet.
        let mut frame = Vec::new();
        emit_ethernet(&mut frame, &[], &v6_packet()).unwrap();
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        assert_eq!(ip_payload(DLT_EN10MB, &frame), Err(Error::VersionMismatch { link: 4, packet: 6 }));

        // Raw link types decide by the nibble.
        assert_eq!(ip_payload(DLT_RAW, &[0x50; 20]), Err(Error::BadVersion(5)));
        assert_eq!(ip_payload(DLT_RAW, &[]), Err(Error::Truncated));
        assert_eq!(emit_frame(&mut Vec::new(), DLT_RAW, &[0x10]), Err(Error::BadVersion(1)));
        assert_eq!(emit_frame(&mut Vec::new(), DLT_RAW, &[]), Err(Error::Truncated));

        // Unknown address families.
        for af in [0u32, 11, 17, 0x0200_0000 | 1] {
            let mut frame = af.to_be_bytes().to_vec();
            frame.extend_from_slice(&v4_packet());
            assert!(matches!(ip_payload(DLT_LOOP, &frame), Err(Error::NotIp(_))), "{af}");
        }
        // DLT_NULL in either byte order; DLT_LOOP only in network order.
        for af in [AF_INET6_LINUX, AF_INET6_BSD, AF_INET6_FREEBSD, AF_INET6_DARWIN] {
            for bytes in [af.to_le_bytes(), af.to_be_bytes()] {
                let mut frame = bytes.to_vec();
                frame.extend_from_slice(&v6_packet());
                assert!(ip_payload(DLT_NULL, &frame).is_ok(), "{af} {bytes:?}");
            }
            let mut frame = af.to_le_bytes().to_vec();
            frame.extend_from_slice(&v6_packet());
            assert_eq!(ip_payload(DLT_LOOP, &frame), Err(Error::NotIp(af.swap_bytes())));
        }
    }

    #[test]
    fn ppp_variants() {
        let packet = v4_packet();
        let with = |prefix: &[u8]| {
            let mut f = prefix.to_vec();
            f.extend_from_slice(&packet);
            f
        };
        for dlt in [DLT_PPP, DLT_PPP_SERIAL] {
            assert_eq!(ip_payload(dlt, &with(&[0xff, 0x03, 0x00, 0x21])), Ok(&packet[..]));
            assert_eq!(ip_payload(dlt, &with(&[0x00, 0x21])), Ok(&packet[..]));
            assert_eq!(ip_payload(dlt, &with(&[0x21])), Ok(&packet[..]));
            assert_eq!(ip_payload(dlt, &with(&[0xff, 0x03, 0x21])), Ok(&packet[..]));
            assert_eq!(ip_payload(dlt, &with(&[0x0f, 0x00, 0x08, 0x00])), Ok(&packet[..]));
            assert_eq!(ip_payload(dlt, &with(&[0x8f, 0x00, 0x08, 0x00])), Ok(&packet[..]));
            assert_eq!(ip_payload(dlt, &with(&[0x0f, 0x01, 0x08, 0x00])), Err(Error::BadHeader));
            assert_eq!(ip_payload(dlt, &with(&[0xff, 0x03, 0xc0, 0x21])), Err(Error::NotIp(0xc021)));
            assert_eq!(
                ip_payload(dlt, &with(&[0xff, 0x03, 0x00, 0x57])),
                Err(Error::VersionMismatch { link: 6, packet: 4 })
            );
        }
    }

    #[test]
    fn llc_without_snap_and_token_ring_routing() {
        let packet = v4_packet();
        let mut frame = Vec::new();
        emit_frame(&mut frame, DLT_FDDI, &packet).unwrap();
        frame[FDDI_HEADER_LEN] = 0x42; // spanning tree, not SNAP
        assert_eq!(ip_payload(DLT_FDDI, &frame), Err(Error::BadHeader));

        // Token Ring with a 6-byte routing information field.
        let mut frame = vec![0x10, 0x40];
        frame.extend_from_slice(&MAC_DST);
        frame.extend_from_slice(&[0x80 | MAC_SRC[0], 0, 0x5e, 0, 0x53, 2]);
        frame.extend_from_slice(&[0x06, 0x30, 0x00, 0x10, 0x00, 0x20]);
        frame.extend_from_slice(&SNAP_PREFIX);
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        frame.extend_from_slice(&packet);
        assert_eq!(ip_payload(DLT_IEEE802, &frame), Ok(&packet[..]));
    }

    #[test]
    fn pflog_lengths() {
        let packet = v6_packet();
        for (len, offset) in [(45u8, 48usize), (61, 64), (64, 64)] {
            let mut frame = vec![0u8; offset];
            frame[0] = len;
            frame[1] = AF_INET6_FREEBSD as u8;
            frame.extend_from_slice(&packet);
            assert_eq!(ip_payload(DLT_PFLOG, &frame), Ok(&packet[..]), "length {len}");
        }
        let mut frame = vec![44u8, 2];
        frame.extend_from_slice(&[0; 62]);
        assert_eq!(ip_payload(DLT_PFLOG, &frame), Err(Error::BadHeader));
        frame[0] = 61;
        frame[1] = 7;
        assert_eq!(ip_payload(DLT_PFLOG, &frame), Err(Error::NotIp(7)));
        frame[0] = 255; // header claims more than the frame holds
        frame[1] = 2;
        assert_eq!(ip_payload(DLT_PFLOG, &frame), Err(Error::Truncated));
    }

    #[test]
    fn senders() {
        let packet = v4_packet();
        let framed = |dlt: i32| {
            let mut frame = Vec::new();
            emit_frame(&mut frame, dlt, &packet).unwrap();
            frame
        };
        // What `emit_frame` writes: outgoing, from MAC_SRC.
        assert_eq!(sender(DLT_EN10MB, &framed(DLT_EN10MB)), Sender::Mac(MAC_SRC));
        assert_eq!(sender(DLT_EN10MB, &REAL_LO_RST), Sender::Mac([0; 6]));
        for dlt in [DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_SLIP] {
            assert_eq!(sender(dlt, &framed(dlt)), Sender::Local, "DLT {dlt}");
        }
        // Cooked headers: received from the network (host, broadcast, multicast, another
        // host's), or received on a loopback device.
        for pkttype in [PACKET_HOST, 1, 2, 3] {
            let mut sll = framed(DLT_LINUX_SLL);
            sll[field::SLL_PKTTYPE].copy_from_slice(&pkttype.to_be_bytes());
            assert_eq!(sender(DLT_LINUX_SLL, &sll), Sender::Remote, "type {pkttype}");
            sll[field::SLL_HATYPE].copy_from_slice(&ARPHRD_LOOPBACK.to_be_bytes());
            assert_eq!(sender(DLT_LINUX_SLL, &sll), Sender::Local, "type {pkttype}");
            let mut sll2 = framed(DLT_LINUX_SLL2);
            sll2[field::SLL2_PKTTYPE] = pkttype as u8;
            assert_eq!(sender(DLT_LINUX_SLL2, &sll2), Sender::Remote, "type {pkttype}");
            sll2[field::SLL2_HATYPE].copy_from_slice(&ARPHRD_LOOPBACK.to_be_bytes());
            assert_eq!(sender(DLT_LINUX_SLL2, &sll2), Sender::Local, "type {pkttype}");
        }
        let mut slip = framed(DLT_SLIP);
        slip[0] = SLIPDIR_IN;
        assert_eq!(sender(DLT_SLIP, &slip), Sender::Remote);
        slip[0] = 7;
        assert_eq!(sender(DLT_SLIP, &slip), Sender::Unknown);
        // Link types without a word on it, and frames too short to tell.
        for dlt in SUPPORTED.into_iter().filter(|d| ![DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_SLIP].contains(d))
        {
            assert_eq!(sender(dlt, &framed(dlt)), Sender::Unknown, "DLT {dlt}");
        }
        assert_eq!(sender(DLT_EN10MB, &MAC_DST), Sender::Unknown);
        assert_eq!(sender(DLT_LINUX_SLL, &[0, 4, 0]), Sender::Unknown);
        assert_eq!(sender(DLT_LINUX_SLL2, &framed(DLT_LINUX_SLL2)[..10]), Sender::Unknown);
        assert_eq!(sender(DLT_SLIP, &[]), Sender::Unknown);
        assert_eq!(sender(147, &packet), Sender::Unknown);
    }

    #[test]
    fn errors_display() {
        for e in [
            Error::Unsupported(3),
            Error::Truncated,
            Error::NotIp(0x806),
            Error::BadHeader,
            Error::TooManyVlanTags,
            Error::BadVersion(0),
            Error::VersionMismatch { link: 4, packet: 6 },
        ] {
            assert!(!e.to_string().is_empty());
        }
    }
}
