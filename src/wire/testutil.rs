//! Test-only helpers shared by the packet parsers' and detectors' tests: a deterministic
//! pseudo-random generator and builders of whole IPv4/IPv6 packets.

use super::{ipv4, ipv6, tcp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Deterministic xorshift64*: the same inputs on every run.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// An IPv4 packet carrying `l4`.
pub fn v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ipv4::emit(&mut out, &ipv4::Repr::new(src, dst, protocol), l4);
    out
}

/// An IPv6 packet carrying `l4`.
pub fn v6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, l4: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ipv6::emit(&mut out, &ipv6::Repr::new(src, dst, next), l4);
    out
}

/// A TCP segment without payload, checksummed for `src` → `dst`.
pub fn tcp_seg(repr: tcp::Repr, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut out = Vec::new();
    tcp::emit(&mut out, &repr, src, dst, b"");
    out
}
