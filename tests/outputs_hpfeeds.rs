//! The hpfeeds publisher against the reference broker (`hpfeeds-broker` from PyPI's `hpfeeds`
//! 3.x, installed by .ci/run into a venv) with the reference Python client as the subscriber
//! that reads what was published. Broker and subscriber listen on loopback ports chosen at run
//! time; both are killed by PID when a test ends.

mod common;

use common::*;
use honeytrap::config::{Plugin, PluginConfig, Span};
use honeytrap::log::{self, Level};
use honeytrap::pipeline::output::hpfeeds::Hpfeeds;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::{Duration, Instant};

const SECRET: &str = "s3cret-of-the-sensor";

fn venv() -> Option<PathBuf> {
    let v = hpfeeds_venv();
    if v.is_none() {
        skip(&this_test(), "no hpfeeds broker (HT_HPFEEDS_VENV, /opt/ht-hpfeeds; .ci/run installs it)");
    }
    v
}

fn cfg(opts: &[(&str, &str)]) -> PluginConfig {
    PluginConfig {
        plugin: Plugin::Hpfeeds,
        options: opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        span: Span { file: PathBuf::from("test.conf"), line: 1, col: 1 },
    }
}

fn log_file() -> PathBuf {
    static INIT: Once = Once::new();
    let path = std::env::temp_dir().join(format!("ht-outputs-hpfeeds-{}.log", std::process::id()));
    INIT.call_once(|| {
        let _ = std::fs::remove_file(&path);
        log::set_file(&path, log::open_file(&path).unwrap());
        log::set_level(Level::Info);
    });
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The reference broker on 127.0.0.1:`port`: ident `sensor` may publish on the two default
/// channels, ident `reader` may subscribe to them (and use `probe` both ways).
fn start_broker(venv: &Path, port: u16) -> Daemon {
    let mut cmd = Command::new(venv.join("bin/hpfeeds-broker"));
    // Its Prometheus exporter would take a fixed port (and all addresses): give it its own.
    let exporter = format!("127.0.0.1:{}", free_port());
    cmd.args([
        "--auth",
        "env",
        "--name",
        "testbroker",
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--exporter",
        &exporter,
    ])
    .env("HPFEEDS_SENSOR_SECRET", SECRET)
    .env("HPFEEDS_SENSOR_PUBCHANS", "honeytrap.events,honeytrap.files")
    .env("HPFEEDS_READER_SECRET", "reader-secret")
    .env("HPFEEDS_READER_SUBCHANS", "honeytrap.events,honeytrap.files,probe")
    .env("HPFEEDS_READER_PUBCHANS", "probe");
    let mut d = Daemon::spawn(cmd);
    let up = wait_until(Duration::from_secs(15), || {
        std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
    });
    if !up {
        let _ = d.child.kill();
        panic!("the broker did not start: {:?}", d.output());
    }
    d
}

const SUBSCRIBER: &str = r#"
import sys, hpfeeds
c = hpfeeds.new('127.0.0.1', int(sys.argv[1]), 'reader', 'reader-secret', reconnect=False)
c.subscribe(['honeytrap.events', 'honeytrap.files', 'probe'])
c._subscribe()
c.publish('probe', b'probe')
def on_msg(ident, chan, payload):
    if chan == 'probe':
        print('READY', flush=True)
    else:
        print(chan + '\t' + ident + '\t' + payload.hex(), flush=True)
def on_err(e):
    print('ERROR\t' + e, flush=True)
c.run(on_msg, on_err)
"#;

/// The reference client subscribed to both channels; lines `channel\tident\thex(payload)`.
struct Subscriber {
    proc: Daemon,
}

impl Subscriber {
    fn start(venv: &Path, port: u16) -> Subscriber {
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.args(["-c", SUBSCRIBER, &port.to_string()]);
        let s = Subscriber { proc: Daemon::spawn(cmd) };
        assert!(s.wait_for(|l| l == "READY", 1), "the subscriber did not become ready");
        s
    }
    /// The complete lines written so far.
    fn lines(&self) -> Vec<String> {
        let text = self.proc.stdout.text();
        let whole = text.rfind('\n').map_or("", |i| &text[..i]);
        whole.lines().map(str::to_string).collect()
    }
    fn wait_for(&self, f: impl Fn(&str) -> bool, n: usize) -> bool {
        wait_until(Duration::from_secs(15), || self.lines().iter().filter(|l| f(l)).count() >= n)
    }
    fn published(&self) -> Vec<(String, String, Vec<u8>)> {
        self.lines()
            .iter()
            .filter_map(|l| {
                let mut f = l.split('\t');
                let (c, i, h) = (f.next()?, f.next()?, f.next()?);
                let bytes = (0..h.len() / 2).map(|k| u8::from_str_radix(&h[2 * k..2 * k + 2], 16).unwrap()).collect();
                Some((c.to_string(), i.to_string(), bytes))
            })
            .collect()
    }
}

fn sensor(port: u16, secret: &str, extra: &[(&str, &str)]) -> Hpfeeds {
    let p = port.to_string();
    let mut o = vec![("host", "127.0.0.1"), ("port", p.as_str()), ("ident", "sensor"), ("secret", secret)];
    o.extend_from_slice(extra);
    Hpfeeds::start(&cfg(&o)).unwrap()
}

fn log_lines_with(needle: &str) -> usize {
    read(&log_file()).lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn events_and_files_reach_a_subscriber_through_the_reference_broker() {
    let Some(venv) = venv() else { return };
    log_file();
    let port = free_port();
    let _broker = start_broker(&venv, port);
    let sub = Subscriber::start(&venv, port);
    let h = sensor(port, SECRET, &[]);
    let events: Vec<String> =
        (0..3).map(|i| format!("{{\"eventid\": \"honeytrap.attack\", \"n\": {i}, \"s\": \"\\/caf\u{e9}\"}}")).collect();
    for e in &events {
        h.publish_event(&format!("{e}\n"));
    }
    let sample: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    h.publish_file(sample.clone());
    assert!(sub.wait_for(|l| !l.starts_with("READY"), 4), "{:?}", sub.lines());
    let got = sub.published();
    let want: Vec<(String, String, Vec<u8>)> = events
        .iter()
        .map(|e| ("honeytrap.events".to_string(), "sensor".to_string(), e.as_bytes().to_vec()))
        .chain([("honeytrap.files".to_string(), "sensor".to_string(), sample)])
        .collect();
    assert_eq!(got.len(), 4);
    assert!(got == want, "published messages differ (in order: 3 events, 1 file)");
    assert_eq!(h.stats(), (4, 0));
}

#[test]
fn broker_down_at_start_counts_drops_without_blocking_then_publishes_after_it_comes_up() {
    let Some(venv) = venv() else { return };
    log_file();
    let port = free_port();
    let h = sensor(port, SECRET, &[("queue_size", "3")]);
    let t0 = Instant::now();
    for i in 0..20 {
        h.publish_event(&format!("{{\"early\": {i}}}"));
    }
    assert!(t0.elapsed() < Duration::from_millis(200), "publishing blocked: {:?}", t0.elapsed());
    assert!(wait_until(Duration::from_secs(2), || h.stats().1 >= 16), "{:?}", h.stats());
    std::thread::sleep(Duration::from_millis(1500)); // attempts at about 0 and 1 s
    let warn = format!("hpfeeds 127.0.0.1:{port}: unreachable");
    assert_eq!(log_lines_with(&warn), 1, "{}", read(&log_file()));

    let _broker = start_broker(&venv, port);
    let sub = Subscriber::start(&venv, port);
    // The queued messages go out once the next attempt connects (back-off 1, 2, 4 s).
    assert!(wait_until(Duration::from_secs(15), || h.stats().0 + h.stats().1 == 20), "{:?}", h.stats());
    assert!(h.stats().0 >= 3, "{:?}", h.stats());
    h.publish_event("{\"after\": \"up\"}");
    assert!(
        sub.wait_for(|l| l.starts_with("honeytrap.events\tsensor\t") && l.ends_with(&hex(b"{\"after\": \"up\"}")), 1)
    );
    assert_eq!(log_lines_with(&warn), 1);
    assert_eq!(log_lines_with(&format!("hpfeeds 127.0.0.1:{port}: connected again")), 1);
}

#[test]
fn a_wrong_secret_is_reported_by_the_broker_and_nothing_is_published() {
    let Some(venv) = venv() else { return };
    log_file();
    let port = free_port();
    let _broker = start_broker(&venv, port);
    let sub = Subscriber::start(&venv, port);
    let h = sensor(port, "wrong", &[]);
    h.publish_event("{\"x\": 1}");
    let refused = format!(
        "hpfeeds 127.0.0.1:{port}: unreachable: authentication as \"sensor\" refused: Authentication failed for sensor"
    );
    assert!(wait_until(Duration::from_secs(5), || log_lines_with(&refused) == 1), "{}", read(&log_file()));
    std::thread::sleep(Duration::from_millis(1500)); // a second, quiet attempt
    assert_eq!(log_lines_with(&refused), 1);
    assert_eq!(h.stats().0, 0);
    assert_eq!(sub.published().len(), 0);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
