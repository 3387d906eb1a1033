//! Scenario tests of the capture engine with the real binary: the daemon in one network
//! namespace, an attacker in another, joined by a veth pair; nfq and pcap, IPv4 and IPv6. What
//! the attacker sends must come back as log lines and saved attack files.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);
const BANNER: &[u8] = b"220 test banner\r\n";

struct Sensor {
    pair: Pair,
    dir: TempDir,
    daemon: Daemon,
}

impl Sensor {
    /// Starts the daemon in the sensor namespace with `extra` configuration and `args`.
    fn start(nfq: bool, extra: &str, args: &[&str]) -> Sensor {
        let pair = Pair::new();
        let dir = TempDir::new("capture");
        let attacks = dir.join("attacks");
        std::fs::create_dir_all(&attacks).unwrap();
        let conf = write_config(
            dir.path(),
            &format!(
                "monitor = \"{}\"\nplugin-SaveFile = {{ attacks_dir = \"{}\" }}\n{extra}",
                if nfq { "nfq" } else { "pcap" },
                attacks.display()
            ),
        );
        std::fs::write(dir.join("responses/4444_tcp"), BANNER).unwrap();
        if nfq {
            pair.queue_to_nfq();
        }
        let mut cmd = pair.srv.command(BIN);
        cmd.args(["-D", "-C", conf.to_str().unwrap(), "-t", "5"]);
        if !nfq {
            cmd.args(["-i", "ht-s"]);
        }
        cmd.args(args);
        let mut daemon = Daemon::spawn(cmd);
        let log = dir.join("honeytrap.log");
        if !wait_for_text(&log, "---- Trapping attacks", T) {
            let _ = daemon.child.kill();
            let (out, err) = daemon.output();
            panic!("no ready line; log:\n{}\nstdout:\n{out}\nstderr:\n{err}", read(&log));
        }
        Sensor { pair, dir, daemon }
    }

    fn log(&self) -> String {
        read(&self.dir.join("honeytrap.log"))
    }

    fn attacks(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(self.dir.join("attacks"))
            .unwrap()
            .filter_map(|e| {
                // Hidden names are SaveFile's temporary files, which come and go.
                let e = e.ok()?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    return None;
                }
                Some((name, std::fs::read(e.path()).ok()?))
            })
            .collect();
        v.sort();
        v
    }

    /// Waits until an attack file with exactly `data` exists; returns its name.
    fn wait_attack(&self, data: &[u8]) -> String {
        let mut found = None;
        wait_until(T, || {
            found = self.attacks().into_iter().find(|(_, d)| d == data).map(|(n, _)| n);
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!("no attack file with {:?}; files {:?}\nlog:\n{}", data, self.attacks(), self.log())
        })
    }

    fn stop(mut self) {
        self.daemon.signal("TERM");
        assert_eq!(self.daemon.wait(T).expect("daemon exits").code(), Some(0), "log:\n{}", self.log());
    }
}

/// Connects from the attacker namespace, sends `data`, closes the sending side and reads
/// what comes back until EOF. `tries` connection attempts, 300 ms apart.
fn attack(cli: &str, to: SocketAddr, data: &'static [u8], tries: u32) -> Result<Vec<u8>, String> {
    in_netns(cli, move || {
        let mut last = String::new();
        for _ in 0..tries {
            match TcpStream::connect_timeout(&to, Duration::from_secs(3)) {
                Ok(mut s) => {
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    s.write_all(data).map_err(|e| e.to_string())?;
                    s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
                    let mut back = Vec::new();
                    s.read_to_end(&mut back).map_err(|e| e.to_string())?;
                    return Ok(back);
                }
                Err(e) => {
                    last = e.to_string();
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
        }
        Err(last)
    })
}

/// Connects and stays silent; returns what arrived within `wait`, and whether the server
/// closed the connection in that time.
fn silent(cli: &str, to: SocketAddr, wait: Duration) -> (Vec<u8>, bool) {
    in_netns(cli, move || {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(3)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let end = Instant::now() + wait;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while Instant::now() < end {
            match s.read(&mut buf) {
                Ok(0) => return (got, true),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return (got, true),
            }
        }
        (got, false)
    })
}

fn v4(port: u16) -> SocketAddr {
    SocketAddr::new(SRV4.parse().unwrap(), port)
}

fn v6(port: u16) -> SocketAddr {
    SocketAddr::new(SRV6.parse().unwrap(), port)
}

fn needs_root(name: &str, nfq: bool) -> bool {
    let tools: &[&str] = if nfq { &["ip", "iptables", "ip6tables"] } else { &["ip"] };
    root_or_skip(name, tools)
}

#[test]
fn nfq_serves_the_first_attempt_over_ipv4_and_ipv6() {
    if !needs_root("nfq_serves_the_first_attempt_over_ipv4_and_ipv6", true) {
        return;
    }
    let s = Sensor::start(true, "", &["-r", "1"]);
    let cli = s.pair.cli.0.clone();
    // One try only: the very first SYN to a port nobody served must be answered.
    attack(&cli, v4(4444), b"first-attempt-v4", 1).expect("first IPv4 attempt served");
    let name = s.wait_attack(b"first-attempt-v4");
    assert!(name.starts_with("from_port_4444-tcp_"), "{name}");
    attack(&cli, v6(4444), b"first-attempt-v6", 1).expect("first IPv6 attempt served");
    s.wait_attack(b"first-attempt-v6");
    // Another fresh port without a response template.
    attack(&cli, v4(31337), b"x", 1).expect("served");
    s.wait_attack(b"x");

    // A silent client on a served port gets the template once, after the read timeout.
    let t0 = Instant::now();
    let (got, _) = silent(&cli, v4(4444), Duration::from_millis(2500));
    assert_eq!(got, BANNER);
    assert!(t0.elapsed() >= Duration::from_millis(900));

    // The silent client's session ends when it hangs up: an attack without bytes.
    assert!(wait_for_text(&s.dir.join("honeytrap.log"), " *  4444/tcp  No bytes received from", T), "{}", s.log());
    let log = s.log();
    for line in [
        format!("{CLI4}:"),
        format!("requesting tcp connection on {SRV4}:4444."),
        format!(" 4444/tcp  Handling tcp connection request from {CLI4}:"),
        format!(" *  4444/tcp  16 bytes attack string from {CLI4}:"),
        format!("requesting tcp connection on [{SRV6}]:4444."),
        format!("31337/tcp  Handling tcp connection request from {CLI4}:"),
    ] {
        assert!(log.contains(&line), "missing {line:?} in\n{log}");
    }
    s.stop();
}

#[test]
fn pcap_serves_the_next_attempt() {
    if !needs_root("pcap_serves_the_next_attempt", false) {
        return;
    }
    let s = Sensor::start(false, "", &[]);
    let cli = s.pair.cli.0.clone();
    let log = s.dir.join("honeytrap.log");
    assert!(read(&log).contains("---- Trapping attacks on device 'ht-s' via PCAP. ----"));
    // The kernel refuses the first attempt; the retry is served.
    let first = in_netns(&cli, || TcpStream::connect_timeout(&v4(4444), Duration::from_secs(3)).map(drop));
    assert!(first.is_err(), "the first attempt is refused by the kernel");
    assert!(wait_for_text(&log, &format!("requesting tcp connection on {SRV4}:4444."), T), "{}", s.log());
    attack(&cli, v4(4444), b"second-attempt", 10).expect("retry served");
    s.wait_attack(b"second-attempt");
    s.stop();
}

#[test]
fn pcap_serves_ipv6() {
    if !needs_root("pcap_serves_ipv6", false) {
        return;
    }
    let s = Sensor::start(false, "", &[]);
    let cli = s.pair.cli.0.clone();
    attack(&cli, v6(8080), b"v6-over-pcap", 10).expect("served after retries");
    s.wait_attack(b"v6-over-pcap");
    assert!(s.log().contains(&format!("requesting tcp connection on [{SRV6}]:8080.")), "{}", s.log());
    s.stop();
}

#[test]
fn ignored_ports_are_left_to_the_kernel() {
    if !needs_root("ignored_ports_are_left_to_the_kernel", true) {
        return;
    }
    let s = Sensor::start(true, "portconf = { ignore = { protocol = \"tcp\" port = \"2222\" } }", &[]);
    let cli = s.pair.cli.0.clone();
    let r = in_netns(&cli, || TcpStream::connect_timeout(&v4(2222), Duration::from_secs(3)).map(drop));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::ConnectionRefused);
    assert!(!s.log().contains("2222/tcp  Handling"), "{}", s.log());
    s.stop();
}

#[test]
fn listen_timeout_frees_the_port() {
    if !needs_root("listen_timeout_frees_the_port", true) {
        return;
    }
    let s = Sensor::start(true, "", &["-l", "1"]);
    let cli = s.pair.cli.0.clone();
    attack(&cli, v4(5555), b"one", 1).expect("served");
    let log = s.dir.join("honeytrap.log");
    assert!(
        wait_for_text(&log, " 5555/tcp  No incoming connection for 1 seconds - server terminated.", T),
        "{}",
        s.log()
    );
    // The port is free again: the next attempt binds a new listener and is served.
    attack(&cli, v4(5555), b"two", 1).expect("served again");
    s.wait_attack(b"two");
    s.stop();
}

#[test]
fn a_scan_of_many_ports_keeps_max_listeners_servers() {
    if !needs_root("a_scan_of_many_ports_keeps_max_listeners_servers", true) {
        return;
    }
    let s = Sensor::start(true, "max_listeners = \"4\"", &["-t", "6"]);
    let cli = s.pair.cli.0.clone();
    // Twelve fresh ports one after the other: every first attempt is served, while the
    // servers of the oldest ports are closed to make room.
    for port in 7000..7012u16 {
        attack(&cli, v4(port), b"scan", 1).unwrap_or_else(|e| panic!("port {port}: {e}\n{}", s.log()));
    }
    let log = s.dir.join("honeytrap.log");
    assert!(wait_for_text(&log, " 7000/tcp  Server closed to make room for new ports.", T), "{}", s.log());
    let threads = |pid: i32| proc_status(pid, "Threads").and_then(|t| t.trim().parse::<u32>().ok()).unwrap_or(0);
    // At most 4 listener threads remain (plus the daemon's own), once the evicted are gone.
    assert!(wait_until(T, || s.log().matches("Server closed to make room for new ports.").count() >= 8), "{}", s.log());
    let listening =
        s.log().matches("Server bound to").count() - s.log().matches("closed to make room for new ports.").count();
    assert_eq!(listening, 4, "{}", s.log());
    // Connection threads end once their records are written; the listeners stay.
    let names = || {
        std::fs::read_dir(format!("/proc/{}/task", s.daemon.pid()))
            .map(|d| {
                d.flatten()
                    .map(|t| std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim().to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert!(wait_until(T, || threads(s.daemon.pid()) < 16), "threads: {:?}", names());
    // A port whose server was closed is served again on the next attempt.
    attack(&cli, v4(7000), b"again", 1).expect("served again");
    s.wait_attack(b"again");
    s.stop();
}

/// Opens a connection from the attacker's side and tells whether the server closed it at
/// once (refused: EOF or reset within a second) or keeps it open (admitted, silent until the
/// read timeout).
fn open_and_classify(to: SocketAddr) -> (TcpStream, bool) {
    let mut c = TcpStream::connect_timeout(&to, Duration::from_secs(3)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 16];
    let refused = match c.read(&mut buf) {
        Ok(0) => true,
        Err(e) => e.kind() == ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    (c, refused)
}

/// Below three quarters of max_connections a source takes any number of connections; once
/// the sensor is busy, the source holding the most is refused first and the last quarter
/// goes to the other sources, until the cap.
#[test]
fn a_busy_sensor_refuses_the_biggest_source_first() {
    if !needs_root("a_busy_sensor_refuses_the_biggest_source_first", true) {
        return;
    }
    let s = Sensor::start(true, "max_connections = \"8\"\nmax_connections_per_source = \"2\"", &["-r", "10"]);
    let cli = s.pair.cli.0.clone();
    let log = s.dir.join("honeytrap.log");
    let (held, refused) = in_netns(&cli, move || {
        let mut held = Vec::new();
        let mut refused = Vec::new();
        // Six from the IPv4 address, far beyond its share of 2: all admitted. Then it is busy
        // (6 of 8): the IPv4 source, holding 6, is refused. Another source gets its share,
        // then the cap is reached. (Refusals are logged at most once a second.)
        for (label, to, n, pause) in [("v4", v4(6000), 7, 1100), ("v6", v6(6000), 3, 0)] {
            for _ in 0..n {
                let (c, r) = open_and_classify(to);
                refused.push((label, r));
                held.push(c);
            }
            std::thread::sleep(Duration::from_millis(pause));
        }
        (held, refused)
    });
    let want: Vec<(&str, bool)> =
        [vec![("v4", false); 6], vec![("v4", true)], vec![("v6", false); 2], vec![("v6", true)]].concat();
    assert_eq!(refused, want, "{}", s.log());
    assert!(
        wait_for_text(
            &log,
            &format!("refused: limit of 2 connections from {CLI4} while busy (max_connections_per_source) reached."),
            T
        ),
        "{}",
        s.log()
    );
    assert!(wait_for_text(&log, "refused: limit of 8 connections in total reached.", T), "{}", s.log());
    assert!(
        s.log().contains("Capacity: 8 connections at a time, set by max_connections; the system allows "),
        "{}",
        s.log()
    );
    drop(held);
    s.stop();
}

/// The payloads of `n` short sessions of one client address.
fn session_payloads(tag: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("{tag}-{i:06}").into_bytes()).collect()
}

/// Waits until every payload of `want` is saved as an attack file; returns the missing ones.
fn wait_all_saved(s: &Sensor, want: &[Vec<u8>]) -> usize {
    let missing = || {
        let got: std::collections::HashSet<Vec<u8>> = s.attacks().into_iter().map(|(_, d)| d).collect();
        want.iter().filter(|w| !got.contains(*w)).count()
    };
    wait_until(Duration::from_secs(30), || missing() == 0);
    missing()
}

/// The shipped limits refuse nothing from one client address on an idle sensor. Each
/// case lost connections when a fixed cap of 64 per source counted them until their record
/// was processed.
#[test]
fn one_address_burst_to_100_fresh_ports_is_all_served() {
    if !needs_root("one_address_burst_to_100_fresh_ports_is_all_served", true) {
        return;
    }
    let s = Sensor::start(true, "", &[]);
    let cli = s.pair.cli.0.clone();
    let want = session_payloads("burst", 100);
    let payloads = want.clone();
    let failed: Vec<String> = in_netns(&cli, move || {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(payloads.len()));
        let handles: Vec<_> = payloads
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let barrier = std::sync::Arc::clone(&barrier);
                std::thread::spawn(move || -> Result<(), String> {
                    barrier.wait();
                    let to = v4(20000 + i as u16);
                    let mut c = TcpStream::connect_timeout(&to, Duration::from_secs(3)).map_err(|e| e.to_string())?;
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    c.write_all(&p).map_err(|e| e.to_string())?;
                    c.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
                    let mut back = Vec::new();
                    c.read_to_end(&mut back).map_err(|e| format!("{to}: {e}"))?;
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().unwrap().err()).collect()
    });
    assert!(failed.is_empty(), "{failed:?}\n{}", s.log());
    assert_eq!(wait_all_saved(&s, &want), 0, "{}", s.log());
    assert!(!s.log().contains("refused"), "{}", s.log());
    assert!(s.log().contains("Capacity: "), "{}", s.log());
    s.stop();
}

/// Short sessions (connect, 16 bytes, close) from one address at a concurrency of 20.
fn short_sessions_all_saved(nfq: bool) {
    let s = Sensor::start(nfq, "", &[]);
    let cli = s.pair.cli.0.clone();
    let port = 6100;
    // pcap serves a port from its second attempt on.
    attack(&cli, v4(port), b"warm-up", 20).expect("port served");
    let want = session_payloads(if nfq { "nfq-short" } else { "pcap-short" }, 400);
    let payloads = want.clone();
    let failed: usize = in_netns(&cli, move || {
        // Twenty clients, twenty sessions each, one after the other.
        let handles: Vec<_> = payloads
            .chunks(20)
            .map(<[Vec<u8>]>::to_vec)
            .map(|chunk| {
                std::thread::spawn(move || {
                    let session = |p: &Vec<u8>| {
                        TcpStream::connect_timeout(&v4(port), Duration::from_secs(3)).and_then(|mut c| c.write_all(p))
                    };
                    chunk.iter().filter(|p| session(p).is_err()).count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(failed, 0, "{}", s.log());
    assert_eq!(wait_all_saved(&s, &want), 0, "{}", s.log());
    assert!(!s.log().contains("refused"), "{}", s.log());
    s.stop();
}

#[test]
fn nfq_short_sessions_from_one_address_are_all_saved() {
    if needs_root("nfq_short_sessions_from_one_address_are_all_saved", true) {
        short_sessions_all_saved(true);
    }
}

#[test]
fn pcap_short_sessions_from_one_address_are_all_saved() {
    if needs_root("pcap_short_sessions_from_one_address_are_all_saved", false) {
        short_sessions_all_saved(false);
    }
}

/// Many simultaneous connections from one address on one port are all served (handled, then
/// saved when they close).
#[test]
fn many_simultaneous_connections_from_one_address_are_all_served() {
    if !needs_root("many_simultaneous_connections_from_one_address_are_all_served", true) {
        return;
    }
    const N: usize = 1000;
    // The client needs a descriptor per connection (the daemon raises its own limit alike).
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer, then in-pointer, for the duration of each call.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur = rl.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
    }
    assert!(rl.rlim_cur > N as u64 + 100, "the open file limit {} is too low for {N} connections", rl.rlim_cur);
    // A read timeout long enough that no connection goes idle while the others are opened.
    let s = Sensor::start(true, "", &["-r", "5"]);
    let cli = s.pair.cli.0.clone();
    let want = session_payloads("held", N);
    let payloads = want.clone();
    let (conns, failed) = in_netns(&cli, move || {
        let mut conns = Vec::new();
        let mut failed = Vec::new();
        for p in &payloads {
            match TcpStream::connect_timeout(&v4(6200), Duration::from_secs(3))
                .and_then(|mut c| c.write_all(p).map(|_| c))
            {
                Ok(c) => conns.push(c),
                Err(e) => failed.push(e.to_string()),
            }
        }
        (conns, failed)
    });
    assert!(failed.is_empty(), "{} failed: {:?}", failed.len(), &failed[..failed.len().min(5)]);
    let handled = || s.log().matches(" 6200/tcp  Handling tcp connection request from").count();
    assert!(wait_until(T, || handled() == N), "{} of {N} handled\n{}", handled(), s.log());
    // All of them are still open on the client's side (none was closed by a refusal).
    let is_closed = |c: &TcpStream| {
        c.set_nonblocking(true).unwrap();
        let mut r: &TcpStream = c;
        match r.read(&mut [0u8; 64]) {
            Ok(n) => n == 0,
            Err(e) => e.kind() != ErrorKind::WouldBlock,
        }
    };
    let closed = conns.iter().filter(|c| is_closed(c)).count();
    assert_eq!(closed, 0, "{}", s.log());
    drop(conns);
    assert_eq!(wait_all_saved(&s, &want), 0, "{}", s.log());
    assert!(!s.log().contains("refused"), "{}", s.log());
    s.stop();
}

#[test]
fn stopping_saves_sessions_in_progress() {
    if !needs_root("stopping_saves_sessions_in_progress", true) {
        return;
    }
    let s = Sensor::start(true, "", &["-r", "5"]);
    let cli = s.pair.cli.0.clone();
    let conn = in_netns(&cli, || {
        let mut c = TcpStream::connect_timeout(&v4(7000), Duration::from_secs(3)).unwrap();
        c.write_all(b"still-talking").unwrap();
        c
    });
    assert!(wait_for_text(&s.dir.join("honeytrap.log"), " 7000/tcp* 13 bytes read.", T), "{}", s.log());
    let dir = s.dir.join("attacks");
    let saved = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .any(|e| e.ok().and_then(|e| std::fs::read(e.path()).ok()).as_deref() == Some(b"still-talking".as_slice()))
    };
    assert!(!saved(&dir), "not saved before the end of the session");
    let Sensor { pair, dir: tmp, mut daemon } = s;
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
    assert!(saved(&tmp.join("attacks")), "the session in progress was saved at shutdown");
    drop(conn);
    drop(pair);
}

/// A server in the attacker's namespace on `port` (both families): answers every connection
/// with `reply` followed by what it received, then closes. Runs until the returned flag is set.
fn peer_server(cli: &str, port: u16, reply: &'static [u8]) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    let listener = in_netns(cli, move || std::net::TcpListener::bind(("0.0.0.0", port)).expect("peer listens"));
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(60);
        while !flag.load(Ordering::SeqCst) && Instant::now() < end {
            match listener.accept() {
                Ok((mut c, _)) => {
                    c.set_nonblocking(false).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut got = Vec::new();
                    let _ = c.read_to_end(&mut got);
                    let _ = c.write_all(reply);
                    let _ = c.write_all(&got);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    stop
}

#[test]
fn proxy_mode_relays_to_the_target_and_records_both_directions() {
    if !needs_root("proxy_mode_relays_to_the_target_and_records_both_directions", true) {
        return;
    }
    let conf = format!(
        "portconf = {{ proxy = {{ web = {{ protocol = \"tcp\" port = \"8000\" target_host = \"{CLI4}\" target_port = \"9000\" }} }} }}"
    );
    let s = Sensor::start(true, &conf, &[]);
    let cli = s.pair.cli.0.clone();
    let stop = peer_server(&cli, 9000, b"PROXIED:");
    let back = attack(&cli, v4(8000), b"GET / HTTP/1.0\r\n\r\n", 1).expect("served");
    assert_eq!(back, b"PROXIED:GET / HTTP/1.0\r\n\r\n");
    s.wait_attack(b"GET / HTTP/1.0\r\n\r\n");
    let log = s.log();
    assert!(log.contains(&format!("==  8000/tcp  Proxy connection to {CLI4}:9000 established.")), "{log}");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    s.stop();
}

#[test]
fn mirror_mode_connects_back_and_falls_back_to_normal() {
    if !needs_root("mirror_mode_connects_back_and_falls_back_to_normal", true) {
        return;
    }
    let conf = "portconf = { mirror = { protocol = \"tcp\" port = [\"9100\", \"9101\"] } }";
    let s = Sensor::start(true, conf, &["-r", "1"]);
    let cli = s.pair.cli.0.clone();
    // The attacker serves 9100 itself: honeytrap mirrors the connection back to it.
    let stop = peer_server(&cli, 9100, b"MIRRORED:");
    let back = attack(&cli, v4(9100), b"hello", 1).expect("served");
    assert_eq!(back, b"MIRRORED:hello");
    s.wait_attack(b"hello");
    assert!(s.log().contains(&format!("<>  9100/tcp  Mirror connection to {CLI4}:9100 established.")), "{}", s.log());
    // Nothing listens on 9101 at the attacker: normal mode answers instead.
    let (got, _) = silent(&cli, v4(9101), Duration::from_millis(2500));
    assert_eq!(got, b"\n");
    assert!(s.log().contains("<>  9101/tcp  Mirror connection rejected, falling back to normal mode."), "{}", s.log());
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    s.stop();
}

/// Sends `datagrams` from one socket in the attacker namespace to `to`, 300 ms apart, and
/// collects every reply that arrives within `wait` after the last one.
fn udp_exchange(cli: &str, to: SocketAddr, datagrams: &'static [&'static [u8]], wait: Duration) -> Vec<Vec<u8>> {
    in_netns(cli, move || {
        let any: SocketAddr = if to.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
        let sock = std::net::UdpSocket::bind(any).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut replies = Vec::new();
        let mut buf = [0u8; 2048];
        for d in datagrams {
            sock.send_to(d, to).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        }
        let end = Instant::now() + wait;
        while Instant::now() < end {
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                replies.push(buf[..n].to_vec());
            }
        }
        replies
    })
}

#[test]
fn nfq_serves_the_first_udp_datagram_once_per_flow() {
    if !needs_root("nfq_serves_the_first_udp_datagram_once_per_flow", true) {
        return;
    }
    let s = Sensor::start(true, "", &["-r", "1"]);
    std::fs::write(s.dir.join("responses/5060_udp"), b"SIP/2.0 200 OK\r\n\r\n").unwrap();
    // Reload so the new template is read.
    s.daemon.signal("HUP");
    assert!(wait_for_text(&s.dir.join("honeytrap.log"), "---- honeytrap reconfigured ----", T));
    let cli = s.pair.cli.0.clone();
    let replies = udp_exchange(&cli, v4(5060), &[b"OPTIONS sip:x SIP/2.0\r\n", b"second"], Duration::from_millis(1800));
    assert_eq!(replies, vec![b"SIP/2.0 200 OK\r\n\r\n".to_vec()], "one response for the flow");
    let replies = udp_exchange(&cli, v6(5353), &[b"v6-datagram"], Duration::from_millis(1500));
    assert_eq!(replies, vec![b"\n".to_vec()]);
    // One record per flow with every datagram's bytes, after 11 idle intervals.
    s.wait_attack(b"OPTIONS sip:x SIP/2.0\r\nsecond");
    s.wait_attack(b"v6-datagram");
    let log = s.log();
    assert_eq!(log.matches("5060/udp  Handling udp connection request").count(), 1, "{log}");
    assert!(!log.contains("No bytes received"), "no empty records: {log}");
    s.stop();
}

#[test]
fn pcap_serves_udp_after_the_first_datagram() {
    if !needs_root("pcap_serves_udp_after_the_first_datagram", false) {
        return;
    }
    let s = Sensor::start(false, "", &["-r", "1"]);
    let cli = s.pair.cli.0.clone();
    // The first datagram meets a closed port (ICMP port unreachable); the next ones are served.
    let replies = udp_exchange(&cli, v4(1900), &[b"lost", b"M-SEARCH"], Duration::from_millis(1800));
    assert_eq!(replies, vec![b"\n".to_vec()]);
    s.wait_attack(b"M-SEARCH");
    assert!(s.log().contains(&format!("requesting udp connection on {SRV4}:1900.")), "{}", s.log());
    s.stop();
}

/// A UDP echo server in the attacker's namespace on `port` (both families, one dual-stack
/// socket): answers every datagram with `reply` followed by the datagram. Runs until the
/// returned flag is set (60 s at most).
fn udp_peer(cli: &str, port: u16, reply: &'static [u8]) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    let sock = in_netns(cli, move || std::net::UdpSocket::bind(("::", port)).expect("peer binds"));
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(60);
        let mut buf = [0u8; 2048];
        while !flag.load(Ordering::SeqCst) && Instant::now() < end {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let mut out = reply.to_vec();
                out.extend_from_slice(&buf[..n]);
                let _ = sock.send_to(&out, from);
            }
        }
    });
    stop
}

#[test]
fn nfq_proxies_udp_to_the_target_and_records_both_directions() {
    if !needs_root("nfq_proxies_udp_to_the_target_and_records_both_directions", true) {
        return;
    }
    // The session limit ends the relayed flow (its idle limit is 60 s).
    let conf = format!(
        "session_limit = \"3\"\nportconf = {{ proxy = {{ dns = {{ protocol = \"udp\" port = \"5300\" target_host = \"{CLI4}\" target_port = \"5301\" }} }} }}"
    );
    let s = Sensor::start(true, &conf, &["-r", "1"]);
    let cli = s.pair.cli.0.clone();
    let stop = udp_peer(&cli, 5301, b"PROXIED:");
    let replies = udp_exchange(&cli, v4(5300), &[b"query-1", b"query-2"], Duration::from_millis(1200));
    assert_eq!(replies, vec![b"PROXIED:query-1".to_vec(), b"PROXIED:query-2".to_vec()], "{}", s.log());
    s.wait_attack(b"query-1query-2");
    let log = s.log();
    for line in [
        format!("==  5300/udp  Proxy connection to {CLI4}:5301 established."),
        format!("==  5300/udp* 7 (of 7) bytes copied from client connection to {CLI4}:5301."),
        format!("==  5300/udp* 15 (of 15) bytes copied from proxy connection to {CLI4}:"),
        "==  5300/udp  Session limit (3 seconds) reached, closing connections.".to_string(),
    ] {
        assert!(log.contains(&line), "missing {line:?} in\n{log}");
    }
    assert_eq!(log.matches("5300/udp  Handling udp connection request").count(), 1, "{log}");
    assert!(!log.contains("not available for UDP"), "{log}");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    s.stop();
}

#[test]
fn a_late_answer_to_a_closed_relay_socket_is_not_an_attack() {
    if !needs_root("a_late_answer_to_a_closed_relay_socket_is_not_an_attack", true) {
        return;
    }
    let conf = format!(
        "session_limit = \"1\"\nportconf = {{ proxy = {{ dns = {{ protocol = \"udp\" port = \"5310\" target_host = \"{CLI4}\" target_port = \"5311\" }} }} }}"
    );
    let s = Sensor::start(true, &conf, &["-r", "1", "-t", "6"]);
    let cli = s.pair.cli.0.clone();
    // The target answers 2.5 s late, after the session limit closed the flow and its socket.
    let target = in_netns(&cli, || std::net::UdpSocket::bind(("0.0.0.0", 5311)).expect("target binds"));
    target.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let late = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let (n, from) = target.recv_from(&mut buf).expect("query reaches the target");
        std::thread::sleep(Duration::from_millis(2500));
        target.send_to(&buf[..n], from).unwrap();
        from
    });
    udp_exchange(&cli, v4(5310), &[b"query-late"], Duration::from_millis(100));
    s.wait_attack(b"query-late");
    let relay_socket = late.join().unwrap();
    let log = s.dir.join("honeytrap.log");
    let line = format!("Datagram to port {}/udp of one of our own sockets, not an attack.", relay_socket.port());
    assert!(wait_for_text(&log, &line, T), "{}", s.log());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.attacks().len(), 1, "{:?}\n{}", s.attacks(), s.log());
    assert!(!s.log().contains(&format!("{:5}/udp  Handling udp", relay_socket.port())), "{}", s.log());
    s.stop();
}

#[test]
fn nfq_mirrors_udp_back_to_the_attacker_and_falls_back_to_normal() {
    if !needs_root("nfq_mirrors_udp_back_to_the_attacker_and_falls_back_to_normal", true) {
        return;
    }
    let conf = "session_limit = \"3\"\nportconf = { mirror = { protocol = \"udp\" port = [\"5400\", \"5401\"] } }";
    let s = Sensor::start(true, conf, &["-r", "1"]);
    let cli = s.pair.cli.0.clone();
    // The attacker serves UDP 5400 itself: honeytrap mirrors the flow back to it.
    let stop = udp_peer(&cli, 5400, b"MIRRORED:");
    let replies = udp_exchange(&cli, v4(5400), &[b"mirror-me"], Duration::from_millis(1200));
    assert_eq!(replies, vec![b"MIRRORED:mirror-me".to_vec()], "{}", s.log());
    let replies = udp_exchange(&cli, v6(5400), &[b"mirror-me-v6"], Duration::from_millis(1200));
    assert_eq!(replies, vec![b"MIRRORED:mirror-me-v6".to_vec()], "{}", s.log());
    // Nothing listens on 5401 at the attacker: its ICMP port unreachable turns the flow to
    // normal mode, which answers after the read timeout.
    let replies = udp_exchange(&cli, v4(5401), &[b"nobody-home"], Duration::from_millis(1800));
    assert_eq!(replies, vec![b"\n".to_vec()], "{}", s.log());
    s.wait_attack(b"mirror-me");
    s.wait_attack(b"mirror-me-v6");
    s.wait_attack(b"nobody-home");
    let log = s.log();
    for line in [
        format!("<>  5400/udp  Mirror connection to {CLI4}:5400 established."),
        format!("<>  5400/udp  Mirror connection to [{CLI6}]:5400 established."),
        format!("<>  5400/udp* 9 (of 9) bytes copied from client connection to {CLI4}:5400."),
        format!("<>  5400/udp* 18 (of 18) bytes copied from mirror connection to {CLI4}:"),
        format!("<>  5401/udp  Mirror connection to {CLI4}:5401 established."),
        "<>  5401/udp  Mirror connection rejected, falling back to normal mode.".to_string(),
    ] {
        assert!(log.contains(&line), "missing {line:?} in\n{log}");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    s.stop();
}

// ---- port 0 and spoofed refusals ---------------------------------------------------------

/// Sends each whole IP packet (header included, source address as built) from namespace
/// `ns` through a raw socket to the packet's own destination address.
fn send_raw(ns: &str, packets: Vec<Vec<u8>>) {
    use honeytrap::wire::{ipv4::Ipv4Packet, ipv6::Ipv6Packet};
    use std::os::fd::{FromRawFd, OwnedFd};
    in_netns(ns, move || {
        for p in packets {
            let (family, dst) = match (Ipv4Packet::new_checked(&p), Ipv6Packet::new_checked(&p)) {
                (Ok(v4), _) => (libc::AF_INET, std::net::IpAddr::V4(v4.dst_addr())),
                (_, Ok(v6)) => (libc::AF_INET6, std::net::IpAddr::V6(v6.dst_addr())),
                _ => panic!("not an IP packet: {p:?}"),
            };
            // SAFETY: socket(2) with constant arguments; the descriptor is owned at once.
            let raw = unsafe { libc::socket(family, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_RAW) };
            assert!(raw >= 0, "raw socket: {}", std::io::Error::last_os_error());
            // SAFETY: `raw` is a fresh descriptor nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let sent = match dst {
                std::net::IpAddr::V4(a) => {
                    let sa = libc::sockaddr_in {
                        sin_family: libc::AF_INET as libc::sa_family_t,
                        sin_port: 0,
                        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.octets()) },
                        sin_zero: [0; 8],
                    };
                    sendto(&fd, &p, &sa)
                }
                std::net::IpAddr::V6(a) => {
                    // SAFETY: sockaddr_in6 is plain data; all-zero is a valid value.
                    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
                    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    sa.sin6_addr.s6_addr = a.octets();
                    sendto(&fd, &p, &sa)
                }
            };
            assert_eq!(sent, p.len() as isize, "send to {dst}: {}", std::io::Error::last_os_error());
        }
    });
}

/// sendto(2) of `packet` to the socket address `sa` (a `sockaddr_in` or `sockaddr_in6`).
fn sendto<T>(fd: &std::os::fd::OwnedFd, packet: &[u8], sa: &T) -> isize {
    use std::os::fd::AsRawFd;
    let len = std::mem::size_of_val(sa) as libc::socklen_t;
    // SAFETY: the buffer and the address are valid for the lengths given.
    unsafe { libc::sendto(fd.as_raw_fd(), packet.as_ptr().cast(), packet.len(), 0, std::ptr::from_ref(sa).cast(), len) }
}

/// An IPv4 or IPv6 packet from `src` to `dst` carrying `l4` (transport protocol `proto`).
fn ip_packet(src: &str, dst: &str, proto: u8, l4: &[u8]) -> Vec<u8> {
    use honeytrap::wire::{ipv4, ipv6};
    let mut out = Vec::new();
    match (src.parse().unwrap(), dst.parse().unwrap()) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => ipv4::emit(&mut out, &ipv4::Repr::new(s, d, proto), l4),
        (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => ipv6::emit(&mut out, &ipv6::Repr::new(s, d, proto), l4),
        _ => panic!("{src} and {dst} are of different families"),
    }
    out
}

fn tcp_packet(src: &str, dst: &str, repr: honeytrap::wire::tcp::Repr) -> Vec<u8> {
    let mut seg = Vec::new();
    honeytrap::wire::tcp::emit(&mut seg, &repr, src.parse().unwrap(), dst.parse().unwrap(), b"");
    ip_packet(src, dst, honeytrap::wire::ip::PROTO_TCP, &seg)
}

fn udp_packet(src: &str, sport: u16, dst: &str, dport: u16, data: &[u8]) -> Vec<u8> {
    use honeytrap::wire::udp;
    let mut dgram = Vec::new();
    let repr = udp::Repr { src_port: sport, dst_port: dport };
    udp::emit(&mut dgram, &repr, src.parse().unwrap(), dst.parse().unwrap(), data);
    ip_packet(src, dst, honeytrap::wire::ip::PROTO_UDP, &dgram)
}

/// The ports the daemon's namespace listens on (TCP) or has bound (UDP), from the daemon's
/// view of /proc/net.
fn bound_ports(pid: i32) -> Vec<(String, u16)> {
    let mut ports = Vec::new();
    for (table, state) in [("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(3) == Some(&state) {
                let port = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()).unwrap();
                ports.push((table.to_string(), port));
            }
        }
    }
    ports.sort();
    ports
}

/// A SYN and a UDP datagram to port 0, over IPv4 and IPv6, raw from the attacker's
/// namespace: with either monitor no server may be bound (binding port 0 would pick a
/// random port). A real attempt on another port afterwards is served, and shows that the
/// packets before it were handled.
fn port_zero_scenario(nfq: bool) {
    use honeytrap::wire::tcp::Repr;
    let s = Sensor::start(nfq, "", &["-t", "6", "-r", "1"]);
    let cli = s.pair.cli.0.clone();
    send_raw(
        &cli,
        vec![
            tcp_packet(CLI4, SRV4, Repr::syn(40000, 0, 1)),
            tcp_packet(CLI6, SRV6, Repr::syn(40001, 0, 1)),
            udp_packet(CLI4, 40002, SRV4, 0, b"zero"),
            udp_packet(CLI6, 40003, SRV6, 0, b"zero"),
        ],
    );
    // Over both families, so that the IPv6 packets above (sent once neighbour discovery is
    // done, in order) were handled too.
    let tries = if nfq { 1 } else { 10 };
    attack(&cli, v4(4444), b"after-port-zero", tries).expect("served");
    attack(&cli, v6(4445), b"after-port-zero-v6", tries).expect("served");
    s.wait_attack(b"after-port-zero");
    s.wait_attack(b"after-port-zero-v6");
    let log = s.log();
    for proto in ["tcp", "udp"] {
        assert!(log.contains(&format!("to port 0/{proto} ignored")), "no port 0/{proto} line:\n{log}");
        assert!(!log.contains(&format!("    0/{proto}")), "port 0/{proto} handled:\n{log}");
    }
    assert!(!log.contains(":0."), "{log}");
    assert_eq!(bound_ports(s.daemon.pid()), served_4444_4445(), "{log}");
    s.stop();
}

/// What the barrier attempts of the scenarios below leave bound: 4444 (IPv4) and 4445 (IPv6).
fn served_4444_4445() -> Vec<(String, u16)> {
    vec![("tcp".to_string(), 4444), ("tcp6".to_string(), 4445)]
}

#[test]
fn nfq_never_binds_port_zero() {
    if !needs_root("nfq_never_binds_port_zero", true) {
        return;
    }
    port_zero_scenario(true);
}

#[test]
fn pcap_never_binds_port_zero() {
    if !needs_root("pcap_never_binds_port_zero", false) {
        return;
    }
    port_zero_scenario(false);
}

/// Refusals "from" the sensor's own addresses that arrive from the attacker's side (a RST
/// with sequence 0, an ICMP port unreachable, an IPv6 RST) pass the capture filter's
/// `src host` clause, but did not leave the sensor: no request, no server, no record. A real
/// refused attempt afterwards is still served on its retry.
fn spoofed_refusal_scenario(interface: &str) {
    use honeytrap::wire::{icmp, ip, tcp::Repr};
    let s = Sensor::start(false, "", &["-t", "6", "-r", "1", "-i", interface]);
    let cli = s.pair.cli.0.clone();
    let quoted = udp_packet(CLI4, 5353, SRV4, 4601, b"quoted");
    let mut unreach = Vec::new();
    icmp::emit(&mut unreach, &icmp::Repr::PORT_UNREACHABLE, &quoted);
    send_raw(
        &cli,
        vec![
            tcp_packet(SRV4, SRV4, Repr::reset_for_syn(4600, 40000, 7)),
            ip_packet(SRV4, SRV4, ip::PROTO_ICMP, &unreach),
            tcp_packet(SRV6, SRV6, Repr::reset_for_syn(4602, 40000, 7)),
        ],
    );
    // Real attempts over both families: refused first, served on a retry; and, being sent
    // after them, a proof that the spoofed packets reached the sensor and were handled.
    let barriers: [(SocketAddr, &'static [u8]); 2] = [(v4(4444), b"after-spoofed-v4"), (v6(4445), b"after-spoofed-v6")];
    for (to, data) in barriers {
        let first = in_netns(&cli, move || TcpStream::connect_timeout(&to, Duration::from_secs(3)).map(drop));
        assert!(first.is_err(), "the first attempt is refused by the kernel");
        attack(&cli, to, data, 10).expect("retry served");
        s.wait_attack(data);
    }
    let log = s.log();
    for port in ["4600", "4601", "4602"] {
        assert!(!log.contains(&format!(":{port}.")) && !log.contains(&format!(" {port}/")), "{port} taken:\n{log}");
    }
    assert!(log.contains(&format!("requesting tcp connection on {SRV4}:4444.")), "{log}");
    // How they were kept out: by the capture direction on the veth; on `any`, by the cooked
    // header of each frame, which the spoofed ones reached.
    if interface == "any" {
        assert!(log.contains("Refusals taken on any: outgoing only (link-layer header of each frame)."), "{log}");
        assert!(log.contains("Refusal not sent by this host ignored"), "{log}");
    } else {
        assert!(log.contains("Refusals taken on ht-s: outgoing only (capture direction)."), "{log}");
    }
    assert_eq!(s.attacks().len(), 2, "{:?}\n{log}", s.attacks());
    assert_eq!(bound_ports(s.daemon.pid()), served_4444_4445(), "{log}");
    s.stop();
}

#[test]
fn pcap_ignores_spoofed_refusals() {
    if !needs_root("pcap_ignores_spoofed_refusals", false) {
        return;
    }
    spoofed_refusal_scenario("ht-s");
}

#[test]
fn pcap_on_any_ignores_spoofed_refusals() {
    if !needs_root("pcap_on_any_ignores_spoofed_refusals", false) {
        return;
    }
    spoofed_refusal_scenario("any");
}
