//! Fuzz target for `monitor::detect` and the `wire` packet views under it: arbitrary bytes as
//! an IP packet (both detectors) and as a captured frame of every supported link type must
//! never panic; what detects as a request must print; every transport header that parses
//! must survive an emit → parse round trip. Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz detect`.
#![no_main]

use honeytrap::monitor::detect;
use honeytrap::wire::{icmp, ip, ipv4, ipv6, link, tcp, udp};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    let _ = detect::from_refusal(data);
    let _ = detect::from_queued(data);
    for dlt in link::SUPPORTED {
        if let Ok(Some(r)) = detect::from_frame(dlt, data) {
            assert!(!detect::request_line(&r).is_empty());
        }
        if let Ok(packet) = link::ip_payload(dlt, data) {
            assert!(matches!(ip::version(packet), Some(4 | 6)));
        }
    }
    if let Ok(p) = ip::IpPacket::new_checked(data) {
        let _ = p.upper();
    }
    if let Ok(p) = ipv4::Ipv4Packet::new_checked(data) {
        let repr = ipv4::Repr::parse(&p);
        let mut out = Vec::new();
        ipv4::emit(&mut out, &repr, p.payload());
        assert_eq!(ipv4::Ipv4Packet::new_checked(&out).map(|q| ipv4::Repr::parse(&q)), Ok(repr));
    }
    if let Ok(p) = ipv6::Ipv6Packet::new_checked(data) {
        let repr = ipv6::Repr::parse(&p);
        let mut out = Vec::new();
        ipv6::emit(&mut out, &repr, p.payload());
        assert_eq!(ipv6::Ipv6Packet::new_checked(&out).map(|q| ipv6::Repr::parse(&q)), Ok(repr));
        assert_eq!(ipv6::Ipv6Packet::new_checked(&out).map(|q| q.upper()), Ok(p.upper()));
    }
    let (a, b) = (IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST));
    if let Ok(t) = tcp::TcpPacket::new_checked(data) {
        let repr = tcp::Repr::parse(&t);
        let mut out = Vec::new();
        tcp::emit(&mut out, &repr, a, b, t.payload());
        let again = tcp::TcpPacket::new_checked(&out).unwrap();
        assert_eq!(tcp::Repr::parse(&again), repr);
        assert!(again.verify_checksum(a, b));
    }
    if let Ok(u) = udp::UdpPacket::new_checked(data) {
        let repr = udp::Repr::parse(&u);
        let mut out = Vec::new();
        udp::emit(&mut out, &repr, b, b, u.payload());
        let again = udp::UdpPacket::new_checked(&out).unwrap();
        assert_eq!(udp::Repr::parse(&again), repr);
        assert!(again.verify_checksum(b, b));
    }
    if let Ok(m) = icmp::IcmpPacket::new_checked(data) {
        let mut out = Vec::new();
        icmp::emit(&mut out, &icmp::Repr::parse(&m), m.data());
        assert!(icmp::IcmpPacket::new_checked(&out).unwrap().verify_checksum());
    }
});
