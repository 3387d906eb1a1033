//! ICMP for IPv6 (RFC 4443): a checked, zero-copy view and an emitter.
//!
//! The IPv6 counterpart of ICMP port unreachable is "destination unreachable" (type 1) with
//! code 4, "port unreachable"; its data quotes as much of the refused packet as fits in the
//! minimum MTU (1280 bytes): the IPv6 header, any extension headers, and the UDP header. The
//! C original had no IPv6; this is new. Checks on the quote are in `monitor::detect`.

use super::bytes::{be_u16, be_u32, byte};
use super::checksum;
use super::ip::PROTO_ICMPV6;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The header.
pub const HEADER_LEN: usize = 8;

pub const TYPE_DEST_UNREACHABLE: u8 = 1;
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
pub const TYPE_TIME_EXCEEDED: u8 = 3;
pub const TYPE_ECHO_REQUEST: u8 = 128;
pub const TYPE_ECHO_REPLY: u8 = 129;
/// Destination unreachable: the transport protocol has no listener on that port.
pub const CODE_PORT_UNREACHABLE: u8 = 4;

/// Field offsets from the start of the message.
mod field {
    use std::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
}

/// Why bytes are not an ICMPv6 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer than 8 bytes.
    Truncated,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "ICMPv6 header truncated"),
        }
    }
}

impl std::error::Error for Error {}

/// A checked ICMPv6 message: at least the 8-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv6Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Icmpv6Packet<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Icmpv6Packet { buf })
    }

    pub fn msg_type(&self) -> u8 {
        byte(self.buf, field::TYPE).unwrap_or(0)
    }

    pub fn code(&self) -> u8 {
        byte(self.buf, field::CODE).unwrap_or(0)
    }

    pub fn checksum(&self) -> u16 {
        be_u16(self.buf, field::CHECKSUM).unwrap_or(0)
    }

    /// The four type-specific bytes after the checksum.
    pub fn rest_of_header(&self) -> u32 {
        be_u32(self.buf, field::REST).unwrap_or(0)
    }

    /// Type 1 code 4.
    pub fn is_port_unreachable(&self) -> bool {
        self.msg_type() == TYPE_DEST_UNREACHABLE && self.code() == CODE_PORT_UNREACHABLE
    }

    /// Everything after the header; for an error message, the quoted original packet.
    pub fn data(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..).unwrap_or(&[])
    }

    /// True when the checksum over the message and the pseudo header is right.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let sum = checksum::pseudo_header(IpAddr::V6(src), IpAddr::V6(dst), PROTO_ICMPV6, self.buf.len());
        checksum::finish(checksum::accumulate(sum, self.buf)) == 0
    }
}

/// The fields an ICMPv6 header is built from (checksum computed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    pub rest_of_header: u32,
}

impl Repr {
    /// Destination unreachable, port unreachable.
    pub const PORT_UNREACHABLE: Repr =
        Repr { msg_type: TYPE_DEST_UNREACHABLE, code: CODE_PORT_UNREACHABLE, rest_of_header: 0 };

    pub fn parse(p: &Icmpv6Packet<'_>) -> Repr {
        Repr { msg_type: p.msg_type(), code: p.code(), rest_of_header: p.rest_of_header() }
    }
}

/// Appends the header and `data`, with the checksum for `src` → `dst`.
pub fn emit(out: &mut Vec<u8>, repr: &Repr, src: Ipv6Addr, dst: Ipv6Addr, data: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[repr.msg_type, repr.code, 0, 0]);
    out.extend_from_slice(&repr.rest_of_header.to_be_bytes());
    out.extend_from_slice(data);
    let sum = checksum::transport(IpAddr::V6(src), IpAddr::V6(dst), PROTO_ICMPV6, out.get(start..).unwrap_or(&[]));
    if let Some(field) = out.get_mut(start + field::CHECKSUM.start..start + field::CHECKSUM.end) {
        field.copy_from_slice(&sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let (src, dst) = (Ipv6Addr::LOCALHOST, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
        let mut out = Vec::new();
        emit(&mut out, &Repr::PORT_UNREACHABLE, src, dst, b"quoted");
        let p = Icmpv6Packet::new_checked(&out).unwrap();
        assert!(p.is_port_unreachable());
        assert!(p.verify_checksum(src, dst));
        assert!(!p.verify_checksum(dst, dst));
        assert_eq!(p.data(), b"quoted");
        assert_eq!(Repr::parse(&p), Repr::PORT_UNREACHABLE);
        assert_ne!(p.checksum(), 0);

        let mut out = Vec::new();
        emit(&mut out, &Repr { msg_type: TYPE_ECHO_REQUEST, code: 0, rest_of_header: 7 }, src, dst, b"");
        let p = Icmpv6Packet::new_checked(&out).unwrap();
        assert!(!p.is_port_unreachable());
        assert_eq!(p.rest_of_header(), 7);
        // ICMPv4's 3/3 is not ICMPv6's port unreachable.
        out[0] = 3;
        out[1] = 3;
        assert!(!Icmpv6Packet::new_checked(&out).unwrap().is_port_unreachable());
    }

    #[test]
    fn truncated() {
        for n in 0..HEADER_LEN {
            assert_eq!(Icmpv6Packet::new_checked(&[1; HEADER_LEN][..n]), Err(Error::Truncated));
        }
        assert!(!Error::Truncated.to_string().is_empty());
    }
}
