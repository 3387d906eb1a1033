//! The logJSON output (`plugin-logJSON`, the armedpot fork's plugin-logJSON): T-Pot's
//! `attackers.json`, one JSON object per line and real connection, field for field as the
//! armedpot fork's logjson 1.1.0 wrote it with json-c (`JSON_C_TO_STRING_SPACED`): same keys,
//! order, nesting, types, spacing and escaping (`\/`). Replaces htm_logJSON.c of the fork.
//!
//! ```text
//! { "is_virtual": false, "@timestamp": "2026-11-25T17:18:43Z", "start_time": "…", "end_time": "…",
//!   "attack_connection": { "protocol": "tcp", "remote_ip": "…", "remote_port": 48844, "local_ip": "…",
//!     "local_port": 31337, "payload": { "md5_hash": "…", "sha512_hash": "…", "length": 19, "data_hex": "…" } },
//!   "proxy_connection": { … same keys … }, "operation_mode": 1, "download_count": 0,
//!   "download_tries": 0, "downloads": { } }
//! ```
//!
//! Deliberate differences (docs/COMPATIBILITY.md, Differences from the C honeytrap):
//! * The line is written after the download plugins ran (the integrator calls [`LogJson::log`]
//!   at the end of the pipeline), so `download_count`, `download_tries` and `downloads`
//!   describe what really happened; virtual (decoded) records are not written.
//! * A missing download string (user, password, uri, file name) is `""` (json-c crashed on
//!   it); a download without a server address has `0.0.0.0` and port 0.
//! * `data_hex` is capped at [`DATA_HEX_LIMIT`] hex digits (half as many bytes): when a
//!   payload is longer, `data_hex` holds the hex of its first bytes (an even number of
//!   digits), `length` stays the full length, and the payload object gets one more key after
//!   `data_hex`: `"data_hex_truncated": true`. Lines of payloads under the cap are exactly as
//!   before. The C plugin wrote every byte (lines of tens of megabytes for large downloads).
//! * Written with one `write(2)` on an `O_APPEND` file, reopened by name on SIGHUP.
//! * Addresses: IPv6 as `inet_ntop` writes it, IPv4-mapped IPv6 as the IPv4 address; ports in
//!   host order everywhere (the C record had the proxy ports in network order).
//! * A payload's digests are its own (the C record hashed the first download's buffer for
//!   later downloads).
//! * `proxy_connection` of a mirror/proxy connection has the connection's protocol name; of
//!   any other connection (and of a mirror/proxy connection that fell back to normal) the
//!   C plugin's placeholder: protocol `ip` (the `/etc/protocols` name of 0), `0.0.0.0`, ports
//!   0, the digests of empty data, length 0, `data_hex` `""`.

use super::append::{logfile, AppendLog};
use super::json::{ObjectWriter, Style};
use super::OutputError;
use crate::attack::{Attack, Download, Payload, EMPTY_MD5, EMPTY_SHA512};
use crate::config::{Plugin, PluginConfig, Proto};
use crate::sys::time;
use crate::text;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::SystemTime;

/// Most hex digits written in one `data_hex` (1 MiB of text = 512 KiB of data).
pub const DATA_HEX_LIMIT: usize = 1 << 20;

/// The logJSON output, open.
pub struct LogJson {
    out: AppendLog,
    hex_limit: usize,
}

impl LogJson {
    /// Opens `logfile` of a `plugin-logJSON` entry. The error text is the fork's with the
    /// file's name added (`ERROR: unable to open attacker log file <path>. <strerror>.`).
    pub fn open(cfg: &PluginConfig) -> Result<LogJson, OutputError> {
        let path = logfile(cfg, Plugin::LogJson)?;
        match AppendLog::open("logJSON", &path) {
            Ok(out) => Ok(LogJson { out, hex_limit: DATA_HEX_LIMIT }),
            Err(err) => Err(OutputError::Open { plugin: Plugin::LogJson, path, err }),
        }
    }

    /// The same output with another `data_hex` cap (tests).
    pub fn with_hex_limit(mut self, hex_limit: usize) -> LogJson {
        self.hex_limit = hex_limit;
        self
    }

    /// Writes the line for `attack` after the downloads ran; virtual records are skipped.
    /// Errors are logged (throttled), never returned.
    pub fn log(&self, attack: &Attack) {
        if attack.is_virtual {
            return;
        }
        let _ = self.out.write_line(format_line(attack, self.hex_limit).as_bytes());
    }

    /// Reopens the file by name (SIGHUP); the old one stays in use on failure.
    pub fn reopen(&self) -> Result<(), OutputError> {
        self.out.reopen().map_err(|err| OutputError::Reopen {
            plugin: Plugin::LogJson,
            path: self.out.path().to_path_buf(),
            err,
        })
    }

    pub fn path(&self) -> &Path {
        self.out.path()
    }

    /// The file written.
    pub fn file(&self) -> &AppendLog {
        &self.out
    }
}

/// `%Y-%m-%dT%H:%M:%SZ` in UTC.
pub fn timestamp(t: SystemTime) -> String {
    let mut s = String::with_capacity(20);
    push_timestamp(&mut s, t);
    s
}

fn push_timestamp(out: &mut String, t: SystemTime) {
    let (t, _) = time::utc_micros(t);
    text::push_datetime(out, &t);
    out.push('Z');
}

/// A count as a JSON number (the largest `i64` beyond it, as [`super::json::Value`]'s).
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The hex digits written for a payload of `len` bytes.
fn hex_len(len: usize, hex_limit: usize) -> usize {
    2 * len.min(hex_limit / 2)
}

/// The fields of a payload object: its digests, its length and (at most `hex_limit` hex
/// digits of) its bytes.
fn payload(o: &mut ObjectWriter, data: &[u8], md5: &str, sha512: &str, hex_limit: usize) {
    let keep = data.len().min(hex_limit / 2);
    o.str("md5_hash", md5);
    o.str("sha512_hash", sha512);
    o.int("length", count(data.len()));
    o.hex("data_hex", &data[..keep]);
    if keep < data.len() {
        o.bool("data_hex_truncated", true);
    }
}

/// A connection object under `key`; `p` `None`: the empty payload.
fn connection(
    o: &mut ObjectWriter,
    key: &str,
    protocol: &str,
    (remote, local): (SocketAddr, SocketAddr),
    p: Option<&Payload>,
    hex_limit: usize,
) {
    o.object(key, |o| {
        o.str("protocol", protocol);
        o.ip("remote_ip", remote.ip());
        o.int("remote_port", remote.port().into());
        o.ip("local_ip", local.ip());
        o.int("local_port", local.port().into());
        o.object("payload", |o| match p {
            Some(p) => payload(o, &p.data, &p.md5, &p.sha512, hex_limit),
            None => payload(o, &[], EMPTY_MD5, EMPTY_SHA512, hex_limit),
        });
    });
}

/// The protocol a download came over: TFTP is UDP, FTP and HTTP(S) are TCP; a file cut out
/// of the attack string itself (`raw`, `inline`) came over the attack's protocol.
fn download_proto(dl: &Download, attack: &Attack) -> &'static str {
    match dl.dl_type.as_str() {
        "tftp" => Proto::Udp.name(),
        "raw" | "inline" => attack.proto.name(),
        _ => Proto::Tcp.name(),
    }
}

/// `name_i` in `key`, the key of a download's field.
fn suffixed<'k>(key: &'k mut String, name: &str, i: usize) -> &'k str {
    key.clear();
    key.push_str(name);
    key.push('_');
    text::push_u64(key, i as u64);
    key
}

/// The downloads' fields, flattened with the download's index as suffix.
fn downloads(o: &mut ObjectWriter, attack: &Attack, hex_limit: usize) {
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    fn s(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("")
    }
    let mut key = String::with_capacity(16);
    for (i, dl) in attack.downloads.iter().enumerate() {
        let remote = dl.remote.unwrap_or(any);
        o.str(suffixed(&mut key, "protocol", i), download_proto(dl, attack));
        o.ip(suffixed(&mut key, "remote_ip", i), remote.ip());
        o.int(suffixed(&mut key, "remote_port", i), remote.port().into());
        o.ip(suffixed(&mut key, "local_ip", i), attack.local.ip());
        o.int(suffixed(&mut key, "local_port", i), attack.local.port().into());
        o.str(suffixed(&mut key, "type", i), &dl.dl_type);
        o.str(suffixed(&mut key, "username", i), s(&dl.user));
        o.str(suffixed(&mut key, "password", i), s(&dl.pass));
        o.str(suffixed(&mut key, "uri", i), s(&dl.uri));
        o.str(suffixed(&mut key, "filename", i), s(&dl.filename));
        let p = &dl.payload;
        o.object(suffixed(&mut key, "payload", i), |o| payload(o, &p.data, &p.md5, &p.sha512, hex_limit));
    }
}

/// Appends the `attackers.json` line of `attack` to `out`, newline included (see the module
/// documentation): written field by field, straight into `out`.
pub fn write_line(out: &mut String, attack: &Attack, hex_limit: usize) {
    let mut start = String::with_capacity(20);
    push_timestamp(&mut start, attack.start);
    let mut end = String::with_capacity(20);
    push_timestamp(&mut end, attack.end);
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let proto = attack.proto.name();
    let mut o = ObjectWriter::begin(out, Style::Spaced);
    o.bool("is_virtual", attack.is_virtual);
    o.str("@timestamp", &start);
    o.str("start_time", &start);
    o.str("end_time", &end);
    connection(&mut o, "attack_connection", proto, (attack.remote, attack.local), Some(&attack.payload), hex_limit);
    match &attack.proxy {
        Some(p) => connection(&mut o, "proxy_connection", proto, (p.remote, p.local), Some(&p.payload), hex_limit),
        None => connection(&mut o, "proxy_connection", "ip", (any, any), None, hex_limit),
    }
    o.int("operation_mode", attack.mode.code().into());
    o.int("download_count", count(attack.downloads.len()));
    o.int("download_tries", attack.dl_tries.into());
    o.object("downloads", |o| downloads(o, attack, hex_limit));
    o.end();
    out.push('\n');
}

/// The `attackers.json` line of `attack`, newline included.
pub fn format_line(attack: &Attack, hex_limit: usize) -> String {
    // Room for the line without its hex digits (about 1 KiB, 600 bytes a download), and
    // for those: one allocation.
    let payloads = std::iter::once(&attack.payload)
        .chain(attack.proxy.as_ref().map(|p| &p.payload))
        .chain(attack.downloads.iter().map(|d| &d.payload));
    let digits: usize = payloads.map(|p| hex_len(p.len(), hex_limit)).sum();
    let mut s = String::with_capacity(1024 + 600 * attack.downloads.len() + digits);
    write_line(&mut s, attack, hex_limit);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::ProxyConn;
    use crate::config::Mode;
    use std::time::{Duration, UNIX_EPOCH};

    const EMPTY_SHA512: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
                                47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

    fn sample() -> Attack {
        // An attack the C honeytrap logged: 2026-11-25T17:18:43Z, 19 bytes, normal mode.
        let start = UNIX_EPOCH + Duration::from_secs(1_795_627_123);
        let mut a = Attack::new(
            Proto::Tcp,
            "127.0.0.1:31337".parse().unwrap(),
            "127.0.0.1:48844".parse().unwrap(),
            Mode::Normal,
            start,
        );
        a.end = start + Duration::from_millis(1500);
        a.payload = Payload::new(b"GET /x HTTP/1.0\r\n\r\n".to_vec());
        a
    }

    #[test]
    fn observed_sample_line() {
        let a = sample();
        let want = format!(
            "{{ \"is_virtual\": false, \"@timestamp\": \"2026-11-25T17:18:43Z\", \"start_time\": \"2026-11-25T17:18:43Z\", \
             \"end_time\": \"2026-11-25T17:18:44Z\", \"attack_connection\": {{ \"protocol\": \"tcp\", \"remote_ip\": \"127.0.0.1\", \
             \"remote_port\": 48844, \"local_ip\": \"127.0.0.1\", \"local_port\": 31337, \"payload\": {{ \"md5_hash\": \
             \"37f544f01251a09527430791d17390e4\", \"sha512_hash\": \"{}\", \"length\": 19, \"data_hex\": \
             \"474554202f7820485454502f312e300d0a0d0a\" }} }}, \"proxy_connection\": {{ \"protocol\": \"ip\", \"remote_ip\": \
             \"0.0.0.0\", \"remote_port\": 0, \"local_ip\": \"0.0.0.0\", \"local_port\": 0, \"payload\": {{ \"md5_hash\": \
             \"d41d8cd98f00b204e9800998ecf8427e\", \"sha512_hash\": \"{}\", \"length\": 0, \"data_hex\": \"\" }} }}, \
             \"operation_mode\": 1, \"download_count\": 0, \"download_tries\": 0, \"downloads\": {{ }} }}\n",
            a.payload.sha512, EMPTY_SHA512
        );
        assert_eq!(format_line(&a, DATA_HEX_LIMIT), want);
    }

    #[test]
    fn downloads_flattened_with_suffixes() {
        let mut a = sample();
        a.dl_tries = 3;
        let mut ftp = Download::new("ftp", b"MZ1".to_vec());
        ftp.remote = Some("192.0.2.5:2100".parse().unwrap());
        ftp.user = Some("foo".into());
        ftp.pass = Some("bar".into());
        ftp.filename = Some("evil.exe".into());
        let mut http = Download::new("http", b"MZ2".to_vec());
        http.uri = Some("http://198.51.100.1/a/b.exe".into());
        http.filename = Some("b.exe".into());
        a.downloads = vec![ftp, http];
        let l = format_line(&a, DATA_HEX_LIMIT);
        let tail = format!(
            "\"operation_mode\": 1, \"download_count\": 2, \"download_tries\": 3, \"downloads\": {{ \
             \"protocol_0\": \"tcp\", \"remote_ip_0\": \"192.0.2.5\", \"remote_port_0\": 2100, \"local_ip_0\": \"127.0.0.1\", \
             \"local_port_0\": 31337, \"type_0\": \"ftp\", \"username_0\": \"foo\", \"password_0\": \"bar\", \"uri_0\": \"\", \
             \"filename_0\": \"evil.exe\", \"payload_0\": {{ \"md5_hash\": \"{}\", \"sha512_hash\": \"{}\", \"length\": 3, \
             \"data_hex\": \"4d5a31\" }}, \
             \"protocol_1\": \"tcp\", \"remote_ip_1\": \"0.0.0.0\", \"remote_port_1\": 0, \"local_ip_1\": \"127.0.0.1\", \
             \"local_port_1\": 31337, \"type_1\": \"http\", \"username_1\": \"\", \"password_1\": \"\", \
             \"uri_1\": \"http:\\/\\/198.51.100.1\\/a\\/b.exe\", \"filename_1\": \"b.exe\", \"payload_1\": {{ \"md5_hash\": \"{}\", \
             \"sha512_hash\": \"{}\", \"length\": 3, \"data_hex\": \"4d5a32\" }} }} }}\n",
            a.downloads[0].payload.md5, a.downloads[0].payload.sha512, a.downloads[1].payload.md5, a.downloads[1].payload.sha512
        );
        assert!(l.ends_with(&tail), "{l}");
    }

    #[test]
    fn proxy_side_and_ipv6() {
        let t = UNIX_EPOCH;
        let mut a =
            Attack::new(Proto::Udp, "[fd77::1]:53".parse().unwrap(), "[fd77::2]:5353".parse().unwrap(), Mode::Proxy, t);
        a.proxy = Some(ProxyConn {
            local: "[fd77::1]:40000".parse().unwrap(),
            remote: "[2001:db8::53]:53".parse().unwrap(),
            payload: Payload::new(b"\x01\x02".to_vec()),
        });
        let l = format_line(&a, DATA_HEX_LIMIT);
        assert!(l.starts_with("{ \"is_virtual\": false, \"@timestamp\": \"1970-01-01T00:00:00Z\", "), "{l}");
        assert!(l.contains(
            "\"attack_connection\": { \"protocol\": \"udp\", \"remote_ip\": \"fd77::2\", \"remote_port\": 5353, \
             \"local_ip\": \"fd77::1\", \"local_port\": 53, "
        ));
        assert!(l.contains(
            "\"proxy_connection\": { \"protocol\": \"udp\", \"remote_ip\": \"2001:db8::53\", \"remote_port\": 53, \
             \"local_ip\": \"fd77::1\", \"local_port\": 40000, \"payload\": { \"md5_hash\": "
        ));
        assert!(l.contains("\"length\": 2, \"data_hex\": \"0102\" } }, \"operation_mode\": 8, "), "{l}");
    }

    #[test]
    fn data_hex_cap_marks_the_cut() {
        let mut a = sample();
        let l = format_line(&a, 38);
        assert!(!l.contains("truncated"), "exactly at the cap: not cut");
        let l = format_line(&a, 9);
        assert!(l.contains("\"length\": 19, \"data_hex\": \"47455420\", \"data_hex_truncated\": true }"), "{l}");
        a.payload = Payload::default();
        assert!(!format_line(&a, 0).contains("truncated"));
    }

    #[test]
    fn download_protocols() {
        let mut a = sample();
        a.proto = Proto::Udp;
        a.downloads = ["tftp", "raw", "inline", "https", "ftp"].iter().map(|t| Download::new(t, vec![])).collect();
        let l = format_line(&a, DATA_HEX_LIMIT);
        for (i, p) in ["udp", "udp", "udp", "tcp", "tcp"].iter().enumerate() {
            assert!(l.contains(&format!("\"protocol_{i}\": \"{p}\"")), "{i} {l}");
        }
    }

    /// The line as the tree of [`super::super::json::Value`] gives it: how the line was built
    /// before it was written field by field; the two must agree to the byte.
    fn tree(attack: &Attack, hex_limit: usize) -> String {
        use crate::pipeline::output::json::{ip_text, Object, Value};
        fn payload(p: &Payload, hex_limit: usize) -> Object {
            let keep = p.data.len().min(hex_limit / 2);
            let mut o = Object::new()
                .field("md5_hash", p.md5.as_str())
                .field("sha512_hash", p.sha512.as_str())
                .field("length", p.len())
                .field("data_hex", text::hex(&p.data[..keep]));
            if keep < p.data.len() {
                o.push("data_hex_truncated", true);
            }
            o
        }
        fn connection(protocol: &str, remote: SocketAddr, local: SocketAddr, p: &Payload, hex_limit: usize) -> Object {
            Object::new()
                .field("protocol", protocol)
                .field("remote_ip", ip_text(remote.ip()))
                .field("remote_port", remote.port())
                .field("local_ip", ip_text(local.ip()))
                .field("local_port", local.port())
                .field("payload", payload(p, hex_limit))
        }
        let start = timestamp(attack.start);
        let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        let proxy = match &attack.proxy {
            Some(p) => connection(attack.proto.name(), p.remote, p.local, &p.payload, hex_limit),
            None => connection("ip", any, any, &Payload::default(), hex_limit),
        };
        let mut downloads = Object::new();
        for (i, dl) in attack.downloads.iter().enumerate() {
            let remote = dl.remote.unwrap_or(any);
            let s = |v: &Option<String>| v.clone().unwrap_or_default();
            downloads.push(format!("protocol_{i}"), download_proto(dl, attack));
            downloads.push(format!("remote_ip_{i}"), ip_text(remote.ip()));
            downloads.push(format!("remote_port_{i}"), remote.port());
            downloads.push(format!("local_ip_{i}"), ip_text(attack.local.ip()));
            downloads.push(format!("local_port_{i}"), attack.local.port());
            downloads.push(format!("type_{i}"), dl.dl_type.as_str());
            downloads.push(format!("username_{i}"), s(&dl.user));
            downloads.push(format!("password_{i}"), s(&dl.pass));
            downloads.push(format!("uri_{i}"), s(&dl.uri));
            downloads.push(format!("filename_{i}"), s(&dl.filename));
            downloads.push(format!("payload_{i}"), payload(&dl.payload, hex_limit));
        }
        let v: Value = Object::new()
            .field("is_virtual", attack.is_virtual)
            .field("@timestamp", start.as_str())
            .field("start_time", start.as_str())
            .field("end_time", timestamp(attack.end))
            .field(
                "attack_connection",
                connection(attack.proto.name(), attack.remote, attack.local, &attack.payload, hex_limit),
            )
            .field("proxy_connection", proxy)
            .field("operation_mode", attack.mode.code())
            .field("download_count", attack.downloads.len())
            .field("download_tries", attack.dl_tries)
            .field("downloads", downloads)
            .into();
        v.to_string(Style::Spaced) + "\n"
    }

    /// Deterministic pseudo-random numbers, and bytes biased towards those a JSON string
    /// must escape.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn bytes(&mut self, max_len: u64) -> Vec<u8> {
            const CAREFUL: &[u8] = b"\"\\/\x00\x1f\x7f\x80\xbf\xc3\xe2\xed\xf0\xff\n\r\t\x08\x0c";
            let len = self.below(max_len);
            let pick = |r: u64| match r & 1 {
                0 => CAREFUL[(r >> 8) as usize % CAREFUL.len()],
                _ => (r >> 16) as u8,
            };
            (0..len).map(|_| pick(self.next())).collect()
        }

        /// `None` or a string of up to 30 bytes.
        fn text(&mut self) -> Option<String> {
            (self.below(2) == 0).then(|| String::from_utf8_lossy(&self.bytes(30)).into_owned())
        }

        fn addr(&mut self) -> SocketAddr {
            let addrs = ["192.0.2.7:4711", "[2001:db8::5]:80", "[::ffff:10.1.2.3]:1", "[::192.0.2.1]:53", "0.0.0.0:0"];
            addrs[self.below(addrs.len() as u64) as usize].parse().unwrap()
        }
    }

    #[test]
    fn written_field_by_field_as_the_tree_writes_it() {
        let mut r = Noise(0x2545_f491_4f6c_dd1d);
        for round in 0..300 {
            let start = UNIX_EPOCH + Duration::from_millis(r.below(1 << 45));
            let mode = [Mode::Normal, Mode::Mirror, Mode::Proxy][round % 3];
            let proto = [Proto::Tcp, Proto::Udp][round % 2];
            let mut a = Attack::new(proto, r.addr(), r.addr(), mode, start);
            a.end = start + Duration::from_millis(r.below(100_000));
            a.payload = Payload::new(r.bytes(300));
            a.dl_tries = r.below(40) as u32;
            a.is_virtual = round % 7 == 0;
            if round % 4 == 1 {
                a.proxy = Some(ProxyConn { local: r.addr(), remote: r.addr(), payload: Payload::new(r.bytes(50)) });
            }
            for _ in 0..r.below(4) {
                let ty = ["ftp", "tftp", "http", "raw", "inline", "x/\"y"][r.below(6) as usize];
                let mut d = Download::new(ty, r.bytes(80));
                d.remote = (r.below(2) == 0).then(|| r.addr());
                (d.user, d.pass, d.uri, d.filename) = (r.text(), r.text(), r.text(), r.text());
                a.downloads.push(d);
            }
            for limit in [DATA_HEX_LIMIT, 0, 1, 2, 9, 64] {
                assert_eq!(format_line(&a, limit), tree(&a, limit), "round {round}, limit {limit}");
            }
        }
    }
}
