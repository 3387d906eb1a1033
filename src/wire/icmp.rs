//! ICMP for IPv4 (RFC 792): a checked, zero-copy view and an emitter.
//!
//! The pcap monitor's UDP signal is the local kernel's "destination unreachable, port
//! unreachable" (type 3, code 3). Its data quotes the refused datagram: the original IPv4
//! header and at least the first 8 bytes after it — the UDP header, with both ports. The C
//! original read the quoted header after checking only for 10 bytes; the checks on the quote
//! are in `monitor::detect`, this module only proves the 8-byte ICMP header is there.
//!
//! ```text
//!  type          | code          | checksum                      |
//!  rest of header (unused for type 3 code 3; next-hop MTU for 3/4)|
//!  data: for errors, the original IP header + at least 8 bytes ...
//! ```

use super::bytes::{be_u16, be_u32, byte};
use super::checksum;
use std::fmt;

/// The header.
pub const HEADER_LEN: usize = 8;

pub const TYPE_ECHO_REPLY: u8 = 0;
pub const TYPE_DEST_UNREACHABLE: u8 = 3;
pub const TYPE_ECHO_REQUEST: u8 = 8;
pub const TYPE_TIME_EXCEEDED: u8 = 11;
/// Destination unreachable: the transport protocol has no listener on that port.
pub const CODE_PORT_UNREACHABLE: u8 = 3;

/// Field offsets from the start of the message.
mod field {
    use std::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
}

/// Why bytes are not an ICMP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer than 8 bytes.
    Truncated,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "ICMP header truncated"),
        }
    }
}

impl std::error::Error for Error {}

/// A checked ICMP message: at least the 8-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> IcmpPacket<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(IcmpPacket { buf })
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

    /// Type 3 code 3.
    pub fn is_port_unreachable(&self) -> bool {
        self.msg_type() == TYPE_DEST_UNREACHABLE && self.code() == CODE_PORT_UNREACHABLE
    }

    /// Everything after the header; for an error message, the quoted original packet.
    pub fn data(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..).unwrap_or(&[])
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::of(self.buf) == 0
    }
}

/// The fields an ICMP header is built from (checksum computed).
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

    pub fn parse(p: &IcmpPacket<'_>) -> Repr {
        Repr { msg_type: p.msg_type(), code: p.code(), rest_of_header: p.rest_of_header() }
    }
}

/// Appends the header and `data` with the checksum.
pub fn emit(out: &mut Vec<u8>, repr: &Repr, data: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[repr.msg_type, repr.code, 0, 0]);
    out.extend_from_slice(&repr.rest_of_header.to_be_bytes());
    out.extend_from_slice(data);
    let sum = checksum::of(out.get(start..).unwrap_or(&[]));
    if let Some(field) = out.get_mut(start + field::CHECKSUM.start..start + field::CHECKSUM.end) {
        field.copy_from_slice(&sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        emit(&mut out, &Repr::PORT_UNREACHABLE, b"quoted packet");
        let p = IcmpPacket::new_checked(&out).unwrap();
        assert!(p.is_port_unreachable());
        assert!(p.verify_checksum());
        assert_eq!(p.data(), b"quoted packet");
        assert_eq!(Repr::parse(&p), Repr::PORT_UNREACHABLE);
        assert_ne!(p.checksum(), 0);

        let mut out = Vec::new();
        let echo = Repr { msg_type: TYPE_ECHO_REQUEST, code: 0, rest_of_header: 0x0001_0002 };
        emit(&mut out, &echo, b"");
        let p = IcmpPacket::new_checked(&out).unwrap();
        assert!(!p.is_port_unreachable());
        assert_eq!(p.rest_of_header(), 0x0001_0002);
        assert!(p.data().is_empty());
        // Port unreachable needs both type 3 and code 3.
        out[0] = TYPE_DEST_UNREACHABLE;
        out[1] = 1;
        assert!(!IcmpPacket::new_checked(&out).unwrap().is_port_unreachable());
    }

    #[test]
    fn truncated() {
        for n in 0..HEADER_LEN {
            assert_eq!(IcmpPacket::new_checked(&[3; HEADER_LEN][..n]), Err(Error::Truncated));
        }
        assert!(!Error::Truncated.to_string().is_empty());
    }
}
