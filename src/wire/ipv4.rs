//! IPv4 headers (RFC 791): a checked, zero-copy view and an emitter.
//!
//! The C original cast the captured bytes to `struct ip_header` and trusted `ip_hl` and the
//! total length, in both monitors. Here [`Ipv4Packet::new_checked`] proves the header is there
//! before any field is read, and the view ends at the total length, so Ethernet padding never
//! reads as payload. A total length *beyond* the bytes at hand is accepted: pcap may capture a
//! prefix, and an ICMP error quotes only the start of the packet it refers to
//! ([`Ipv4Packet::is_truncated`] tells).
//!
//! ```text
//!  0               1               2               3
//!  version | IHL | TOS           | total length                  |
//!  identification                | flags | fragment offset       |
//!  TTL           | protocol      | header checksum               |
//!  source address                                                |
//!  destination address                                           |
//!  options (IHL > 5) ...
//! ```

use super::bytes::{array4, be_u16, byte};
use super::checksum;
use super::ip::Upper;
use std::fmt;
use std::net::Ipv4Addr;

/// The version nibble.
pub const VERSION: u8 = 4;
/// A header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// The largest header: IHL 15.
pub const MAX_HEADER_LEN: usize = 60;
/// Flag: don't fragment.
pub const FLAG_DF: u16 = 0x4000;
/// Flag: more fragments follow.
pub const FLAG_MF: u16 = 0x2000;
/// The fragment offset bits, in units of 8 bytes.
pub const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// Field offsets from the start of the header.
mod field {
    use std::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Why bytes are not an IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than the header (20 bytes, or what IHL says).
    Truncated,
    /// The version nibble is not 4.
    BadVersion(u8),
    /// IHL below 5; the value is the header length in bytes.
    BadHeaderLength(usize),
    /// The total length is shorter than the header.
    BadTotalLength(u16),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "IPv4 header truncated"),
            Error::BadVersion(v) => write!(f, "version {v} in an IPv4 header"),
            Error::BadHeaderLength(n) => write!(f, "IPv4 header length {n} is below 20"),
            Error::BadTotalLength(n) => write!(f, "IPv4 total length {n} is shorter than the header"),
        }
    }
}

impl std::error::Error for Error {}

/// A checked IPv4 packet: a whole header, and at most total-length bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Checks the header at the start of `buf`. Bytes past the total length are not part of
    /// the view; fewer bytes than the total length are accepted (see the module notes).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let ver_ihl = byte(buf, field::VER_IHL).ok_or(Error::Truncated)?;
        if ver_ihl >> 4 != VERSION {
            return Err(Error::BadVersion(ver_ihl >> 4));
        }
        let header_len = usize::from(ver_ihl & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(Error::BadHeaderLength(header_len));
        }
        if buf.len() < header_len {
            return Err(Error::Truncated);
        }
        let total = be_u16(buf, field::LENGTH).ok_or(Error::Truncated)?;
        if usize::from(total) < header_len {
            return Err(Error::BadTotalLength(total));
        }
        let end = usize::from(total).min(buf.len());
        Ok(Ipv4Packet { buf: buf.get(..end).ok_or(Error::Truncated)? })
    }

    /// The packet as far as we have it (header included, padding excluded).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Header length in bytes (20 to 60).
    pub fn header_len(&self) -> usize {
        byte(self.buf, field::VER_IHL).map_or(MIN_HEADER_LEN, |b| usize::from(b & 0x0f) * 4)
    }

    /// Type of service / DSCP and ECN.
    pub fn tos(&self) -> u8 {
        byte(self.buf, field::TOS).unwrap_or(0)
    }

    /// Total length as the header states it.
    pub fn total_len(&self) -> u16 {
        be_u16(self.buf, field::LENGTH).unwrap_or(0)
    }

    /// True when fewer bytes than the total length are present (a captured or quoted prefix).
    pub fn is_truncated(&self) -> bool {
        usize::from(self.total_len()) > self.buf.len()
    }

    pub fn ident(&self) -> u16 {
        be_u16(self.buf, field::IDENT).unwrap_or(0)
    }

    fn flags_frag(&self) -> u16 {
        be_u16(self.buf, field::FLAGS_FRAG).unwrap_or(0)
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (a multiple of 8).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }

    /// True unless this is a fragment other than the first, which carries no transport
    /// header and so cannot be a connection attempt on its own.
    pub fn has_upper_header(&self) -> bool {
        self.frag_offset() == 0
    }

    pub fn ttl(&self) -> u8 {
        byte(self.buf, field::TTL).unwrap_or(0)
    }

    /// Upper-layer protocol number.
    pub fn protocol(&self) -> u8 {
        byte(self.buf, field::PROTOCOL).unwrap_or(0)
    }

    pub fn checksum(&self) -> u16 {
        be_u16(self.buf, field::CHECKSUM).unwrap_or(0)
    }

    /// True when the header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        self.buf.get(..self.header_len()).is_some_and(|h| checksum::of(h) == 0)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array4(self.buf, field::SRC).unwrap_or([0; 4]))
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array4(self.buf, field::DST).unwrap_or([0; 4]))
    }

    /// Header options (empty for IHL 5).
    pub fn options(&self) -> &'a [u8] {
        self.buf.get(field::DST.end..self.header_len()).unwrap_or(&[])
    }

    /// Everything after the header, up to the total length or the end of the bytes.
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(self.header_len()..).unwrap_or(&[])
    }

    /// The upper-layer protocol and header; a later fragment has no header.
    pub fn upper(&self) -> Upper<'a> {
        if self.has_upper_header() {
            Upper::Header { protocol: self.protocol(), payload: self.payload() }
        } else {
            Upper::LaterFragment { protocol: self.protocol() }
        }
    }
}

/// The fields an IPv4 header is built from. No options; the total length and the checksum
/// are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In bytes; the low three bits are dropped.
    pub frag_offset: u16,
}

impl Repr {
    /// An unfragmented packet with TTL 64 and "don't fragment", as Linux sends its RSTs.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Repr {
        Repr { src, dst, protocol, ttl: 64, ident: 0, dont_frag: true, more_frags: false, frag_offset: 0 }
    }

    /// The fields of a checked packet (options are not kept).
    pub fn parse(p: &Ipv4Packet<'_>) -> Repr {
        Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
        }
    }
}

/// Appends a 20-byte header and `payload` to `out`. The total length saturates at 65535
/// for payloads beyond 65515 bytes, which IPv4 cannot carry.
pub fn emit(out: &mut Vec<u8>, repr: &Repr, payload: &[u8]) {
    let total = u16::try_from(payload.len().saturating_add(MIN_HEADER_LEN)).unwrap_or(u16::MAX);
    let mut flags_frag = (repr.frag_offset >> 3) & FRAG_OFFSET_MASK;
    if repr.dont_frag {
        flags_frag |= FLAG_DF;
    }
    if repr.more_frags {
        flags_frag |= FLAG_MF;
    }
    let mut hdr = [0u8; MIN_HEADER_LEN];
    hdr[field::VER_IHL] = (VERSION << 4) | 5;
    hdr[field::LENGTH].copy_from_slice(&total.to_be_bytes());
    hdr[field::IDENT].copy_from_slice(&repr.ident.to_be_bytes());
    hdr[field::FLAGS_FRAG].copy_from_slice(&flags_frag.to_be_bytes());
    hdr[field::TTL] = repr.ttl;
    hdr[field::PROTOCOL] = repr.protocol;
    hdr[field::SRC].copy_from_slice(&repr.src.octets());
    hdr[field::DST].copy_from_slice(&repr.dst.octets());
    let sum = checksum::of(&hdr);
    hdr[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv4 header of the RST Linux sent for a SYN to a closed port on `lo`
    /// (tests/data/pcap/real-lo-ethernet.pcap): ident 0, DF, TTL 64.
    const REAL_RST_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x3c, 0xce, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00,
        0x00, 0x01,
    ];

    fn packet(repr: &Repr, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        emit(&mut out, repr, payload);
        out
    }

    #[test]
    fn fields_of_a_real_header() {
        let mut buf = REAL_RST_HEADER.to_vec();
        buf.extend_from_slice(&[0; 20]);
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 40);
        assert_eq!(p.protocol(), 6);
        assert_eq!(p.ttl(), 64);
        assert!(p.dont_frag() && !p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.src_addr(), Ipv4Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv4Addr::LOCALHOST);
        assert!(p.verify_checksum());
        assert_eq!(p.checksum(), 0x3cce);
        assert_eq!(p.payload().len(), 20);
        assert!(!p.is_truncated());
        // Our emitter builds the same header.
        let repr = Repr::parse(&p);
        assert_eq!(packet(&repr, &[0; 20]), buf);
    }

    #[test]
    fn round_trip() {
        let repr = Repr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(198, 51, 100, 7),
            protocol: 17,
            ttl: 3,
            ident: 0xbeef,
            dont_frag: false,
            more_frags: true,
            frag_offset: 1480,
        };
        let buf = packet(&repr, b"payload");
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert_eq!(Repr::parse(&p), repr);
        assert_eq!(p.payload(), b"payload");
        assert!(p.verify_checksum());
        assert_eq!(p.upper(), Upper::LaterFragment { protocol: 17 });
    }

    #[test]
    fn padding_is_not_payload_and_prefixes_are_accepted() {
        let repr = Repr::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 6);
        let mut buf = packet(&repr, &[1; 20]);
        buf.extend_from_slice(&[0xee; 6]); // Ethernet minimum-frame padding
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert_eq!(p.payload(), &[1; 20]);
        assert_eq!(p.as_bytes().len(), 40);

        let p = Ipv4Packet::new_checked(&buf[..28]).unwrap();
        assert!(p.is_truncated());
        assert_eq!(p.payload(), &[1; 8]);
    }

    #[test]
    fn first_fragment_with_more_fragments_has_a_header() {
        let repr =
            Repr { more_frags: true, dont_frag: false, ..Repr::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 17) };
        let buf = packet(&repr, &[9; 16]);
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert!(p.more_frags() && p.has_upper_header());
        assert_eq!(p.upper(), Upper::Header { protocol: 17, payload: &[9; 16] });
    }

    #[test]
    fn options_are_skipped() {
        let repr = Repr::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 6);
        let mut buf = packet(&repr, b"");
        // IHL 6 with one option word (NOP NOP NOP EOL), total length 28.
        buf[0] = 0x46;
        buf[3] = 28;
        buf.extend_from_slice(&[1, 1, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd]);
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn malformed_headers() {
        let repr = Repr::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 6);
        let good = packet(&repr, &[0; 20]);
        for n in 0..MIN_HEADER_LEN {
            assert_eq!(Ipv4Packet::new_checked(&good[..n]), Err(Error::Truncated), "{n} bytes");
        }
        let mut bad = good.clone();
        bad[0] = 0x65;
        assert_eq!(Ipv4Packet::new_checked(&bad), Err(Error::BadVersion(6)));
        bad[0] = 0x44;
        assert_eq!(Ipv4Packet::new_checked(&bad), Err(Error::BadHeaderLength(16)));
        bad[0] = 0x4f; // 60-byte header in 40 bytes
        assert_eq!(Ipv4Packet::new_checked(&bad), Err(Error::Truncated));
        let mut bad = good.clone();
        bad[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(Ipv4Packet::new_checked(&bad), Err(Error::BadTotalLength(19)));
        for e in [Error::Truncated, Error::BadVersion(1), Error::BadHeaderLength(4), Error::BadTotalLength(0)] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn oversized_payload_saturates() {
        let repr = Repr::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 17);
        let buf = packet(&repr, &vec![0; 70_000]);
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert_eq!(p.total_len(), u16::MAX);
    }
}
