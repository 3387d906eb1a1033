//! The pure TFTP packet parser (RFC 1350): a datagram read as a read request, a data block,
//! an acknowledgement or an error, and written back. No I/O: the client (mod.rs) receives
//! the datagrams and sends what [`Packet::emit`] makes; the fuzz target `tftp_packets` feeds
//! arbitrary bytes. Replaces the packet handling of htm_tftpDownload.c.

/// Data bytes per block (no block size option is negotiated).
pub const BLOCK_SIZE: usize = 512;
const OP_RRQ: u16 = 1;
const OP_DATA: u16 = 3;
const OP_ACK: u16 = 4;
const OP_ERROR: u16 = 5;
const DATA_HEADER: usize = 4;

/// One TFTP packet, borrowed from a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Read request: file name and transfer mode (both without their NUL).
    Rrq {
        file: &'a [u8],
        mode: &'a [u8],
    },
    /// A data block of 0 to 512 bytes.
    Data {
        block: u16,
        data: &'a [u8],
    },
    Ack {
        block: u16,
    },
    /// Error code and message (without its NUL; up to the end if the NUL is missing).
    Error {
        code: u16,
        message: &'a [u8],
    },
    /// Any other opcode (WRQ, OACK, nonsense); the rest of the datagram is not looked at.
    Other(u16),
}

impl<'a> Packet<'a> {
    /// Parses a datagram; `None` when it is too short or malformed for its opcode (a DATA
    /// packet with more than 512 data bytes, an ACK of the wrong length, a request without
    /// its NULs).
    pub fn parse(buf: &'a [u8]) -> Option<Packet<'a>> {
        let op = u16::from_be_bytes([*buf.first()?, *buf.get(1)?]);
        let rest = &buf[2..];
        match op {
            OP_RRQ => {
                let (file, tail) = split_nul(rest)?;
                let (mode, tail) = split_nul(tail)?;
                tail.is_empty().then_some(Packet::Rrq { file, mode })
            }
            OP_DATA => {
                let data = buf.get(DATA_HEADER..)?;
                (data.len() <= BLOCK_SIZE).then(|| Packet::Data { block: u16::from_be_bytes([rest[0], rest[1]]), data })
            }
            OP_ACK => (rest.len() == 2).then(|| Packet::Ack { block: u16::from_be_bytes([rest[0], rest[1]]) }),
            OP_ERROR => {
                let code = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]);
                let text = &rest[2..];
                let message = split_nul(text).map_or(text, |(m, _)| m);
                Some(Packet::Error { code, message })
            }
            other => Some(Packet::Other(other)),
        }
    }

    /// The datagram for this packet.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DATA_HEADER + BLOCK_SIZE);
        match self {
            Packet::Rrq { file, mode } => {
                out.extend_from_slice(&OP_RRQ.to_be_bytes());
                out.extend_from_slice(file);
                out.push(0);
                out.extend_from_slice(mode);
                out.push(0);
            }
            Packet::Data { block, data } => {
                out.extend_from_slice(&OP_DATA.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
                out.extend_from_slice(data);
            }
            Packet::Ack { block } => {
                out.extend_from_slice(&OP_ACK.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
            }
            Packet::Error { code, message } => {
                out.extend_from_slice(&OP_ERROR.to_be_bytes());
                out.extend_from_slice(&code.to_be_bytes());
                out.extend_from_slice(message);
                out.push(0);
            }
            Packet::Other(op) => out.extend_from_slice(&op.to_be_bytes()),
        }
        out
    }
}

fn split_nul(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&c| c == 0)?;
    Some((&b[..i], &b[i + 1..]))
}

/// The RFC 1350 name of an error code.
pub fn error_name(code: u16) -> &'static str {
    match code {
        0 => "Not defined",
        1 => "File not found",
        2 => "Access violation",
        3 => "Disk full or allocation exceeded",
        4 => "Illegal TFTP operation",
        5 => "Unknown transfer ID",
        6 => "File already exists",
        7 => "No such user",
        8 => "Option negotiation refused",
        _ => "Unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_parse_and_emit() {
        let rrq = Packet::Rrq { file: b"evil.exe", mode: b"octet" }.emit();
        assert_eq!(rrq, b"\x00\x01evil.exe\x00octet\x00");
        assert_eq!(Packet::parse(&rrq), Some(Packet::Rrq { file: b"evil.exe", mode: b"octet" }));
        assert_eq!(Packet::Ack { block: 0x1234 }.emit(), b"\x00\x04\x12\x34");
        assert_eq!(Packet::parse(b"\x00\x04\xff\xff"), Some(Packet::Ack { block: 65535 }));
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x01File not found\x00"),
            Some(Packet::Error { code: 1, message: b"File not found" })
        );
        // Message without its NUL: up to the end.
        assert_eq!(Packet::parse(b"\x00\x05\x00\x02abc"), Some(Packet::Error { code: 2, message: b"abc" }));
        assert_eq!(Packet::parse(b"\x00\x03\x00\x07"), Some(Packet::Data { block: 7, data: b"" }));
        let full = [[0u8, 3, 0, 1].as_slice(), &[0xaa; 512]].concat();
        assert_eq!(Packet::parse(&full), Some(Packet::Data { block: 1, data: &[0xaa; 512] }));
        assert_eq!(Packet::Data { block: 1, data: &[0xaa; 512] }.emit(), full);
        assert_eq!(Packet::parse(b"\x00\x09whatever"), Some(Packet::Other(9)));
        assert_eq!(Packet::parse(b"\x00\x06"), Some(Packet::Other(6)));
        let err = Packet::Error { code: 5, message: b"Unknown transfer ID" }.emit();
        assert_eq!(err, b"\x00\x05\x00\x05Unknown transfer ID\x00");
    }

    #[test]
    fn malformed_packets() {
        let too_long = [[0u8, 3, 0, 1].as_slice(), &[0; 513]].concat();
        for bad in [
            &b""[..],
            b"\x00",
            b"\x00\x03",
            b"\x00\x03\x00",
            &too_long,
            b"\x00\x04\x00",
            b"\x00\x04\x00\x01\x00",
            b"\x00\x05\x00",
            b"\x00\x01file",
            b"\x00\x01file\x00octet",
            b"\x00\x01file\x00octet\x00junk",
        ] {
            assert_eq!(Packet::parse(bad), None, "{:?}", bad);
        }
    }

    /// Every byte string parses without panicking, and what parses re-emits to an equal
    /// packet (NUL-less error messages gain their NUL).
    #[test]
    fn parse_never_panics_and_round_trips() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 530) as usize;
            let mut b: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
            if len > 1 {
                b[0] = 0;
                b[1] = (seed >> 3) as u8 % 7;
            }
            if let Some(p) = Packet::parse(&b) {
                let again = p.emit();
                assert_eq!(Packet::parse(&again), Some(p));
            }
        }
    }
}
