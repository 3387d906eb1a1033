//! Is this packet a connection attempt on a port nobody serves? Pure decisions over the
//! views in `wire`, one per monitor:
//!
//! * [`from_refusal`] (pcap): the local kernel's refusal of an attempt — an outgoing TCP RST
//!   with sequence number 0, or an ICMP port unreachable (ICMPv4 3/3, ICMPv6 1/4) quoting the
//!   refused UDP datagram. That the packet is *local* is the capture filter's job (`src host
//!   …`, see `monitor::pcap::build_filter`), that it *left* this host the capture's (libpcap's
//!   direction, or `monitor::pcap`'s check of the link-layer header); this function only
//!   reads the packet.
//! * [`from_queued`] (nfq): the attempt itself, held by the kernel — a TCP SYN without ACK,
//!   or any UDP datagram.
//! * [`from_frame`]: a captured frame, through `wire::link`, into [`from_refusal`].
//!
//! Replaces `tcp_server_wrapper` / the ICMP branch of pcapmon.c and the packet callback of
//! nfqmon.c. Deliberate differences: IPv6 is handled throughout; malformed packets are errors
//! instead of reads past the end; a later fragment is not an attempt (it has no ports); an
//! attempt on port 0 is not a request ([`DetectError::PortZero`]: binding port 0 would give
//! a random port); the error texts of the original are kept for the cases it had
//! ([`DetectError`]).

use super::ConnRequest;
use crate::config::Proto;
use crate::wire::ip::{self, IpPacket, Upper, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
use crate::wire::{icmp, icmpv6, ipv4, ipv6, link, tcp, udp};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Why a packet is not a connection request: it could not be decided, or it asks for port 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectError {
    /// An ICMP(v6) message too short to hold its header, or quoting less than the original
    /// IP header (extension headers included) plus 8 bytes.
    Truncated,
    /// The (quoted) packet is neither TCP nor UDP — or, for refusals, not ICMP either.
    UnsupportedProtocol(u8),
    /// The frame's link layer did not yield an IP packet.
    Link(link::Error),
    /// A malformed IP header.
    Ip(ip::Error),
    /// A malformed TCP header.
    Tcp(tcp::Error),
    /// A malformed UDP header.
    Udp(udp::Error),
    /// A well-formed attempt on local port 0, which no server can listen on (a socket bound
    /// to port 0 gets a random port). Hostile or broken, never served.
    PortZero { proto: Proto, remote: SocketAddr },
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::Truncated => write!(f, "ICMP message truncated."),
            DetectError::UnsupportedProtocol(n) => write!(f, "Protocol {n} is not supported."),
            DetectError::Link(e) => write!(f, "Unusable frame: {e}."),
            DetectError::Ip(e) => write!(f, "Malformed packet: {e}."),
            DetectError::Tcp(e) => write!(f, "Malformed packet: {e}."),
            DetectError::Udp(e) => write!(f, "Malformed packet: {e}."),
            DetectError::PortZero { proto, remote } => {
                write!(f, "Connection attempt from {remote} to port 0/{proto} ignored: port 0 is never served.")
            }
        }
    }
}

impl std::error::Error for DetectError {}

impl From<link::Error> for DetectError {
    fn from(e: link::Error) -> Self {
        DetectError::Link(e)
    }
}

impl From<ip::Error> for DetectError {
    fn from(e: ip::Error) -> Self {
        DetectError::Ip(e)
    }
}

impl From<tcp::Error> for DetectError {
    fn from(e: tcp::Error) -> Self {
        DetectError::Tcp(e)
    }
}

impl From<udp::Error> for DetectError {
    fn from(e: udp::Error) -> Self {
        DetectError::Udp(e)
    }
}

/// The request for an attempt on `local` from `remote`; port 0 is refused here, once for
/// both monitors.
fn request(proto: Proto, local: (IpAddr, u16), remote: (IpAddr, u16)) -> Result<Option<ConnRequest>, DetectError> {
    let remote = SocketAddr::from(remote);
    if local.1 == 0 {
        return Err(DetectError::PortZero { proto, remote });
    }
    Ok(Some(ConnRequest { proto, local: SocketAddr::from(local), remote }))
}

/// pcap: the refusal in `ip_packet` (from the IP header on), if it is one.
///
/// * TCP with RST set and sequence number 0 → `Tcp`, local = the RST's source, remote = its
///   destination. Other TCP → `None`.
/// * ICMPv4 3/3 or ICMPv6 1/4 quoting UDP → `Udp`, local = the quoted destination, remote =
///   the quoted source. Quoting TCP (or a later fragment) → `None`; quoting anything else →
///   [`DetectError::UnsupportedProtocol`]. Other ICMP messages → `None`.
/// * A later fragment → `None`. Any other protocol → [`DetectError::UnsupportedProtocol`].
/// * A refusal for local port 0 → [`DetectError::PortZero`].
pub fn from_refusal(ip_packet: &[u8]) -> Result<Option<ConnRequest>, DetectError> {
    let packet = IpPacket::new_checked(ip_packet)?;
    let (protocol, payload) = match packet.upper()? {
        Upper::LaterFragment { .. } => return Ok(None),
        Upper::Header { protocol, payload } => (protocol, payload),
    };
    match (packet, protocol) {
        (_, PROTO_TCP) => {
            let seg = tcp::TcpPacket::new_checked(payload)?;
            if !seg.rst() || seg.seq_number() != 0 {
                return Ok(None);
            }
            request(Proto::Tcp, (packet.src_addr(), seg.src_port()), (packet.dst_addr(), seg.dst_port()))
        }
        (IpPacket::V4(_), PROTO_ICMP) => {
            let msg = icmp::IcmpPacket::new_checked(payload).map_err(|_| DetectError::Truncated)?;
            if !msg.is_port_unreachable() {
                return Ok(None);
            }
            let quoted = ipv4::Ipv4Packet::new_checked(msg.data()).map_err(quote_error_v4)?;
            quoted_udp(IpPacket::V4(quoted), quoted.upper())
        }
        (IpPacket::V6(_), PROTO_ICMPV6) => {
            let msg = icmpv6::Icmpv6Packet::new_checked(payload).map_err(|_| DetectError::Truncated)?;
            if !msg.is_port_unreachable() {
                return Ok(None);
            }
            let quoted = ipv6::Ipv6Packet::new_checked(msg.data()).map_err(quote_error_v6)?;
            let upper = quoted.upper().map_err(quote_error_v6)?;
            quoted_udp(IpPacket::V6(quoted), upper)
        }
        (_, other) => Err(DetectError::UnsupportedProtocol(other)),
    }
}

/// A quote too short for its IPv4 header is truncated; a wrong one is malformed.
fn quote_error_v4(e: ipv4::Error) -> DetectError {
    match e {
        ipv4::Error::Truncated => DetectError::Truncated,
        other => DetectError::Ip(ip::Error::V4(other)),
    }
}

fn quote_error_v6(e: ipv6::Error) -> DetectError {
    match e {
        ipv6::Error::Truncated | ipv6::Error::ExtensionTruncated(_) => DetectError::Truncated,
        other => DetectError::Ip(ip::Error::V6(other)),
    }
}

/// The attempt in the datagram an ICMP port unreachable quotes: the datagram's source is the
/// remote side, its destination the local port.
fn quoted_udp(quoted: IpPacket<'_>, upper: Upper<'_>) -> Result<Option<ConnRequest>, DetectError> {
    let (protocol, l4) = match upper {
        Upper::LaterFragment { .. } => return Ok(None),
        Upper::Header { protocol, payload } => (protocol, payload),
    };
    match protocol {
        PROTO_UDP => {
            if l4.len() < udp::HEADER_LEN {
                return Err(DetectError::Truncated);
            }
            let dgram = udp::UdpPacket::new_checked(l4)?;
            request(Proto::Udp, (quoted.dst_addr(), dgram.dst_port()), (quoted.src_addr(), dgram.src_port()))
        }
        PROTO_TCP => {
            if l4.len() < udp::HEADER_LEN {
                return Err(DetectError::Truncated);
            }
            Ok(None)
        }
        other => Err(DetectError::UnsupportedProtocol(other)),
    }
}

/// nfq: the attempt in the packet the kernel queued (`ip_packet` from the IP header on).
///
/// * TCP with SYN set and ACK clear → `Tcp`; other TCP → `None`.
/// * UDP → `Udp`.
/// * local = destination, remote = source. A later fragment → `None`.
/// * Anything else → [`DetectError::UnsupportedProtocol`] (for IPv6: the protocol after the
///   extension headers).
/// * An attempt on local port 0 → [`DetectError::PortZero`].
pub fn from_queued(ip_packet: &[u8]) -> Result<Option<ConnRequest>, DetectError> {
    let packet = IpPacket::new_checked(ip_packet)?;
    let (protocol, payload) = match packet.upper()? {
        Upper::LaterFragment { .. } => return Ok(None),
        Upper::Header { protocol, payload } => (protocol, payload),
    };
    let (proto, src_port, dst_port) = match protocol {
        PROTO_TCP => {
            let seg = tcp::TcpPacket::new_checked(payload)?;
            if !seg.syn() || seg.ack() {
                return Ok(None);
            }
            (Proto::Tcp, seg.src_port(), seg.dst_port())
        }
        PROTO_UDP => {
            let dgram = udp::UdpPacket::new_checked(payload)?;
            (Proto::Udp, dgram.src_port(), dgram.dst_port())
        }
        other => return Err(DetectError::UnsupportedProtocol(other)),
    };
    request(proto, (packet.dst_addr(), dst_port), (packet.src_addr(), src_port))
}

/// pcap: a captured frame on a link of type `dlt`, through the link layer into
/// [`from_refusal`].
pub fn from_frame(dlt: i32, frame: &[u8]) -> Result<Option<ConnRequest>, DetectError> {
    from_refusal(link::ip_payload(dlt, frame)?)
}

/// The original's log text for a request:
/// `<remote-ip>:<remote-port> requesting <tcp|udp> connection on <local-ip>:<local-port>.`
///
/// IPv4 addresses are written as in the C original (`127.0.0.1:80`); IPv6 addresses, which
/// it never logged, in brackets (`[::1]:80`, RFC 5952 §6), so that the port cannot be read
/// as part of the address.
pub fn request_line(r: &ConnRequest) -> String {
    format!("{} requesting {} connection on {}.", r.remote, r.proto, r.local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmp::Repr as IcmpRepr;
    use crate::wire::icmpv6::Repr as Icmpv6Repr;
    use crate::wire::testutil::{tcp_seg, v4, v6, XorShift};
    use std::net::{Ipv4Addr, Ipv6Addr};

    const LOCAL4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const REMOTE4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 77);
    const LOCAL6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
    const REMOTE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xbad, 0, 0, 0, 0, 0x77);

    fn udp_dgram(sport: u16, dport: u16, src: IpAddr, dst: IpAddr, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        udp::emit(&mut out, &udp::Repr { src_port: sport, dst_port: dport }, src, dst, data);
        out
    }

    /// The local kernel's RST for a SYN from REMOTE:40000 to LOCAL:23.
    fn rst4() -> Vec<u8> {
        let seg = tcp_seg(tcp::Repr::reset_for_syn(23, 40000, 77), LOCAL4.into(), REMOTE4.into());
        v4(LOCAL4, REMOTE4, PROTO_TCP, &seg)
    }

    fn rst6() -> Vec<u8> {
        let seg = tcp_seg(tcp::Repr::reset_for_syn(23, 40000, 77), LOCAL6.into(), REMOTE6.into());
        v6(LOCAL6, REMOTE6, PROTO_TCP, &seg)
    }

    /// The datagram REMOTE:5353 → LOCAL:161 and the local kernel's port unreachable for it.
    fn unreach4(quote_len: Option<usize>) -> Vec<u8> {
        let dgram = udp_dgram(5353, 161, REMOTE4.into(), LOCAL4.into(), b"public");
        let mut orig = v4(REMOTE4, LOCAL4, PROTO_UDP, &dgram);
        if let Some(n) = quote_len {
            orig.truncate(n);
        }
        let mut msg = Vec::new();
        icmp::emit(&mut msg, &IcmpRepr::PORT_UNREACHABLE, &orig);
        v4(LOCAL4, REMOTE4, PROTO_ICMP, &msg)
    }

    fn unreach6_quoting(orig: &[u8]) -> Vec<u8> {
        let mut msg = Vec::new();
        icmpv6::emit(&mut msg, &Icmpv6Repr::PORT_UNREACHABLE, LOCAL6, REMOTE6, orig);
        v6(LOCAL6, REMOTE6, PROTO_ICMPV6, &msg)
    }

    fn unreach6() -> Vec<u8> {
        let dgram = udp_dgram(5353, 161, REMOTE6.into(), LOCAL6.into(), b"public");
        unreach6_quoting(&v6(REMOTE6, LOCAL6, PROTO_UDP, &dgram))
    }

    fn tcp_req(local: IpAddr, lport: u16, remote: IpAddr, rport: u16) -> Option<ConnRequest> {
        request(Proto::Tcp, (local, lport), (remote, rport)).unwrap()
    }

    fn udp_req(local: IpAddr, lport: u16, remote: IpAddr, rport: u16) -> Option<ConnRequest> {
        request(Proto::Udp, (local, lport), (remote, rport)).unwrap()
    }

    #[test]
    fn refusals_become_requests() {
        assert_eq!(from_refusal(&rst4()), Ok(tcp_req(LOCAL4.into(), 23, REMOTE4.into(), 40000)));
        assert_eq!(from_refusal(&rst6()), Ok(tcp_req(LOCAL6.into(), 23, REMOTE6.into(), 40000)));
        assert_eq!(from_refusal(&unreach4(None)), Ok(udp_req(LOCAL4.into(), 161, REMOTE4.into(), 5353)));
        assert_eq!(from_refusal(&unreach6()), Ok(udp_req(LOCAL6.into(), 161, REMOTE6.into(), 5353)));
    }

    #[test]
    fn other_tcp_is_not_a_refusal() {
        let cases = [
            tcp::Repr { seq: 1, ..tcp::Repr::reset_for_syn(23, 40000, 77) },
            tcp::Repr::syn(23, 40000, 0),
            tcp::Repr { flags: tcp::FLAG_ACK, ..tcp::Repr::reset_for_syn(23, 40000, 77) },
        ];
        for repr in cases {
            let seg = tcp_seg(repr, LOCAL4.into(), REMOTE4.into());
            assert_eq!(from_refusal(&v4(LOCAL4, REMOTE4, PROTO_TCP, &seg)), Ok(None), "{repr:?}");
        }
        // A bare RST (no ACK) with sequence 0 is what the kernel sends for a stray segment
        // that acknowledged 0; the C original counted it, so do we.
        let bare = tcp::Repr { flags: tcp::FLAG_RST, ack: 0, ..tcp::Repr::reset_for_syn(23, 40000, 0) };
        let seg = tcp_seg(bare, LOCAL4.into(), REMOTE4.into());
        assert!(from_refusal(&v4(LOCAL4, REMOTE4, PROTO_TCP, &seg)).unwrap().is_some());
    }

    #[test]
    fn unreachable_quoting_tcp_or_other_codes() {
        // Port unreachable quoting TCP: not ours (the kernel answers TCP with RSTs).
        let seg = tcp_seg(tcp::Repr::syn(40000, 23, 5), REMOTE4.into(), LOCAL4.into());
        let orig = v4(REMOTE4, LOCAL4, PROTO_TCP, &seg);
        let mut msg = Vec::new();
        icmp::emit(&mut msg, &IcmpRepr::PORT_UNREACHABLE, &orig[..28]);
        assert_eq!(from_refusal(&v4(LOCAL4, REMOTE4, PROTO_ICMP, &msg)), Ok(None));
        let seg6 = tcp_seg(tcp::Repr::syn(40000, 23, 5), REMOTE6.into(), LOCAL6.into());
        assert_eq!(from_refusal(&unreach6_quoting(&v6(REMOTE6, LOCAL6, PROTO_TCP, &seg6))), Ok(None));

        // Quoting something else.
        let orig = v4(REMOTE4, LOCAL4, 47, &[0; 8]);
        let mut msg = Vec::new();
        icmp::emit(&mut msg, &IcmpRepr::PORT_UNREACHABLE, &orig);
        assert_eq!(from_refusal(&v4(LOCAL4, REMOTE4, PROTO_ICMP, &msg)), Err(DetectError::UnsupportedProtocol(47)));

        // Other ICMP messages: echo, host unreachable, ICMPv6 echo, ICMPv4's numbers in v6.
        for repr in [
            IcmpRepr { msg_type: icmp::TYPE_ECHO_REPLY, code: 0, rest_of_header: 0 },
            IcmpRepr { msg_type: icmp::TYPE_DEST_UNREACHABLE, code: 1, rest_of_header: 0 },
        ] {
            let mut msg = Vec::new();
            icmp::emit(&mut msg, &repr, &unreach4(None)[28..]);
            assert_eq!(from_refusal(&v4(LOCAL4, REMOTE4, PROTO_ICMP, &msg)), Ok(None));
        }
        for repr in [
            Icmpv6Repr { msg_type: icmpv6::TYPE_ECHO_REQUEST, code: 0, rest_of_header: 0 },
            Icmpv6Repr { msg_type: 3, code: 3, rest_of_header: 0 },
            Icmpv6Repr { msg_type: icmpv6::TYPE_DEST_UNREACHABLE, code: 3, rest_of_header: 0 },
        ] {
            let mut msg = Vec::new();
            icmpv6::emit(&mut msg, &repr, LOCAL6, REMOTE6, &[0; 48]);
            assert_eq!(from_refusal(&v6(LOCAL6, REMOTE6, PROTO_ICMPV6, &msg)), Ok(None));
        }
    }

    #[test]
    fn truncated_quotes() {
        // IPv4: header + 8 is the minimum; every shorter quote is "ICMP message truncated."
        assert!(from_refusal(&unreach4(Some(28))).unwrap().is_some());
        for n in 0..28 {
            assert_eq!(from_refusal(&unreach4(Some(n))), Err(DetectError::Truncated), "quote of {n} bytes");
        }
        // The ICMP header itself cut short.
        let full = unreach4(None);
        for n in 20..28 {
            assert_eq!(from_refusal(&full[..n]), Err(DetectError::Truncated), "{n} bytes");
        }
        // A quoted IPv4 header with options: 24 + 8 needed.
        let dgram = udp_dgram(5353, 161, REMOTE4.into(), LOCAL4.into(), b"");
        let mut orig = v4(REMOTE4, LOCAL4, PROTO_UDP, &[]);
        orig[0] = 0x46;
        orig[2..4].copy_from_slice(&32u16.to_be_bytes());
        orig.extend_from_slice(&[1, 1, 1, 0]);
        orig.extend_from_slice(&dgram);
        for (n, ok) in [(31, false), (32, true)] {
            let mut msg = Vec::new();
            icmp::emit(&mut msg, &IcmpRepr::PORT_UNREACHABLE, &orig[..n]);
            let got = from_refusal(&v4(LOCAL4, REMOTE4, PROTO_ICMP, &msg));
            assert_eq!(got.is_ok(), ok, "{n}: {got:?}");
        }

        // IPv6: 40 + extension headers + 8.
        let dgram = udp_dgram(5353, 161, REMOTE6.into(), LOCAL6.into(), b"x");
        let mut ext = Vec::new();
        ipv6::emit_options_header(&mut ext, PROTO_UDP, &[]);
        ext.extend_from_slice(&dgram);
        let orig = v6(REMOTE6, LOCAL6, ip::PROTO_DSTOPTS, &ext);
        assert_eq!(from_refusal(&unreach6_quoting(&orig)), Ok(udp_req(LOCAL6.into(), 161, REMOTE6.into(), 5353)));
        assert!(from_refusal(&unreach6_quoting(&orig[..56])).unwrap().is_some());
        for n in [0, 8, 39, 40, 47, 48, 55] {
            assert_eq!(from_refusal(&unreach6_quoting(&orig[..n])), Err(DetectError::Truncated), "{n}");
        }
    }

    #[test]
    fn malformed_quotes() {
        // A quote that is no IPv4 header at all.
        let mut msg = Vec::new();
        icmp::emit(&mut msg, &IcmpRepr::PORT_UNREACHABLE, &[0x65; 28]);
        assert_eq!(
            from_refusal(&v4(LOCAL4, REMOTE4, PROTO_ICMP, &msg)),
            Err(DetectError::Ip(ip::Error::V4(ipv4::Error::BadVersion(6))))
        );
        // A quoted UDP header with a length below 8.
        let mut orig = v4(REMOTE4, LOCAL4, PROTO_UDP, &[0, 1, 0, 2, 0, 3, 0, 0]);
        orig.truncate(28);
        let mut msg = Vec::new();
        icmp::emit(&mut msg, &IcmpRepr::PORT_UNREACHABLE, &orig);
        assert_eq!(
            from_refusal(&v4(LOCAL4, REMOTE4, PROTO_ICMP, &msg)),
            Err(DetectError::Udp(udp::Error::BadLength(3)))
        );
        // A quote that is a later fragment has no ports: not a request.
        let repr = ipv4::Repr { frag_offset: 8, ..ipv4::Repr::new(REMOTE4, LOCAL4, PROTO_UDP) };
        let mut orig = Vec::new();
        ipv4::emit(&mut orig, &repr, &[0; 8]);
        let mut msg = Vec::new();
        icmp::emit(&mut msg, &IcmpRepr::PORT_UNREACHABLE, &orig);
        assert_eq!(from_refusal(&v4(LOCAL4, REMOTE4, PROTO_ICMP, &msg)), Ok(None));
    }

    #[test]
    fn unsupported_and_malformed_refusals() {
        assert_eq!(from_refusal(&v4(LOCAL4, REMOTE4, 47, &[0; 8])), Err(DetectError::UnsupportedProtocol(47)));
        assert_eq!(from_refusal(&v4(LOCAL4, REMOTE4, PROTO_UDP, &[0; 8])), Err(DetectError::UnsupportedProtocol(17)));
        // ICMP numbers in the wrong IP version.
        assert_eq!(
            from_refusal(&v4(LOCAL4, REMOTE4, PROTO_ICMPV6, &[1, 4, 0, 0, 0, 0, 0, 0])),
            Err(DetectError::UnsupportedProtocol(58))
        );
        assert_eq!(
            from_refusal(&v6(LOCAL6, REMOTE6, PROTO_ICMP, &[3, 3, 0, 0, 0, 0, 0, 0])),
            Err(DetectError::UnsupportedProtocol(1))
        );
        assert_eq!(
            from_refusal(&v6(LOCAL6, REMOTE6, ip::PROTO_ESP, &[0; 16])),
            Err(DetectError::UnsupportedProtocol(50))
        );
        assert_eq!(from_refusal(&v6(LOCAL6, REMOTE6, ip::PROTO_NONE, &[])), Err(DetectError::UnsupportedProtocol(59)));
        // Malformed layers.
        assert_eq!(from_refusal(&[]), Err(DetectError::Ip(ip::Error::Empty)));
        assert_eq!(from_refusal(&[0x70; 60]), Err(DetectError::Ip(ip::Error::BadVersion(7))));
        let rst = rst4();
        assert_eq!(from_refusal(&rst[..30]), Err(DetectError::Tcp(tcp::Error::Truncated)));
        let mut too_many = Vec::new();
        for _ in 0..=ipv6::MAX_EXT_HEADERS {
            ipv6::emit_options_header(&mut too_many, ip::PROTO_DSTOPTS, &[]);
        }
        assert_eq!(
            from_refusal(&v6(LOCAL6, REMOTE6, ip::PROTO_DSTOPTS, &too_many)),
            Err(DetectError::Ip(ip::Error::V6(ipv6::Error::TooManyExtensionHeaders)))
        );
    }

    #[test]
    fn port_zero_is_never_a_request() {
        let zero4 = |remote: u16| Err(DetectError::PortZero { proto: Proto::Tcp, remote: (REMOTE4, remote).into() });
        // nfq: a SYN or a datagram to port 0, both families.
        let syn = tcp_seg(tcp::Repr::syn(40000, 0, 1), REMOTE4.into(), LOCAL4.into());
        assert_eq!(from_queued(&v4(REMOTE4, LOCAL4, PROTO_TCP, &syn)), zero4(40000));
        let syn6 = tcp_seg(tcp::Repr::syn(40000, 0, 1), REMOTE6.into(), LOCAL6.into());
        assert_eq!(
            from_queued(&v6(REMOTE6, LOCAL6, PROTO_TCP, &syn6)),
            Err(DetectError::PortZero { proto: Proto::Tcp, remote: (REMOTE6, 40000).into() })
        );
        let dgram = udp_dgram(5353, 0, REMOTE6.into(), LOCAL6.into(), b"q");
        assert_eq!(
            from_queued(&v6(REMOTE6, LOCAL6, PROTO_UDP, &dgram)),
            Err(DetectError::PortZero { proto: Proto::Udp, remote: (REMOTE6, 5353).into() })
        );
        // pcap: the kernel's RST from port 0, and its port unreachable quoting a datagram to 0.
        let rst = tcp_seg(tcp::Repr::reset_for_syn(0, 40000, 1), LOCAL4.into(), REMOTE4.into());
        assert_eq!(from_refusal(&v4(LOCAL4, REMOTE4, PROTO_TCP, &rst)), zero4(40000));
        let mut frame = Vec::new();
        link::emit_frame(&mut frame, link::DLT_EN10MB, &v4(LOCAL4, REMOTE4, PROTO_TCP, &rst)).unwrap();
        assert_eq!(from_frame(link::DLT_EN10MB, &frame), zero4(40000));
        let dgram = udp_dgram(5353, 0, REMOTE4.into(), LOCAL4.into(), b"q");
        let mut msg = Vec::new();
        icmp::emit(&mut msg, &IcmpRepr::PORT_UNREACHABLE, &v4(REMOTE4, LOCAL4, PROTO_UDP, &dgram));
        let err = from_refusal(&v4(LOCAL4, REMOTE4, PROTO_ICMP, &msg)).unwrap_err();
        assert_eq!(err, DetectError::PortZero { proto: Proto::Udp, remote: (REMOTE4, 5353).into() });
        assert_eq!(
            err.to_string(),
            "Connection attempt from 198.51.100.77:5353 to port 0/udp ignored: port 0 is never served."
        );
        // The remote port may be 0: the attempt is on a real local port.
        let syn = tcp_seg(tcp::Repr::syn(0, 445, 1), REMOTE4.into(), LOCAL4.into());
        assert_eq!(
            from_queued(&v4(REMOTE4, LOCAL4, PROTO_TCP, &syn)),
            Ok(tcp_req(LOCAL4.into(), 445, REMOTE4.into(), 0))
        );
    }

    #[test]
    fn later_fragments_are_not_attempts() {
        let repr = ipv4::Repr { frag_offset: 1480, more_frags: true, ..ipv4::Repr::new(LOCAL4, REMOTE4, PROTO_TCP) };
        let mut p = Vec::new();
        ipv4::emit(&mut p, &repr, &[0; 20]);
        assert_eq!(from_refusal(&p), Ok(None));
        assert_eq!(from_queued(&p), Ok(None));
        let mut ext = Vec::new();
        ipv6::emit_fragment_header(&mut ext, PROTO_UDP, 1232, false, 9);
        ext.extend_from_slice(&[0; 8]);
        let p = v6(REMOTE6, LOCAL6, ip::PROTO_FRAGMENT, &ext);
        assert_eq!(from_refusal(&p), Ok(None));
        assert_eq!(from_queued(&p), Ok(None));
    }

    #[test]
    fn ipv6_rst_behind_extension_headers() {
        let seg = tcp_seg(tcp::Repr::reset_for_syn(23, 40000, 77), LOCAL6.into(), REMOTE6.into());
        let mut ext = Vec::new();
        ipv6::emit_options_header(&mut ext, PROTO_TCP, &[1, 4, 0, 0, 0, 0]);
        ext.extend_from_slice(&seg);
        let p = v6(LOCAL6, REMOTE6, ip::PROTO_HOPOPTS, &ext);
        assert_eq!(from_refusal(&p), Ok(tcp_req(LOCAL6.into(), 23, REMOTE6.into(), 40000)));
    }

    #[test]
    fn queued_attempts() {
        let syn = tcp_seg(tcp::Repr::syn(40000, 445, 1), REMOTE4.into(), LOCAL4.into());
        assert_eq!(
            from_queued(&v4(REMOTE4, LOCAL4, PROTO_TCP, &syn)),
            Ok(tcp_req(LOCAL4.into(), 445, REMOTE4.into(), 40000))
        );
        let syn6 = tcp_seg(tcp::Repr::syn(40000, 445, 1), REMOTE6.into(), LOCAL6.into());
        assert_eq!(
            from_queued(&v6(REMOTE6, LOCAL6, PROTO_TCP, &syn6)),
            Ok(tcp_req(LOCAL6.into(), 445, REMOTE6.into(), 40000))
        );

        let dgram = udp_dgram(5353, 161, REMOTE4.into(), LOCAL4.into(), b"q");
        assert_eq!(
            from_queued(&v4(REMOTE4, LOCAL4, PROTO_UDP, &dgram)),
            Ok(udp_req(LOCAL4.into(), 161, REMOTE4.into(), 5353))
        );
        let dgram6 = udp_dgram(5353, 161, REMOTE6.into(), LOCAL6.into(), b"q");
        let mut ext = Vec::new();
        ipv6::emit_options_header(&mut ext, PROTO_UDP, &[]);
        ext.extend_from_slice(&dgram6);
        assert_eq!(
            from_queued(&v6(REMOTE6, LOCAL6, ip::PROTO_HOPOPTS, &ext)),
            Ok(udp_req(LOCAL6.into(), 161, REMOTE6.into(), 5353))
        );

        // Other TCP: SYN|ACK, ACK, RST.
        for flags in [tcp::FLAG_SYN | tcp::FLAG_ACK, tcp::FLAG_ACK, tcp::FLAG_RST, 0] {
            let seg = tcp_seg(tcp::Repr { flags, ..tcp::Repr::syn(40000, 445, 1) }, REMOTE4.into(), LOCAL4.into());
            assert_eq!(from_queued(&v4(REMOTE4, LOCAL4, PROTO_TCP, &seg)), Ok(None), "flags {flags:#x}");
        }
        // Other protocols, as the original's message says.
        let mut echo = Vec::new();
        icmp::emit(&mut echo, &IcmpRepr { msg_type: 8, code: 0, rest_of_header: 0 }, b"");
        let err = from_queued(&v4(REMOTE4, LOCAL4, PROTO_ICMP, &echo)).unwrap_err();
        assert_eq!(err, DetectError::UnsupportedProtocol(1));
        assert_eq!(err.to_string(), "Protocol 1 is not supported.");
        assert_eq!(
            from_queued(&v6(REMOTE6, LOCAL6, PROTO_ICMPV6, &[128, 0, 0, 0, 0, 0, 0, 0])),
            Err(DetectError::UnsupportedProtocol(58))
        );
        // Malformed transport headers.
        assert_eq!(from_queued(&v4(REMOTE4, LOCAL4, PROTO_UDP, &[0; 7])), Err(DetectError::Udp(udp::Error::Truncated)));
        assert_eq!(
            from_queued(&v4(REMOTE4, LOCAL4, PROTO_TCP, &[0; 20])),
            Err(DetectError::Tcp(tcp::Error::BadDataOffset(0)))
        );
    }

    #[test]
    fn frames_on_every_link_type() {
        for dlt in link::SUPPORTED {
            for (packet, want) in [
                (rst4(), tcp_req(LOCAL4.into(), 23, REMOTE4.into(), 40000)),
                (unreach6(), udp_req(LOCAL6.into(), 161, REMOTE6.into(), 5353)),
            ] {
                let mut frame = Vec::new();
                link::emit_frame(&mut frame, dlt, &packet).unwrap();
                assert_eq!(from_frame(dlt, &frame), Ok(want), "DLT {dlt}");
            }
        }
        assert_eq!(from_frame(147, &rst4()), Err(DetectError::Link(link::Error::Unsupported(147))));
        // Ethernet padding after a short RST is not read as anything.
        let mut frame = Vec::new();
        link::emit_frame(&mut frame, link::DLT_EN10MB, &rst4()).unwrap();
        frame.extend_from_slice(&[0xff; 6]);
        assert!(from_frame(link::DLT_EN10MB, &frame).unwrap().is_some());
    }

    #[test]
    fn log_lines() {
        let r = from_refusal(&rst4()).unwrap().unwrap();
        assert_eq!(request_line(&r), "198.51.100.77:40000 requesting tcp connection on 192.0.2.10:23.");
        let r = from_refusal(&unreach6()).unwrap().unwrap();
        assert_eq!(request_line(&r), "[2001:db8:bad::77]:5353 requesting udp connection on [2001:db8::10]:161.");
    }

    #[test]
    fn error_texts() {
        assert_eq!(DetectError::Truncated.to_string(), "ICMP message truncated.");
        assert_eq!(DetectError::UnsupportedProtocol(47).to_string(), "Protocol 47 is not supported.");
        for e in [
            DetectError::Link(link::Error::Truncated),
            DetectError::Ip(ip::Error::Empty),
            DetectError::Tcp(tcp::Error::Truncated),
            DetectError::Udp(udp::Error::BadLength(1)),
        ] {
            assert!(e.to_string().ends_with('.'), "{e}");
        }
    }

    /// The four frames of tests/data/pcap/real-lo-ethernet.pcap, captured on Linux `lo` with
    /// the dual-stack filter: the kernel's refusals of a TCP connect to 127.0.0.1:7001, a UDP
    /// datagram to 127.0.0.1:7002, and the same over ::1. (TCP checksums on `lo` are left
    /// unfinished by checksum offload; detection does not look at them.)
    const REAL_LO_FRAMES: [&str; 4] = [
        "0000000000000000000000000800450000280000400040063cce7f0000017f0000011b59ca9000000000\
         c7e7eb4d5014000018af0000",
        "000000000000000000000000080045c0003d47370000400134c77f0000017f0000010303df2400000000\
         45000021b58e40004011873b7f0000017f000001bf7a1b5a000dfe2070726f6265",
        "00000000000000000000000086dd6008ad520014064000000000000000000000000000000001000000000000\
         000000000000000000011b59db1000000000a9e4879750140000001c0000",
        "00000000000000000000000086dd60057bce003d3a4000000000000000000000000000000001000000000000\
         0000000000000000000101046dbc0000000060082d9f000d11400000000000000000000000000000000100\
         00000000000000000000000000000191731b5a000d002070726f6265",
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn real_loopback_refusals() {
        let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let want = [
            tcp_req(lo4, 7001, lo4, 51856),
            udp_req(lo4, 7002, lo4, 49018),
            tcp_req(lo6, 7001, lo6, 56080),
            udp_req(lo6, 7002, lo6, 37235),
        ];
        for (hex, want) in REAL_LO_FRAMES.iter().zip(want) {
            let frame = unhex(hex);
            assert_eq!(from_frame(link::DLT_EN10MB, &frame), Ok(want), "{hex}");
            // The quoted datagrams are real ones: their headers check out.
            if let Ok(Some(r)) = from_frame(link::DLT_EN10MB, &frame) {
                if r.proto == Proto::Udp && r.local.is_ipv4() {
                    let icmp_msg = &frame[14 + 20..];
                    assert!(icmp::IcmpPacket::new_checked(icmp_msg).unwrap().verify_checksum());
                }
            }
        }
        assert_eq!(
            request_line(&from_frame(link::DLT_EN10MB, &unhex(REAL_LO_FRAMES[3])).unwrap().unwrap()),
            "[::1]:37235 requesting udp connection on [::1]:7002."
        );
    }

    // ---- no panic on any input ---------------------------------------------------------

    /// Runs every parser of `wire` and both detectors over `buf` as an IP packet, and the
    /// frame detector for `dlt`; checks the emit → parse round trips of whatever parses.
    /// Returns how many layers parsed (proof that the test reaches deep).
    fn exercise(dlt: i32, buf: &[u8]) -> usize {
        let mut depth = 0;
        let _ = from_refusal(buf);
        let _ = from_queued(buf);
        if let Ok(Some(r)) = from_frame(dlt, buf) {
            depth += 1;
            assert!(!request_line(&r).is_empty());
        }
        let _ = link::ip_payload(dlt, buf);
        if let Ok(p) = ipv4::Ipv4Packet::new_checked(buf) {
            depth += 1;
            let repr = ipv4::Repr::parse(&p);
            let mut out = Vec::new();
            ipv4::emit(&mut out, &repr, p.payload());
            let again = ipv4::Ipv4Packet::new_checked(&out).unwrap();
            assert_eq!(ipv4::Repr::parse(&again), repr);
            let _ = (p.options(), p.is_truncated(), p.verify_checksum(), p.tos(), p.checksum());
        }
        if let Ok(p) = ipv6::Ipv6Packet::new_checked(buf) {
            depth += 1;
            let repr = ipv6::Repr::parse(&p);
            let mut out = Vec::new();
            ipv6::emit(&mut out, &repr, p.payload());
            assert_eq!(ipv6::Repr::parse(&ipv6::Ipv6Packet::new_checked(&out).unwrap()), repr);
            if p.upper().is_ok() {
                depth += 1;
            }
            let _ = (p.is_truncated(), ipv6::parse_fragment_header(p.payload()));
        }
        let (a, b): (IpAddr, IpAddr) = (Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into());
        if let Ok(t) = tcp::TcpPacket::new_checked(buf) {
            depth += 1;
            let repr = tcp::Repr::parse(&t);
            let mut out = Vec::new();
            tcp::emit(&mut out, &repr, a, b, t.payload());
            let again = tcp::TcpPacket::new_checked(&out).unwrap();
            assert_eq!(tcp::Repr::parse(&again), repr);
            assert!(again.verify_checksum(a, b));
            let _ = (t.options(), t.urgent(), t.checksum(), t.fin(), t.psh(), t.urg());
        }
        if let Ok(u) = udp::UdpPacket::new_checked(buf) {
            depth += 1;
            let mut out = Vec::new();
            udp::emit(&mut out, &udp::Repr::parse(&u), b, b, u.payload());
            assert!(udp::UdpPacket::new_checked(&out).unwrap().verify_checksum(b, b));
            let _ = (u.is_empty(), u.verify_checksum(a, a));
        }
        if let Ok(m) = icmp::IcmpPacket::new_checked(buf) {
            let mut out = Vec::new();
            icmp::emit(&mut out, &icmp::Repr::parse(&m), m.data());
            assert!(icmp::IcmpPacket::new_checked(&out).unwrap().verify_checksum());
        }
        if let Ok(m) = icmpv6::Icmpv6Packet::new_checked(buf) {
            let _ = m.verify_checksum(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
            let _ = icmpv6::Repr::parse(&m);
        }
        depth
    }

    fn valid_packets() -> Vec<Vec<u8>> {
        let syn4 = v4(REMOTE4, LOCAL4, PROTO_TCP, &tcp_seg(tcp::Repr::syn(1, 2, 3), REMOTE4.into(), LOCAL4.into()));
        let syn6 = v6(REMOTE6, LOCAL6, PROTO_TCP, &tcp_seg(tcp::Repr::syn(1, 2, 3), REMOTE6.into(), LOCAL6.into()));
        let dgram = udp_dgram(1, 2, REMOTE4.into(), LOCAL4.into(), b"data");
        let mut ext = Vec::new();
        ipv6::emit_options_header(&mut ext, ip::PROTO_FRAGMENT, &[1, 4, 0, 0, 0, 0]);
        ipv6::emit_fragment_header(&mut ext, ip::PROTO_AH, 0, true, 5);
        ext.extend_from_slice(&[PROTO_UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        ext.extend_from_slice(&udp_dgram(1, 2, REMOTE6.into(), LOCAL6.into(), b"data"));
        vec![
            rst4(),
            rst6(),
            unreach4(None),
            unreach6(),
            syn4,
            syn6,
            v4(REMOTE4, LOCAL4, PROTO_UDP, &dgram),
            v6(REMOTE6, LOCAL6, ip::PROTO_HOPOPTS, &ext),
            unreach6_quoting(&v6(REMOTE6, LOCAL6, ip::PROTO_HOPOPTS, &ext)),
        ]
    }

    /// About 100 000 pseudo-random buffers, half of them mutations of valid packets and
    /// frames (so that parsing gets past the first checks), through every parser; none may
    /// panic.
    #[test]
    fn pseudo_random_packets_never_panic() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let mut valid: Vec<(i32, Vec<u8>)> = Vec::new();
        for packet in valid_packets() {
            for dlt in link::SUPPORTED {
                let mut frame = Vec::new();
                link::emit_frame(&mut frame, dlt, &packet).unwrap();
                valid.push((dlt, frame));
            }
            valid.push((link::DLT_RAW, packet.clone()));
            let mut tagged = Vec::new();
            link::emit_ethernet(&mut tagged, &[(link::ETHERTYPE_QINQ, 1), (link::ETHERTYPE_VLAN, 2)], &packet).unwrap();
            valid.push((link::DLT_EN10MB, tagged));
        }
        let mut depth = 0usize;
        let mut buf = Vec::with_capacity(2048);
        for round in 0..100_000usize {
            buf.clear();
            let dlt;
            if round % 2 == 0 {
                dlt = link::SUPPORTED[rng.below(link::SUPPORTED.len())];
                let len = rng.below(200);
                buf.extend((0..len).map(|_| rng.next() as u8));
                // Often start like an IP packet of either version.
                if len > 0 && rng.next().is_multiple_of(2) {
                    buf[0] = if rng.next().is_multiple_of(2) { 0x45 } else { 0x60 };
                }
            } else {
                let (d, frame) = &valid[rng.below(valid.len())];
                dlt = *d;
                buf.extend_from_slice(frame);
                for _ in 0..=rng.below(4) {
                    let at = rng.below(buf.len());
                    buf[at] = rng.next() as u8;
                }
                if rng.next().is_multiple_of(3) {
                    buf.truncate(rng.below(buf.len() + 1));
                }
            }
            depth += exercise(dlt, &buf);
            // The IP packet inside the frame too, as the monitors see it.
            if let Ok(ip_packet) = link::ip_payload(dlt, &buf) {
                depth += exercise(link::DLT_RAW, ip_packet);
            }
        }
        assert!(depth > 50_000, "only {depth} layers parsed");
    }
}
