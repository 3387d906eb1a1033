//! The logAttacker output (`plugin-logAttacker`, the C plugin logattacker): one line per real
//! connection in `logfile`,
//!
//! ```text
//! [2026-11-25 17:12:38:376503 GMT] tcp 127.0.0.1:47160 -> 127.0.0.1:21 <md5> <sha512> (10 bytes)
//! ```
//!
//! Replaces the C original's htm_logAttacker.c. The file is an [`AppendLog`] (append.rs).
//!
//! Deliberate differences (docs/COMPATIBILITY.md, Differences from the C honeytrap):
//! * The line is written with one `write(2)` on an `O_APPEND` descriptor as soon as the attack
//!   is processed (the C plugin used buffered stdio inherited from the master: lines reached
//!   the file when the handler exited and long ones could interleave).
//! * The protocol name is built in (`tcp`, `udp`): no `/etc/protocols` lookup, so a missing
//!   entry no longer suppresses the line.
//! * IPv6 addresses are written in brackets, `[2001:db8::1]:4711`, so the port stays
//!   separable; an IPv4-mapped address is written as the IPv4 address.
//! * The file is reopened by name on SIGHUP ([`LogAttacker::reopen`]), so rotation works.
//! * A failing write (full disk, …) is logged at most once a minute with the number of lines
//!   lost, and never stops capture. A file found ending inside a line (a killed daemon, a
//!   full disk) gets a newline before the next line, so one torn line never spoils the next.
//! * A symbolic link at the file's name is refused, at start (fatal) and at SIGHUP (the old
//!   file stays in use); the C plugin followed it with `fopen`.

use super::append::{logfile, AppendLog};
use super::json::{ip_text, unmapped};
use super::OutputError;
use crate::attack::Attack;
use crate::config::{Plugin, PluginConfig};
use crate::sys::time;
use crate::text;
use std::net::SocketAddr;
use std::path::Path;
use std::time::SystemTime;

/// The logAttacker output, open.
pub struct LogAttacker {
    out: AppendLog,
}

impl LogAttacker {
    /// Opens `logfile` of a `plugin-logAttacker` entry. The error's text is the C plugin's
    /// with the file's name added (`Unable to open attacker log file <path>: <strerror>.`);
    /// the daemon prefixes `Error - ` and exits 1 as the original did at start-up.
    pub fn open(cfg: &PluginConfig) -> Result<LogAttacker, OutputError> {
        let path = logfile(cfg, Plugin::LogAttacker)?;
        match AppendLog::open("logAttacker", &path) {
            Ok(out) => Ok(LogAttacker { out }),
            Err(err) => Err(OutputError::Open { plugin: Plugin::LogAttacker, path, err }),
        }
    }

    /// Writes the line for `attack` (the time is now); virtual records are skipped, 0-byte
    /// attacks are written. Errors are logged (throttled), never returned: an output never
    /// stops the pipeline.
    pub fn log(&self, attack: &Attack) {
        if attack.is_virtual {
            return;
        }
        let _ = self.out.write_line(format_line(attack, SystemTime::now()).as_bytes());
    }

    /// Reopens the file by name (SIGHUP); the old one stays in use on failure.
    pub fn reopen(&self) -> Result<(), OutputError> {
        self.out.reopen().map_err(|err| OutputError::Reopen {
            plugin: Plugin::LogAttacker,
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

/// Appends `a.b.c.d:port`, or `[v6]:port`.
fn push_addr(out: &mut String, a: SocketAddr) {
    match unmapped(a.ip()) {
        Ok(v4) => text::push_ipv4(out, v4),
        Err(v6) => {
            out.push('[');
            out.push_str(&ip_text(v6.into()));
            out.push(']');
        }
    }
    out.push(':');
    text::push_u64(out, a.port().into());
}

/// The logAttacker line for `attack` logged at `now`, newline included. The microseconds are
/// written without zero padding, as the C plugin's `%d` did (`:59476` means .059476).
pub fn format_line(attack: &Attack, now: SystemTime) -> String {
    let (t, micros) = time::utc_micros(now);
    let p = &attack.payload;
    let mut s = String::with_capacity(160 + p.md5.len() + p.sha512.len());
    s.push('[');
    text::push_date(&mut s, &t);
    s.push(' ');
    text::push_time(&mut s, &t);
    s.push(':');
    text::push_u64(&mut s, micros.into());
    s.push_str(" GMT] ");
    s.push_str(attack.proto.name());
    s.push(' ');
    push_addr(&mut s, attack.remote);
    s.push_str(" -> ");
    push_addr(&mut s, attack.local);
    s.push(' ');
    s.push_str(&p.md5);
    s.push(' ');
    s.push_str(&p.sha512);
    s.push_str(" (");
    text::push_u64(&mut s, p.len() as u64);
    s.push_str(" bytes)\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::Payload;
    use crate::config::{Mode, Proto, Span};
    use std::time::{Duration, UNIX_EPOCH};

    fn attack() -> Attack {
        let mut a = Attack::new(
            Proto::Tcp,
            "127.0.0.1:21".parse().unwrap(),
            "127.0.0.1:47160".parse().unwrap(),
            Mode::Normal,
            UNIX_EPOCH,
        );
        a.payload = Payload::new(b"USER root\n".to_vec());
        a
    }

    #[test]
    fn line_as_observed() {
        // A line the C plugin wrote: 2026-11-25 17:12:38.376503 UTC.
        let now = UNIX_EPOCH + Duration::new(1_795_626_758, 376_503_000);
        let a = attack();
        let want = format!(
            "[2026-11-25 17:12:38:376503 GMT] tcp 127.0.0.1:47160 -> 127.0.0.1:21 {} {} (10 bytes)\n",
            a.payload.md5, a.payload.sha512
        );
        assert_eq!(format_line(&a, now), want);
        // Microseconds without zero padding.
        let now = UNIX_EPOCH + Duration::new(1_795_626_758, 59_476_000);
        assert!(format_line(&a, now).starts_with("[2026-11-25 17:12:38:59476 GMT] tcp "));
        let now = UNIX_EPOCH + Duration::new(1_795_626_758, 999);
        assert!(format_line(&a, now).starts_with("[2026-11-25 17:12:38:0 GMT] tcp "));
    }

    #[test]
    fn udp_ipv6_and_empty() {
        let a = Attack::new(
            Proto::Udp,
            "[fd77::1]:53".parse().unwrap(),
            "[::ffff:10.0.0.9]:5000".parse().unwrap(),
            Mode::Normal,
            UNIX_EPOCH,
        );
        let l = format_line(&a, UNIX_EPOCH);
        assert_eq!(
            l,
            "[1970-01-01 00:00:00:0 GMT] udp 10.0.0.9:5000 -> [fd77::1]:53 d41d8cd98f00b204e9800998ecf8427e \
             cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e (0 bytes)\n"
        );
    }

    /// The line as the standard formatter writes it (how it was written before it was
    /// written digit by digit); the two must agree to the byte.
    fn formatted(attack: &Attack, now: SystemTime) -> String {
        let addr_text = |a: SocketAddr| match ip_text(a.ip()) {
            s if s.contains(':') => format!("[{}]:{}", s, a.port()),
            s => format!("{}:{}", s, a.port()),
        };
        let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let t = time::utc(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        format!(
            "[{:04}-{:02}-{:02} {:02}:{:02}:{:02}:{} GMT] {} {} -> {} {} {} ({} bytes)\n",
            t.year,
            t.month,
            t.day,
            t.hour,
            t.min,
            t.sec,
            d.subsec_micros(),
            attack.proto.name(),
            addr_text(attack.remote),
            addr_text(attack.local),
            attack.payload.md5,
            attack.payload.sha512,
            attack.payload.len()
        )
    }

    #[test]
    fn written_digit_by_digit_as_the_formatter_writes_it() {
        let addrs = ["192.0.2.7:4711", "[2001:db8::5]:80", "[::ffff:10.1.2.3]:1", "[::192.0.2.1]:53", "0.0.0.0:0"];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..500 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let pick = |n: u64| addrs[n as usize % addrs.len()].parse::<SocketAddr>().unwrap();
            let proto = if i % 2 == 0 { Proto::Tcp } else { Proto::Udp };
            let mut a = Attack::new(proto, pick(x), pick(x >> 8), Mode::Normal, UNIX_EPOCH);
            a.payload = Payload::new(vec![b'x'; (x % 3000) as usize]);
            let now = UNIX_EPOCH + Duration::from_nanos(x % (1 << 62));
            assert_eq!(format_line(&a, now), formatted(&a, now));
        }
    }

    #[test]
    fn config_errors() {
        let cfg = |plugin, options: &[(&str, &str)]| PluginConfig {
            plugin,
            options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            span: Span { file: std::path::PathBuf::from("t.conf"), line: 1, col: 1 },
        };
        assert!(LogAttacker::open(&cfg(Plugin::LogAttacker, &[])).is_err());
        assert!(LogAttacker::open(&cfg(Plugin::LogJson, &[("logfile", "/tmp/x")])).is_err());
        let e = LogAttacker::open(&cfg(Plugin::LogAttacker, &[("logfile", "/nonexistent-dir/attacker.log")]))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "Unable to open attacker log file /nonexistent-dir/attacker.log: No such file or directory."
        );
    }
}
