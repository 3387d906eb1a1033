//! The logAttacker output (SPEC §8.17, `plugin-logAttacker`): one line per real connection in
//! `logfile`,
//!
//! ```text
//! [2026-11-25 17:12:38:376503 GMT] tcp 127.0.0.1:47160 -> 127.0.0.1:21 <md5> <sha512> (10 bytes)
//! ```
//!
//! Replaces the C original's htm_logAttacker.c. Also home of [`AppendLog`], the append-only
//! line file shared by logAttacker, logJSON and the event stream.
//!
//! Deliberate differences (SPEC §15.2):
//! * The line is written with one `write(2)` on an `O_APPEND` descriptor as soon as the attack
//!   is processed (the C plugin used buffered stdio inherited from the master: lines reached
//!   the file when the handler exited and long ones could interleave).
//! * The protocol name is built in (`tcp`, `udp`): no `/etc/protocols` lookup, so a missing
//!   entry no longer suppresses the line.
//! * IPv6 addresses are written in brackets, `[2001:db8::1]:4711`, so the port stays
//!   separable; an IPv4-mapped address is written as the IPv4 address.
//! * The file is reopened by name on SIGHUP ([`LogAttacker::reopen`]), so rotation works.
//! * A failing write (full disk, …) is logged at most once a minute with the number of lines
//!   lost, and never stops capture.

use super::json::ip_text;
use crate::attack::Attack;
use crate::config::{Plugin, PluginConfig};
use crate::log::Throttle;
use crate::log_err;
use crate::sys::{strerror, time};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a recurring write error is logged.
pub const ERROR_INTERVAL: Duration = Duration::from_secs(60);

/// An append-only file of lines: opened `O_WRONLY|O_CREAT|O_APPEND|O_NONBLOCK|O_NOCTTY|
/// O_CLOEXEC`, mode 0644 (minus the umask, as the C plugins' `fopen(…, "a")`), each line
/// written with one `write(2)` (so lines of concurrent threads never mix: the kernel appends
/// each write atomically to a regular file), reopened by name on request. `O_NONBLOCK` keeps a
/// FIFO without reader from blocking a connection thread (a regular file ignores it).
pub struct AppendLog {
    /// Plugin name used in error lines (`logAttacker`, …).
    who: &'static str,
    path: PathBuf,
    file: RwLock<File>,
    throttle: Throttle,
}

impl AppendLog {
    /// Opens `path` for appending, creating it if needed.
    pub fn open(who: &'static str, path: &Path) -> io::Result<AppendLog> {
        Ok(AppendLog {
            who,
            path: path.to_path_buf(),
            file: RwLock::new(open_append(path)?),
            throttle: Throttle::new(ERROR_INTERVAL),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `line` (which ends with a newline) with one `write(2)`. A short write (disk
    /// full in the middle) is completed with further writes so the file stays line-shaped.
    /// Errors are logged at most once per [`ERROR_INTERVAL`] with the number of lines lost
    /// since the last message, and reported to the caller.
    pub fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let res = {
            let f = self.file.read().unwrap_or_else(|e| e.into_inner());
            let mut f: &File = &f;
            match f.write(line) {
                Ok(n) if n == line.len() => Ok(()),
                Ok(0) => Err(io::Error::new(io::ErrorKind::WriteZero, "nothing written")),
                Ok(n) => f.write_all(&line[n..]),
                Err(e) => Err(e),
            }
        };
        if let Err(e) = &res {
            if let Some(suppressed) = self.throttle.due() {
                let more = if suppressed > 0 {
                    format!(" ({} more lines lost since the last message)", suppressed)
                } else {
                    String::new()
                };
                log_err!("{} - Error - Unable to write to {}: {}{}.", self.who, self.path.display(), strerror(e), more);
            }
        }
        res
    }

    /// Reopens the file by name (SIGHUP, log rotation). On failure the old descriptor stays
    /// in use and the error is returned.
    pub fn reopen(&self) -> io::Result<()> {
        let f = open_append(&self.path)?;
        *self.file.write().unwrap_or_else(|e| e.into_inner()) = f;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}

/// The configured `logfile` of a logging plugin, or the error text.
pub(crate) fn logfile(cfg: &PluginConfig, expect: Plugin) -> Result<PathBuf, String> {
    if cfg.plugin != expect {
        return Err(format!("{} is not a {} configuration", cfg.plugin.key_name(), expect.key_name()));
    }
    match cfg.option("logfile") {
        Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
        _ => Err(format!("{} - no logfile configured", expect.key_name())),
    }
}

/// The logAttacker output, open.
pub struct LogAttacker {
    out: AppendLog,
}

impl LogAttacker {
    /// Opens `logfile` of a `plugin-logAttacker` entry. The error text is the C plugin's
    /// (`Unable to open attacker log file: <strerror>.`); the caller prefixes `  Error - ` and
    /// exits 1 as the original did at start-up.
    pub fn open(cfg: &PluginConfig) -> Result<LogAttacker, String> {
        let path = logfile(cfg, Plugin::LogAttacker)?;
        AppendLog::open("logAttacker", &path)
            .map(|out| LogAttacker { out })
            .map_err(|e| format!("Unable to open attacker log file: {}.", strerror(&e)))
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
    pub fn reopen(&self) -> Result<(), String> {
        self.out
            .reopen()
            .map_err(|e| format!("Unable to reopen attacker log file {}: {}.", self.out.path().display(), strerror(&e)))
    }

    pub fn path(&self) -> &Path {
        self.out.path()
    }
}

/// `a.b.c.d:port`, or `[v6]:port`.
fn addr_text(a: SocketAddr) -> String {
    match ip_text(a.ip()) {
        s if s.contains(':') => format!("[{}]:{}", s, a.port()),
        s => format!("{}:{}", s, a.port()),
    }
}

/// The logAttacker line for `attack` logged at `now`, newline included. The microseconds are
/// written without zero padding, as the C plugin's `%d` did (`:59476` means .059476).
pub fn format_line(attack: &Attack, now: SystemTime) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::Payload;
    use crate::config::{Mode, Proto, Span};

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
        // SPEC §8.17 sample: 2026-11-25 17:12:38.376503 UTC.
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
        assert_eq!(e, "Unable to open attacker log file: No such file or directory.");
    }
}
