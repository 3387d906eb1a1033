//! The Internet checksum (RFC 1071) and the pseudo headers of TCP, UDP and ICMPv6 (RFC 9293
//! §3.1, RFC 768, RFC 8200 §8.1). Used by the emitters, so that the packets our tests build
//! (and the pcap files generated from them) are what a real stack would send. Detection never
//! checks checksums: the kernel already did for what it refused, and loopback captures carry
//! unfinished ones (checksum offload).

use std::net::IpAddr;

/// Adds `data` as big-endian 16-bit words to `acc` (an odd last byte is padded with zero).
/// Only the last of several concatenated parts may have an odd length.
pub fn accumulate(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc = acc.wrapping_add(u64::from(u16::from_be_bytes([w[0], w[1]])));
    }
    if let [last] = words.remainder() {
        acc = acc.wrapping_add(u64::from(*last) << 8);
    }
    acc
}

/// Folds the carries of a sum into 16 bits and complements it.
pub fn finish(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum of `data` alone (IPv4 header, ICMPv4).
pub fn of(data: &[u8]) -> u16 {
    finish(accumulate(0, data))
}

/// The sum of the pseudo header for an upper-layer packet of `len` bytes with protocol
/// `proto` between `src` and `dst`. Two IPv4 addresses give the IPv4 pseudo header; anything
/// else the IPv6 one (an IPv4 address then in its IPv4-mapped form).
pub fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u64 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let acc = accumulate(accumulate(0, &s.octets()), &d.octets());
            // A length beyond 16 bits cannot occur in IPv4; keep its low bits, do not panic.
            acc.wrapping_add(u64::from(proto)).wrapping_add(len as u64 & 0xffff)
        }
        _ => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            let acc = accumulate(accumulate(0, &v6(src).octets()), &v6(dst).octets());
            let len = len as u64 & 0xffff_ffff;
            acc.wrapping_add(len >> 16).wrapping_add(len & 0xffff).wrapping_add(u64::from(proto))
        }
    }
}

/// The checksum of an upper-layer packet (`segment`, with its checksum field zero) including
/// the pseudo header.
pub fn transport(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    finish(accumulate(pseudo_header(src, dst, proto, segment.len()), segment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement).
        assert_eq!(of(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
        assert_eq!(of(&[]), 0xffff);
        assert_eq!(of(&[0xff]), !0xff00);
    }

    #[test]
    fn real_ipv4_header_sums_to_zero() {
        // IPv4 header of the UDP datagram in the nfnetlink capture (127.0.0.1 → 127.0.0.1).
        let hdr = [
            0x45, 0x00, 0x00, 0x25, 0xdc, 0xf3, 0x40, 0x00, 0x40, 0x11, 0x5f, 0xd2, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00,
            0x00, 0x01,
        ];
        assert_eq!(of(&hdr), 0);
    }

    #[test]
    fn pseudo_headers_differ_by_family() {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_ne!(transport(v4, v4, 6, &[0; 20]), transport(v6, v6, 6, &[0; 20]));
        // Mixed families fall back to the IPv6 form with mapped addresses; no panic.
        let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        assert_eq!(transport(v4, v6, 17, b"x"), transport(mapped, v6, 17, b"x"));
    }
}
