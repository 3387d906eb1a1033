//! The append-only line files of the file outputs (logAttacker, logJSON, the event stream):
//! one `write(2)` per line on an `O_APPEND` descriptor, torn last lines ended, reopened by
//! name on SIGHUP, write errors logged at most once a minute, symbolic links refused. Replaces
//! the C logging plugins' `fopen(…, "a")` and buffered `fprintf` (htm_logAttacker.c,
//! htm_logJSON.c), and reads the `logfile` option they share.

use super::OutputError;
use crate::config::{Plugin, PluginConfig};
use crate::log::Throttle;
use crate::log_err;
use crate::stats;
use crate::sys::{fs, strerror};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::RwLock;
use std::time::Duration;

/// How often a recurring write error is logged.
pub const ERROR_INTERVAL: Duration = Duration::from_secs(60);

/// An append-only file of lines: opened with [`fs::open_append`] (`O_APPEND|O_CREAT|
/// O_NOFOLLOW|O_NONBLOCK|O_NOCTTY|O_CLOEXEC`, mode 0644 minus the umask, as the C plugins'
/// `fopen(…, "a")`; a symbolic link at the name is refused), each line written with one
/// `write(2)` (so lines of concurrent threads never mix: the kernel appends each write
/// atomically to a regular file), reopened by name on request. `O_NONBLOCK` keeps a FIFO
/// without reader from blocking a connection thread (a regular file ignores it).
///
/// A file may end inside a line: the previous daemon was killed in the middle of a write, or
/// the disk filled up in the middle of one. The next line then starts with a newline, so
/// the torn line stays one bad line and the next record is whole. Whether to look is a flag
/// ([`Tail`]), set at every open and after every failed or short write; the writer that
/// finds it set takes the lock exclusively, reads the last byte and writes its line with a
/// newline in front if needed. The normal path costs one atomic load and no system call.
pub struct AppendLog {
    /// Plugin name used in error lines (`logAttacker`, …).
    who: &'static str,
    path: PathBuf,
    /// Shared by the writers; taken exclusively to look at the tail and to reopen.
    file: RwLock<File>,
    /// What is known about the end of the file, a [`Tail`] value.
    tail: AtomicU8,
    throttle: Throttle,
}

/// What an [`AppendLog`] knows about the end of its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Tail {
    /// Our last write completed a line: nothing to look at.
    Whole = 0,
    /// Unknown (just opened, or a write failed): look at the last byte before writing.
    Check = 1,
    /// A write of ours stopped inside a line: start a new one (also where the last byte
    /// cannot be read, a FIFO).
    Torn = 2,
}

impl AppendLog {
    /// Opens `path` for appending, creating it if needed.
    pub fn open(who: &'static str, path: &Path) -> io::Result<AppendLog> {
        Ok(AppendLog {
            who,
            path: path.to_path_buf(),
            file: RwLock::new(open_append(path)?),
            tail: AtomicU8::new(Tail::Check as u8),
            throttle: Throttle::new(ERROR_INTERVAL),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `line` (which ends with a newline) with one `write(2)`, after a newline of its
    /// own when the file was found to end inside a line. A short write (disk full in the
    /// middle) is not continued, since another thread's line may follow it by now: the line
    /// is lost and the next one starts on a new line. Errors are logged at most once per
    /// [`ERROR_INTERVAL`] with the number of lines lost since the last message, and reported
    /// to the caller.
    pub fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let res = {
            let f = self.file.read().unwrap_or_else(|e| e.into_inner());
            if self.tail.load(Ordering::Acquire) == Tail::Whole as u8 {
                // Marked before the lock is let go, so that the next exclusive writer knows.
                write_once(&f, line).inspect_err(|e| self.mark(e))
            } else {
                drop(f);
                self.write_after_tail(line)
            }
        };
        if let Err((e, _)) = &res {
            if let Some(suppressed) = self.throttle.due() {
                let more = if suppressed > 0 {
                    format!(" ({} more lines lost since the last message)", suppressed)
                } else {
                    String::new()
                };
                log_err!("{} - Error - Unable to write to {}: {}{}.", self.who, self.path.display(), strerror(e), more);
            }
        }
        if let Some(o) = stats::Output::by_name(self.who) {
            let lines = stats::STATS.output(o);
            if res.is_ok() {
                lines.written.inc()
            } else {
                lines.dropped.inc()
            }
        }
        res.map_err(|(e, _)| e)
    }

    /// The rare path of [`AppendLog::write_line`]: with no other writer of this file, looks
    /// at the end of the file and writes `line` on a line of its own.
    fn write_after_tail(&self, line: &[u8]) -> Result<(), (io::Error, bool)> {
        let f = self.file.write().unwrap_or_else(|e| e.into_inner());
        let tail = self.tail.load(Ordering::Acquire);
        let newline = tail == Tail::Torn as u8 && fs::ends_mid_line(&f) != Some(false)
            || tail == Tail::Check as u8 && fs::ends_mid_line(&f) == Some(true);
        let res = if newline {
            let mut l = Vec::with_capacity(line.len() + 1);
            l.push(b'\n');
            l.extend_from_slice(line);
            write_once(&f, &l)
        } else {
            write_once(&f, line)
        };
        match &res {
            Ok(()) => self.tail.store(Tail::Whole as u8, Ordering::Release),
            Err(e) => self.mark(e),
        }
        res
    }

    /// Notes a failed write: look at the tail next time, or start a new line if the write
    /// stopped inside one.
    fn mark(&self, (_, torn): &(io::Error, bool)) {
        let now = if *torn { Tail::Torn } else { Tail::Check };
        self.tail.fetch_max(now as u8, Ordering::AcqRel);
    }

    /// Reopens the file by name (SIGHUP, log rotation). On failure the old descriptor stays
    /// in use and the error is returned.
    pub fn reopen(&self) -> io::Result<()> {
        let f = open_append(&self.path)?;
        let mut cur = self.file.write().unwrap_or_else(|e| e.into_inner());
        *cur = f;
        self.tail.store(Tail::Check as u8, Ordering::Release);
        Ok(())
    }

    /// Gives the file to the run user (see [`fs::give_to`]); `Ok(false)`: not a regular
    /// file with one link, left as it was.
    pub fn give_to(&self, uid: u32, gid: u32) -> io::Result<bool> {
        fs::give_to(&self.file.read().unwrap_or_else(|e| e.into_inner()), uid, gid)
    }
}

/// One `write(2)` of `line`; the error says whether part of it was written (the file now
/// ends inside a line).
fn write_once(mut f: &File, line: &[u8]) -> Result<(), (io::Error, bool)> {
    match f.write(line) {
        Ok(n) if n == line.len() => Ok(()),
        Ok(0) => Err((io::Error::new(io::ErrorKind::WriteZero, "nothing written"), false)),
        Ok(n) => Err((io::Error::other(format!("only {} of {} bytes written", n, line.len())), true)),
        Err(e) => Err((e, false)),
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    fs::open_append(path, libc::O_NONBLOCK)
}

/// The configured `logfile` of a logging plugin.
pub(crate) fn logfile(cfg: &PluginConfig, expect: Plugin) -> Result<PathBuf, OutputError> {
    if cfg.plugin != expect {
        return Err(OutputError::WrongPlugin { got: cfg.plugin, expect });
    }
    match cfg.option("logfile") {
        Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
        _ => Err(OutputError::NoLogfile(expect)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn dir(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("honeytrap-appendlog-{}-{}", std::process::id(), tag));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    #[test]
    fn a_torn_last_line_is_ended_before_the_next_one() {
        let d = dir("torn");
        let p = d.0.join("a.json");
        // As a daemon killed in the middle of a write leaves it.
        std::fs::write(&p, b"{\"a\": 1}\n{\"b\": ").unwrap();
        let log = AppendLog::open("test", &p).unwrap();
        log.write_line(b"{\"c\": 3}\n").unwrap();
        log.write_line(b"{\"d\": 4}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\": 1}\n{\"b\": \n{\"c\": 3}\n{\"d\": 4}\n");
        // A whole file gets no empty line.
        let log = AppendLog::open("test", &p).unwrap();
        log.write_line(b"e\n").unwrap();
        assert!(std::fs::read_to_string(&p).unwrap().ends_with("{\"d\": 4}\ne\n"));
        // Reopened (SIGHUP) onto a file someone left torn: the same.
        std::fs::rename(&p, d.0.join("a.json.1")).unwrap();
        std::fs::write(&p, b"half").unwrap();
        log.reopen().unwrap();
        log.write_line(b"f\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "half\nf\n");
    }

    #[test]
    fn concurrent_writers_after_a_torn_line_leave_one_bad_line() {
        let d = dir("concurrent");
        let p = d.0.join("a.log");
        std::fs::write(&p, b"whole\ntorn-").unwrap();
        let log = std::sync::Arc::new(AppendLog::open("test", &p).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        log.write_line(format!("line {t} {i} {}\n", "x".repeat(100)).as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 8 * 200);
        assert_eq!(&lines[..2], ["whole", "torn-"]);
        assert!(lines[2..].iter().all(|l| l.starts_with("line ") && l.ends_with(&"x".repeat(100))));
    }

    #[test]
    fn a_link_at_the_name_is_refused_at_open_and_reopen() {
        let d = dir("link");
        let (p, target) = (d.0.join("a.log"), d.0.join("target"));
        std::fs::write(&target, b"keep\n").unwrap();
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let e = AppendLog::open("test", &p).err().unwrap();
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        std::fs::remove_file(&p).unwrap();
        let log = AppendLog::open("test", &p).unwrap();
        log.write_line(b"one\n").unwrap();
        std::fs::rename(&p, d.0.join("a.log.1")).unwrap();
        std::os::unix::fs::symlink(&target, &p).unwrap();
        assert!(log.reopen().unwrap_err().to_string().contains("is a symbolic link"));
        log.write_line(b"two\n").unwrap();
        assert_eq!(std::fs::read(d.0.join("a.log.1")).unwrap(), b"one\ntwo\n", "the old file stays in use");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep\n");
    }
}
