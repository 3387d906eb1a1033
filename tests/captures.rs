//! The pcap monitor's detector against capture files, and against the real kernel.
//!
//! * Generated captures (`tests/data/pcap/gen-*.pcap`): classic pcap files written by
//!   [`write_pcap`] from packets built with `honeytrap::wire`'s emitters, one case per file.
//!   They are committed; [`generated_captures_are_up_to_date`] regenerates them in memory and
//!   fails if the committed bytes differ (set `HONEYTRAP_REGENERATE_PCAP=1` to rewrite them).
//!   [`generated_captures_decode`] reads them back with libpcap (`pcap_open_offline`) and
//!   checks what `detect::from_frame` makes of every packet, and what the capture filter
//!   compiled by the same libpcap lets through.
//! * Real captures (`tests/data/pcap/real-*.pcap`): recorded by the root-only test
//!   [`live_kernel_refusals_are_detected`] inside a private network namespace (run it with
//!   `HONEYTRAP_SAVE_CAPTURES=<dir>` to record them again); [`real_captures_decode`] checks
//!   them without root.
//!
//! The live test creates namespace `htw-<pid>`, brings up its `lo`, and runs this test binary
//! again inside it. The inner run opens `PcapMonitor` on `lo` and on `any` with the filter
//! `build_filter` makes from the namespace's addresses, connects to a closed TCP port and
//! sends UDP to a closed port over IPv4 and IPv6, and checks the connection requests the
//! kernel's RSTs and ICMP errors turn into; it also checks that a link type the detector
//! cannot decode (`nflog`) is refused. All traffic stays on the namespace's loopback;
//! the namespace is always deleted. Without root it says SKIP and passes (fails under
//! HONEYTRAP_REQUIRE_ALL_TESTS=1, as in CI).

mod common;

use honeytrap::config::Proto;
use honeytrap::monitor::detect::{self, DetectError};
use honeytrap::monitor::pcap::{build_filter, device_addresses, Outgoing, PcapMonitor};
use honeytrap::monitor::ConnRequest;
use honeytrap::wire::{icmp, icmpv6, ip, ipv4, ipv6, link, tcp, udp};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pcap");

// ---- classic pcap files -----------------------------------------------------------------

/// Magic number of a classic pcap file with microsecond timestamps.
const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
/// Snap length written into our files.
const PCAP_SNAPLEN: u32 = 65535;
/// Timestamp of the first record (2024-01-01T00:00:00Z); each record one second later.
const PCAP_EPOCH: u32 = 1_704_067_200;

/// A classic pcap file (little endian, version 2.4): a 24-byte global header, then per frame
/// a 16-byte record header (seconds, microseconds, captured length, original length) and the
/// frame. `linktype` is the savefile's LINKTYPE_ number (`link::linktype`).
fn pcap_bytes(linktype: i32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&PCAP_MAGIC.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&PCAP_SNAPLEN.to_le_bytes());
    out.extend_from_slice(&(linktype as u32).to_le_bytes());
    for (i, frame) in frames.iter().enumerate() {
        let len = u32::try_from(frame.len()).unwrap();
        out.extend_from_slice(&(PCAP_EPOCH + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(frame);
    }
    out
}

fn write_pcap(path: &Path, linktype: i32, frames: &[Vec<u8>]) {
    std::fs::write(path, pcap_bytes(linktype, frames)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The link type and frames of a capture file, read by libpcap.
fn read_pcap(path: &Path) -> (i32, Vec<Vec<u8>>) {
    let mut cap = pcap::Capture::from_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dlt = cap.get_datalink().0;
    let mut frames = Vec::new();
    loop {
        match cap.next_packet() {
            Ok(p) => frames.push(p.data.to_vec()),
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    (dlt, frames)
}

// ---- generated captures -----------------------------------------------------------------

const ME4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const PEER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 77);
const ME6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xbad, 0, 0, 0, 0, 0x77);

fn v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ipv4::emit(&mut out, &ipv4::Repr { ident: 0x4242, ..ipv4::Repr::new(src, dst, protocol) }, l4);
    out
}

fn v6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, l4: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ipv6::emit(&mut out, &ipv6::Repr::new(src, dst, next), l4);
    out
}

/// The local kernel's RST for a SYN from PEER:51000 (sequence 1000) to our port 445.
fn rst4() -> Vec<u8> {
    let mut seg = Vec::new();
    tcp::emit(&mut seg, &tcp::Repr::reset_for_syn(445, 51000, 1000), ME4.into(), PEER4.into(), b"");
    v4(ME4, PEER4, ip::PROTO_TCP, &seg)
}

fn rst6() -> Vec<u8> {
    let mut seg = Vec::new();
    tcp::emit(&mut seg, &tcp::Repr::reset_for_syn(445, 51000, 1000), ME6.into(), PEER6.into(), b"");
    v6(ME6, PEER6, ip::PROTO_TCP, &seg)
}

/// ICMP port unreachable for the datagram PEER:5060 → our port 5060 (a SIP probe).
fn unreach4() -> Vec<u8> {
    let mut dgram = Vec::new();
    udp::emit(
        &mut dgram,
        &udp::Repr { src_port: 5060, dst_port: 5060 },
        PEER4.into(),
        ME4.into(),
        b"OPTIONS sip:x SIP/2.0\r\n",
    );
    let quoted = v4(PEER4, ME4, ip::PROTO_UDP, &dgram);
    let mut msg = Vec::new();
    icmp::emit(&mut msg, &icmp::Repr::PORT_UNREACHABLE, &quoted);
    v4(ME4, PEER4, ip::PROTO_ICMP, &msg)
}

fn unreach6() -> Vec<u8> {
    let mut dgram = Vec::new();
    udp::emit(&mut dgram, &udp::Repr { src_port: 40123, dst_port: 161 }, PEER6.into(), ME6.into(), b"\x30\x26public");
    let quoted = v6(PEER6, ME6, ip::PROTO_UDP, &dgram);
    let mut msg = Vec::new();
    icmpv6::emit(&mut msg, &icmpv6::Repr::PORT_UNREACHABLE, ME6, PEER6, &quoted);
    v6(ME6, PEER6, ip::PROTO_ICMPV6, &msg)
}

/// ICMP port unreachable quoting only 24 bytes: the IPv4 header and half the UDP header.
fn unreach4_truncated() -> Vec<u8> {
    let full = unreach4();
    let quoted = &full[20 + 8..20 + 8 + 24];
    let mut msg = Vec::new();
    icmp::emit(&mut msg, &icmp::Repr::PORT_UNREACHABLE, quoted);
    v4(ME4, PEER4, ip::PROTO_ICMP, &msg)
}

/// The second fragment of a large RST-carrying datagram: no TCP header in it.
fn later_fragment4() -> Vec<u8> {
    let repr =
        ipv4::Repr { frag_offset: 1480, dont_frag: false, ident: 7, ..ipv4::Repr::new(ME4, PEER4, ip::PROTO_TCP) };
    let mut out = Vec::new();
    ipv4::emit(&mut out, &repr, &[0u8; 40]);
    out
}

fn frame(dlt: i32, packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    link::emit_frame(&mut out, dlt, packet).unwrap();
    out
}

type Expected = Result<Option<ConnRequest>, DetectError>;

fn tcp_req(local: (IpAddr, u16), remote: (IpAddr, u16)) -> Expected {
    Ok(Some(ConnRequest { proto: Proto::Tcp, local: local.into(), remote: remote.into() }))
}

fn udp_req(local: (IpAddr, u16), remote: (IpAddr, u16)) -> Expected {
    Ok(Some(ConnRequest { proto: Proto::Udp, local: local.into(), remote: remote.into() }))
}

/// One generated capture file: name, link type, frames, and per frame what the detector
/// must say and whether the dual-stack capture filter lets it through.
struct Case {
    file: &'static str,
    dlt: i32,
    frames: Vec<Vec<u8>>,
    expected: Vec<(Expected, bool)>,
}

fn generated_cases() -> Vec<Case> {
    let (me4, peer4, me6, peer6) = (IpAddr::V4(ME4), IpAddr::V4(PEER4), IpAddr::V6(ME6), IpAddr::V6(PEER6));
    let tcp4 = tcp_req((me4, 445), (peer4, 51000));
    let tcp6 = tcp_req((me6, 445), (peer6, 51000));
    let mut vlan = Vec::new();
    link::emit_ethernet(&mut vlan, &[(link::ETHERTYPE_VLAN, 42)], &rst4()).unwrap();
    let mut qinq = Vec::new();
    link::emit_ethernet(&mut qinq, &[(link::ETHERTYPE_QINQ, 100), (link::ETHERTYPE_VLAN, 42)], &rst6()).unwrap();
    // Not a frame of anything: a deterministic byte pattern.
    let garbage: Vec<u8> = (0u32..61).map(|i| (i.wrapping_mul(151).wrapping_add(7) % 251) as u8).collect();
    let arp = {
        let mut f = link::MAC_DST.to_vec();
        f.extend_from_slice(&link::MAC_SRC);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&[0; 18]);
        f
    };
    vec![
        Case {
            file: "gen-ipv4-rst-ethernet.pcap",
            dlt: link::DLT_EN10MB,
            frames: vec![frame(1, &rst4())],
            expected: vec![(tcp4, true)],
        },
        Case {
            file: "gen-ipv4-rst-linux-sll.pcap",
            dlt: link::DLT_LINUX_SLL,
            frames: vec![frame(link::DLT_LINUX_SLL, &rst4())],
            expected: vec![(tcp4, true)],
        },
        Case {
            file: "gen-icmp-port-unreachable-udp.pcap",
            dlt: link::DLT_EN10MB,
            frames: vec![frame(1, &unreach4())],
            expected: vec![(udp_req((me4, 5060), (peer4, 5060)), true)],
        },
        Case {
            file: "gen-ipv6-rst-ethernet.pcap",
            dlt: link::DLT_EN10MB,
            frames: vec![frame(1, &rst6())],
            expected: vec![(tcp6, true)],
        },
        Case { file: "gen-ipv6-rst-raw.pcap", dlt: link::DLT_RAW, frames: vec![rst6()], expected: vec![(tcp6, true)] },
        Case {
            file: "gen-icmpv6-port-unreachable-udp.pcap",
            dlt: link::DLT_EN10MB,
            frames: vec![frame(1, &unreach6())],
            expected: vec![(udp_req((me6, 161), (peer6, 40123)), true)],
        },
        Case {
            file: "gen-icmpv6-port-unreachable-linux-sll2.pcap",
            dlt: link::DLT_LINUX_SLL2,
            frames: vec![frame(link::DLT_LINUX_SLL2, &unreach6())],
            expected: vec![(udp_req((me6, 161), (peer6, 40123)), true)],
        },
        Case {
            file: "gen-icmp-truncated.pcap",
            dlt: link::DLT_EN10MB,
            frames: vec![frame(1, &unreach4_truncated())],
            // The filter looks at the ICMP type and code only; the detector finds the quote short.
            expected: vec![(Err(DetectError::Truncated), true)],
        },
        Case {
            file: "gen-garbage.pcap",
            dlt: link::DLT_EN10MB,
            frames: vec![garbage, arp],
            expected: vec![
                (Err(DetectError::Link(link::Error::NotIp(0x3ed5))), false),
                (Err(DetectError::Link(link::Error::NotIp(0x0806))), false),
            ],
        },
        Case {
            file: "gen-vlan-tagged.pcap",
            dlt: link::DLT_EN10MB,
            frames: vec![vlan, qinq],
            // Offline, libpcap reads tagged frames at untagged offsets (see
            // monitor::pcap's libpcap_and_vlan_tags); live on Linux, the tag was removed
            // before filtering and put back into the bytes we get.
            expected: vec![(tcp4, false), (tcp6, false)],
        },
        Case {
            file: "gen-ipv4-later-fragment.pcap",
            dlt: link::DLT_EN10MB,
            frames: vec![frame(1, &later_fragment4())],
            expected: vec![(Ok(None), false)],
        },
    ]
}

#[test]
fn generated_captures_are_up_to_date() {
    let regenerate = std::env::var_os("HONEYTRAP_REGENERATE_PCAP").is_some();
    let mut stale = Vec::new();
    for case in generated_cases() {
        let path = Path::new(DATA_DIR).join(case.file);
        let want = pcap_bytes(link::linktype(case.dlt), &case.frames);
        if regenerate {
            write_pcap(&path, link::linktype(case.dlt), &case.frames);
        } else if std::fs::read(&path).ok().as_deref() != Some(&want[..]) {
            stale.push(case.file);
        }
    }
    assert!(stale.is_empty(), "out of date: {stale:?}; rerun with HONEYTRAP_REGENERATE_PCAP=1 and commit them");
}

#[test]
fn generated_captures_decode() {
    let filter = build_filter(None, &[IpAddr::V4(ME4), IpAddr::V6(ME6)], None);
    for case in generated_cases() {
        let path = Path::new(DATA_DIR).join(case.file);
        let (dlt, frames) = read_pcap(&path);
        assert_eq!(dlt, case.dlt, "{}", case.file);
        assert_eq!(frames, case.frames, "{}", case.file);
        let prog = pcap::Capture::dead(pcap::Linktype(dlt)).unwrap().compile(&filter, true).unwrap();
        for (i, (frame, (want, passes))) in frames.iter().zip(&case.expected).enumerate() {
            assert_eq!(&detect::from_frame(dlt, frame), want, "{} packet {i}", case.file);
            assert_eq!(prog.filter(frame), *passes, "{} packet {i}: capture filter", case.file);
        }
        assert_eq!(frames.len(), case.expected.len(), "{}", case.file);
    }
}

#[test]
fn pcap_writer_layout() {
    let bytes = pcap_bytes(101, &[vec![0x45; 3]]);
    assert_eq!(bytes.len(), 24 + 16 + 3);
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    assert_eq!(&bytes[20..24], &101u32.to_le_bytes());
    assert_eq!(&bytes[32..40], &[3, 0, 0, 0, 3, 0, 0, 0]);
}

// ---- real captures ----------------------------------------------------------------------

/// Ports the live test attacks; nothing listens on them inside the fresh namespace.
const CLOSED_TCP: u16 = 7001;
const CLOSED_UDP: u16 = 7002;

/// What a capture of the live scenario must decode to: for each family a TCP request to
/// CLOSED_TCP and a UDP request to CLOSED_UDP, from the same loopback address (the client's
/// port is checked where the test knows it).
fn check_scenario(
    requests: &HashSet<ConnRequest>,
    families: &[IpAddr],
    udp_ports: &[(IpAddr, u16)],
) -> Result<(), String> {
    let mut want = HashSet::new();
    for &lo in families {
        let tcp = requests
            .iter()
            .find(|r| r.proto == Proto::Tcp && r.local == SocketAddr::new(lo, CLOSED_TCP))
            .ok_or_else(|| format!("no TCP request for {lo} in {requests:?}"))?;
        if tcp.remote.ip() != lo || tcp.remote.port() == 0 {
            return Err(format!("TCP request from {}", tcp.remote));
        }
        want.insert(*tcp);
    }
    for &(lo, port) in udp_ports {
        want.insert(ConnRequest {
            proto: Proto::Udp,
            local: SocketAddr::new(lo, CLOSED_UDP),
            remote: SocketAddr::new(lo, port),
        });
    }
    if want.len() != families.len() * 2 || *requests != want {
        return Err(format!("requests {requests:?}, expected {want:?}"));
    }
    Ok(())
}

/// The recorded captures of the live scenario decode to exactly its four requests.
#[test]
fn real_captures_decode() {
    let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    for (file, dlt) in [("real-lo-ethernet.pcap", link::DLT_EN10MB), ("real-any-linux-sll.pcap", link::DLT_LINUX_SLL)] {
        let path = Path::new(DATA_DIR).join(file);
        let (got_dlt, frames) = read_pcap(&path);
        assert_eq!(got_dlt, dlt, "{file}");
        let mut requests = HashSet::new();
        for (i, frame) in frames.iter().enumerate() {
            let r = detect::from_frame(dlt, frame).unwrap_or_else(|e| panic!("{file} packet {i}: {e}"));
            requests.insert(r.unwrap_or_else(|| panic!("{file} packet {i}: no request")));
        }
        // The UDP client ports are in the recording; take them from the requests.
        let udp_ports: Vec<(IpAddr, u16)> =
            requests.iter().filter(|r| r.proto == Proto::Udp).map(|r| (r.remote.ip(), r.remote.port())).collect();
        assert_eq!(udp_ports.len(), 2, "{file}: {requests:?}");
        check_scenario(&requests, &[lo4, lo6], &udp_ports).unwrap_or_else(|e| panic!("{file}: {e}"));
        // And the kernel's RST has the shape the filter and the emitters assume.
        let tcp4 = frames.iter().find_map(|f| {
            let p = ipv4::Ipv4Packet::new_checked(link::ip_payload(dlt, f).ok()?).ok()?;
            let seg = tcp::TcpPacket::new_checked(p.payload()).ok().filter(|_| p.protocol() == ip::PROTO_TCP)?;
            Some((ipv4::Repr::parse(&p), tcp::Repr::parse(&seg)))
        });
        let (ip_repr, tcp_repr) = tcp4.unwrap_or_else(|| panic!("{file}: no IPv4 RST"));
        assert_eq!((ip_repr.ttl, ip_repr.dont_frag, ip_repr.frag_offset), (64, true, 0), "{file}");
        assert_eq!((tcp_repr.seq, tcp_repr.flags, tcp_repr.window), (0, tcp::FLAG_RST | tcp::FLAG_ACK, 0), "{file}");
        // Every refusal here left this host, and the frames say so: on `any` as received
        // on a loopback device (packet type 0, hardware type 772), on `lo` with the device's
        // own (zero) address.
        let per_frame = Outgoing::PerFrame { own_mac: Some([0; 6]) };
        for (i, frame) in frames.iter().enumerate() {
            let sender = link::sender(dlt, frame);
            let want = if dlt == link::DLT_EN10MB { link::Sender::Mac([0; 6]) } else { link::Sender::Local };
            assert_eq!(sender, want, "{file} packet {i}");
            assert!(per_frame.sent_here(dlt, frame), "{file} packet {i}");
        }
    }
}

// ---- the live test (root) ---------------------------------------------------------------

/// Set in the environment of the inner run.
const INNER_ENV: &str = "HONEYTRAP_CAPTURE_TEST_INNER";
/// This test's name, for `--exact`.
const LIVE_TEST: &str = "live_kernel_refusals_are_detected";
/// Printed by a successful inner run.
const INNER_OK: &str = "capture inner run: ok";
/// Upper bound for the whole inner run.
const INNER_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for the refusals to show up in a capture.
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn live_kernel_refusals_are_detected() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner();
    } else {
        outer();
    }
}

fn outer() {
    if !common::root_or_skip(LIVE_TEST, &["ip"]) {
        return;
    }
    common::rerun_in_netns(LIVE_TEST, INNER_ENV, INNER_OK, INNER_TIMEOUT, |_| {});
}

/// One open capture and what it has seen so far.
struct Watch {
    name: &'static str,
    mon: PcapMonitor,
    frames: Vec<Vec<u8>>,
    requests: HashSet<ConnRequest>,
}

impl Watch {
    fn open(name: &'static str, dev: &str) -> Watch {
        let addrs = device_addresses(dev).unwrap();
        let filter = build_filter(None, &addrs, None);
        println!("{name}: device {dev}, filter {filter}");
        let mon = PcapMonitor::open(dev, &filter, false).unwrap();
        Watch { name, mon, frames: Vec::new(), requests: HashSet::new() }
    }

    fn poll(&mut self) {
        let dlt = self.mon.datalink();
        let mut got = Vec::new();
        self.mon.drain(64, |f| got.push(f.to_vec())).unwrap();
        for f in got {
            match detect::from_frame(dlt, &f) {
                Ok(Some(r)) => {
                    println!("{}: {}", self.name, detect::request_line(&r));
                    self.requests.insert(r);
                }
                other => panic!("{}: captured frame {f:02x?} decoded to {other:?}", self.name),
            }
            self.frames.push(f);
        }
    }
}

fn inner() {
    let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let addrs = device_addresses("lo").unwrap();
    assert!(addrs.contains(&lo4), "lo addresses {addrs:?}");
    let families: Vec<IpAddr> = if addrs.contains(&lo6) {
        vec![lo4, lo6]
    } else {
        println!("IPv6 is disabled here: testing IPv4 only");
        vec![lo4]
    };

    // A link type the detector cannot decode is refused with the original's text (the
    // netfilter log device is DLT_NFLOG, 239).
    if pcap::Device::list().unwrap().iter().any(|d| d.name == "nflog") {
        let err = PcapMonitor::open("nflog", "", false).err().expect("nflog accepted");
        assert_eq!(err.to_string(), "Link type of nflog is currently not supported.");
    } else {
        println!("no nflog device in this libpcap: link-type refusal not tested");
    }

    let mut watches = vec![Watch::open("lo", "lo"), Watch::open("any", "any")];
    assert_eq!(watches[0].mon.datalink(), link::DLT_EN10MB);
    // Not libpcap's direction on either: it shows loopback traffic as received only.
    assert_eq!(watches[0].mon.outgoing(), &Outgoing::Loopback);
    assert_eq!(watches[1].mon.outgoing(), &Outgoing::PerFrame { own_mac: None });
    let any_dlt = watches[1].mon.datalink();
    assert!(any_dlt == link::DLT_LINUX_SLL || any_dlt == link::DLT_LINUX_SLL2, "any: DLT {any_dlt}");

    // A served port must not show up: a listener, a connection to it, a clean close.
    let listener = TcpListener::bind((lo4, 0)).unwrap();
    let served = listener.local_addr().unwrap();
    drop(TcpStream::connect(served).unwrap());
    drop(listener.accept().unwrap());

    let mut udp_ports = Vec::new();
    for &lo in &families {
        let err = TcpStream::connect_timeout(&SocketAddr::new(lo, CLOSED_TCP), Duration::from_secs(2))
            .expect_err("connect to a closed port succeeded");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        let sock = UdpSocket::bind((lo, 0)).unwrap();
        sock.send_to(b"probe", (lo, CLOSED_UDP)).unwrap();
        udp_ports.push((lo, sock.local_addr().unwrap().port()));
    }

    let deadline = Instant::now() + CAPTURE_TIMEOUT;
    let want = families.len() * 2;
    while Instant::now() < deadline && watches.iter().any(|w| w.requests.len() < want) {
        for w in &mut watches {
            w.poll();
        }
        thread::sleep(Duration::from_millis(20));
    }
    // Anything late (a duplicate, the served port) would show up now.
    thread::sleep(Duration::from_millis(200));
    for w in &mut watches {
        w.poll();
        assert!(
            w.requests.iter().all(|r| r.local.port() != served.port()),
            "{}: the served port was reported: {:?}",
            w.name,
            w.requests
        );
        check_scenario(&w.requests, &families, &udp_ports).unwrap_or_else(|e| panic!("{}: {e}", w.name));
        println!("{}: {} frames, {} requests", w.name, w.frames.len(), w.requests.len());
    }

    if let Some(dir) = std::env::var_os("HONEYTRAP_SAVE_CAPTURES") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (w, file) in watches.iter().zip(["real-lo-ethernet.pcap", "real-any-linux-sll.pcap"]) {
            let path = dir.join(file);
            write_pcap(&path, link::linktype(w.mon.datalink()), &w.frames);
            println!("saved {}", path.display());
        }
    }
    println!("{INNER_OK}");
}
