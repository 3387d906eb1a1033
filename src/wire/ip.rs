//! What IPv4 and IPv6 have in common for a connection detector: the version dispatch on the
//! first nibble, the addresses, and the upper-layer protocol with its header (or the news
//! that this fragment has none). Protocol numbers are those of the IANA registry.
//!
//! The C original read `struct ip_header` at a fixed offset and knew only IPv4; this module is
//! where IPv6 joins.

use super::{ipv4, ipv6};
use std::fmt;
use std::net::IpAddr;

/// IPv6 Hop-by-Hop Options header.
pub const PROTO_HOPOPTS: u8 = 0;
/// ICMP for IPv4.
pub const PROTO_ICMP: u8 = 1;
/// TCP.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;
/// IPv6 Routing header.
pub const PROTO_ROUTING: u8 = 43;
/// IPv6 Fragment header.
pub const PROTO_FRAGMENT: u8 = 44;
/// Encapsulating Security Payload: what follows is encrypted.
pub const PROTO_ESP: u8 = 50;
/// Authentication Header.
pub const PROTO_AH: u8 = 51;
/// ICMP for IPv6.
pub const PROTO_ICMPV6: u8 = 58;
/// IPv6 "No Next Header".
pub const PROTO_NONE: u8 = 59;
/// IPv6 Destination Options header.
pub const PROTO_DSTOPTS: u8 = 60;

/// The upper-layer part of an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upper<'a> {
    /// The upper-layer header of `protocol` starts at `payload` (which may be cut short when
    /// only a prefix of the packet was captured or quoted).
    Header { protocol: u8, payload: &'a [u8] },
    /// A fragment other than the first: its upper-layer header travelled in the first one.
    LaterFragment { protocol: u8 },
}

impl Upper<'_> {
    /// The upper-layer protocol number.
    pub fn protocol(&self) -> u8 {
        match *self {
            Upper::Header { protocol, .. } | Upper::LaterFragment { protocol } => protocol,
        }
    }
}

/// Why bytes are not an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No bytes at all.
    Empty,
    /// The first nibble is neither 4 nor 6.
    BadVersion(u8),
    /// A malformed IPv4 packet.
    V4(ipv4::Error),
    /// A malformed IPv6 packet.
    V6(ipv6::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => write!(f, "empty IP packet"),
            Error::BadVersion(v) => write!(f, "IP version {v} is neither 4 nor 6"),
            Error::V4(e) => e.fmt(f),
            Error::V6(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<ipv4::Error> for Error {
    fn from(e: ipv4::Error) -> Self {
        Error::V4(e)
    }
}

impl From<ipv6::Error> for Error {
    fn from(e: ipv6::Error) -> Self {
        Error::V6(e)
    }
}

/// The IP version in the first nibble of `buf`, if there is a first byte.
pub fn version(buf: &[u8]) -> Option<u8> {
    buf.first().map(|b| b >> 4)
}

/// A checked IPv4 or IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpPacket<'a> {
    V4(ipv4::Ipv4Packet<'a>),
    V6(ipv6::Ipv6Packet<'a>),
}

impl<'a> IpPacket<'a> {
    /// Checks `buf` as the version its first nibble names.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        match version(buf) {
            None => Err(Error::Empty),
            Some(ipv4::VERSION) => Ok(IpPacket::V4(ipv4::Ipv4Packet::new_checked(buf)?)),
            Some(ipv6::VERSION) => Ok(IpPacket::V6(ipv6::Ipv6Packet::new_checked(buf)?)),
            Some(v) => Err(Error::BadVersion(v)),
        }
    }

    /// 4 or 6.
    pub fn version(&self) -> u8 {
        match self {
            IpPacket::V4(_) => ipv4::VERSION,
            IpPacket::V6(_) => ipv6::VERSION,
        }
    }

    pub fn src_addr(&self) -> IpAddr {
        match self {
            IpPacket::V4(p) => IpAddr::V4(p.src_addr()),
            IpPacket::V6(p) => IpAddr::V6(p.src_addr()),
        }
    }

    pub fn dst_addr(&self) -> IpAddr {
        match self {
            IpPacket::V4(p) => IpAddr::V4(p.dst_addr()),
            IpPacket::V6(p) => IpAddr::V6(p.dst_addr()),
        }
    }

    /// The upper-layer protocol and header, after any IPv6 extension headers.
    pub fn upper(&self) -> Result<Upper<'a>, Error> {
        match self {
            IpPacket::V4(p) => Ok(p.upper()),
            IpPacket::V6(p) => Ok(p.upper()?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn dispatch_on_the_first_nibble() {
        assert_eq!(IpPacket::new_checked(&[]), Err(Error::Empty));
        assert_eq!(IpPacket::new_checked(&[0x55; 40]), Err(Error::BadVersion(5)));
        assert_eq!(IpPacket::new_checked(&[0x45]), Err(Error::V4(ipv4::Error::Truncated)));
        assert_eq!(IpPacket::new_checked(&[0x60; 39]), Err(Error::V6(ipv6::Error::Truncated)));

        let mut v4 = Vec::new();
        let repr = ipv4::Repr::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), PROTO_UDP);
        ipv4::emit(&mut v4, &repr, b"12345678");
        let p = IpPacket::new_checked(&v4).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.src_addr(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(p.dst_addr(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(p.upper(), Ok(Upper::Header { protocol: PROTO_UDP, payload: b"12345678" }));

        let mut v6 = Vec::new();
        let repr = ipv6::Repr::new(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, PROTO_TCP);
        ipv6::emit(&mut v6, &repr, b"");
        let p = IpPacket::new_checked(&v6).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.src_addr(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(p.dst_addr(), IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(p.upper().map(|u| u.protocol()), Ok(PROTO_TCP));
    }

    #[test]
    fn errors_display() {
        for e in [
            Error::Empty,
            Error::BadVersion(7),
            Error::V4(ipv4::Error::Truncated),
            Error::V6(ipv6::Error::TooManyExtensionHeaders),
        ] {
            assert!(!e.to_string().is_empty());
        }
    }
}
