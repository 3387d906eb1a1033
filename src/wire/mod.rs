//! Pure, zero-copy views of wire formats with checked constructors, and emitters for the
//! messages we send or build in tests. No I/O happens here: sockets live in `sys`, loops in
//! `monitor`, and the decisions made from these views in `monitor::detect`.
//!
//! Every parser here takes untrusted bytes, never panics, and has a fuzz target in
//! `tests/fuzz/fuzz_targets/`.
//!
//! * [`link`]: pcap link-layer framings → the IP packet.
//! * [`ip`], [`ipv4`], [`ipv6`]: network layer, extension headers, fragments.
//! * [`tcp`], [`udp`], [`icmp`], [`icmpv6`]: the transport and control messages the
//!   monitors look at.
//! * [`checksum`]: the Internet checksum for the emitters.
//! * [`nfnetlink`]: the NFQUEUE netlink messages.

mod bytes;
pub(crate) mod checksum;
pub mod icmp;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod link;
pub mod nfnetlink;
pub mod tcp;
#[cfg(test)]
pub(crate) mod testutil;
pub mod udp;
