//! How the sensor tells how it is doing: the `Statistics` line on SIGUSR1 and at stop, the
//! Prometheus endpoint (`metrics_listen`) scraped with curl and checked by promtool, and the
//! warning of an nfq monitor that sees no packet.

mod common;

use common::{read, root_or_skip, run_ok, wait_for_text, wait_until, Launch, Pair, Sensor, TempDir, BIN, CLI4, SRV4};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const METRICS: &str = "127.0.0.1:9477";

/// The last `Statistics` line of `log`.
fn last_statistics(log: &str) -> Option<String> {
    log.lines().rfind(|l| l.contains("Statistics after ")).map(str::to_string)
}

/// `curl` of the endpoint inside namespace `ns`: (exit status, body).
fn scrape(ns: &str, path: &str) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "curl", "-sS", "--max-time", "10", "-f", &format!("http://{METRICS}{path}")])
        .output()
        .expect("curl");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `promtool check metrics` on `text`: (exit status, its report).
fn promtool(text: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The value of the sample `name` (with its labels) in an exposition.
fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn counters_on_signal_and_at_stop(launch: Launch) {
    let attacks = TempDir::new("stats-attacks");
    let s = Sensor::new(
        "stats",
        &format!(
            "plugin-SaveFile = {{ attacks_dir = \"{}\" }}\nportconf = {{ ignore = {{ protocol = \"tcp\" port = \"23\" }} }}\n\
             metrics_listen = \"{METRICS}\"",
            attacks.path().display()
        ),
    );
    let mut d = s.start(launch, &[]);
    assert!(s.log().contains(&format!("Serving metrics on http://{METRICS}/metrics.")), "{}", s.log());

    let to: SocketAddr = "127.0.0.1:5555".parse().unwrap();
    for i in 0..2 {
        assert!(common::attack(&s.ns, to, format!("attack {i}\r\n").as_bytes()), "attack {i}");
    }
    // One attempt on the ignored port: refused by the kernel, counted as ignored.
    common::in_netns(&s.ns.0, || {
        let _ = TcpStream::connect_timeout(&"127.0.0.1:23".parse().unwrap(), Duration::from_secs(1));
    });
    assert!(wait_until(Duration::from_secs(20), || read(&s.path("attackers.json")).lines().count() == 2));

    let (ok, body) = scrape(&s.ns.0, "/metrics");
    assert!(ok, "scrape failed");
    let (valid, report) = promtool(&body);
    assert!(valid, "promtool: {report}\n{body}");
    assert_eq!(sample(&body, "honeytrap_connections_accepted_total{protocol=\"tcp\"}"), Some(2), "{body}");
    assert_eq!(sample(&body, "honeytrap_attacks_total"), Some(2), "{body}");
    assert_eq!(sample(&body, "honeytrap_output_lines_total{output=\"SaveFile\",result=\"written\"}"), Some(2));
    assert_eq!(sample(&body, "honeytrap_output_lines_total{output=\"logJSON\",result=\"written\"}"), Some(2));
    assert!(wait_until(Duration::from_secs(10), || {
        let (_, b) = scrape(&s.ns.0, "/metrics");
        sample(&b, "honeytrap_connections_refused_total{protocol=\"tcp\",cause=\"ignored\"}").is_some_and(|n| n >= 1)
    }));
    assert!(sample(&body, "honeytrap_monitor_packets_total").is_some_and(|n| n >= 2), "{body}");
    assert!(sample(&body, "honeytrap_threads").is_some_and(|n| n >= 2), "{body}");
    assert!(sample(&body, "honeytrap_resident_memory_bytes").is_some_and(|n| n > 1 << 20), "{body}");
    assert!(!scrape(&s.ns.0, "/other").0, "only /metrics and / are served");

    d.signal("USR1");
    assert!(wait_for_text(&s.path("honeytrap.log"), "Statistics after ", Duration::from_secs(10)), "{}", s.log());
    let line = last_statistics(&s.log()).unwrap();
    assert!(line.contains(" tcp accepted 2, refused ignored "), "{line}");
    assert!(line.contains(" attacks 2;"), "{line}");
    assert!(line.contains("outputs SaveFile 2/0, logAttacker 2/0, logJSON 2/0, logEvents "), "{line}");
    // The daemon lives on.
    assert!(common::attack(&s.ns, to, b"after the signal\r\n"));
    assert!(wait_until(Duration::from_secs(20), || read(&s.path("attackers.json")).lines().count() == 3));

    d.stop(Duration::from_secs(20)).unwrap();
    let log = s.log();
    let lines: Vec<&str> = log.lines().collect();
    let stop = lines.iter().position(|l| l.contains("---- honeytrap stopped ----")).expect("stopped line");
    let last = lines.iter().rposition(|l| l.contains("Statistics after ")).unwrap();
    assert_eq!(last + 1, stop, "{log}");
    assert!(lines[last].contains(" attacks 3;"), "{log}");
}

/// A `metrics_listen` address that cannot be bound stops the start with status 1 and says so.
#[test]
fn a_metrics_port_in_use_fails_the_start() {
    if !root_or_skip(&common::this_test(), &["ip"]) {
        return;
    }
    let s = Sensor::new("stats-busy", &format!("metrics_listen = \"{METRICS}\""));
    let held = common::in_netns(&s.ns.0, || std::net::TcpListener::bind(METRICS).unwrap());
    let mut cmd = s.ns.command(BIN);
    cmd.args(s.args()).arg("-D");
    let mut d = common::Daemon::spawn(cmd);
    let status = d.wait(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(1));
    let (_, err) = d.output();
    let want = format!("Error - Unable to listen for metrics on {METRICS}: Address already in use.");
    assert!(err.contains(&want) || s.log().contains(&want), "stderr:\n{err}\nlog:\n{}", s.log());
    drop(held);
}

#[test]
fn counters_in_the_foreground() {
    if !root_or_skip(&common::this_test(), &["ip", "curl", "promtool"]) {
        return;
    }
    counters_on_signal_and_at_stop(Launch::Foreground);
}

#[test]
fn counters_detached() {
    if !root_or_skip(&common::this_test(), &["ip", "curl", "promtool"]) {
        return;
    }
    counters_on_signal_and_at_stop(Launch::Detached);
}

/// An nfq sensor with no firewall rule says which rule it needs; one that sees packets does
/// not, and says once that a port another program holds is not trapped.
#[test]
fn nfq_warnings_name_the_rule_and_a_held_port() {
    if !root_or_skip(&common::this_test(), &["ip", "iptables"]) {
        return;
    }
    for with_rule in [false, true] {
        let pair = Pair::new();
        let dir = TempDir::new("stats-nfq");
        let conf = common::write_config(dir.path(), "monitor = \"nfq\"\nnfq_queue = \"3\"");
        if with_rule {
            {
                let rule = &["-p", "tcp", "--syn"][..];
                let mut args = vec!["netns", "exec", &pair.srv.0, "iptables", "-A", "INPUT", "-i", "ht-s"];
                args.extend_from_slice(rule);
                args.extend_from_slice(&["-j", "NFQUEUE", "--queue-num", "3"]);
                run_ok("ip", &args);
            }
        }
        let mut cmd = pair.srv.command(BIN);
        cmd.args(["-C", conf.to_str().unwrap(), "-t", "5"]).env("HONEYTRAP_NFQ_QUIET_SECS", "3");
        let log = dir.join("honeytrap.log");
        let mut d = common::Running::start(Launch::Foreground, cmd, &log, &dir.join("honeytrap.pid"));
        // A port another program holds: one warning, however many attempts.
        let held = common::in_netns(&pair.srv.0, || std::net::TcpListener::bind((SRV4, 2222)).unwrap());
        if with_rule {
            let to: SocketAddr = format!("{SRV4}:8080").parse().unwrap();
            assert!(common::attack(&pair.cli, to, b"x"), "attack from {CLI4}");
            let to: SocketAddr = format!("{SRV4}:2222").parse().unwrap();
            for _ in 0..3 {
                assert!(common::connect_served(&pair.cli, to).is_some());
            }
        }
        std::thread::sleep(Duration::from_secs(5));
        let text = read(&log);
        let warned = text.contains(
            "Warning - No packet on NFQUEUE 3 in the 3 seconds since start: the firewall must queue new inbound connection attempts to it, e.g. iptables -A INPUT -p tcp --syn -m state --state NEW -j NFQUEUE --queue-num 3 --queue-bypass",
        );
        assert_eq!(warned, !with_rule, "{text}");
        let in_use =
            "Warning - Port 2222/tcp is held by another program: attempts on it are not trapped (said once per port).";
        assert_eq!(text.matches(in_use).count(), usize::from(with_rule), "{text}");
        drop(held);
        d.stop(Duration::from_secs(20)).unwrap();
    }
}
