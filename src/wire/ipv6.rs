//! IPv6 headers (RFC 8200): a checked, zero-copy view of the fixed header, a bounded walk over
//! the extension headers to the upper-layer header, and emitters.
//!
//! The C original knew no IPv6 at all; this is new. The walk understands the headers that can
//! sit between the fixed header and TCP/UDP/ICMPv6 in practice:
//!
//! | next header | name                | length                          |
//! |-------------|---------------------|---------------------------------|
//! | 0           | Hop-by-Hop Options  | `(len + 1) * 8`                 |
//! | 43          | Routing             | `(len + 1) * 8`                 |
//! | 60          | Destination Options | `(len + 1) * 8`                 |
//! | 44          | Fragment            | 8; offset ≠ 0: no upper header  |
//! | 51          | Authentication (AH) | `(len + 2) * 4` (RFC 4302)      |
//!
//! Anything else is the upper-layer protocol, including ESP (50, encrypted: nothing more to
//! read) and No Next Header (59). At most [`MAX_EXT_HEADERS`] extension headers are walked,
//! so a packet made of nothing but empty options headers costs a bounded amount of work.
//!
//! As with IPv4, the view ends at the payload length, and fewer bytes than the payload length
//! are accepted (a captured prefix, or the packet quoted in an ICMPv6 error).

use super::bytes::{array16, be_u16, be_u32, byte};
use super::ip::{Upper, PROTO_AH, PROTO_DSTOPTS, PROTO_FRAGMENT, PROTO_HOPOPTS, PROTO_ROUTING};
use std::fmt;
use std::net::Ipv6Addr;

/// The version nibble.
pub const VERSION: u8 = 6;
/// The fixed header.
pub const HEADER_LEN: usize = 40;
/// The most extension headers [`Ipv6Packet::upper`] walks before giving up.
pub const MAX_EXT_HEADERS: usize = 8;
/// Size of a Fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// Field offsets from the start of the fixed header.
mod field {
    use std::ops::Range;

    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;

    // Extension headers, from their own start.
    pub const EXT_NEXT: usize = 0;
    pub const EXT_LEN: usize = 1;
    // Fragment header.
    pub const FRAG_OFFSET_M: Range<usize> = 2..4;
    pub const FRAG_IDENT: Range<usize> = 4..8;
}

/// Why bytes are not an IPv6 packet (or its extension headers cannot be walked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer than 40 bytes.
    Truncated,
    /// The version nibble is not 6.
    BadVersion(u8),
    /// The extension header of this type runs past the end of the bytes.
    ExtensionTruncated(u8),
    /// More than [`MAX_EXT_HEADERS`] extension headers.
    TooManyExtensionHeaders,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "IPv6 header truncated"),
            Error::BadVersion(v) => write!(f, "version {v} in an IPv6 header"),
            Error::ExtensionTruncated(t) => write!(f, "IPv6 extension header {t} truncated"),
            Error::TooManyExtensionHeaders => write!(f, "more than {MAX_EXT_HEADERS} IPv6 extension headers"),
        }
    }
}

impl std::error::Error for Error {}

/// A checked IPv6 packet: the whole fixed header, and at most 40 + payload-length bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Checks the fixed header at the start of `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let version = byte(buf, 0).ok_or(Error::Truncated)? >> 4;
        if version != VERSION {
            return Err(Error::BadVersion(version));
        }
        let payload_len = usize::from(be_u16(buf, field::PAYLOAD_LEN).ok_or(Error::Truncated)?);
        let end = HEADER_LEN.saturating_add(payload_len).min(buf.len());
        Ok(Ipv6Packet { buf: buf.get(..end).ok_or(Error::Truncated)? })
    }

    /// The packet as far as we have it.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    fn ver_tc_flow(&self) -> u32 {
        be_u32(self.buf, field::VER_TC_FLOW).unwrap_or(0)
    }

    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Payload length as the header states it (extension headers included).
    pub fn payload_len(&self) -> u16 {
        be_u16(self.buf, field::PAYLOAD_LEN).unwrap_or(0)
    }

    /// True when fewer bytes than the payload length are present.
    pub fn is_truncated(&self) -> bool {
        HEADER_LEN.saturating_add(usize::from(self.payload_len())) > self.buf.len()
    }

    /// The Next Header field of the fixed header.
    pub fn next_header(&self) -> u8 {
        byte(self.buf, field::NEXT_HEADER).unwrap_or(0)
    }

    pub fn hop_limit(&self) -> u8 {
        byte(self.buf, field::HOP_LIMIT).unwrap_or(0)
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array16(self.buf, field::SRC).unwrap_or([0; 16]))
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array16(self.buf, field::DST).unwrap_or([0; 16]))
    }

    /// Everything after the fixed header, up to the payload length or the end of the bytes.
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..).unwrap_or(&[])
    }

    /// Walks the extension headers (see the module notes) to the upper-layer header.
    pub fn upper(&self) -> Result<Upper<'a>, Error> {
        let mut next = self.next_header();
        let mut rest = self.payload();
        let mut walked = 0usize;
        loop {
            let len = match next {
                PROTO_HOPOPTS | PROTO_ROUTING | PROTO_DSTOPTS => {
                    let units = byte(rest, field::EXT_LEN).ok_or(Error::ExtensionTruncated(next))?;
                    (usize::from(units) + 1) * 8
                }
                PROTO_AH => {
                    let units = byte(rest, field::EXT_LEN).ok_or(Error::ExtensionTruncated(next))?;
                    (usize::from(units) + 2) * 4
                }
                PROTO_FRAGMENT => FRAGMENT_HEADER_LEN,
                protocol => return Ok(Upper::Header { protocol, payload: rest }),
            };
            if walked == MAX_EXT_HEADERS {
                return Err(Error::TooManyExtensionHeaders);
            }
            walked += 1;
            let header = rest.get(..len).ok_or(Error::ExtensionTruncated(next))?;
            let following = byte(header, field::EXT_NEXT).ok_or(Error::ExtensionTruncated(next))?;
            if next == PROTO_FRAGMENT {
                let offset_m = be_u16(header, field::FRAG_OFFSET_M).ok_or(Error::ExtensionTruncated(next))?;
                if offset_m & 0xfff8 != 0 {
                    return Ok(Upper::LaterFragment { protocol: following });
                }
            }
            rest = rest.get(len..).unwrap_or(&[]);
            next = following;
        }
    }
}

/// The fields a fixed header is built from; the payload length is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
}

impl Repr {
    /// Hop limit 64, traffic class and flow label 0.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8) -> Repr {
        Repr { src, dst, next_header, hop_limit: 64, traffic_class: 0, flow_label: 0 }
    }

    /// The fields of a checked packet.
    pub fn parse(p: &Ipv6Packet<'_>) -> Repr {
        Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        }
    }
}

/// Appends the fixed header and `payload` (extension headers included) to `out`. The payload
/// length saturates at 65535 (jumbograms are not supported).
pub fn emit(out: &mut Vec<u8>, repr: &Repr, payload: &[u8]) {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let vtf = (u32::from(VERSION) << 28) | (u32::from(repr.traffic_class) << 20) | (repr.flow_label & 0x000f_ffff);
    let mut hdr = [0u8; HEADER_LEN];
    hdr[field::VER_TC_FLOW].copy_from_slice(&vtf.to_be_bytes());
    hdr[field::PAYLOAD_LEN].copy_from_slice(&len.to_be_bytes());
    hdr[field::NEXT_HEADER] = repr.next_header;
    hdr[field::HOP_LIMIT] = repr.hop_limit;
    hdr[field::SRC].copy_from_slice(&repr.src.octets());
    hdr[field::DST].copy_from_slice(&repr.dst.octets());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(payload);
}

/// Appends a Hop-by-Hop, Routing or Destination Options header whose body is `body`, padded
/// with zero bytes (Pad1 options) to a multiple of 8, then the next header's `next` number.
/// Bodies beyond 2046 bytes are cut: the length field cannot say more.
pub fn emit_options_header(out: &mut Vec<u8>, next: u8, body: &[u8]) {
    let body = body.get(..2046).unwrap_or(body);
    let total = (body.len() + 2).div_ceil(8) * 8;
    out.push(next);
    out.push(u8::try_from(total / 8 - 1).unwrap_or(u8::MAX));
    out.extend_from_slice(body);
    out.resize(out.len() + (total - 2 - body.len()), 0);
}

/// Appends a Fragment header: `offset` in bytes (low three bits dropped), `more` fragments
/// follow, identification `ident`.
pub fn emit_fragment_header(out: &mut Vec<u8>, next: u8, offset: u16, more: bool, ident: u32) {
    let offset_m = (offset & 0xfff8) | u16::from(more);
    out.extend_from_slice(&[next, 0]);
    out.extend_from_slice(&offset_m.to_be_bytes());
    out.extend_from_slice(&ident.to_be_bytes());
}

/// The fields of the Fragment header at the start of `ext`: (next header, offset in bytes,
/// more fragments, identification).
pub fn parse_fragment_header(ext: &[u8]) -> Option<(u8, u16, bool, u32)> {
    let offset_m = be_u16(ext, field::FRAG_OFFSET_M)?;
    Some((byte(ext, field::EXT_NEXT)?, offset_m & 0xfff8, offset_m & 1 != 0, be_u32(ext, field::FRAG_IDENT)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip::{PROTO_ESP, PROTO_ICMPV6, PROTO_NONE, PROTO_TCP, PROTO_UDP};

    fn a(last: u16) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)
    }

    fn packet(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        emit(&mut out, &Repr::new(a(1), a(2), next), payload);
        out
    }

    #[test]
    fn fixed_header_round_trip() {
        let repr = Repr { traffic_class: 0xb8, flow_label: 0xabcde, hop_limit: 255, ..Repr::new(a(1), a(2), 17) };
        let mut buf = Vec::new();
        emit(&mut buf, &repr, b"12345678");
        let p = Ipv6Packet::new_checked(&buf).unwrap();
        assert_eq!(Repr::parse(&p), repr);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.payload(), b"12345678");
        assert!(!p.is_truncated());
        assert_eq!(p.upper(), Ok(Upper::Header { protocol: PROTO_UDP, payload: b"12345678" }));
    }

    #[test]
    fn real_header_fields() {
        // Fixed header of an IPv6 TCP RST from ::1 to ::1 (payload 20 bytes, hop limit 64).
        let mut buf = vec![0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x40];
        buf.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        buf.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        buf.extend_from_slice(&[0; 20]);
        buf.extend_from_slice(&[0xee; 4]); // trailing bytes are not payload
        let p = Ipv6Packet::new_checked(&buf).unwrap();
        assert_eq!((p.next_header(), p.hop_limit(), p.payload_len()), (6, 64, 20));
        assert_eq!(p.payload(), &[0; 20]);
        assert_eq!(p.src_addr(), Ipv6Addr::LOCALHOST);
        assert!(!p.is_truncated());
        assert!(Ipv6Packet::new_checked(&buf[..50]).unwrap().is_truncated());
    }

    #[test]
    fn extension_headers_are_skipped() {
        let mut ext = Vec::new();
        emit_options_header(&mut ext, PROTO_ROUTING, &[1, 4, 0, 0, 0, 0]); // hop-by-hop, PadN
        emit_options_header(&mut ext, PROTO_FRAGMENT, &[0; 14]); // routing, 16 bytes
        emit_fragment_header(&mut ext, 51, 0, true, 7); // first fragment
        ext.extend_from_slice(&[PROTO_DSTOPTS, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // AH: (1+2)*4
        emit_options_header(&mut ext, PROTO_TCP, &[]); // destination options
        assert_eq!(ext.len(), 8 + 16 + 8 + 12 + 8);
        ext.extend_from_slice(b"tcp header");
        let buf = packet(PROTO_HOPOPTS, &ext);
        let p = Ipv6Packet::new_checked(&buf).unwrap();
        assert_eq!(p.upper(), Ok(Upper::Header { protocol: PROTO_TCP, payload: b"tcp header" }));
    }

    #[test]
    fn later_fragment_has_no_upper_header() {
        let mut ext = Vec::new();
        emit_fragment_header(&mut ext, PROTO_UDP, 1232, false, 0x1234_5678);
        assert_eq!(parse_fragment_header(&ext), Some((PROTO_UDP, 1232, false, 0x1234_5678)));
        ext.extend_from_slice(&[0; 8]);
        let buf = packet(PROTO_FRAGMENT, &ext);
        let p = Ipv6Packet::new_checked(&buf).unwrap();
        assert_eq!(p.upper(), Ok(Upper::LaterFragment { protocol: PROTO_UDP }));
        // The first fragment (offset 0, M set) carries the header.
        let mut ext = Vec::new();
        emit_fragment_header(&mut ext, PROTO_UDP, 0, true, 1);
        ext.extend_from_slice(b"udp hdr!");
        let buf = packet(PROTO_FRAGMENT, &ext);
        let p = Ipv6Packet::new_checked(&buf).unwrap();
        assert_eq!(p.upper(), Ok(Upper::Header { protocol: PROTO_UDP, payload: b"udp hdr!" }));
    }

    #[test]
    fn esp_and_no_next_header_stop_the_walk() {
        for stop in [PROTO_ESP, PROTO_NONE, PROTO_ICMPV6] {
            let mut ext = Vec::new();
            emit_options_header(&mut ext, stop, &[]);
            ext.extend_from_slice(&[0xab; 4]);
            let buf = packet(PROTO_DSTOPTS, &ext);
            let p = Ipv6Packet::new_checked(&buf).unwrap();
            assert_eq!(p.upper(), Ok(Upper::Header { protocol: stop, payload: &[0xab; 4] }));
        }
    }

    #[test]
    fn extension_header_limit() {
        let build = |n: usize| {
            let mut ext = Vec::new();
            for i in 0..n {
                emit_options_header(&mut ext, if i + 1 == n { PROTO_UDP } else { PROTO_DSTOPTS }, &[]);
            }
            ext.extend_from_slice(&[0; 8]);
            packet(PROTO_DSTOPTS, &ext)
        };
        let ok = build(MAX_EXT_HEADERS);
        assert_eq!(Ipv6Packet::new_checked(&ok).unwrap().upper().map(|u| u.protocol()), Ok(PROTO_UDP));
        let too_many = build(MAX_EXT_HEADERS + 1);
        assert_eq!(Ipv6Packet::new_checked(&too_many).unwrap().upper(), Err(Error::TooManyExtensionHeaders));
    }

    #[test]
    fn truncated_extension_headers() {
        // Hop-by-hop claiming 16 bytes with 8 present.
        let buf = packet(PROTO_HOPOPTS, &[PROTO_TCP, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Ipv6Packet::new_checked(&buf).unwrap().upper(), Err(Error::ExtensionTruncated(PROTO_HOPOPTS)));
        // No byte at all for the header length.
        let buf = packet(PROTO_ROUTING, &[]);
        assert_eq!(Ipv6Packet::new_checked(&buf).unwrap().upper(), Err(Error::ExtensionTruncated(PROTO_ROUTING)));
        let buf = packet(PROTO_AH, &[PROTO_TCP]);
        assert_eq!(Ipv6Packet::new_checked(&buf).unwrap().upper(), Err(Error::ExtensionTruncated(PROTO_AH)));
        let buf = packet(PROTO_FRAGMENT, &[PROTO_TCP, 0, 0, 0]);
        assert_eq!(Ipv6Packet::new_checked(&buf).unwrap().upper(), Err(Error::ExtensionTruncated(PROTO_FRAGMENT)));
        // The payload length cuts the view: a header beyond it is not there.
        let mut buf = packet(PROTO_HOPOPTS, &[PROTO_TCP, 0, 0, 0, 0, 0, 0, 0]);
        buf[4..6].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(Ipv6Packet::new_checked(&buf).unwrap().upper(), Err(Error::ExtensionTruncated(PROTO_HOPOPTS)));
    }

    #[test]
    fn malformed_fixed_headers() {
        let good = packet(PROTO_TCP, &[0; 20]);
        for n in [0, 1, 39] {
            assert_eq!(Ipv6Packet::new_checked(&good[..n]), Err(Error::Truncated));
        }
        let mut bad = good.clone();
        bad[0] = 0x45;
        assert_eq!(Ipv6Packet::new_checked(&bad), Err(Error::BadVersion(4)));
        for e in [Error::Truncated, Error::BadVersion(0), Error::ExtensionTruncated(0), Error::TooManyExtensionHeaders]
        {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn options_header_lengths() {
        for (body, total) in [(0usize, 8usize), (6, 8), (7, 16), (14, 16), (2046, 2048), (3000, 2048)] {
            let mut out = Vec::new();
            emit_options_header(&mut out, 6, &vec![1; body]);
            assert_eq!(out.len(), total, "body {body}");
            assert_eq!((usize::from(out[1]) + 1) * 8, total);
        }
    }
}
