//! The syslog output (`plugin-syslog`, new in this version; the C honeytrap only had
//! `syslog(3)` for its own start-up errors): the daemon log and/or the event stream as
//! RFC 5424 messages to the local syslog socket or to a remote collector over UDP or TCP
//! (RFC 6587 octet counting).
//!
//! Capture never waits for syslog: [`Syslog::send`] formats the message and puts it on a
//! bounded queue ([`SendQueue`]); one sender thread drains it, (re)connecting with back-off
//! (1 s doubling to 60 s). A full queue drops the message and counts it; an unreachable
//! collector or dropped messages produce at most one log line per minute each
//! ([`crate::log::Throttle`]). The sender thread's own log lines are never mirrored back into
//! syslog ([`Syslog::log_mirror`]), so a failing collector cannot feed itself.
//!
//! Decisions:
//! * Time stamps are UTC with microseconds (`2024-05-06T07:08:09.123456Z`).
//! * MSG is UTF-8 without a BOM (RFC 5424 allows MSG-ANY; a BOM would end up inside every
//!   JSON line a collector writes). Trailing newlines are removed.
//! * A whole message is at most [`MAX_MESSAGE`] bytes (rsyslog's default maximum); a longer
//!   MSG is cut at a character boundary.
//! * STRUCTURED-DATA is always NILVALUE (`-`); PROCID is the daemon's pid.
//! * The local socket gets the same RFC 5424 text (rsyslog's imuxsock parses it).
//!
//! The bounded queue, the back-off and the sender loop ([`SendQueue`], [`Transport`],
//! [`spawn_sender`]) live in [`super::sender`], shared with the hpfeeds and submitPostgres
//! outputs; syslog runs them with [`Policy::STREAM`].

use super::sender::{
    parse_queue_size, peer_closed, resolve, spawn_sender, tcp_connect, LinkError, Policy, SendError, SendQueue, Sender,
    Transport, IO_TIMEOUT, ON_SYSLOG_SENDER, QUEUE_BYTES,
};
use super::OutputError;
use crate::config::{Plugin, PluginConfig};
use crate::log::Level;
use crate::sys::strerror;
use std::fmt;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// Longest message sent, header included (rsyslog's default `maxMessageSize`).
pub const MAX_MESSAGE: usize = 8192;
/// The local syslog socket.
pub const LOCAL_SOCKET: &str = "/dev/log";
/// Port of `udp://` and `tcp://` targets without one.
pub const DEFAULT_PORT: u16 = 514;

/// Severities (RFC 5424 table 2).
pub const SEV_ERR: u8 = 3;
pub const SEV_WARNING: u8 = 4;
pub const SEV_NOTICE: u8 = 5;
pub const SEV_INFO: u8 = 6;
pub const SEV_DEBUG: u8 = 7;

/// The syslog severity of a daemon log level.
pub fn severity_of(level: Level) -> u8 {
    match level {
        Level::Off | Level::Err => SEV_ERR,
        Level::Warn => SEV_WARNING,
        Level::Notice => SEV_NOTICE,
        Level::Info => SEV_INFO,
        Level::Noisy | Level::Debug => SEV_DEBUG,
    }
}

/// Facility names and codes (RFC 5424 table 1, names as in `syslog.h`).
const FACILITIES: [(&str, u8); 20] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

pub fn parse_facility(name: &str) -> Option<u8> {
    FACILITIES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|&(_, c)| c)
}

/// Where messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A unix datagram socket (`local` = [`LOCAL_SOCKET`], or `unix:/path`).
    Unix(PathBuf),
    /// `udp://host:port`; the host is resolved at every (re)connect.
    Udp(String, u16),
    /// `tcp://host:port`, octet-counted framing.
    Tcp(String, u16),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hp = |h: &str, p: &u16| if h.contains(':') { format!("[{h}]:{p}") } else { format!("{h}:{p}") };
        match self {
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
            Target::Udp(h, p) => write!(f, "udp://{}", hp(h, p)),
            Target::Tcp(h, p) => write!(f, "tcp://{}", hp(h, p)),
        }
    }
}

/// Why a `host:port` or a syslog target cannot be used (the value is quoted as given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    MissingBracket(String),
    BadIpv6(String),
    NoColonAfterBracket(String),
    Unbracketed(String),
    BadHost(String),
    BadPort(String),
    RelativeSocket(String),
    Unknown(String),
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::MissingBracket(s) => write!(f, "missing ']' in {s:?}"),
            TargetError::BadIpv6(h) => write!(f, "invalid IPv6 address {h:?}"),
            TargetError::NoColonAfterBracket(s) => write!(f, "expected ':' after ']' in {s:?}"),
            TargetError::Unbracketed(s) => write!(f, "IPv6 address without brackets in {s:?}"),
            TargetError::BadHost(s) => write!(f, "invalid host in {s:?}"),
            TargetError::BadPort(s) => write!(f, "invalid port in {s:?}"),
            TargetError::RelativeSocket(p) => write!(f, "unix socket path must be absolute: {p:?}"),
            TargetError::Unknown(s) => {
                write!(f, "unknown target {s:?} (local, unix:/path, udp://host:port or tcp://host:port)")
            }
        }
    }
}

impl std::error::Error for TargetError {}

/// Splits `host:port`, `[v6addr]:port`, `host` or `[v6addr]` (port defaulting to `default`).
pub fn parse_host_port(s: &str, default: u16) -> Result<(String, u16), TargetError> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| TargetError::MissingBracket(s.to_string()))?;
        h.parse::<std::net::Ipv6Addr>().map_err(|_| TargetError::BadIpv6(h.to_string()))?;
        match after {
            "" => (h, None),
            _ => (h, Some(after.strip_prefix(':').ok_or_else(|| TargetError::NoColonAfterBracket(s.to_string()))?)),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => return Err(TargetError::Unbracketed(s.to_string())),
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
        return Err(TargetError::BadHost(s.to_string()));
    }
    let port = match port {
        None => default,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => n,
            _ => return Err(TargetError::BadPort(s.to_string())),
        },
    };
    Ok((host.to_string(), port))
}

pub fn parse_target(s: &str) -> Result<Target, TargetError> {
    if s == "local" {
        return Ok(Target::Unix(PathBuf::from(LOCAL_SOCKET)));
    }
    if let Some(p) = s.strip_prefix("unix:") {
        if !p.starts_with('/') {
            return Err(TargetError::RelativeSocket(p.to_string()));
        }
        return Ok(Target::Unix(PathBuf::from(p)));
    }
    if let Some(hp) = s.strip_prefix("udp://") {
        let (h, p) = parse_host_port(hp, DEFAULT_PORT)?;
        return Ok(Target::Udp(h, p));
    }
    if let Some(hp) = s.strip_prefix("tcp://") {
        let (h, p) = parse_host_port(hp, DEFAULT_PORT)?;
        return Ok(Target::Tcp(h, p));
    }
    Err(TargetError::Unknown(s.to_string()))
}

/// What is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    Log,
    Events,
    Both,
}

/// An RFC 5424 header field: printable US-ASCII only (others become `_`), at most `max`
/// bytes, NILVALUE when empty.
pub fn header_field(s: &str, max: usize) -> String {
    let f: String = s.chars().take(max).map(|c| if ('!'..='~').contains(&c) { c } else { '_' }).collect();
    if f.is_empty() {
        "-".to_string()
    } else {
        f
    }
}

/// RFC 3339 UTC time stamp with microseconds (the event stream's format).
pub fn timestamp(t: SystemTime) -> String {
    super::events::rfc3339_micros(t)
}

/// One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`, at most
/// [`MAX_MESSAGE`] bytes. `hostname` and `app_name` must already be header fields.
pub fn format_message(
    pri: u8,
    t: SystemTime,
    hostname: &str,
    app_name: &str,
    procid: u32,
    msgid: &str,
    msg: &str,
) -> Vec<u8> {
    let mut out =
        format!("<{}>1 {} {} {} {} {} - ", pri, timestamp(t), hostname, app_name, procid, header_field(msgid, 32));
    let msg = msg.trim_end_matches(['\n', '\r']);
    let room = MAX_MESSAGE.saturating_sub(out.len());
    let mut cut = msg.len().min(room);
    while !msg.is_char_boundary(cut) {
        cut -= 1;
    }
    out.push_str(&msg[..cut]);
    out.into_bytes()
}

/// RFC 6587 octet-counting frame: `LEN SP MSG`.
pub fn frame_octet_counted(msg: &[u8]) -> Vec<u8> {
    let mut f = format!("{} ", msg.len()).into_bytes();
    f.extend_from_slice(msg);
    f
}

// ---------------------------------------------------------------------------------------
// The syslog transport.

enum Conn {
    Unix(UnixDatagram),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

struct SyslogTransport {
    target: Target,
    conn: Option<Conn>,
}

impl Transport for SyslogTransport {
    type Item = Vec<u8>;

    fn describe(&self) -> String {
        format!("syslog {}", self.target)
    }

    fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    fn connect(&mut self) -> Result<(), LinkError> {
        let conn = match &self.target {
            Target::Unix(p) => {
                let s = UnixDatagram::unbound().map_err(LinkError::io)?;
                s.connect(p).map_err(|err| LinkError::Io { at: Some(p.display().to_string()), err })?;
                s.set_write_timeout(Some(IO_TIMEOUT)).map_err(LinkError::io)?;
                Conn::Unix(s)
            }
            Target::Udp(h, port) => {
                let a = resolve(h, *port)?[0];
                let local: SocketAddr = if a.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
                let s = UdpSocket::bind(local).map_err(LinkError::io)?;
                s.connect(a).map_err(|err| LinkError::Io { at: Some(a.to_string()), err })?;
                Conn::Udp(s)
            }
            Target::Tcp(h, port) => Conn::Tcp(tcp_connect(h, *port)?),
        };
        self.conn = Some(conn);
        Ok(())
    }

    fn send(&mut self, msg: &Vec<u8>) -> Result<(), SendError> {
        let r = match self.conn.as_mut() {
            None => return Err(SendError::Broken("not connected".into())),
            Some(Conn::Unix(s)) => s.send(msg).map(drop),
            Some(Conn::Udp(s)) => s.send(msg).map(drop),
            Some(Conn::Tcp(s)) => {
                if peer_closed(s) {
                    return Err(SendError::Broken("connection closed by the collector".into()));
                }
                s.write_all(&frame_octet_counted(msg))
            }
        };
        r.map_err(|e| SendError::Broken(strerror(&e)))
    }

    fn disconnect(&mut self) {
        if let Some(Conn::Tcp(s)) = &self.conn {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        self.conn = None;
    }
}

// ---------------------------------------------------------------------------------------
// The output.

/// The configured syslog output with its sender thread.
pub struct Syslog {
    queue: Arc<SendQueue<Vec<u8>>>,
    sender: Sender,
    what: What,
    target: Target,
    facility: u8,
    hostname: String,
    app_name: String,
}

impl Syslog {
    /// Reads a `plugin-syslog` entry and starts the sender thread. `hostname` is the HOSTNAME
    /// field (the sensor's name). Nothing is connected yet: an unreachable collector is not
    /// an error here, it is retried.
    pub fn open(cfg: &PluginConfig, hostname: &str) -> Result<Syslog, OutputError> {
        if cfg.plugin != Plugin::Syslog {
            return Err(OutputError::WrongPlugin { got: cfg.plugin, expect: Plugin::Syslog });
        }
        let bad = |key, why| OutputError::BadOption { plugin: Plugin::Syslog, key, why };
        let target =
            parse_target(cfg.option("target").unwrap_or("local")).map_err(|e| bad("target", format!("target: {e}")))?;
        let facility = match cfg.option("facility") {
            None => 3,
            Some(f) => parse_facility(f).ok_or_else(|| bad("facility", format!("unknown facility {f:?}")))?,
        };
        let what = match cfg.option("what").unwrap_or("events") {
            "log" => What::Log,
            "events" => What::Events,
            "both" => What::Both,
            w => return Err(bad("what", format!("what must be log, events or both, not {w:?}"))),
        };
        let app_name = cfg.option("app_name").unwrap_or("honeytrap");
        if app_name.is_empty() || app_name.len() > 48 || !app_name.chars().all(|c| ('!'..='~').contains(&c)) {
            return Err(bad(
                "app_name",
                format!("app_name must be 1 to 48 printable ASCII characters, not {app_name:?}"),
            ));
        }
        let queue_size = parse_queue_size(Plugin::Syslog, cfg.option("queue_size"))?;
        let queue = Arc::new(SendQueue::counted(queue_size, QUEUE_BYTES, crate::stats::Output::Syslog));
        let transport = SyslogTransport { target: target.clone(), conn: None };
        let sender = spawn_sender(Plugin::Syslog, queue.clone(), transport, Policy::STREAM, true)?;
        Ok(Syslog {
            queue,
            sender,
            what,
            target,
            facility,
            hostname: header_field(hostname, 255),
            app_name: app_name.to_string(),
        })
    }

    /// Queues one message (never blocks; dropped and counted when the queue is full).
    /// `severity` 0–7 (the `SEV_*` constants), `msgid` e.g. the event id (`-` when empty).
    pub fn send(&self, severity: u8, msgid: &str, msg: &str) {
        let m = self.format(severity, msgid, msg);
        let n = m.len();
        self.queue.push(m, n);
    }

    fn format(&self, severity: u8, msgid: &str, msg: &str) -> Vec<u8> {
        let pri = self.facility * 8 + severity.min(7);
        format_message(pri, SystemTime::now(), &self.hostname, &self.app_name, std::process::id(), msgid, msg)
    }

    /// Whether the daemon log goes to syslog (`what` = `log` or `both`).
    pub fn wants_log(&self) -> bool {
        matches!(self.what, What::Log | What::Both)
    }

    /// Whether events go to syslog (`what` = `events` or `both`).
    pub fn wants_events(&self) -> bool {
        matches!(self.what, What::Events | What::Both)
    }

    /// (messages sent, messages dropped) so far.
    pub fn stats(&self) -> (u64, u64) {
        self.queue.stats()
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A function for [`crate::log::set_mirror`] that sends each daemon log line (MSGID
    /// `log`, severity from its level). It holds only the queue, so dropping the `Syslog`
    /// still stops the thread; lines logged by the syslog sender thread itself are skipped.
    pub fn log_mirror(&self) -> crate::log::Mirror {
        let queue = self.queue.clone();
        let (facility, hostname, app_name) = (self.facility, self.hostname.clone(), self.app_name.clone());
        Arc::new(move |level: Level, line: &str| {
            if ON_SYSLOG_SENDER.with(|c| c.get()) {
                return;
            }
            let pri = facility * 8 + severity_of(level);
            let m = format_message(pri, SystemTime::now(), &hostname, &app_name, std::process::id(), "log", line);
            let n = m.len();
            queue.push(m, n);
        })
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        self.sender.stop(&self.queue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Span;
    use std::time::{Duration, Instant, UNIX_EPOCH};

    #[test]
    fn targets() {
        let ok = [
            ("local", Target::Unix("/dev/log".into())),
            ("unix:/run/x.sock", Target::Unix("/run/x.sock".into())),
            ("udp://10.0.0.1:5514", Target::Udp("10.0.0.1".into(), 5514)),
            ("udp://logs.example", Target::Udp("logs.example".into(), 514)),
            ("tcp://[fd77::2]:601", Target::Tcp("fd77::2".into(), 601)),
            ("tcp://[::1]", Target::Tcp("::1".into(), 514)),
        ];
        for (s, t) in ok {
            assert_eq!(parse_target(s), Ok(t), "{s}");
        }
        assert_eq!(parse_target("tcp://[fd77::2]:601").unwrap().to_string(), "tcp://[fd77::2]:601");
        assert_eq!(parse_target("udp://logs.example").unwrap().to_string(), "udp://logs.example:514");
        assert_eq!(parse_target("local").unwrap().to_string(), "unix:/dev/log");
        for bad in [
            "",
            "syslog",
            "unix:relative",
            "udp://",
            "udp://h:0",
            "udp://h:70000",
            "udp://h:x",
            "tcp://fd77::2:514",
            "tcp://[fd77::2",
            "tcp://[nonsense]:1",
            "tcp://[::1]514",
            "tcp://a b:1",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn target_error_texts() {
        let text = |s| parse_target(s).unwrap_err().to_string();
        assert_eq!(text("unix:rel"), "unix socket path must be absolute: \"rel\"");
        assert_eq!(text("tcp://[fd77::2"), "missing ']' in \"[fd77::2\"");
        assert_eq!(text("tcp://[nonsense]:1"), "invalid IPv6 address \"nonsense\"");
        assert_eq!(text("tcp://[::1]514"), "expected ':' after ']' in \"[::1]514\"");
        assert_eq!(text("tcp://fd77::2:514"), "IPv6 address without brackets in \"fd77::2:514\"");
        assert_eq!(text("tcp://a b:1"), "invalid host in \"a b:1\"");
        assert_eq!(text("udp://h:0"), "invalid port in \"h:0\"");
        assert_eq!(text("syslog"), "unknown target \"syslog\" (local, unix:/path, udp://host:port or tcp://host:port)");
        let e =
            LinkError::Io { at: Some("/run/none.sock".into()), err: std::io::Error::from_raw_os_error(libc::ENOENT) };
        assert_eq!(e.to_string(), "/run/none.sock: No such file or directory");
        let e = LinkError::Connect {
            addr: "127.0.0.1:9".parse().unwrap(),
            err: std::io::Error::from_raw_os_error(libc::ECONNREFUSED),
        };
        assert_eq!(e.to_string(), "connect to 127.0.0.1:9: Connection refused");
        assert_eq!(LinkError::Resolve { host: "x".into(), err: None }.to_string(), "cannot resolve x: no address");
    }

    #[test]
    fn facilities() {
        assert_eq!(parse_facility("daemon"), Some(3));
        assert_eq!(parse_facility("LOCAL7"), Some(23));
        assert_eq!(parse_facility("authpriv"), Some(10));
        assert_eq!(parse_facility("local8"), None);
        assert_eq!(parse_facility(""), None);
    }

    #[test]
    fn rfc5424_format() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let m = format_message(3 * 8 + 6, t, "sensor-1", "honeytrap", 4242, "connection.opened", "{\"a\": 1}\n");
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "<30>1 2023-11-14T22:13:20.123456Z sensor-1 honeytrap 4242 connection.opened - {\"a\": 1}"
        );
        let m = format_message(0, UNIX_EPOCH, "-", "a", 1, "", "");
        assert_eq!(String::from_utf8(m).unwrap(), "<0>1 1970-01-01T00:00:00.000000Z - a 1 - - ");
    }

    #[test]
    fn header_fields_are_printable_ascii_and_bounded() {
        assert_eq!(header_field("my host", 255), "my_host");
        assert_eq!(header_field("", 32), "-");
        assert_eq!(header_field("äb\tc", 32), "_b_c");
        assert_eq!(header_field(&"x".repeat(40), 32).len(), 32);
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let msg = "é".repeat(MAX_MESSAGE);
        let m = format_message(30, UNIX_EPOCH, "h", "a", 1, "id", &msg);
        assert!(m.len() <= MAX_MESSAGE && m.len() >= MAX_MESSAGE - 1);
        assert!(String::from_utf8(m).is_ok());
    }

    #[test]
    fn octet_counting() {
        assert_eq!(frame_octet_counted(b"<13>1 - - - - - - x"), b"19 <13>1 - - - - - - x");
    }

    #[test]
    fn severities() {
        assert_eq!(severity_of(Level::Err), 3);
        assert_eq!(severity_of(Level::Warn), 4);
        assert_eq!(severity_of(Level::Notice), 5);
        assert_eq!(severity_of(Level::Info), 6);
        assert_eq!(severity_of(Level::Debug), 7);
    }

    fn cfg(opts: &[(&str, &str)]) -> PluginConfig {
        PluginConfig {
            plugin: Plugin::Syslog,
            options: opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            span: Span { file: "t.conf".into(), line: 1, col: 1 },
        }
    }

    #[test]
    fn config_errors() {
        for opts in [
            &[("target", "ftp://x")][..],
            &[("facility", "nope")],
            &[("what", "all")],
            &[("app_name", "")],
            &[("app_name", "a b")],
            &[("queue_size", "0")],
            &[("queue_size", "many")],
        ] {
            assert!(Syslog::open(&cfg(opts), "h").is_err(), "{opts:?}");
        }
        let s = Syslog::open(&cfg(&[("target", "unix:/nonexistent/x"), ("what", "both")]), "h").unwrap();
        assert!(s.wants_log() && s.wants_events());
        let s = Syslog::open(&cfg(&[("target", "unix:/nonexistent/x")]), "h").unwrap();
        assert!(!s.wants_log() && s.wants_events());
    }

    #[test]
    fn unix_socket_delivery_and_stats() {
        let dir = std::env::temp_dir().join(format!("ht-syslog-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let target = format!("unix:{}", path.display());
        let s =
            Syslog::open(&cfg(&[("target", &target), ("facility", "local3"), ("app_name", "ht")]), "sensor").unwrap();
        s.send(SEV_INFO, "attack", "hello");
        let mut buf = [0u8; 9000];
        let n = rx.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(got.starts_with("<158>1 "), "{got}");
        assert!(got.ends_with(&format!(" sensor ht {} attack - hello", std::process::id())), "{got}");
        assert!(wait(|| s.stats() == (1, 0)));
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn wait(mut f: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}
