//! TCP headers (RFC 9293 §3.1): a checked, zero-copy view and an emitter.
//!
//! For the pcap monitor the interesting segment is the local kernel's answer to a SYN on a
//! closed port: RST (with ACK), sequence number 0, source port = the attacked port. For the nfq
//! monitor it is the queued SYN itself. The C original read `th_sport`/`th_dport` through a
//! cast without checking that the header was there; here [`TcpPacket::new_checked`] checks the
//! fixed header and the data offset first.
//!
//! ```text
//!  source port                   | destination port              |
//!  sequence number                                               |
//!  acknowledgment number                                         |
//!  offset| rsvd  | flags         | window                        |
//!  checksum                      | urgent pointer                |
//!  options (offset > 5) ...
//! ```

use super::bytes::{be_u16, be_u32, byte};
use super::checksum;
use super::ip::PROTO_TCP;
use std::fmt;
use std::net::IpAddr;

/// The header without options.
pub const MIN_HEADER_LEN: usize = 20;

pub const FLAG_FIN: u8 = 0x01;
pub const FLAG_SYN: u8 = 0x02;
pub const FLAG_RST: u8 = 0x04;
pub const FLAG_PSH: u8 = 0x08;
pub const FLAG_ACK: u8 = 0x10;
pub const FLAG_URG: u8 = 0x20;
pub const FLAG_ECE: u8 = 0x40;
pub const FLAG_CWR: u8 = 0x80;

/// Field offsets from the start of the header.
mod field {
    use std::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    /// Data offset in the high nibble.
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Why bytes are not a TCP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than the header (20 bytes, or what the data offset says).
    Truncated,
    /// A data offset below 5 words; the value is in bytes.
    BadDataOffset(usize),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "TCP header truncated"),
            Error::BadDataOffset(n) => write!(f, "TCP data offset {n} is below 20"),
        }
    }
}

impl std::error::Error for Error {}

/// A checked TCP segment: the whole header, options included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> TcpPacket<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let offset = usize::from(byte(buf, field::DATA_OFFSET).ok_or(Error::Truncated)? >> 4) * 4;
        if offset < MIN_HEADER_LEN {
            return Err(Error::BadDataOffset(offset));
        }
        if buf.len() < offset {
            return Err(Error::Truncated);
        }
        Ok(TcpPacket { buf })
    }

    pub fn src_port(&self) -> u16 {
        be_u16(self.buf, field::SRC_PORT).unwrap_or(0)
    }

    pub fn dst_port(&self) -> u16 {
        be_u16(self.buf, field::DST_PORT).unwrap_or(0)
    }

    pub fn seq_number(&self) -> u32 {
        be_u32(self.buf, field::SEQ).unwrap_or(0)
    }

    pub fn ack_number(&self) -> u32 {
        be_u32(self.buf, field::ACK).unwrap_or(0)
    }

    /// Header length in bytes (20 to 60).
    pub fn header_len(&self) -> usize {
        byte(self.buf, field::DATA_OFFSET).map_or(MIN_HEADER_LEN, |b| usize::from(b >> 4) * 4)
    }

    /// The flag byte (CWR … FIN).
    pub fn flags(&self) -> u8 {
        byte(self.buf, field::FLAGS).unwrap_or(0)
    }

    pub fn fin(&self) -> bool {
        self.flags() & FLAG_FIN != 0
    }

    pub fn syn(&self) -> bool {
        self.flags() & FLAG_SYN != 0
    }

    pub fn rst(&self) -> bool {
        self.flags() & FLAG_RST != 0
    }

    pub fn psh(&self) -> bool {
        self.flags() & FLAG_PSH != 0
    }

    pub fn ack(&self) -> bool {
        self.flags() & FLAG_ACK != 0
    }

    pub fn urg(&self) -> bool {
        self.flags() & FLAG_URG != 0
    }

    pub fn window(&self) -> u16 {
        be_u16(self.buf, field::WINDOW).unwrap_or(0)
    }

    pub fn checksum(&self) -> u16 {
        be_u16(self.buf, field::CHECKSUM).unwrap_or(0)
    }

    pub fn urgent(&self) -> u16 {
        be_u16(self.buf, field::URGENT).unwrap_or(0)
    }

    pub fn options(&self) -> &'a [u8] {
        self.buf.get(MIN_HEADER_LEN..self.header_len()).unwrap_or(&[])
    }

    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(self.header_len()..).unwrap_or(&[])
    }

    /// True when the checksum over the segment and the pseudo header is right.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        checksum::finish(checksum::accumulate(checksum::pseudo_header(src, dst, PROTO_TCP, self.buf.len()), self.buf))
            == 0
    }
}

/// The fields a TCP header is built from (no options; checksum computed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
}

impl Repr {
    /// The fields of a checked segment.
    pub fn parse(p: &TcpPacket<'_>) -> Repr {
        Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq_number(),
            ack: p.ack_number(),
            flags: p.flags(),
            window: p.window(),
        }
    }

    /// What Linux sends for a SYN from `peer_port` with sequence number `syn_seq` to the
    /// closed `port`: RST|ACK, sequence 0, acknowledging the SYN, window 0.
    pub fn reset_for_syn(port: u16, peer_port: u16, syn_seq: u32) -> Repr {
        Repr {
            src_port: port,
            dst_port: peer_port,
            seq: 0,
            ack: syn_seq.wrapping_add(1),
            flags: FLAG_RST | FLAG_ACK,
            window: 0,
        }
    }

    /// A SYN from `src_port` to `dst_port`.
    pub fn syn(src_port: u16, dst_port: u16, seq: u32) -> Repr {
        Repr { src_port, dst_port, seq, ack: 0, flags: FLAG_SYN, window: 65495 }
    }
}

/// Appends a 20-byte header and `payload`, with the checksum for `src` → `dst`.
pub fn emit(out: &mut Vec<u8>, repr: &Repr, src: IpAddr, dst: IpAddr, payload: &[u8]) {
    let start = out.len();
    let mut hdr = [0u8; MIN_HEADER_LEN];
    hdr[field::SRC_PORT].copy_from_slice(&repr.src_port.to_be_bytes());
    hdr[field::DST_PORT].copy_from_slice(&repr.dst_port.to_be_bytes());
    hdr[field::SEQ].copy_from_slice(&repr.seq.to_be_bytes());
    hdr[field::ACK].copy_from_slice(&repr.ack.to_be_bytes());
    hdr[field::DATA_OFFSET] = 5 << 4;
    hdr[field::FLAGS] = repr.flags;
    hdr[field::WINDOW].copy_from_slice(&repr.window.to_be_bytes());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(payload);
    let sum = checksum::transport(src, dst, PROTO_TCP, out.get(start..).unwrap_or(&[]));
    if let Some(field) = out.get_mut(start + field::CHECKSUM.start..start + field::CHECKSUM.end) {
        field.copy_from_slice(&sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const LO4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

    #[test]
    fn reset_fields_and_checksum() {
        let repr = Repr::reset_for_syn(23, 40000, 0x1000_0000);
        for (src, dst) in [(LO4, LO4), (LO6, LO6)] {
            let mut buf = Vec::new();
            emit(&mut buf, &repr, src, dst, b"");
            let p = TcpPacket::new_checked(&buf).unwrap();
            assert_eq!((p.src_port(), p.dst_port()), (23, 40000));
            assert_eq!((p.seq_number(), p.ack_number()), (0, 0x1000_0001));
            assert!(p.rst() && p.ack() && !p.syn() && !p.fin() && !p.psh() && !p.urg());
            assert_eq!(p.header_len(), 20);
            assert!(p.verify_checksum(src, dst));
            assert!(!p.verify_checksum(src, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))));
            assert_eq!(Repr::parse(&p), repr);
            assert_eq!((p.window(), p.urgent()), (0, 0));
            assert_ne!(p.checksum(), 0);
        }
    }

    #[test]
    fn options_and_payload() {
        let mut buf = Vec::new();
        emit(&mut buf, &Repr::syn(1, 2, 3), LO4, LO4, &[2, 4, 0xff, 0xd7, b'x']);
        buf[12] = 6 << 4; // claim one option word: MSS 65495
        let p = TcpPacket::new_checked(&buf).unwrap();
        assert_eq!(p.options(), &[2, 4, 0xff, 0xd7]);
        assert_eq!(p.payload(), b"x");
        assert!(p.syn() && !p.ack());
    }

    #[test]
    fn data_offset_is_checked() {
        let mut buf = Vec::new();
        emit(&mut buf, &Repr::syn(1, 2, 3), LO4, LO4, b"");
        for n in 0..MIN_HEADER_LEN {
            assert_eq!(TcpPacket::new_checked(&buf[..n]), Err(Error::Truncated));
        }
        for (nibble, err) in [(0u8, Error::BadDataOffset(0)), (4, Error::BadDataOffset(16)), (6, Error::Truncated)] {
            buf[12] = nibble << 4;
            assert_eq!(TcpPacket::new_checked(&buf), Err(err));
        }
        assert!(!Error::Truncated.to_string().is_empty());
        assert!(!Error::BadDataOffset(8).to_string().is_empty());
    }
}
