//! The pid file (`-p`, `pidfile`): the daemon's pid in decimal without a newline, created
//! exclusively, locked with `lockf` while the daemon runs (the lock the C original takes, so
//! either program sees the other), removed at exit.
//!
//! Improvements over the original: a leftover file whose process is gone (or that nobody
//! holds locked) is stale and replaced instead of blocking every later start; a live one
//! makes the start fail with a non-zero status. When the run user may not remove the file
//! (its directory belongs to root), it is emptied instead, which the next start treats as
//! stale.
//!
//! The name is never followed: a symbolic link (or anything but a regular file) at the pid
//! file's name makes the start fail with an error naming the path, and the file is given to
//! the run user through its descriptor only ([`crate::sys::fs::give_to`]). The C original
//! opened the name with `O_CREAT|O_EXCL`, which refuses links too, but gave no reason.

use crate::sys::{fs, process, strerror};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why the pid file could not be taken.
#[derive(Debug)]
pub enum PidFileError {
    /// Another live daemon holds it.
    Running {
        path: PathBuf,
        pid: Option<i32>,
    },
    Io {
        path: PathBuf,
        err: io::Error,
    },
}

impl std::fmt::Display for PidFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PidFileError::Running { path, pid: Some(pid) } => {
                write!(f, "Unable to open pid file {}: honeytrap is already running with pid {}.", path.display(), pid)
            }
            PidFileError::Running { path, pid: None } => {
                write!(f, "Unable to open pid file {}: it is locked by a running process.", path.display())
            }
            PidFileError::Io { path, err } => {
                write!(f, "Unable to open pid file {}: {}.", path.display(), strerror(err))
            }
        }
    }
}

/// A held pid file; [`PidFile::remove`] at exit.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: File,
}

/// Parses pid file content: decimal digits, optional surrounding whitespace.
pub fn parse_pid(content: &str) -> Option<i32> {
    content.trim().parse::<i32>().ok().filter(|p| *p > 0)
}

fn create_exclusive(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
}

/// An existing entry at the pid file's name that is not a regular file: a symbolic link
/// (never followed) or anything else (never read: a FIFO would block).
fn refuse_unusual(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(fs::symlink_refused(path)),
        Ok(m) if !m.is_file() => Err(io::Error::other(format!("{} is not a regular file", path.display()))),
        _ => Ok(()),
    }
}

impl PidFile {
    /// Creates the pid file for process `pid`, replacing a stale one.
    pub fn create(path: &Path, pid: i32) -> Result<PidFile, PidFileError> {
        let io_err = |err| PidFileError::Io { path: path.to_path_buf(), err };
        let file = match create_exclusive(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                refuse_unusual(path).map_err(io_err)?;
                Self::check_stale(path)?;
                std::fs::remove_file(path)
                    .or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
                    .map_err(io_err)?;
                create_exclusive(path).map_err(io_err)?
            }
            Err(e) => return Err(io_err(e)),
        };
        if !process::try_lock(&file).map_err(io_err)? {
            return Err(PidFileError::Running { path: path.to_path_buf(), pid: None });
        }
        let mut pf = PidFile { path: path.to_path_buf(), file };
        pf.file.write_all(pid.to_string().as_bytes()).map_err(io_err)?;
        Ok(pf)
    }

    /// An existing file is stale unless it is locked by another process, or it names a
    /// live process and cannot be checked for a lock.
    fn check_stale(path: &Path) -> Result<(), PidFileError> {
        let mut content = String::new();
        // O_NOFOLLOW: never lock or read through a link planted at the pid file's name;
        // O_NONBLOCK: never wait on a FIFO put there.
        let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        let opened = OpenOptions::new().read(true).write(true).custom_flags(flags).open(path);
        let file = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => {
                // Cannot open it for writing: judge by the pid alone.
                let read = || -> io::Result<String> {
                    let mut s = String::new();
                    OpenOptions::new().read(true).custom_flags(flags).open(path)?.read_to_string(&mut s)?;
                    Ok(s)
                };
                let pid = read().ok().as_deref().and_then(parse_pid);
                return match pid {
                    Some(p) if process::process_exists(p) && p != process::getpid() => {
                        Err(PidFileError::Running { path: path.to_path_buf(), pid: Some(p) })
                    }
                    _ => Ok(()),
                };
            }
        };
        let _ = (&file).read_to_string(&mut content);
        let pid = parse_pid(&content);
        match process::try_lock(&file) {
            // We got the lock: nobody holds it; the file is stale (closing drops our lock).
            Ok(true) => Ok(()),
            Ok(false) => Err(PidFileError::Running { path: path.to_path_buf(), pid }),
            Err(e) => Err(PidFileError::Io { path: path.to_path_buf(), err: e }),
        }
    }

    /// Gives the file to the run user, so that it can still empty it at exit (by
    /// descriptor; `Ok(false)` if it is not a regular file with one link).
    pub fn chown(&self, uid: u32, gid: u32) -> io::Result<bool> {
        fs::give_to(&self.file, uid, gid)
    }

    /// Removes the file; if the directory does not allow that, empties it. Returns a
    /// description of the fallback taken, if any.
    pub fn remove(mut self) -> Option<String> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                let _ = self.file.set_len(0);
                let _ = self.file.rewind();
                Some(format!(
                    "Warning - Unable to remove pid file {}: {}. It was emptied instead.",
                    self.path.display(),
                    strerror(&e)
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ht-pid-{}-{}", std::process::id(), name));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn parse() {
        assert_eq!(parse_pid("123"), Some(123));
        assert_eq!(parse_pid(" 42\n"), Some(42));
        for bad in ["", "0", "-5", "abc", "12a"] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn create_write_remove() {
        let d = tmp("cwr");
        let p = d.join("ht.pid");
        let pf = PidFile::create(&p, 4242).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "4242");
        assert_eq!(pf.remove(), None);
        assert!(!p.exists());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn stale_file_is_replaced() {
        let d = tmp("stale");
        let p = d.join("ht.pid");
        // A pid that cannot exist and garbage both count as stale.
        for content in ["2147483646", "garbage", ""] {
            std::fs::write(&p, content).unwrap();
            let pf = PidFile::create(&p, 77).unwrap();
            assert_eq!(std::fs::read_to_string(&p).unwrap(), "77");
            pf.remove();
        }
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_link_or_a_fifo_at_the_name_is_refused() {
        let d = tmp("link");
        let (p, target) = (d.join("ht.pid"), d.join("target"));
        // A pid that cannot be running: the old code judged the target stale and went on.
        std::fs::write(&target, "2147483646").unwrap();
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let e = PidFile::create(&p, 77).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "Unable to open pid file {}: {} is a symbolic link, which is never followed.",
                p.display(),
                p.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "2147483646");
        assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_symlink(), "the link is left for a look");
        std::fs::remove_file(&p).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(&p).status().unwrap().success());
        let e = PidFile::create(&p, 77).unwrap_err().to_string();
        assert!(e.ends_with("is not a regular file."), "{e}");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn missing_directory_is_an_error() {
        let e = PidFile::create(Path::new("/nonexistent-dir-ht/x.pid"), 1).unwrap_err();
        assert!(e.to_string().contains("No such file or directory"), "{e}");
    }
}
