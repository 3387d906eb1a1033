//! UDP headers (RFC 768): a checked, zero-copy view and an emitter.
//!
//! The nfq monitor reads the ports of the queued datagram; the pcap monitor reads them from the
//! datagram quoted in an ICMP port unreachable, of which only the 8-byte header is guaranteed
//! to be present. The view therefore needs only the header; the payload ends at the length
//! field or at the end of the bytes, whichever comes first.

use super::bytes::be_u16;
use super::checksum;
use super::ip::PROTO_UDP;
use std::fmt;
use std::net::IpAddr;

/// The header.
pub const HEADER_LEN: usize = 8;

/// Field offsets from the start of the header.
mod field {
    use std::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Why bytes are not a UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer than 8 bytes.
    Truncated,
    /// A length field below 8.
    BadLength(u16),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "UDP header truncated"),
            Error::BadLength(n) => write!(f, "UDP length {n} is below 8"),
        }
    }
}

impl std::error::Error for Error {}

/// A checked UDP datagram (header present, length field at least 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> UdpPacket<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = be_u16(buf, field::LENGTH).ok_or(Error::Truncated)?;
        if usize::from(len) < HEADER_LEN {
            return Err(Error::BadLength(len));
        }
        let end = usize::from(len).min(buf.len());
        Ok(UdpPacket { buf: buf.get(..end).ok_or(Error::Truncated)? })
    }

    pub fn src_port(&self) -> u16 {
        be_u16(self.buf, field::SRC_PORT).unwrap_or(0)
    }

    pub fn dst_port(&self) -> u16 {
        be_u16(self.buf, field::DST_PORT).unwrap_or(0)
    }

    /// The length field (header included).
    pub fn len(&self) -> u16 {
        be_u16(self.buf, field::LENGTH).unwrap_or(0)
    }

    /// True when the datagram carries no data according to its length field.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        be_u16(self.buf, field::CHECKSUM).unwrap_or(0)
    }

    /// The data, as far as it is present.
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..).unwrap_or(&[])
    }

    /// True when the checksum is right (or absent, which IPv4 allows).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        if self.checksum() == 0 && src.is_ipv4() {
            return true;
        }
        let sum = checksum::pseudo_header(src, dst, PROTO_UDP, self.buf.len());
        checksum::finish(checksum::accumulate(sum, self.buf)) == 0
    }
}

/// The ports a UDP header is built from (length and checksum computed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl Repr {
    pub fn parse(p: &UdpPacket<'_>) -> Repr {
        Repr { src_port: p.src_port(), dst_port: p.dst_port() }
    }
}

/// Appends the header and `payload`, with the checksum for `src` → `dst`. The length field
/// saturates at 65535.
pub fn emit(out: &mut Vec<u8>, repr: &Repr, src: IpAddr, dst: IpAddr, payload: &[u8]) {
    let start = out.len();
    let len = u16::try_from(payload.len().saturating_add(HEADER_LEN)).unwrap_or(u16::MAX);
    out.extend_from_slice(&repr.src_port.to_be_bytes());
    out.extend_from_slice(&repr.dst_port.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    let mut sum = checksum::transport(src, dst, PROTO_UDP, out.get(start..).unwrap_or(&[]));
    if sum == 0 {
        // Zero means "no checksum"; a computed zero is sent as all ones.
        sum = 0xffff;
    }
    if let Some(field) = out.get_mut(start + field::CHECKSUM.start..start + field::CHECKSUM.end) {
        field.copy_from_slice(&sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn round_trip_and_checksum() {
        // The datagram of the nfnetlink capture: 48958 → 9999, "honeytrap", checksum e8d0.
        let real =
            [0xbf, 0x3e, 0x27, 0x0f, 0x00, 0x11, 0xe8, 0xd0, b'h', b'o', b'n', b'e', b'y', b't', b'r', b'a', b'p'];
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let p = UdpPacket::new_checked(&real).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (48958, 9999, 17));
        assert_eq!(p.payload(), b"honeytrap");
        assert!(p.verify_checksum(lo, lo));
        let mut out = Vec::new();
        emit(&mut out, &Repr::parse(&p), lo, lo, p.payload());
        assert_eq!(out, real);

        let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let mut out = Vec::new();
        emit(&mut out, &Repr { src_port: 1, dst_port: 2 }, lo6, lo6, b"");
        let p = UdpPacket::new_checked(&out).unwrap();
        assert!(p.verify_checksum(lo6, lo6) && p.is_empty());
        assert_eq!((p.src_port(), p.dst_port()), (1, 2));
    }

    #[test]
    fn quoted_prefix_and_padding() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut out = Vec::new();
        emit(&mut out, &Repr { src_port: 5, dst_port: 6 }, lo, lo, b"abcdef");
        let p = UdpPacket::new_checked(&out[..10]).unwrap();
        assert_eq!(p.payload(), b"ab");
        out.extend_from_slice(&[0; 4]);
        let p = UdpPacket::new_checked(&out).unwrap();
        assert_eq!(p.payload(), b"abcdef");
    }

    #[test]
    fn malformed() {
        assert_eq!(UdpPacket::new_checked(&[0; 7]), Err(Error::Truncated));
        assert_eq!(UdpPacket::new_checked(&[0, 1, 0, 2, 0, 7, 0, 0]), Err(Error::BadLength(7)));
        assert!(!Error::Truncated.to_string().is_empty());
        assert!(!Error::BadLength(0).to_string().is_empty());
    }
}
