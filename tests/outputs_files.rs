//! The file outputs (logAttacker, logJSON, the event stream) written to real files: exact
//! lines, one line per write under concurrency, reopening after rotation, a failing disk
//! (`/dev/full`) giving one log line and no panic, and T-Pot's reading of `attackers.json` (the
//! fields its Logstash pipeline uses) checked by Python's json module.
//!
//! Then the same outputs in the running daemon, started in the foreground and detached (the
//! init script's way): every record of attacks before and after a SIGHUP with rotation,
//! each file open exactly once, signals still obeyed; and, under strace, proof that every
//! record is written to the descriptor of its own file and to no other.

mod common;

use common::{read, root_or_skip, wait_for_text, wait_until, Launch, Sensor, TempDir, BIN};
use honeytrap::attack::{Attack, Download, Payload, ProxyConn};
use honeytrap::config::{Mode, Plugin, PluginConfig, Proto, Span};
use honeytrap::pipeline::output::events::{Event, EventLog, Session};
use honeytrap::pipeline::output::json::{self, bytes_as_text, Value};
use honeytrap::pipeline::output::logattacker::LogAttacker;
use honeytrap::pipeline::output::logjson::{self, LogJson, DATA_HEX_LIMIT};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn cfg(plugin: Plugin, options: &[(&str, &str)]) -> PluginConfig {
    PluginConfig {
        plugin,
        options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        span: Span { file: PathBuf::from("test.conf"), line: 1, col: 1 },
    }
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap_or_default().lines().map(str::to_string).collect()
}

/// A 19-byte attack the C honeytrap logged (normal mode, 2026-11-25T17:18:43Z).
fn sample() -> Attack {
    let start = UNIX_EPOCH + Duration::from_secs(1_795_627_123);
    let mut a = Attack::new(
        Proto::Tcp,
        "127.0.0.1:31337".parse().unwrap(),
        "127.0.0.1:48844".parse().unwrap(),
        Mode::Normal,
        start,
    );
    a.end = start + Duration::from_secs(1);
    a.payload = Payload::new(b"GET /x HTTP/1.0\r\n\r\n".to_vec());
    a
}

fn ftp_download() -> Download {
    let mut d = Download::new("ftp", b"MZ\x90\x00evil".to_vec());
    d.remote = Some("192.0.2.5:2100".parse().unwrap());
    d.user = Some("foo".into());
    d.pass = Some("b\"a/r".into());
    d.filename = Some("evil.exe".into());
    d
}

fn http_download() -> Download {
    let mut d = Download::new("http", b"#!/bin/sh\n".to_vec());
    d.uri = Some("http://[2001:db8::80]/x.sh".into());
    d.filename = Some("x.sh".into());
    d
}

/// Attacks with 0, 1 and 2 downloads, IPv4 and IPv6, normal, proxy and mirror mode, and one
/// attack string that is not UTF-8.
fn attacks() -> Vec<Attack> {
    let mut v = vec![sample()];
    let mut one = sample();
    one.downloads.push(ftp_download());
    one.dl_tries = 1;
    v.push(one);
    let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut six =
        Attack::new(Proto::Tcp, "[fd77::1]:445".parse().unwrap(), "[fd77::2]:50000".parse().unwrap(), Mode::Proxy, t);
    six.end = t + Duration::from_secs(3);
    six.payload = Payload::new(vec![0x00, 0xff, 0xfe, b'/', b'"', b'\\', 0x7f, 0x80]);
    six.proxy = Some(ProxyConn {
        local: "[fd77::1]:40001".parse().unwrap(),
        remote: "[2001:db8::445]:445".parse().unwrap(),
        payload: Payload::new(b"\x00SMB".to_vec()),
    });
    six.downloads = vec![ftp_download(), http_download()];
    six.dl_tries = 2;
    v.push(six);
    let mut udp =
        Attack::new(Proto::Udp, "10.77.0.1:69".parse().unwrap(), "10.77.0.2:1069".parse().unwrap(), Mode::Mirror, t);
    udp.payload = Payload::new(b"\x00\x01x\x00octet\x00".to_vec());
    v.push(udp);
    v
}

#[test]
fn logattacker_lines_in_the_file() {
    let dir = TempDir::new("logattacker");
    let path = dir.join("attacker.log");
    let out = LogAttacker::open(&cfg(Plugin::LogAttacker, &[("logfile", path.to_str().unwrap())])).unwrap();
    let a = sample();
    let mut virt = sample();
    virt.is_virtual = true;
    let before = SystemTime::now();
    out.log(&a);
    out.log(&virt);
    let mut empty = sample();
    empty.payload = Payload::default();
    out.log(&empty);
    let got = lines(&path);
    assert_eq!(got.len(), 2, "virtual records are not written: {got:?}");
    let tail = format!("GMT] tcp 127.0.0.1:48844 -> 127.0.0.1:31337 {} {} (19 bytes)", a.payload.md5, a.payload.sha512);
    assert!(got[0].ends_with(&tail), "{}", got[0]);
    assert!(got[1].ends_with(" (0 bytes)") && got[1].contains(" d41d8cd98f00b204e9800998ecf8427e cf83e135"));
    // `[YYYY-MM-DD HH:MM:SS:usec GMT]` with today's UTC date.
    let l = &got[0];
    let b = l.as_bytes();
    assert_eq!((b[0], b[5], b[8], b[11], b[14], b[17], b[20]), (b'[', b'-', b'-', b' ', b':', b':', b':'), "{l}");
    let usec_end = l.find(" GMT]").unwrap();
    let usec = &l[21..usec_end];
    assert!(!usec.is_empty() && usec.len() <= 6 && usec.bytes().all(|c| c.is_ascii_digit()), "{l}");
    assert!(usec == "0" || !usec.starts_with('0'), "no zero padding: {l}");
    let t = honeytrap::sys::time::utc(before.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64);
    assert_eq!(&l[1..11], format!("{:04}-{:02}-{:02}", t.year, t.month, t.day), "UTC date (test run near midnight?)");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o022, 0, "not group/world writable");
}

#[test]
fn logjson_exact_sample_line_in_the_file() {
    let dir = TempDir::new("logjson");
    let path = dir.join("attackers.json");
    let out = LogJson::open(&cfg(Plugin::LogJson, &[("logfile", path.to_str().unwrap())])).unwrap();
    let a = sample();
    out.log(&a);
    let mut virt = sample();
    virt.is_virtual = true;
    out.log(&virt);
    let want = format!(
        "{{ \"is_virtual\": false, \"@timestamp\": \"2026-11-25T17:18:43Z\", \"start_time\": \"2026-11-25T17:18:43Z\", \
         \"end_time\": \"2026-11-25T17:18:44Z\", \"attack_connection\": {{ \"protocol\": \"tcp\", \"remote_ip\": \"127.0.0.1\", \
         \"remote_port\": 48844, \"local_ip\": \"127.0.0.1\", \"local_port\": 31337, \"payload\": {{ \"md5_hash\": \
         \"37f544f01251a09527430791d17390e4\", \"sha512_hash\": \"{}\", \"length\": 19, \"data_hex\": \
         \"474554202f7820485454502f312e300d0a0d0a\" }} }}, \"proxy_connection\": {{ \"protocol\": \"ip\", \"remote_ip\": \
         \"0.0.0.0\", \"remote_port\": 0, \"local_ip\": \"0.0.0.0\", \"local_port\": 0, \"payload\": {{ \"md5_hash\": \
         \"d41d8cd98f00b204e9800998ecf8427e\", \"sha512_hash\": \"{}\", \"length\": 0, \"data_hex\": \"\" }} }}, \
         \"operation_mode\": 1, \"download_count\": 0, \"download_tries\": 0, \"downloads\": {{ }} }}\n",
        a.payload.sha512,
        Payload::default().sha512
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
}

#[test]
fn reopen_after_rename_for_every_output() {
    let dir = TempDir::new("reopen");
    let (pa, pj, pe) = (dir.join("attacker.log"), dir.join("attackers.json"), dir.join("events.json"));
    let la = LogAttacker::open(&cfg(Plugin::LogAttacker, &[("logfile", pa.to_str().unwrap())])).unwrap();
    let lj = LogJson::open(&cfg(Plugin::LogJson, &[("logfile", pj.to_str().unwrap())])).unwrap();
    let le = EventLog::open(&cfg(Plugin::LogEvents, &[("logfile", pe.to_str().unwrap())])).unwrap();
    let a = sample();
    let s = Session::new("t", a.proto, a.remote, a.local);
    let write_all = || {
        la.log(&a);
        lj.log(&a);
        le.write(&Event::connect(&s, a.start));
    };
    write_all();
    for p in [&pa, &pj, &pe] {
        std::fs::rename(p, p.with_extension("1")).unwrap();
    }
    write_all(); // still into the renamed files (logrotate without copytruncate, before SIGHUP)
    la.reopen().unwrap();
    lj.reopen().unwrap();
    le.reopen().unwrap();
    write_all();
    for p in [&pa, &pj, &pe] {
        assert_eq!(lines(&p.with_extension("1")).len(), 2, "{}", p.display());
        assert_eq!(lines(p).len(), 1, "{}", p.display());
    }
    // Reopening into a directory that went away fails and keeps the old descriptor.
    let sub = TempDir::new("reopen-gone");
    let pg = sub.join("a.log");
    let lg = LogAttacker::open(&cfg(Plugin::LogAttacker, &[("logfile", pg.to_str().unwrap())])).unwrap();
    std::fs::rename(&pg, dir.join("moved.log")).unwrap();
    std::fs::remove_dir(sub.path()).unwrap();
    let e = lg.reopen().unwrap_err().to_string();
    assert!(e.contains("No such file or directory"), "{e}");
    lg.log(&a);
    assert_eq!(lines(&dir.join("moved.log")).len(), 1);
}

#[test]
fn open_errors_name_the_cause() {
    let e = LogAttacker::open(&cfg(Plugin::LogAttacker, &[("logfile", "/nonexistent-ht/attacker.log")]))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(e, "Unable to open attacker log file /nonexistent-ht/attacker.log: No such file or directory.");
    let e = LogJson::open(&cfg(Plugin::LogJson, &[("logfile", "/nonexistent-ht/attackers.json")]))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(e, "ERROR: unable to open attacker log file /nonexistent-ht/attackers.json. No such file or directory.");
    let e =
        EventLog::open(&cfg(Plugin::LogEvents, &[("logfile", "/nonexistent-ht/e.json")])).err().unwrap().to_string();
    assert!(e.contains("No such file or directory"), "{e}");
    let dir = TempDir::new("badlimit");
    let p = dir.join("e.json");
    let e = EventLog::open(&cfg(Plugin::LogEvents, &[("logfile", p.to_str().unwrap()), ("data_limit", "lots")]))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("data_limit"), "{e}");
    let ok =
        EventLog::open(&cfg(Plugin::LogEvents, &[("logfile", p.to_str().unwrap()), ("data_limit", "16")])).unwrap();
    assert_eq!(ok.data_limit(), 16);
}

#[test]
fn full_disk_gives_one_log_line_and_no_panic() {
    if !Path::new("/dev/full").exists() {
        common::skip("full_disk_gives_one_log_line_and_no_panic", "no /dev/full");
        return;
    }
    let dir = TempDir::new("fulldisk");
    let log = dir.join("honeytrap.log");
    honeytrap::log::set_file(&log, honeytrap::log::open_file(&log).unwrap());
    honeytrap::log::set_level(honeytrap::log::Level::Noisy);
    let full = [("logfile", "/dev/full")];
    let la = LogAttacker::open(&cfg(Plugin::LogAttacker, &full)).unwrap();
    let lj = LogJson::open(&cfg(Plugin::LogJson, &full)).unwrap();
    let le = EventLog::open(&cfg(Plugin::LogEvents, &full)).unwrap();
    let a = sample();
    let s = Session::new("t", a.proto, a.remote, a.local);
    for _ in 0..20 {
        la.log(&a);
        lj.log(&a);
        le.write(&Event::connect(&s, a.start));
    }
    let got: Vec<String> = lines(&log).into_iter().filter(|l| l.contains("/dev/full")).collect();
    assert_eq!(got.len(), 3, "one line per output: {got:?}");
    for (l, who) in got.iter().zip(["logAttacker", "logJSON", "logEvents"]) {
        assert!(l.contains(&format!("{who} - Error - Unable to write to /dev/full: No space left on device")), "{l}");
    }
}

#[test]
fn concurrent_writers_never_mix_lines() {
    let dir = TempDir::new("concurrent");
    let path = dir.join("attackers.json");
    let out =
        std::sync::Arc::new(LogJson::open(&cfg(Plugin::LogJson, &[("logfile", path.to_str().unwrap())])).unwrap());
    let mut big = sample();
    big.payload = Payload::new(vec![0xab; 100_000]); // 200 kB lines, larger than any pipe buffer
    let big = std::sync::Arc::new(big);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (out, big) = (out.clone(), big.clone());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    out.log(&big);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let want = logjson::format_line(&big, DATA_HEX_LIMIT);
    let got = lines(&path);
    assert_eq!(got.len(), 40);
    for l in got {
        assert_eq!(format!("{l}\n"), want);
    }
}

/// Checks `attackers.json` as T-Pot reads it (telekom-security/tpotce,
/// docker/elk/logstash/dist/logstash.conf, section "Honeytrap": the json codec reads each
/// line, `@timestamp` becomes the event time, `attack_connection.local_port/local_ip/
/// remote_port/remote_ip` are renamed to dest_port/dest_ip/src_port/src_ip, the ports are
/// converted to integers and src_ip goes to geoip) plus the full field list, order and types
/// the C honeytrap's plugin-logJSON wrote.
const TPOT_CHECK: &str = r#"
import json, sys, ipaddress, datetime
conn = ["protocol", "remote_ip", "remote_port", "local_ip", "local_port", "payload"]
pay = ["md5_hash", "sha512_hash", "length", "data_hex"]
top = ["is_virtual", "@timestamp", "start_time", "end_time", "attack_connection", "proxy_connection",
       "operation_mode", "download_count", "download_tries", "downloads"]
dl = ["protocol", "remote_ip", "remote_port", "local_ip", "local_port", "type", "username", "password",
      "uri", "filename", "payload"]
def check_payload(p):
    assert list(p) == pay, list(p)
    assert isinstance(p["length"], int) and len(p["md5_hash"]) == 32 and len(p["sha512_hash"]) == 128
    assert len(p["data_hex"]) == 2 * p["length"]
    bytes.fromhex(p["data_hex"])
def check_conn(c):
    assert list(c) == conn, list(c)
    for k in ("remote_ip", "local_ip"):
        ipaddress.ip_address(c[k])
    for k in ("remote_port", "local_port"):
        assert isinstance(c[k], int) and 0 <= c[k] <= 65535
    check_payload(c["payload"])
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    assert line.endswith("\n") and "\n" not in line[:-1]
    o = json.loads(line)
    assert list(o) == top, list(o)
    assert o["is_virtual"] is False
    for k in ("@timestamp", "start_time", "end_time"):
        datetime.datetime.strptime(o[k], "%Y-%m-%dT%H:%M:%SZ")
    assert o["@timestamp"] == o["start_time"]
    check_conn(o["attack_connection"]); check_conn(o["proxy_connection"])
    # What Logstash's mutate/rename produces.
    ac = o["attack_connection"]
    ev = {"dest_port": int(ac["local_port"]), "dest_ip": ac["local_ip"],
          "src_port": int(ac["remote_port"]), "src_ip": ac["remote_ip"]}
    ipaddress.ip_address(ev["src_ip"])
    assert o["operation_mode"] in (0, 1, 2, 4, 8)
    assert o["download_count"] == len(o["downloads"]) // len(dl)
    assert isinstance(o["download_tries"], int)
    want = [f"{k}_{i}" for i in range(o["download_count"]) for k in dl]
    assert list(o["downloads"]) == want, list(o["downloads"])
    for i in range(o["download_count"]):
        d = o["downloads"]
        for k in ("protocol", "remote_ip", "local_ip", "type", "username", "password", "uri", "filename"):
            assert isinstance(d[f"{k}_{i}"], str)
        ipaddress.ip_address(d[f"remote_ip_{i}"])
        check_payload(d[f"payload_{i}"])
    print(json.dumps([o["attack_connection"]["remote_ip"], o["proxy_connection"]["protocol"],
                      o["download_count"], [o["downloads"][f"password_{i}"] for i in range(o["download_count"])],
                      [o["downloads"][f"uri_{i}"] for i in range(o["download_count"])]]))
    n += 1
print(n)
"#;

fn python(script: &str, file: &Path) -> Option<String> {
    if !common::have("python3") {
        common::skip(&format!("{} (its python3 part)", common::this_test()), "no python3");
        return None;
    }
    let out = Command::new("python3").arg("-c").arg(script).arg(file).output().unwrap();
    assert!(out.status.success(), "python3: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn attackers_json_as_tpot_reads_it() {
    let dir = TempDir::new("tpot");
    let path = dir.join("attackers.json");
    let out = LogJson::open(&cfg(Plugin::LogJson, &[("logfile", path.to_str().unwrap())])).unwrap();
    for a in attacks() {
        out.log(&a);
    }
    // Our own parser agrees on the structure.
    for l in lines(&path) {
        let v = common::json::parse(&l).unwrap();
        let Value::Object(fields) = v else { panic!("{l}") };
        assert_eq!(fields[0].0, "is_virtual");
    }
    let Some(got) = python(TPOT_CHECK, &path) else { return };
    let want = [
        r#"["127.0.0.1", "ip", 0, [], []]"#,
        r#"["127.0.0.1", "ip", 1, ["b\"a/r"], [""]]"#,
        r#"["fd77::2", "tcp", 2, ["b\"a/r", ""], ["", "http://[2001:db8::80]/x.sh"]]"#,
        r#"["10.77.0.2", "ip", 0, [], []]"#,
        "4",
    ];
    assert_eq!(got.lines().collect::<Vec<_>>(), want);
}

/// Every event, read back by Python's json module, in field order.
const EVENTS_CHECK: &str = r#"
import json, sys, datetime
common = ["eventid", "timestamp", "session", "sensor", "protocol", "src_ip", "src_port", "dst_ip", "dst_port"]
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    assert list(o)[:len(common)] == common, list(o)
    datetime.datetime.strptime(o["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    print(json.dumps([o["eventid"], o["session"], list(o)[len(common):], o.get("data_hex"), o.get("url")], ensure_ascii=False))
"#;

#[test]
fn event_stream_as_python_reads_it() {
    let dir = TempDir::new("events");
    let path = dir.join("events.json");
    let out =
        EventLog::open(&cfg(Plugin::LogEvents, &[("logfile", path.to_str().unwrap()), ("data_limit", "4")])).unwrap();
    let s = Session::new("sensor-a", Proto::Tcp, "[fd77::2]:50000".parse().unwrap(), "[fd77::1]:80".parse().unwrap());
    let t = SystemTime::now();
    let p = Payload::new(b"GET /\xff\r\n".to_vec());
    let url = "http://x/\u{7}\u{e9}";
    for ev in [
        Event::connect(&s, t),
        Event::input(&s, t, &p, out.data_limit()),
        Event::download_started(&s, t, url),
        Event::download(&s, t, url, &p, Some("f"), false, &Default::default()),
        Event::download_failed(&s, t, url, "timeout"),
        Event::closed(&s, t, Duration::from_millis(1500), 8, 0),
    ] {
        out.write(&ev);
    }
    let Some(got) = python(EVENTS_CHECK, &path) else { return };
    let id = &s.id;
    let want = [
        format!(r#"["honeytrap.session.connect", "{id}", [], null, null]"#),
        format!(
            r#"["honeytrap.session.input", "{id}", ["md5", "sha256", "length", "data_hex", "truncated"], "47455420", null]"#
        ),
        format!(r#"["honeytrap.session.file_download.started", "{id}", ["url"], null, "http://x/\u0007é"]"#),
        format!(
            r#"["honeytrap.session.file_download", "{id}", ["url", "md5", "sha256", "size", "outfile", "duplicate"], null, "http://x/\u0007é"]"#
        ),
        format!(r#"["honeytrap.session.file_download.failed", "{id}", ["url", "reason"], null, "http://x/\u0007é"]"#),
        format!(r#"["honeytrap.session.closed", "{id}", ["duration", "bytes_in", "bytes_out"], null, null]"#),
    ];
    assert_eq!(got.lines().collect::<Vec<_>>(), want);
}

/// Python's json module decodes our escaping of arbitrary bytes (both styles) to the text
/// documented in `bytes_as_text`.
#[test]
fn escaping_round_trips_through_python() {
    let mut samples: Vec<Vec<u8>> =
        vec![(0u8..=255).collect(), b"a/b\\c\"d".to_vec(), "ü€😀\u{2028}".as_bytes().to_vec()];
    samples.push(vec![0xf0, 0x9f, 0x98]); // truncated 4-byte sequence
    samples.push(vec![0xed, 0xa0, 0x80, 0xc0, 0xaf]); // surrogate and overlong forms
    let dir = TempDir::new("escape");
    let path = dir.join("strings.json");
    let mut text = String::new();
    for s in &samples {
        for style in [json::Style::Spaced, json::Style::Compact] {
            text.push_str(&Value::Array(vec![Value::Bytes(s.clone())]).to_string(style));
            text.push('\n');
        }
    }
    std::fs::write(&path, &text).unwrap();
    let script =
        "import json,sys\nfor l in open(sys.argv[1], encoding='utf-8'):\n    print(json.dumps(json.loads(l)[0]))";
    let Some(got) = python(script, &path) else { return };
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got.len(), samples.len() * 2);
    for (i, s) in samples.iter().enumerate() {
        let want = bytes_as_text(s);
        for j in 0..2 {
            // Python re-encodes with \uXXXX escapes for non-ASCII; our parser reads that back.
            assert_eq!(common::json::parse(got[2 * i + j]).unwrap(), Value::Str(want.clone()), "{:?}", s);
        }
    }
}

/// The port the daemon scenarios attack.
const PORT: u16 = 4711;
/// Bound for every wait of the daemon scenarios.
const T: Duration = Duration::from_secs(20);

/// What the daemon scenarios do with a [`Sensor`].
trait Scenario {
    fn attacks(&self, tag: &str, n: usize);
    fn records(&self, suffix: &str, n: usize) -> [Vec<String>; 3];
    fn open_count(&self, pid: i32, file: &str) -> usize;
}

impl Scenario for Sensor {
    /// `n` attacks on [`PORT`], one after the other, each with its own `tag` line.
    fn attacks(&self, tag: &str, n: usize) {
        let to = ([127, 0, 0, 1], PORT).into();
        let served = (0..n).all(|i| common::attack(&self.ns, to, format!("{tag} attack {i}\r\n").as_bytes()));
        assert!(served, "port {PORT} not served; log:\n{}", self.log());
    }

    /// Waits until the three files hold the records of `n` attacks (events: connect, input,
    /// closed each); returns their lines.
    fn records(&self, suffix: &str, n: usize) -> [Vec<String>; 3] {
        let files = ["attacker.log", "attackers.json", "events.json"].map(|f| format!("{f}{suffix}"));
        let want = [n, n, 3 * n];
        let complete = wait_until(T, || files.iter().zip(want).all(|(f, w)| self.lines(f).len() >= w));
        let got = files.map(|f| self.lines(&f));
        assert!(
            complete && got.iter().zip(want).all(|(l, w)| l.len() == w),
            "records of {n} attacks expected in *{suffix}: {:?}\nlog:\n{}",
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            self.log()
        );
        got
    }

    /// How often each file is open in the daemon.
    fn open_count(&self, pid: i32, file: &str) -> usize {
        let want = self.dir.join(file);
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| *target == want)
            .count()
    }
}

/// Checks the records of the attacks tagged `tag` (numbered 0..n) in the three files.
fn check_records(records: &[Vec<String>; 3], tag: &str, n: usize) {
    let [attacker, json, events] = records;
    for i in 0..n {
        let payload = format!("{tag} attack {i}\r\n");
        let md5 = honeytrap::attack::md5_hex(payload.as_bytes());
        let hex: String = payload.bytes().map(|b| format!("{b:02x}")).collect();
        let line = attacker.iter().find(|l| l.contains(&md5)).unwrap_or_else(|| panic!("{tag} {i}: {attacker:?}"));
        assert!(
            line.contains(&format!(" -> 127.0.0.1:{PORT} ")) && line.ends_with(&format!("({} bytes)", payload.len()))
        );
        assert_eq!(json.iter().filter(|l| l.contains(&hex)).count(), 1, "{tag} {i} in attackers.json");
        assert_eq!(events.iter().filter(|l| l.contains(&hex)).count(), 1, "{tag} {i}: its input event");
    }
    for l in json.iter().chain(events) {
        assert!(common::json::parse(l).is_ok(), "not one JSON record: {l}");
    }
    for id in ["connect", "input", "closed"] {
        let name = format!("\"eventid\":\"honeytrap.session.{id}\"");
        assert_eq!(events.iter().filter(|l| l.contains(&name)).count(), n, "{id} events");
    }
}

/// The file outputs work the same in the foreground and detached: the records of 40 attacks
/// before and 40 after a SIGHUP that follows a rotation, each file open once in the daemon,
/// SIGHUP and SIGTERM obeyed after all of them.
fn file_outputs_in_the_daemon(launch: Launch) {
    let s = Sensor::new("daemon-outputs", "");
    let mut daemon = s.start(launch, &[]);
    let pid = daemon.pid();
    s.attacks("before", 40);
    check_records(&s.records("", 40), "before", 40);
    for f in ["attacker.log", "attackers.json", "events.json", "honeytrap.log"] {
        assert_eq!(s.open_count(pid, f), 1, "{f} open once");
    }

    for f in ["attacker.log", "attackers.json", "events.json"] {
        std::fs::rename(s.dir.join(f), s.dir.join(&format!("{f}.1"))).unwrap();
    }
    daemon.signal("HUP");
    let reloaded = |n| wait_until(T, || s.log().matches("---- honeytrap reconfigured ----").count() == n);
    assert!(reloaded(1), "{}", s.log());
    s.attacks("after", 40);
    check_records(&s.records("", 40), "after", 40);
    check_records(&s.records(".1", 40), "before", 40);
    for f in ["attacker.log", "attackers.json", "events.json"] {
        assert_eq!(s.open_count(pid, f), 1, "{f} open once after the reload");
        assert_eq!(s.open_count(pid, &format!("{f}.1")), 0, "{f}.1 closed after the reload");
    }
    assert!(!s.log().contains("Error"), "{}", s.log());

    // The control pipe still works after all of this.
    daemon.signal("HUP");
    assert!(reloaded(2), "{}", s.log());
    let status = daemon.stop(T).unwrap_or_else(|e| panic!("{e}; log:\n{}", s.log()));
    assert!(status.is_none_or(|st| st.success()), "{status:?}");
    assert!(wait_for_text(&s.dir.join("honeytrap.log"), "---- honeytrap stopped ----", T));
    assert!(!s.dir.join("honeytrap.pid").exists(), "pid file removed");
}

#[test]
fn file_outputs_in_the_foreground_daemon() {
    if root_or_skip("file_outputs_in_the_foreground_daemon", &["ip"]) {
        file_outputs_in_the_daemon(Launch::Foreground);
    }
}

#[test]
fn file_outputs_in_the_detached_daemon() {
    if root_or_skip("file_outputs_in_the_detached_daemon", &["ip"]) {
        file_outputs_in_the_daemon(Launch::Detached);
    }
}

/// One `write(2)` of the trace: the path of its descriptor (strace -y) and its data.
struct TracedWrite {
    target: String,
    data: String,
}

/// The writes in an strace -f -y output (`pid write(fd<path>, "data"..., n) = r`).
fn traced_writes(trace: &str) -> Vec<TracedWrite> {
    trace
        .lines()
        .filter_map(|l| {
            let call = l.split_once(" write(")?.1;
            let (fd, rest) = call.split_once(", \"")?;
            let target = fd.split_once('<').map_or("", |(_, p)| p.trim_end_matches('>')).to_string();
            Some(TracedWrite { target, data: rest.to_string() })
        })
        .collect()
}

/// Run detached under strace (following the forks of detaching), the daemon writes every
/// record with one write(2) to the descriptor of its own file, before and after SIGHUP; no
/// record goes to any other descriptor (the control pipe, a socket, the log) and no write
/// fails.
#[test]
fn no_output_writes_into_a_foreign_descriptor() {
    if !root_or_skip("no_output_writes_into_a_foreign_descriptor", &["ip", "strace"]) {
        return;
    }
    let s = Sensor::new("strace", "");
    let trace = s.dir.join("trace");
    let mut cmd = s.ns.command("strace");
    cmd.args(["-f", "-qq", "-y", "-s", "512", "-e", "trace=write,writev,pwrite64", "-e", "signal=none", "-o"]);
    cmd.arg(&trace).arg(BIN).args(s.args());
    let mut tracer = common::Daemon::spawn(cmd);
    let log = s.dir.join("honeytrap.log");
    assert!(wait_for_text(&log, "---- Trapping attacks", T), "{}", s.log());
    let pid: i32 = read(&s.dir.join("honeytrap.pid")).parse().expect("pid file");
    let _guard = common::PidGuard(pid);
    // Waits on the daemon log only: the check of the files is the trace's.
    let attacks = |n| wait_until(T, || s.log().matches("bytes attack string from").count() == n);
    s.attacks("before", 10);
    assert!(attacks(10), "{}", s.log());
    common::run_ok("kill", &["-HUP", &pid.to_string()]);
    assert!(wait_for_text(&log, "---- honeytrap reconfigured ----", T), "{}", s.log());
    s.attacks("after", 10);
    assert!(attacks(20), "{}", s.log());
    // The stop waits until every connection has written its records.
    common::run_ok("kill", &["-TERM", &pid.to_string()]);
    assert!(tracer.wait(T).is_some(), "strace ends with the daemon");
    let trace = read(&trace);
    assert!(!trace.contains("EBADF"), "a write to a closed descriptor:\n{trace}");
    let writes = traced_writes(&trace);
    let d = s.dir.path().display().to_string();
    // Each record kind by a mark only it carries (strace shows `"` as `\"`).
    for (file, mark) in [
        ("attacker.log", " GMT] tcp 127.0.0.1:"),
        ("attackers.json", "attack_connection"),
        ("events.json", "honeytrap.session."),
    ] {
        let path = format!("{d}/{file}");
        let records: Vec<&TracedWrite> = writes.iter().filter(|w| w.data.contains(mark)).collect();
        let want = if file == "events.json" { 60 } else { 20 };
        assert_eq!(records.len(), want, "{file}: one write per record");
        for w in records {
            assert_eq!(w.target, path, "a {file} record written elsewhere: {}", w.data);
        }
        for w in writes.iter().filter(|w| w.target == path) {
            assert!(w.data.contains(mark), "{file} got a foreign write: {}", w.data);
        }
    }
}
