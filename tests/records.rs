//! What a connection has read always becomes a record, with the real binary: `read_limit`
//! cuts a long payload, the daemon-wide budget for attack data (`max_buffered_bytes`) ends a
//! connection that needs more than is left, and a connection or UDP flow whose handler
//! panics (the test-only fault switch, HONEYTRAP_FAULT, of a debug build) ends there; each
//! time the record is kept and processed as usual, with a log line saying why, and the
//! daemon goes on. Also: the budget is free again once the records are processed, and the
//! daemon's memory goes back near where it started. The daemon runs in a network
//! namespace of its own (pcap on `lo`, so the first attempt to a port is refused and the
//! next one served); every wait is bounded.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const MIB: usize = 1 << 20;

struct Sensor {
    ns: NetNs,
    dir: TempDir,
    daemon: Daemon,
}

impl Sensor {
    /// The daemon with SaveFile, logAttacker, `extra` configuration, `args` and, when given,
    /// HONEYTRAP_FAULT = `fault`.
    fn start(extra: &str, args: &[&str], fault: Option<&str>) -> Sensor {
        let ns = NetNs::new();
        let dir = TempDir::new("records");
        let attacks = dir.join("attacks");
        std::fs::create_dir_all(&attacks).unwrap();
        let conf = write_config(
            dir.path(),
            &format!(
                "{extra}\nplugin-SaveFile = {{ attacks_dir = \"{}\" }}\nplugin-logAttacker = {{ logfile = \"{}\" }}",
                attacks.display(),
                dir.join("attacker.log").display()
            ),
        );
        let mut cmd = ns.command(BIN);
        cmd.args(["-D", "-C", conf.to_str().unwrap(), "-i", "lo"]).args(args);
        if let Some(f) = fault {
            cmd.env("HONEYTRAP_FAULT", f);
        }
        let mut daemon = Daemon::spawn(cmd);
        let log = dir.join("honeytrap.log");
        if !wait_for_text(&log, "---- Trapping attacks", T) {
            let _ = daemon.child.kill();
            panic!("no ready line; log:\n{}", read(&log));
        }
        Sensor { ns, dir, daemon }
    }

    fn log(&self) -> String {
        read(&self.dir.join("honeytrap.log"))
    }

    fn rss_kib(&self) -> u64 {
        proc_status(self.daemon.pid(), "VmRSS")
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .expect("VmRSS")
    }

    /// A connection to `port` on the sensor's loopback: attempts 100 ms apart until one is
    /// served (the first one makes the pcap monitor bind the port).
    fn connect(&self, port: u16) -> TcpStream {
        let s = in_netns(&self.ns.0, move || {
            let end = Instant::now() + T;
            loop {
                match TcpStream::connect(("127.0.0.1", port)) {
                    Ok(s) => return s,
                    Err(e) => {
                        assert!(Instant::now() < end, "port {port} never served: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        });
        s.set_read_timeout(Some(T)).unwrap();
        s.set_write_timeout(Some(T)).unwrap();
        s
    }

    /// Bytes the daemon logged as read on `port` so far (log level 4).
    fn read_on(&self, port: u16) -> usize {
        let tag = format!("{port:5}/tcp* ");
        self.log()
            .lines()
            .filter_map(|l| l.split_once(&tag).map(|(_, r)| r))
            .filter_map(|r| r.split_whitespace().next()?.parse::<usize>().ok())
            .sum()
    }

    /// The attack files from `port`/`proto` (name, contents), temporary ones left out.
    fn attacks(&self, port: u16, proto: &str) -> Vec<(String, Vec<u8>)> {
        let prefix = format!("from_port_{port}-{proto}_");
        std::fs::read_dir(self.dir.join("attacks"))
            .unwrap()
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(&prefix).then(|| Some((name, std::fs::read(e.path()).ok()?)))?
            })
            .collect()
    }

    /// Waits until an attack file from `port`/`proto` holds exactly `data` (when `data` is not
    /// empty: SaveFile keeps no empty attack) and attacker.log has a record of that many
    /// bytes to the port.
    fn wait_record(&self, port: u16, proto: &str, data: &[u8]) {
        if !data.is_empty() {
            let saved = wait_until(T, || self.attacks(port, proto).iter().any(|(_, d)| d == data));
            let have: Vec<(String, usize)> = self.attacks(port, proto).into_iter().map(|(n, d)| (n, d.len())).collect();
            assert!(saved, "no attack file from {port}/{proto} with the {} bytes sent; {have:?}", data.len());
        }
        let (to, size) = (format!("-> 127.0.0.1:{port} "), format!("({} bytes)", data.len()));
        let attacker = self.dir.join("attacker.log");
        let logged = wait_until(T, || read(&attacker).lines().any(|l| l.contains(&to) && l.ends_with(&size)));
        assert!(logged, "no record of {} bytes to {port}/{proto}:\n{}", data.len(), read(&attacker));
    }

    fn stop(self) {
        let mut daemon = self.daemon;
        daemon.signal("TERM");
        let log = read(&self.dir.join("honeytrap.log"));
        assert_eq!(daemon.wait(T).expect("daemon exits").code(), Some(0), "log:\n{log}");
    }
}

/// `n` bytes of a pattern that names `tag` (no download plugin is configured, so nothing
/// but the digests looks at them).
fn payload(tag: &str, n: usize) -> Vec<u8> {
    let mut v = format!("{tag}:").into_bytes();
    v.extend((0..n).map(|i| b"0123456789abcdef"[i % 16]));
    v.truncate(n);
    v
}

/// Sends `data`, closes the sending side and reads until the daemon closes.
fn send_and_close(mut s: TcpStream, data: &[u8]) {
    // The daemon may close after read_limit, before all is sent: that write fails.
    let _ = s.write_all(data).and_then(|()| s.shutdown(Shutdown::Write));
    let mut sink = [0u8; 4096];
    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
}

#[test]
fn read_limit_and_buffer_budget_keep_records_and_memory_returns() {
    if !root_or_skip("read_limit_and_buffer_budget_keep_records_and_memory_returns", &["ip"]) {
        return;
    }
    const READ_LIMIT: usize = 8 * MIB;
    const BUDGET: usize = 16 * MIB;
    // -r 10: connections that send nothing more stay open (110 s) until the test closes
    // them. -t 4: the "bytes read" lines tell how far the daemon has read.
    let s = Sensor::start(
        &format!("read_limit = \"{READ_LIMIT}\"\nmax_buffered_bytes = \"{BUDGET}\""),
        &["-t", "4", "-r", "10"],
        None,
    );
    let idle = s.rss_kib();

    // Beyond read_limit: the first READ_LIMIT bytes are kept, the connection is closed.
    let long = payload("long", READ_LIMIT + 4 * MIB);
    send_and_close(s.connect(5000), &long);
    s.wait_record(5000, "tcp", &long[..READ_LIMIT]);
    assert!(s.log().contains(&format!("Read limit ({READ_LIMIT} bytes) hit. Closing connection.")), "{}", s.log());

    // Two connections that stay open hold the whole budget: 6 MiB each, in buffers that
    // doubled up to read_limit.
    let held: Vec<(u16, Vec<u8>, TcpStream)> = [5001u16, 5002]
        .into_iter()
        .map(|port| {
            let data = payload(&format!("held{port}"), 6 * MIB);
            let mut c = s.connect(port);
            c.write_all(&data).unwrap();
            assert!(wait_until(T, || s.read_on(port) == data.len()), "port {port} read {}", s.read_on(port));
            (port, data, c)
        })
        .collect();
    assert!(!s.log().contains("Memory budget"), "{}", s.log());

    // A third one finds no room: it is closed at once, its (empty) record kept, and the
    // budget's warning logged.
    let mut third = s.connect(5003);
    let _ = third.write_all(&payload("third", 64 << 10));
    let mut buf = [0u8; 64];
    let closed = match third.read(&mut buf) {
        Ok(0) => true,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        Ok(_) => false,
    };
    assert!(closed, "the daemon closes a connection the budget has no room for");
    s.wait_record(5003, "tcp", b"");
    let warning = format!("Warning - Memory budget for attack data ({BUDGET} bytes) exhausted. Closing connection.");
    assert!(s.log().contains(&warning), "{}", s.log());

    // The held connections end: their records are whole, and the budget is free again.
    for (port, data, c) in held {
        send_and_close(c, b"");
        s.wait_record(port, "tcp", &data);
    }
    let after = payload("after", 4 * MIB);
    send_and_close(s.connect(5004), &after);
    s.wait_record(5004, "tcp", &after);

    // Memory goes back near idle (the payloads alone were 30 MiB).
    let back = wait_until(T, || s.rss_kib() < idle + 8 * 1024);
    assert!(back, "VmRSS {} KiB after, {} KiB idle", s.rss_kib(), idle);
    s.stop();
}

#[test]
fn a_panicking_connection_or_flow_still_has_its_record_written() {
    if !root_or_skip("a_panicking_connection_or_flow_still_has_its_record_written", &["ip"]) {
        return;
    }
    const NORMAL: u16 = 6001;
    const PROXIED: u16 = 6002;
    const TARGET: u16 = 7002;
    const FLOW: u16 = 6003;
    // The points are reached just after data was read, in normal mode, in the TCP relay
    // (before forwarding) and in a UDP flow: every connection and flow panics there.
    let s = Sensor::start(
        &format!(
            "portconf = {{ proxy = {{ p = {{ protocol = \"tcp\" port = \"{PROXIED}\" \
             target_host = \"127.0.0.1\" target_port = \"{TARGET}\" }} }} }}"
        ),
        &["-r", "5"],
        Some("connection,relay,udp-flow"),
    );

    const N: &[u8] = b"normal mode: read before the panic";
    send_and_close(s.connect(NORMAL), N);
    s.wait_record(NORMAL, "tcp", N);
    let line = format!("{NORMAL:5}/tcp  Error - Handling the connection from 127.0.0.1:");
    assert!(s.log().contains(&line), "{}", s.log());
    assert!(s.log().contains("failed (injected fault at connection (pass "), "{}", s.log());

    let target = in_netns(&s.ns.0, || TcpListener::bind(("127.0.0.1", TARGET)).unwrap());
    let server = std::thread::spawn(move || {
        if let Ok((mut c, _)) = target.accept() {
            c.set_read_timeout(Some(T)).unwrap();
            let mut sink = [0u8; 1024];
            while matches!(c.read(&mut sink), Ok(n) if n > 0) {}
        }
    });
    const P: &[u8] = b"proxy mode: read before the panic";
    send_and_close(s.connect(PROXIED), P);
    s.wait_record(PROXIED, "tcp", P);
    assert!(s.log().contains("failed (injected fault at relay (pass "), "{}", s.log());
    server.join().unwrap();

    // The first datagram only makes the port served (pcap); the flows of the next ones
    // panic at their first datagram.
    const U: &[u8] = b"udp flow: read before the panic";
    let client = in_netns(&s.ns.0, || UdpSocket::bind("127.0.0.1:0").unwrap());
    let flowing = wait_until(T, || {
        let _ = client.send_to(U, ("127.0.0.1", FLOW));
        std::thread::sleep(Duration::from_millis(200));
        !s.attacks(FLOW, "udp").is_empty()
    });
    assert!(flowing, "no UDP record; log:\n{}", s.log());
    s.wait_record(FLOW, "udp", U);
    let line = format!("{FLOW:5}/udp  Error - Handling the flow from 127.0.0.1:");
    assert!(s.log().contains(&line), "{}", s.log());
    assert!(s.log().contains("failed (injected fault at udp-flow (pass "), "{}", s.log());

    // The daemon went on through all of it and stops cleanly.
    s.stop();
}
