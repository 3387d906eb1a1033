//! The event stream (`plugin-logEvents`, new in this version; no C counterpart): one compact
//! JSON object per line and event, in the convention most honeypot pipelines already ingest
//! (Cowrie's: `eventid`, `timestamp`, `session`, `src_ip`/`src_port`, `dst_ip`/`dst_port`),
//! so a sensor fleet can read honeytrap with the parsers it has.
//!
//! Every event carries, in this order: `eventid`, `timestamp` (RFC 3339, UTC, microseconds:
//! `2026-11-26T01:02:03.123456Z`), `session` (12 lowercase hex digits shared by all events of
//! one connection, see [`SessionId`]), `sensor` (the configured sensor name), `protocol`
//! (`tcp`/`udp`), `src_ip`, `src_port` (the attacker), `dst_ip`, `dst_port` (our side).
//! Addresses are written as `inet_ntop` does, an IPv4-mapped IPv6 address as the IPv4
//! address. Then, per event:
//!
//! | `eventid` | fields |
//! |---|---|
//! | `honeytrap.session.connect` | – |
//! | `honeytrap.session.input` | `md5`, `sha256`, `length` (bytes of the attack string), `data_hex` (lowercase hex of at most `data_limit` first bytes), `truncated` (bool: `data_hex` is shorter than the data) |
//! | `honeytrap.session.file_download.started` | `url` |
//! | `honeytrap.session.file_download` | `url`, `md5`, `sha256`, `size`, `outfile` (stored file name, `null` when not stored), `duplicate` (bool: the sample was stored before); `filetype` (magicPE), `ssdeep` (SpamSum) and `clamav` (ClamAV: `clean` or the signature name) when those plugins run |
//! | `honeytrap.session.file_download.failed` | `url`, `reason` |
//! | `honeytrap.session.indicator` | `kind` (`jndi`), `value` (e.g. the `ldap://` endpoint of a JNDI lookup; never contacted) |
//! | `honeytrap.session.analysis` | what the analyses found in the attack string, each field only when found: `filetype` (magicPE), `ssdeep` and `ssdeep_score` (SpamSum: the fuzzy hash and its best match score 0–100 against `spamsum_sigfile`), `md5_known` (SpamSum: `true` when the MD5 was in `md5sum_sigfile`), `getpc_offset` (cpuEmu: where shellcode most likely starts) |
//! | `honeytrap.session.shellcode` | `signature` (`namespace::name`), `kind` (`connectbackshell`, `bindshell`, `connectbackfiletransfer`, `bindfiletransfer`, `execute`, `url`, `download`, or a decoder such as `xor`), `decoders` (array: the decoders undone first, `namespace::name (key 0x…)`); `host`, `port`, `key` (hex), `url`, `command` when found (cspm) |
//! | `honeytrap.session.closed` | `duration` (seconds, a number with up to 6 decimals), `bytes_in` (from the attacker), `bytes_out` (to the attacker) |
//!
//! The body is hex rather than base64 so that it can be compared with `attackers.json`'s
//! `data_hex` directly. Strings are escaped as standard JSON (`/` is not escaped); bytes that
//! are not UTF-8 are written as `\u00xx` ([`super::json`]).

use super::append::{logfile, AppendLog};
use super::json::{ip_text, Object, Style, Value};
use super::OutputError;
use crate::attack::{Findings, Payload, SessionId, Shellcode};
use crate::config::{Plugin, PluginConfig, Proto};
use crate::sys::time;
use crate::text::{self, hex};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Default most bytes of an attack string written in an input event.
pub const DEFAULT_DATA_LIMIT: usize = 64 * 1024;
/// Largest `data_limit` accepted (keeps one line under ~32 MiB).
pub const MAX_DATA_LIMIT: usize = 16 * 1024 * 1024;

pub const CONNECT: &str = "honeytrap.session.connect";
pub const INPUT: &str = "honeytrap.session.input";
pub const DOWNLOAD_STARTED: &str = "honeytrap.session.file_download.started";
pub const DOWNLOAD: &str = "honeytrap.session.file_download";
pub const DOWNLOAD_FAILED: &str = "honeytrap.session.file_download.failed";
pub const INDICATOR: &str = "honeytrap.session.indicator";
pub const SHELLCODE: &str = "honeytrap.session.shellcode";
pub const ANALYSIS: &str = "honeytrap.session.analysis";
pub const CLOSED: &str = "honeytrap.session.closed";

/// What all events of one connection share. Create one per connection at accept time and
/// pass it to the constructors of [`Event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub sensor: String,
    pub protocol: Proto,
    /// The attacker.
    pub src: SocketAddr,
    /// Our side of the connection.
    pub dst: SocketAddr,
}

impl Session {
    /// A session with a fresh id ([`SessionId::new`]).
    pub fn new(sensor: &str, protocol: Proto, src: SocketAddr, dst: SocketAddr) -> Session {
        Session { id: SessionId::new(), sensor: sensor.to_string(), protocol, src, dst }
    }
}

/// The event-specific part of an [`Event`].
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Connect,
    Input {
        md5: String,
        sha256: String,
        /// Length of the whole attack string.
        length: usize,
        /// Its first bytes, at most the data limit.
        body: Vec<u8>,
        truncated: bool,
    },
    DownloadStarted {
        url: String,
    },
    Download {
        url: String,
        md5: String,
        sha256: String,
        size: usize,
        outfile: Option<String>,
        duplicate: bool,
        /// magicPE's file type, SpamSum's fuzzy hash (written only when found).
        filetype: Option<String>,
        ssdeep: Option<String>,
        /// ClamAV's verdict: `clean` or the signature name.
        clamav: Option<String>,
    },
    /// An indicator the attack names (never contacted): its kind and value.
    Indicator {
        kind: &'static str,
        value: String,
    },
    DownloadFailed {
        url: String,
        reason: String,
    },
    /// Shellcode a cspm signature recognised.
    Shellcode(Shellcode),
    /// The analyses' findings on the attack string (not the shellcode, not the indicators).
    Analysis(Findings),
    Closed {
        duration: Duration,
        bytes_in: u64,
        bytes_out: u64,
    },
}

/// One event of the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub eventid: &'static str,
    pub timestamp: SystemTime,
    pub session: SessionId,
    pub protocol: Proto,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub sensor: String,
    pub kind: Kind,
}

impl Event {
    fn new(s: &Session, at: SystemTime, eventid: &'static str, kind: Kind) -> Event {
        Event {
            eventid,
            timestamp: at,
            session: s.id.clone(),
            protocol: s.protocol,
            src: s.src,
            dst: s.dst,
            sensor: s.sensor.clone(),
            kind,
        }
    }

    /// `honeytrap.session.connect`: the connection was accepted at `at`.
    pub fn connect(s: &Session, at: SystemTime) -> Event {
        Event::new(s, at, CONNECT, Kind::Connect)
    }

    /// `honeytrap.session.input`: the attack string, its digests and at most `data_limit` of
    /// its first bytes.
    pub fn input(s: &Session, at: SystemTime, payload: &Payload, data_limit: usize) -> Event {
        let keep = payload.len().min(data_limit);
        Event::new(
            s,
            at,
            INPUT,
            Kind::Input {
                md5: payload.md5.clone(),
                sha256: payload.sha256().to_string(),
                length: payload.len(),
                body: payload.data[..keep].to_vec(),
                truncated: keep < payload.len(),
            },
        )
    }

    /// `honeytrap.session.file_download.started`: a download of `url` begins.
    pub fn download_started(s: &Session, at: SystemTime, url: &str) -> Event {
        Event::new(s, at, DOWNLOAD_STARTED, Kind::DownloadStarted { url: url.to_string() })
    }

    /// `honeytrap.session.file_download`: `url` gave `file`; `outfile` is the name it was
    /// stored under (None: not stored), `duplicate` whether it was stored before.
    pub fn download(
        s: &Session,
        at: SystemTime,
        url: &str,
        file: &Payload,
        outfile: Option<&str>,
        duplicate: bool,
        findings: &Findings,
    ) -> Event {
        Event::new(
            s,
            at,
            DOWNLOAD,
            Kind::Download {
                url: url.to_string(),
                md5: file.md5.clone(),
                sha256: file.sha256().to_string(),
                size: file.len(),
                outfile: outfile.map(str::to_string),
                duplicate,
                filetype: findings.filetype.clone(),
                ssdeep: findings.ssdeep.clone(),
                clamav: findings.clamav.clone(),
            },
        )
    }

    /// `honeytrap.session.indicator`: the attack names `value` (of `kind`, e.g. `jndi`),
    /// which nothing contacts.
    pub fn indicator(s: &Session, at: SystemTime, kind: &'static str, value: &str) -> Event {
        Event::new(s, at, INDICATOR, Kind::Indicator { kind, value: value.to_string() })
    }

    /// `honeytrap.session.shellcode`: what cspm recognised in the attack string.
    pub fn shellcode(s: &Session, at: SystemTime, found: &Shellcode) -> Event {
        Event::new(s, at, SHELLCODE, Kind::Shellcode(found.clone()))
    }

    /// `honeytrap.session.analysis`: what the analyses found in the attack string; `None`
    /// when they found none of the fields the event has.
    pub fn analysis(s: &Session, at: SystemTime, found: &Findings) -> Option<Event> {
        let any = found.filetype.is_some()
            || found.ssdeep.is_some()
            || found.ssdeep_score.is_some()
            || found.md5_known
            || found.getpc_offset.is_some();
        any.then(|| {
            let f = Findings { indicators: Vec::new(), shellcode: None, clamav: None, ..found.clone() };
            Event::new(s, at, ANALYSIS, Kind::Analysis(f))
        })
    }

    /// `honeytrap.session.file_download.failed`: the download of `url` failed for `reason`.
    pub fn download_failed(s: &Session, at: SystemTime, url: &str, reason: &str) -> Event {
        Event::new(s, at, DOWNLOAD_FAILED, Kind::DownloadFailed { url: url.to_string(), reason: reason.to_string() })
    }

    /// `honeytrap.session.closed`: the connection ended after `duration` with `bytes_in`
    /// bytes received from the attacker and `bytes_out` sent to it.
    pub fn closed(s: &Session, at: SystemTime, duration: Duration, bytes_in: u64, bytes_out: u64) -> Event {
        Event::new(s, at, CLOSED, Kind::Closed { duration, bytes_in, bytes_out })
    }

    /// The event as an object (see the module documentation for the fields).
    pub fn to_value(&self) -> Value {
        let mut o = Object::new()
            .field("eventid", self.eventid)
            .field("timestamp", rfc3339_micros(self.timestamp))
            .field("session", self.session.as_str())
            .field("sensor", self.sensor.as_str())
            .field("protocol", self.protocol.name())
            .field("src_ip", ip_text(self.src.ip()))
            .field("src_port", self.src.port())
            .field("dst_ip", ip_text(self.dst.ip()))
            .field("dst_port", self.dst.port());
        match &self.kind {
            Kind::Connect => {}
            Kind::Input { md5, sha256, length, body, truncated } => {
                o.push("md5", md5.as_str());
                o.push("sha256", sha256.as_str());
                o.push("length", *length);
                o.push("data_hex", hex(body));
                o.push("truncated", *truncated);
            }
            Kind::DownloadStarted { url } => o.push("url", url.as_str()),
            Kind::Indicator { kind, value } => {
                o.push("kind", *kind);
                o.push("value", value.as_str());
            }
            Kind::Download { url, md5, sha256, size, outfile, duplicate, filetype, ssdeep, clamav } => {
                o.push("url", url.as_str());
                o.push("md5", md5.as_str());
                o.push("sha256", sha256.as_str());
                o.push("size", *size);
                o.push("outfile", outfile.as_deref().map_or(Value::Null, Value::from));
                o.push("duplicate", *duplicate);
                if let Some(t) = filetype {
                    o.push("filetype", t.as_str());
                }
                if let Some(h) = ssdeep {
                    o.push("ssdeep", h.as_str());
                }
                if let Some(v) = clamav {
                    o.push("clamav", v.as_str());
                }
            }
            Kind::Analysis(f) => {
                if let Some(t) = &f.filetype {
                    o.push("filetype", t.as_str());
                }
                if let Some(h) = &f.ssdeep {
                    o.push("ssdeep", h.as_str());
                }
                if let Some(n) = f.ssdeep_score {
                    o.push("ssdeep_score", n);
                }
                if f.md5_known {
                    o.push("md5_known", true);
                }
                if let Some(n) = f.getpc_offset {
                    o.push("getpc_offset", n);
                }
            }
            Kind::Shellcode(sc) => {
                o.push("signature", sc.signature.as_str());
                o.push("kind", sc.kind.as_str());
                o.push("decoders", Value::Array(sc.decoders.iter().map(|d| Value::from(d.as_str())).collect()));
                if let Some(h) = sc.host {
                    o.push("host", ip_text(h));
                }
                if let Some(p) = sc.port {
                    o.push("port", p);
                }
                if let Some(k) = &sc.key {
                    o.push("key", k.as_str());
                }
                if let Some(u) = &sc.url {
                    o.push("url", u.as_str());
                }
                if let Some(c) = &sc.command {
                    o.push("command", c.as_str());
                }
            }
            Kind::DownloadFailed { url, reason } => {
                o.push("url", url.as_str());
                o.push("reason", reason.as_str());
            }
            Kind::Closed { duration, bytes_in, bytes_out } => {
                // Whole microseconds, so the number has at most 6 decimals.
                let micros = duration.as_micros().min(u128::from(u64::MAX)) as u64;
                o.push("duration", Value::Float(micros as f64 / 1e6));
                o.push("bytes_in", *bytes_in);
                o.push("bytes_out", *bytes_out);
            }
        }
        o.into()
    }

    /// The event as one line of compact JSON, without the newline.
    pub fn to_json(&self) -> String {
        self.to_value().to_string(Style::Compact)
    }
}

/// RFC 3339 in UTC with microseconds: `2026-11-26T01:02:03.123456Z` (times before 1970 are
/// written as the epoch).
pub fn rfc3339_micros(t: SystemTime) -> String {
    let (tm, micros) = time::utc_micros(t);
    let mut s = String::with_capacity(27);
    text::push_datetime(&mut s, &tm);
    s.push('.');
    text::push_6(&mut s, micros);
    s.push('Z');
    s
}

/// The event stream output, open.
pub struct EventLog {
    out: AppendLog,
    data_limit: usize,
}

impl EventLog {
    /// Opens `logfile` of a `plugin-logEvents` entry and reads `data_limit` (bytes, decimal,
    /// at most [`MAX_DATA_LIMIT`], default [`DEFAULT_DATA_LIMIT`]).
    pub fn open(cfg: &PluginConfig) -> Result<EventLog, OutputError> {
        let path = logfile(cfg, Plugin::LogEvents)?;
        let data_limit = match cfg.option("data_limit") {
            None => DEFAULT_DATA_LIMIT,
            Some(v) => parse_limit(v).ok_or_else(|| OutputError::BadOption {
                plugin: Plugin::LogEvents,
                key: "data_limit",
                why: format!("invalid data_limit \"{}\": a number of bytes up to {} expected", v, MAX_DATA_LIMIT),
            })?,
        };
        match AppendLog::open("logEvents", &path) {
            Ok(out) => Ok(EventLog { out, data_limit }),
            Err(err) => Err(OutputError::Open { plugin: Plugin::LogEvents, path, err }),
        }
    }

    /// Most bytes of an attack string to put in an input event ([`Event::input`]).
    pub fn data_limit(&self) -> usize {
        self.data_limit
    }

    /// Appends `ev` as one line (one `write(2)`). Errors are logged (throttled), never
    /// returned.
    pub fn write(&self, ev: &Event) {
        let mut line = ev.to_json();
        line.push('\n');
        let _ = self.out.write_line(line.as_bytes());
    }

    /// Reopens the file by name (SIGHUP); the old one stays in use on failure.
    pub fn reopen(&self) -> Result<(), OutputError> {
        self.out.reopen().map_err(|err| OutputError::Reopen {
            plugin: Plugin::LogEvents,
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

fn parse_limit(v: &str) -> Option<usize> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<usize>().ok().filter(|&n| n <= MAX_DATA_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;
    use std::time::UNIX_EPOCH;

    fn session() -> Session {
        Session {
            id: SessionId::from_hex("0123456789ab"),
            sensor: "sensor-1".into(),
            protocol: Proto::Tcp,
            src: "198.51.100.7:40000".parse().unwrap(),
            dst: "192.0.2.1:445".parse().unwrap(),
        }
    }

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_795_654_923, 123_456_789)
    }

    const HEAD: &str = r#"{"eventid":"EV","timestamp":"2026-11-26T01:02:03.123456Z","session":"0123456789ab","sensor":"sensor-1","protocol":"tcp","src_ip":"198.51.100.7","src_port":40000,"dst_ip":"192.0.2.1","dst_port":445"#;

    fn head(ev: &str) -> String {
        HEAD.replace("EV", ev)
    }

    #[test]
    fn timestamp_format() {
        assert_eq!(rfc3339_micros(at()), "2026-11-26T01:02:03.123456Z");
        assert_eq!(rfc3339_micros(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_micros(UNIX_EPOCH - Duration::from_secs(5)), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn every_event_exactly() {
        let s = session();
        let p = Payload::new(b"GET /x HTTP/1.0\r\n\r\n".to_vec());
        let cases = [
            (Event::connect(&s, at()), format!("{}}}", head(CONNECT))),
            (
                Event::input(&s, at(), &p, 4),
                format!(
                    "{},\"md5\":\"{}\",\"sha256\":\"{}\",\"length\":19,\"data_hex\":\"47455420\",\"truncated\":true}}",
                    head(INPUT),
                    p.md5,
                    p.sha256()
                ),
            ),
            (
                Event::input(&s, at(), &p, 19),
                format!(
                    "{},\"md5\":\"{}\",\"sha256\":\"{}\",\"length\":19,\"data_hex\":\"474554202f7820485454502f312e300d0a0d0a\",\"truncated\":false}}",
                    head(INPUT),
                    p.md5,
                    p.sha256()
                ),
            ),
            (
                Event::download_started(&s, at(), "http://203.0.113.9/x.sh"),
                format!("{},\"url\":\"http://203.0.113.9/x.sh\"}}", head(DOWNLOAD_STARTED)),
            ),
            (
                Event::download(&s, at(), "tftp://203.0.113.9/a\"b", &p, Some("37f5-a\"b"), true, &Findings::default()),
                format!(
                    "{},\"url\":\"tftp://203.0.113.9/a\\\"b\",\"md5\":\"{}\",\"sha256\":\"{}\",\"size\":19,\"outfile\":\"37f5-a\\\"b\",\"duplicate\":true}}",
                    head(DOWNLOAD),
                    p.md5,
                    p.sha256()
                ),
            ),
            (
                Event::download(&s, at(), "ftp://u:p@203.0.113.9:21/f", &p, None, false, &Findings::default()),
                format!(
                    "{},\"url\":\"ftp://u:p@203.0.113.9:21/f\",\"md5\":\"{}\",\"sha256\":\"{}\",\"size\":19,\"outfile\":null,\"duplicate\":false}}",
                    head(DOWNLOAD),
                    p.md5,
                    p.sha256()
                ),
            ),
            (
                Event::download_failed(&s, at(), "ftp://x/y", "Connection refused"),
                format!("{},\"url\":\"ftp://x/y\",\"reason\":\"Connection refused\"}}", head(DOWNLOAD_FAILED)),
            ),
            (
                Event::closed(&s, at(), Duration::new(12, 345_678_999), 19, 25),
                format!("{},\"duration\":12.345678,\"bytes_in\":19,\"bytes_out\":25}}", head(CLOSED)),
            ),
            (Event::closed(&s, at(), Duration::ZERO, 0, 0), format!("{},\"duration\":0,\"bytes_in\":0,\"bytes_out\":0}}", head(CLOSED))),
        ];
        for (ev, want) in cases {
            let got = ev.to_json();
            assert_eq!(got, want);
            assert!(parse(&got).is_ok(), "{got}");
        }
    }

    #[test]
    fn ipv6_and_udp() {
        let s = Session::new("s", Proto::Udp, "[fd77::2]:5353".parse().unwrap(), "[fd77::1]:53".parse().unwrap());
        let j = Event::connect(&s, at()).to_json();
        assert!(
            j.contains(r#""protocol":"udp","src_ip":"fd77::2","src_port":5353,"dst_ip":"fd77::1","dst_port":53}"#),
            "{j}"
        );
        assert_eq!(s.id.as_str().len(), 12);
    }

    #[test]
    fn data_limit_values() {
        assert_eq!(parse_limit("0"), Some(0));
        assert_eq!(parse_limit("4096"), Some(4096));
        assert_eq!(parse_limit(&MAX_DATA_LIMIT.to_string()), Some(MAX_DATA_LIMIT));
        for bad in ["", "-1", "+5", "1k", " 5", "99999999999999999999999", &(MAX_DATA_LIMIT + 1).to_string()] {
            assert_eq!(parse_limit(bad), None, "{bad}");
        }
    }
}
