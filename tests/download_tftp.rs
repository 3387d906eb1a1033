//! The TFTP download client against a real server (tftpd-hpa, installed by `.ci/run`) and
//! against scripted hostile servers, all in a client network namespace; the client runs in the
//! sensor namespace bound to 10.77.0.1 / fd77::1. Root only.
//!
//! Every test logs to one shared file; log checks look for lines carrying the test's own
//! file name.

mod common;

use common::*;
use honeytrap::log;
use honeytrap::pipeline::download::{tftp, Context, Error, Fetched, Limits, Policy};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

fn log_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("honeytrap-download-tftp-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        log::set_file(&path, log::open_file(&path).unwrap());
        log::set_level(log::Level::Noisy);
        path
    })
}

fn log_has(needle: &str) -> bool {
    read(log_path()).contains(needle)
}

/// Runs `tftp::fetch` in the sensor namespace with the test policy.
fn fetch(pair: &Pair, server: SocketAddr, file: &str, limits: Limits, time: Duration) -> Result<Fetched, Error> {
    log_path();
    let file = file.to_string();
    in_netns(&pair.srv.0, move || {
        let policy = Policy { allow_local: false, sensor: vec![SRV4.parse().unwrap(), SRV6.parse().unwrap()] };
        let local: IpAddr = if server.is_ipv4() { SRV4.parse().unwrap() } else { SRV6.parse().unwrap() };
        let ctx = Context {
            local_ip: local,
            attacker: server.ip(),
            ftp_host: None,
            policy: &policy,
            limits: &limits,
            deadline: Instant::now() + time,
        };
        tftp::fetch(server, &file, &ctx)
    })
}

/// Short waits, so that retransmissions and timeouts happen within the test's time.
fn quick(max_size: usize) -> Limits {
    Limits { max_size, io_timeout: Duration::from_millis(300), ..Limits::default() }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed ^ (i >> 9) as u8).collect()
}

/// tftpd-hpa serving `dir`, in the foreground in the client namespace, killed on drop.
struct Tftpd {
    _daemon: Daemon,
    dir: TempDir,
}

fn tftpd(pair: &Pair, listen: &str) -> Tftpd {
    let dir = TempDir::new("tftpd");
    let mut cmd = pair.cli.command("in.tftpd");
    cmd.args(["--foreground", "--address", listen, "--user", "root", "--secure"]).arg(dir.path());
    let daemon = Daemon::spawn(cmd);
    let ns = pair.cli.0.clone();
    let ready = wait_until(Duration::from_secs(5), || {
        Command::new("ip")
            .args(["netns", "exec", &ns, "ss", "-Hnlu", "sport", "=", ":69"])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    });
    assert!(ready, "in.tftpd did not start listening on {listen}");
    Tftpd { _daemon: daemon, dir }
}

impl Tftpd {
    fn put(&self, name: &str, data: &[u8]) {
        std::fs::write(self.dir.join(name), data).unwrap();
    }
}

const SIZES: [usize; 12] = [0, 1, 100, 508, 509, 510, 511, 512, 1020, 1023, 1024, 100_000];

#[test]
fn real_server_ipv4_all_sizes_and_missing_file() {
    if !root_or_skip("real_server_ipv4_all_sizes_and_missing_file", &["ip", "ss", "in.tftpd"]) {
        return;
    }
    let pair = Pair::new();
    let srv = tftpd(&pair, "10.77.0.2:69");
    let server: SocketAddr = "10.77.0.2:69".parse().unwrap();
    for (i, &n) in SIZES.iter().enumerate() {
        let name = format!("v4-{n}.bin");
        let data = pattern(n, i as u8);
        srv.put(&name, &data);
        let t = Instant::now();
        let got = fetch(&pair, server, &name, Limits::default(), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The C defect (1020 bytes: last block of 508) would wait 5 s and drop the file.
        assert!(t.elapsed() < Duration::from_secs(2), "{name} took {:?}", t.elapsed());
        assert_eq!(got.data.len(), n, "{name}");
        assert!(got.data == data, "{name}: content differs");
        assert_eq!(got.remote, server);
        assert_eq!(got.uri, format!("tftp://10.77.0.2/{name}"));
    }
    assert!(log_has("TFTP download - Requesting 'v4-1020.bin' from 10.77.0.2."));
    assert!(log_has("TFTP download - Read request sent: \"RRQ v4-1020.bin octet\" (1. try)"));
    assert!(log_has("TFTP download - Remote host uses port "));

    // A missing file: an ERROR 1 at once, no retries.
    let t = Instant::now();
    match fetch(&pair, server, "v4-missing.bin", Limits::default(), Duration::from_secs(10)) {
        Err(Error::Protocol(why)) => assert!(why.contains("TFTP error 1"), "{why}"),
        other => panic!("missing file: {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(log_has("TFTP download error - File not found."));
}

#[test]
fn real_server_ipv6() {
    if !root_or_skip("real_server_ipv6", &["ip", "ss", "in.tftpd"]) {
        return;
    }
    let pair = Pair::new();
    let srv = tftpd(&pair, "[fd77::2]:69");
    let server: SocketAddr = "[fd77::2]:69".parse().unwrap();
    for n in [509, 5000] {
        let name = format!("v6-{n}.bin");
        let data = pattern(n, 7);
        srv.put(&name, &data);
        let got = fetch(&pair, server, &name, Limits::default(), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got.data == data, "{name}: content differs");
        assert_eq!(got.uri, format!("tftp://[fd77::2]/{name}"));
    }
}

/// More than 65535 blocks: tftpd-hpa wraps the block number to 0.
#[test]
fn real_server_block_number_wrap() {
    if !root_or_skip("real_server_block_number_wrap", &["ip", "ss", "in.tftpd"]) {
        return;
    }
    let pair = Pair::new();
    let srv = tftpd(&pair, "10.77.0.2:69");
    let n = 65_540 * 512 + 77;
    let data = pattern(n, 3);
    srv.put("wrap.bin", &data);
    let limits = Limits { max_size: 40 << 20, ..Limits::default() };
    let t = Instant::now();
    let got = fetch(&pair, "10.77.0.2:69".parse().unwrap(), "wrap.bin", limits, Duration::from_secs(60)).unwrap();
    eprintln!("33 MB over TFTP in {:?}", t.elapsed());
    assert_eq!(got.data.len(), n);
    assert!(got.data == data, "content differs");
}

/// Scripted servers: the well-known port and the server's transfer ID, in the client
/// namespace.
fn scripted(pair: &Pair, ip: &'static str) -> (UdpSocket, UdpSocket) {
    in_netns(&pair.cli.0, move || {
        let listen = UdpSocket::bind((ip, 69)).unwrap();
        let tid = UdpSocket::bind((ip, 0)).unwrap();
        for s in [&listen, &tid] {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        }
        (listen, tid)
    })
}

fn data(block: u16, payload: &[u8]) -> Vec<u8> {
    [&[0, 3][..], &block.to_be_bytes(), payload].concat()
}

/// Waits for a datagram on `s`, returns it and its sender.
fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = [0u8; 1024];
    s.recv_from(&mut buf).ok().map(|(n, from)| (buf[..n].to_vec(), from))
}

fn is_ack(p: &[u8], block: u16) -> bool {
    p == [&[0, 4][..], &block.to_be_bytes()].concat()
}

/// Endless full blocks: the size cap ends it, and the server is told.
#[test]
fn hostile_endless_blocks_hit_the_size_cap() {
    if !root_or_skip("hostile_endless_blocks_hit_the_size_cap", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let (listen, tid) = scripted(&pair, CLI4);
    let server = thread::spawn(move || {
        let (_, client) = recv(&listen).expect("RRQ");
        let mut block = 1u16;
        for _ in 0..100_000 {
            tid.send_to(&data(block, &[0x41; 512]), client).unwrap();
            match recv(&tid) {
                Some((p, _)) if is_ack(&p, block) => block = block.wrapping_add(1),
                Some((p, _)) => return Some(p),
                None => return None,
            }
        }
        None
    });
    let t = Instant::now();
    let r = fetch(&pair, "10.77.0.2:69".parse().unwrap(), "endless.bin", quick(100_000), Duration::from_secs(8));
    assert!(matches!(r, Err(Error::TooLarge(100_000))), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let last = server.join().unwrap().expect("an ERROR packet to the server");
    assert_eq!(&last[..4], &[0, 5, 0, 3], "{last:?}");
    assert!(log_has("TFTP download - 'endless.bin' from 10.77.0.2 exceeds the size limit of 100000 bytes"));
}

/// A silent server: the read request is sent MAX_TRIES times, then the transfer ends.
#[test]
fn hostile_silent_server_times_out_after_retries() {
    if !root_or_skip("hostile_silent_server_times_out_after_retries", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let (listen, _tid) = scripted(&pair, CLI4);
    let server = thread::spawn(move || {
        let mut rrqs = 0;
        while let Some((p, _)) = recv(&listen) {
            assert_eq!(p, b"\x00\x01silent.bin\x00octet\x00");
            rrqs += 1;
            assert!(rrqs < 100);
            // The first request may take a while under load (the client's thread still has to
            // start and join the namespace); after it, 800 ms of silence means no more tries.
            listen.set_read_timeout(Some(Duration::from_millis(800))).unwrap();
        }
        rrqs
    });
    let t = Instant::now();
    let r = fetch(&pair, "10.77.0.2:69".parse().unwrap(), "silent.bin", quick(1 << 20), Duration::from_secs(8));
    let took = t.elapsed();
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    // MAX_TRIES waits of 300 ms.
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_millis(2500), "{took:?}");
    assert_eq!(server.join().unwrap(), tftp::MAX_TRIES);
    assert!(log_has("TFTP download - Read request sent: \"RRQ silent.bin octet\" (5. try)"));
    assert!(log_has(
        "TFTP download - Transfer timeout for 'silent.bin', no data from 10.77.0.2 for 0.3 seconds (5 tries)."
    ));
}

/// One block just before each wait would run out: only the deadline ends it.
#[test]
fn hostile_slow_drip_ends_at_the_deadline() {
    if !root_or_skip("hostile_slow_drip_ends_at_the_deadline", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let (listen, tid) = scripted(&pair, CLI4);
    let server = thread::spawn(move || {
        let (_, client) = recv(&listen).expect("RRQ");
        let mut sent = 0u16;
        for block in 1..100u16 {
            thread::sleep(Duration::from_millis(220));
            if tid.send_to(&data(block, &[1; 512]), client).is_err() {
                break;
            }
            sent = block;
            match recv(&tid) {
                Some((p, _)) if is_ack(&p, block) => {}
                _ => break,
            }
        }
        sent
    });
    let t = Instant::now();
    let r = fetch(&pair, "10.77.0.2:69".parse().unwrap(), "drip.bin", quick(1 << 20), Duration::from_millis(2000));
    let took = t.elapsed();
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(took >= Duration::from_millis(1950) && took < Duration::from_millis(2600), "{took:?}");
    // The drip went on beyond any single wait: it was the deadline that ended it.
    assert!(server.join().unwrap() >= 7);
    assert!(log_has("TFTP download - Transfer timeout for 'drip.bin', download time limit reached after"));
}

/// DATA from another port of the server's address gets ERROR 5 and changes nothing.
#[test]
fn wrong_transfer_id_gets_error_5() {
    if !root_or_skip("wrong_transfer_id_gets_error_5", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let (listen, tid) = scripted(&pair, CLI4);
    let intruder = in_netns(&pair.cli.0, || UdpSocket::bind((CLI4, 0)).unwrap());
    intruder.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let (b1, b2) = (pattern(512, 1), pattern(200, 2));
    let (e1, e2) = (b1.clone(), b2.clone());
    let server = thread::spawn(move || {
        let (_, client) = recv(&listen).expect("RRQ");
        tid.send_to(&data(1, &e1), client).unwrap();
        assert!(is_ack(&recv(&tid).expect("ACK 1").0, 1));
        intruder.send_to(&data(2, &[0xee; 512]), client).unwrap();
        let err = recv(&intruder).expect("ERROR 5 to the intruder").0;
        tid.send_to(&data(2, &e2), client).unwrap();
        assert!(is_ack(&recv(&tid).expect("ACK 2").0, 2));
        err
    });
    let got = fetch(&pair, "10.77.0.2:69".parse().unwrap(), "tid.bin", quick(1 << 20), Duration::from_secs(8)).unwrap();
    let err = server.join().unwrap();
    assert_eq!(err, b"\x00\x05\x00\x05Unknown transfer ID\x00");
    assert!(got.data == [b1, b2].concat());
}

/// Garbage, strangers, duplicates and stray blocks do not break a transfer.
#[test]
fn garbage_and_duplicates_are_ignored() {
    if !root_or_skip("garbage_and_duplicates_are_ignored", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    run_ok("ip", &["-n", &pair.cli.0, "addr", "add", "10.77.0.3/24", "dev", "ht-c"]);
    let (listen, tid) = scripted(&pair, CLI4);
    let stranger = in_netns(&pair.cli.0, || UdpSocket::bind(("10.77.0.3", 0)).unwrap());
    stranger.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let (b1, b2) = (pattern(512, 9), pattern(511, 10));
    let (e1, e2) = (b1.clone(), b2.clone());
    let server = thread::spawn(move || {
        let (_, client) = recv(&listen).expect("RRQ");
        let junk: [&[u8]; 6] =
            [b"\x00", b"\x00\x09junk", b"\x00\x04\x00\x01", &data(1, &[0xbb; 600]), &data(5, &[0xbb; 512]), &[]];
        for j in junk {
            tid.send_to(j, client).unwrap();
        }
        // Another host's block 1 must not be taken, nor answered.
        stranger.send_to(&data(1, &[0xcc; 512]), client).unwrap();
        thread::sleep(Duration::from_millis(50));
        tid.send_to(&data(1, &e1), client).unwrap();
        assert!(is_ack(&recv(&tid).expect("ACK 1").0, 1));
        tid.send_to(&data(1, &[0xdd; 512]), client).unwrap();
        assert!(is_ack(&recv(&tid).expect("ACK 1 again").0, 1), "duplicate re-acknowledged");
        tid.send_to(&data(2, &e2), client).unwrap();
        assert!(is_ack(&recv(&tid).expect("ACK 2").0, 2));
        recv(&stranger).is_none()
    });
    let got =
        fetch(&pair, "10.77.0.2:69".parse().unwrap(), "junk.bin", quick(1 << 20), Duration::from_secs(8)).unwrap();
    assert!(server.join().unwrap(), "the stranger got an answer");
    assert!(got.data == [b1, b2].concat());
    assert!(log_has("TFTP download warning - Don't know how to handle opcode 9."));
}

/// Lost packets: the read request and an ACK are sent again after a wait.
#[test]
fn lost_request_and_ack_are_retransmitted() {
    if !root_or_skip("lost_request_and_ack_are_retransmitted", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let (listen, tid) = scripted(&pair, CLI4);
    let server = thread::spawn(move || {
        let (first, client) = recv(&listen).expect("RRQ");
        let (again, from) = recv(&listen).expect("RRQ sent again");
        assert_eq!((first.as_slice(), from), (again.as_slice(), client));
        tid.send_to(&data(1, &[1; 512]), client).unwrap();
        assert!(is_ack(&recv(&tid).expect("ACK 1").0, 1));
        // "Lose" it: the client sends it again.
        assert!(is_ack(&recv(&tid).expect("ACK 1 sent again").0, 1));
        tid.send_to(&data(2, &[2; 3]), client).unwrap();
        assert!(is_ack(&recv(&tid).expect("ACK 2").0, 2));
    });
    let got =
        fetch(&pair, "10.77.0.2:69".parse().unwrap(), "lossy.bin", quick(1 << 20), Duration::from_secs(8)).unwrap();
    server.join().unwrap();
    assert_eq!(got.data, [vec![1; 512], vec![2; 3]].concat());
    assert!(log_has("TFTP download - Read request sent: \"RRQ lossy.bin octet\" (2. try)"));
}

/// An ERROR with a hostile text: `Error::Protocol` with the code and a bounded, printable
/// text.
#[test]
fn server_error_text_is_sanitised() {
    if !root_or_skip("server_error_text_is_sanitised", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let (listen, tid) = scripted(&pair, CLI4);
    let server = thread::spawn(move || {
        let (_, client) = recv(&listen).expect("RRQ");
        let msg = [b"\x1b[31mgo\naway".as_slice(), &[b'A'; 400]].concat();
        tid.send_to(&[&[0, 5, 0, 2][..], &msg].concat(), client).unwrap();
    });
    let r = fetch(&pair, "10.77.0.2:69".parse().unwrap(), "err.bin", quick(1 << 20), Duration::from_secs(8));
    server.join().unwrap();
    match r {
        Err(Error::Protocol(why)) => {
            assert!(why.starts_with("TFTP error 2 (Access violation): \"\\x1b[31mgo\\x0aaway"), "{why}");
            assert!(why.len() < 200 && why.bytes().all(|b| (0x20..0x7f).contains(&b)), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(log_has("TFTP download error - Read Request failed."));
}
