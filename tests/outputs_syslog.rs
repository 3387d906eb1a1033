//! The syslog output against a real rsyslogd (UDP and TCP, IPv4 and IPv6, collector down and
//! back up, collector restarted) and against a unix datagram socket the test binds. rsyslogd
//! runs in the attacker-side namespace of a test [`Pair`] with its own configuration and never
//! touches the system's /dev/log.

mod common;

use common::*;
use honeytrap::config::{Plugin, PluginConfig, Span};
use honeytrap::log::{self, Level};
use honeytrap::pipeline::output::syslog::{Syslog, SEV_INFO};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

fn cfg(opts: &[(&str, &str)]) -> PluginConfig {
    PluginConfig {
        plugin: Plugin::Syslog,
        options: opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        span: Span { file: PathBuf::from("test.conf"), line: 1, col: 1 },
    }
}

/// All tests of this binary log into one file (the log is process-wide).
fn log_file() -> PathBuf {
    static INIT: Once = Once::new();
    let path = std::env::temp_dir().join(format!("ht-outputs-syslog-{}.log", std::process::id()));
    INIT.call_once(|| {
        let _ = std::fs::remove_file(&path);
        log::set_file(&path, log::open_file(&path).unwrap());
        log::set_level(Level::Info);
    });
    path
}

/// An rsyslogd with UDP and TCP inputs on `addrs` port `port`, writing every message as
/// `facility|severity|hostname|app|procid|msgid|sd|time|msg` to `<dir>/out.log`.
struct Rsyslog {
    _daemon: Daemon,
    out: PathBuf,
}

fn start_rsyslog(ns: &NetNs, dir: &Path, addrs: &[&str], port: u16) -> Rsyslog {
    let work = dir.join(format!("work-{}", COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)));
    std::fs::create_dir_all(&work).unwrap();
    let out = dir.join("out.log");
    let mut conf = format!(
        "global(workDirectory=\"{w}\")\nmodule(load=\"imudp\")\nmodule(load=\"imtcp\")\n\
         template(name=\"t\" type=\"string\" string=\"%syslogfacility%|%syslogseverity%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%timereported:::date-rfc3339%|%msg%\\n\")\n\
         *.* action(type=\"omfile\" file=\"{o}\" template=\"t\")\n",
        w = work.display(),
        o = out.display()
    );
    for a in addrs {
        conf += &format!("input(type=\"imudp\" address=\"{a}\" port=\"{port}\")\ninput(type=\"imtcp\" address=\"{a}\" port=\"{port}\")\n");
    }
    let conf_path = work.join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = ns.command("rsyslogd");
    cmd.arg("-n").arg("-f").arg(&conf_path).arg("-i").arg(work.join("rsyslogd.pid"));
    let daemon = Daemon::spawn(cmd);
    // Ready when its TCP input accepts.
    let (nsname, a) = (ns.0.clone(), addrs[0].to_string());
    let ready = in_netns(&nsname, move || {
        wait_until(Duration::from_secs(10), || {
            let sa: std::net::SocketAddr =
                if a.contains(':') { format!("[{a}]:{port}") } else { format!("{a}:{port}") }.parse().unwrap();
            std::net::TcpStream::connect_timeout(&sa, Duration::from_millis(200)).is_ok()
        })
    });
    assert!(ready, "rsyslogd did not start");
    Rsyslog { _daemon: daemon, out }
}

static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn lines_with(file: &Path, needle: &str) -> Vec<String> {
    read(file).lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
}

#[test]
fn unix_socket_target_gets_events_and_mirrored_log_lines() {
    log_file();
    let dir = TempDir::new("syslog-unix");
    let path = dir.join("log.sock");
    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let target = format!("unix:{}", path.display());
    let s = Syslog::open(&cfg(&[("target", &target), ("facility", "local0"), ("what", "both")]), "sensor 1").unwrap();
    assert!(s.wants_log() && s.wants_events());
    s.send(SEV_INFO, "connection.opened", "{\"eventid\": \"connection.opened\"}\n");
    log::set_mirror(Some(s.log_mirror()));
    honeytrap::log_warn!("unix-mirror-test warning");
    log::set_mirror(None);
    let mut got = Vec::new();
    let mut buf = [0u8; 9000];
    while got.len() < 2 {
        let n = rx.recv(&mut buf).expect("datagram");
        let m = String::from_utf8(buf[..n].to_vec()).unwrap();
        // Lines other tests log at the same time may be mirrored too: keep ours.
        if m.contains("connection.opened") || m.contains("unix-mirror-test") {
            got.push(m);
        }
    }
    let pid = std::process::id();
    // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG; local0 = 16.
    let f: Vec<&str> = got[0].splitn(8, ' ').collect();
    assert_eq!(f[0], "<134>1");
    assert!(f[1].len() == 27 && f[1].ends_with('Z') && f[1].as_bytes()[19] == b'.', "{}", f[1]);
    assert_eq!(&f[2..7], ["sensor_1", "honeytrap", &pid.to_string(), "connection.opened", "-"]);
    assert_eq!(f[7], "{\"eventid\": \"connection.opened\"}");
    assert!(got[1].starts_with("<132>1 "), "warning = severity 4: {}", got[1]);
    assert!(got[1].ends_with(&format!(" sensor_1 honeytrap {pid} log - unix-mirror-test warning")), "{}", got[1]);
    assert!(wait_until(Duration::from_secs(5), || s.stats().0 >= 2));
}

#[test]
fn rsyslog_receives_over_udp_and_tcp_on_ipv4_and_ipv6() {
    if !root_or_skip("rsyslog_receives_over_udp_and_tcp_on_ipv4_and_ipv6", &["ip", "rsyslogd"]) {
        return;
    }
    log_file();
    let dir = TempDir::new("syslog-rs");
    let pair = Pair::new();
    let rs = start_rsyslog(&pair.cli, dir.path(), &[CLI4, CLI6], 5514);
    let out = rs.out.clone();
    let stats = in_netns(&pair.srv.0, move || {
        let targets = ["udp://10.77.0.2:5514", "tcp://10.77.0.2:5514", "udp://[fd77::2]:5514", "tcp://[fd77::2]:5514"];
        let mut all = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let s = Syslog::open(&cfg(&[("target", t), ("facility", "local7"), ("app_name", "ht-test")]), "sensor-a")
                .unwrap();
            for j in 0..3 {
                s.send(SEV_INFO, "attack", &format!("{{\"target\": {i}, \"n\": {j}, \"text\": \"caf\u{e9}\"}}"));
            }
            assert!(wait_for_text(&out, &format!("\"target\": {i}, \"n\": 2"), Duration::from_secs(10)), "{t}");
            all.push(s.stats());
        }
        all
    });
    assert_eq!(stats, [(3, 0); 4]);
    let pid = std::process::id().to_string();
    for i in 0..4 {
        for j in 0..3 {
            let l = lines_with(&rs.out, &format!("\"target\": {i}, \"n\": {j},"));
            assert_eq!(l.len(), 1, "target {i} message {j} exactly once: {l:?}");
            let f: Vec<&str> = l[0].splitn(9, '|').collect();
            assert_eq!(&f[..7], ["23", "6", "sensor-a", "ht-test", &pid, "attack", "-"], "{}", l[0]);
            assert!(f[7].ends_with('Z') || f[7].ends_with("+00:00"), "{}", f[7]);
            assert_eq!(f[8], format!("{{\"target\": {i}, \"n\": {j}, \"text\": \"caf\u{e9}\"}}"));
        }
    }
    drop(rs);
}

#[test]
fn tcp_collector_down_drops_and_warns_once_then_reconnects_after_start_and_restart() {
    if !root_or_skip("tcp_collector_down_…", &["ip", "rsyslogd"]) {
        return;
    }
    let logf = log_file();
    let dir = TempDir::new("syslog-down");
    let pair = Pair::new();
    let srv = pair.srv.0.clone();
    let target = "tcp://10.77.0.2:5515";
    let s =
        in_netns(&srv, move || Syslog::open(&cfg(&[("target", target), ("queue_size", "5")]), "sensor-down").unwrap());
    // The collector is down: sending never blocks, the queue holds 5, the rest is dropped.
    let t0 = Instant::now();
    for i in 0..50 {
        s.send(SEV_INFO, "attack", &format!("early {i}"));
    }
    assert!(t0.elapsed() < Duration::from_millis(200), "send blocked: {:?}", t0.elapsed());
    assert!(wait_until(Duration::from_secs(2), || s.stats().1 >= 44), "{:?}", s.stats());
    // Attempts at about 0, 1 and 3 s: one warning only.
    std::thread::sleep(Duration::from_millis(2500));
    let warn = format!("syslog {target}: unreachable");
    assert_eq!(lines_with(&logf, &warn).len(), 1, "{}", read(&logf));
    let rs = start_rsyslog(&pair.cli, dir.path(), &[CLI4], 5515);
    s.send(SEV_INFO, "attack", "after start"); // dropped if the queue is still full
    assert!(wait_for_text(&rs.out, "early ", Duration::from_secs(15)), "no delivery after the collector started");
    // Every message is either sent or counted as dropped.
    assert!(wait_until(Duration::from_secs(5), || s.stats().0 + s.stats().1 == 51), "{:?}", s.stats());
    let sent = s.stats().0;
    assert!(sent >= 5, "the queued messages are delivered: {:?}", s.stats());
    assert_eq!(lines_with(&logf, &warn).len(), 1);
    assert_eq!(lines_with(&logf, &format!("syslog {target}: connected again")).len(), 1);

    // Restart the collector: the dead connection is noticed and a new one made.
    let out = rs.out.clone();
    drop(rs);
    std::thread::sleep(Duration::from_millis(300));
    let rs = start_rsyslog(&pair.cli, dir.path(), &[CLI4], 5515);
    s.send(SEV_INFO, "attack", "after restart");
    assert!(wait_for_text(&out, "|after restart", Duration::from_secs(10)), "{}", read(&out));
    assert_eq!(s.stats().0, sent + 1);
    drop(s);
    drop(rs);
}
