//! Files the daemon writes in directories others may write too:
//! * publishing a finished file under its final name without ever replacing an existing one:
//!   an unnamed file (`O_TMPFILE`) linked once written, or a temporary name and `link(2)`
//!   and, where the file system has no hard links, `renameat2(2)` with `RENAME_NOREPLACE`.
//!   Used by the SaveFile output so that a file appears complete or not at all (the C
//!   original wrote in place with `O_EXCL`);
//! * opening the append-only line files (the daemon log, logAttacker, logJSON, logEvents)
//!   without following a symbolic link at their name ([`open_append`]), giving them to the
//!   run user through the open descriptor only ([`give_to`]), and telling whether a file
//!   ends inside a line ([`ends_mid_line`]), so that a torn last line is not continued. The
//!   C original opened its files with `fopen`, following links, and never looked at the tail.

use super::cvt;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "embedded NUL byte in path"))
}

/// Renames `from` to `to` unless `to` exists (then `AlreadyExists`, nothing changed).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let f = cpath(from)?;
    let t = cpath(to)?;
    // SAFETY: both arguments are valid NUL-terminated strings that live across the call;
    // AT_FDCWD makes relative paths relative to the working directory, as rename(2).
    cvt(unsafe { libc::renameat2(libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), libc::RENAME_NOREPLACE) })?;
    Ok(())
}

/// Gives the finished file `tmp` the name `dst`, never replacing an existing `dst`
/// (`ErrorKind::AlreadyExists`, `tmp` left in place for the caller). On success `tmp` is
/// gone. Tries a hard link first (works everywhere hard links do, NFS included), then
/// `RENAME_NOREPLACE` for file systems without hard links.
pub fn publish_noreplace(tmp: &Path, dst: &Path) -> io::Result<()> {
    match std::fs::hard_link(tmp, dst) {
        Ok(()) => {
            // The data is reachable under `dst` now; a leftover temporary name is only
            // clutter, so a failure here does not fail the save.
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EOPNOTSUPP | libc::EMLINK | libc::ENOSYS)) => {
            rename_noreplace(tmp, dst)
        }
        Err(e) => Err(e),
    }
}

/// Opens `path` for appending lines: `O_APPEND|O_CREAT|O_NOFOLLOW|O_NOCTTY|O_CLOEXEC` plus
/// `extra_flags`, mode 0644 minus the umask (as the C original's `fopen(…, "a")`).
///
/// A symbolic link at `path` is refused ([`symlink_refused`]; a link in a directory part of
/// the path is followed as usual). A regular file is opened for reading as well, so that
/// [`ends_mid_line`] can read its last byte (write-only when the file may not be read); any
/// other file (a FIFO, a device) is opened write-only, so that the daemon is never the
/// reader of its own FIFO.
pub fn open_append(path: &Path, extra_flags: i32) -> io::Result<File> {
    let flags = libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_CLOEXEC | extra_flags;
    let open =
        |read: bool| OpenOptions::new().read(read).append(true).create(true).mode(0o644).custom_flags(flags).open(path);
    let file = match open(true) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => open(false),
        r => r,
    }
    .map_err(|e| refuse_symlink(path, e))?;
    if file.metadata()?.is_file() {
        return Ok(file);
    }
    // Not a regular file: the same file again, write-only (through the descriptor, not the
    // name, which may point elsewhere by now). Without /proc the first descriptor stays.
    let again = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC | extra_flags)
        .open(format!("/proc/self/fd/{}", file.as_raw_fd()));
    Ok(again.unwrap_or(file))
}

/// The error for a path that is a symbolic link where none is followed; its text names the
/// path.
pub fn symlink_refused(path: &Path) -> io::Error {
    io::Error::other(format!("{} is a symbolic link, which is never followed", path.display()))
}

/// `ELOOP` from an `O_NOFOLLOW` open, when the last part of `path` is a symbolic link, as
/// [`symlink_refused`]; any other error unchanged.
pub fn refuse_symlink(path: &Path, e: io::Error) -> io::Error {
    let is_link = || std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if e.raw_os_error() == Some(libc::ELOOP) && is_link() {
        symlink_refused(path)
    } else {
        e
    }
}

/// Gives the open `file` to `uid`:`gid` with `fchown(2)` on the descriptor (never by name),
/// and only when it is a regular file with a single link: not a FIFO or a device, nor a hard
/// link to a file elsewhere that somebody placed at the name. `Ok(false)`: left as it was.
pub fn give_to(file: &File, uid: u32, gid: u32) -> io::Result<bool> {
    let m = file.metadata()?;
    if !m.is_file() || m.nlink() != 1 {
        return Ok(false);
    }
    std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
    Ok(true)
}

/// Whether `file` ends inside a line: `Some(true)` when it is a non-empty regular file whose
/// last byte is not a newline, `Some(false)` when it ends with one or is empty, `None` when
/// that cannot be told (not a regular file, or not open for reading). One `fstat(2)` and
/// one `pread(2)`.
pub fn ends_mid_line(file: &File) -> Option<bool> {
    let m = file.metadata().ok()?;
    if !m.is_file() {
        return None;
    }
    if m.len() == 0 {
        return Some(false);
    }
    let mut last = [0u8; 1];
    match file.read_at(&mut last, m.len() - 1) {
        Ok(1) => Some(last[0] != b'\n'),
        // Truncated meanwhile (copy-truncate rotation): nothing to continue.
        Ok(_) => Some(false),
        Err(_) => None,
    }
}

/// Opens an unnamed file in directory `dir` for writing (`O_TMPFILE`), mode `mode` less the
/// umask, to be named with [`link_unnamed`] once written: until then nothing appears in
/// `dir`, and nothing is left behind if the process dies. `Ok(None)` where the kernel or the
/// file system has no `O_TMPFILE`.
pub fn create_unnamed(dir: &Path, mode: u32) -> io::Result<Option<File>> {
    match OpenOptions::new().write(true).mode(mode).custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC).open(dir) {
        Ok(f) => Ok(Some(f)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Gives the unnamed file `f` ([`create_unnamed`]) the name `dst`, never replacing an existing
/// `dst` (`AlreadyExists`; `f` may then be linked under another name). Links through
/// `/proc/self/fd`, which needs no privilege (`AT_EMPTY_PATH` would): without /proc it fails
/// with `NotFound`.
pub fn link_unnamed(f: &File, dst: &Path) -> io::Result<()> {
    let src = cpath(Path::new(&format!("/proc/self/fd/{}", f.as_raw_fd())))?;
    let d = cpath(dst)?;
    // SAFETY: both paths are valid NUL-terminated strings that live across the call.
    cvt(unsafe { libc::linkat(libc::AT_FDCWD, src.as_ptr(), libc::AT_FDCWD, d.as_ptr(), libc::AT_SYMLINK_FOLLOW) })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(std::path::PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let d = Dir(std::env::temp_dir().join(format!("honeytrap-sysfs-{tag}-{}", std::process::id())));
            let _ = std::fs::remove_dir_all(&d.0);
            std::fs::create_dir_all(&d.0).unwrap();
            d
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn never_replaces() {
        let d = Dir::new("test");
        let (a, b, c) = (d.0.join("a"), d.0.join("b"), d.0.join("c"));
        std::fs::write(&a, b"new").unwrap();
        std::fs::write(&b, b"old").unwrap();

        let e = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        let e = publish_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&b).unwrap(), b"old");
        assert!(a.exists());

        publish_noreplace(&a, &c).unwrap();
        assert!(!a.exists());
        assert_eq!(std::fs::read(&c).unwrap(), b"new");

        rename_noreplace(&c, &a).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        assert!(!c.exists());
        assert_eq!(rename_noreplace(&c, &a).unwrap_err().kind(), io::ErrorKind::NotFound);

        // An unnamed file is invisible until linked, and never replaces a name.
        use std::io::Write;
        let Some(mut f) = create_unnamed(&d.0, 0o600).unwrap() else { return };
        f.write_all(b"unnamed").unwrap();
        assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 2);
        assert_eq!(link_unnamed(&f, &a).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        link_unnamed(&f, &c).unwrap();
        drop(f);
        assert_eq!(std::fs::read(&c).unwrap(), b"unnamed");
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
    }

    #[test]
    fn append_files_refuse_links_and_tell_a_torn_tail() {
        use std::io::Write;
        let d = Dir::new("append");
        let (target, link, log) = (d.0.join("target"), d.0.join("link"), d.0.join("log"));
        std::fs::write(&target, b"secret\n").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_append(&link, 0).unwrap_err();
        assert_eq!(e.to_string(), format!("{} is a symbolic link, which is never followed", link.display()));
        // A dangling link is not created through either.
        std::os::unix::fs::symlink(d.0.join("nowhere"), d.0.join("dangling")).unwrap();
        assert!(open_append(&d.0.join("dangling"), 0).unwrap_err().to_string().contains("symbolic link"));
        assert!(!d.0.join("nowhere").exists());
        assert_eq!(std::fs::read(&target).unwrap(), b"secret\n");

        let mut f = open_append(&log, libc::O_NONBLOCK).unwrap();
        assert_eq!(ends_mid_line(&f), Some(false), "empty");
        f.write_all(b"one\ntw").unwrap();
        assert_eq!(ends_mid_line(&f), Some(true));
        f.write_all(b"o\n").unwrap();
        assert_eq!(ends_mid_line(&f), Some(false));
        // Not a regular file: cannot be told.
        assert_eq!(ends_mid_line(&File::options().write(true).open("/dev/null").unwrap()), None);
        let null = open_append(Path::new("/dev/null"), 0).unwrap();
        assert_eq!(ends_mid_line(&null), None);
        assert!(!give_to(&null, 0, 0).unwrap(), "a device is never given away");
    }

    #[test]
    fn only_a_regular_file_with_one_link_is_given_away() {
        use std::os::unix::fs::MetadataExt;
        let d = Dir::new("give");
        let a = d.0.join("a");
        let f = open_append(&a, 0).unwrap();
        let m = f.metadata().unwrap();
        // To its own owner: allowed for anyone.
        assert!(give_to(&f, m.uid(), m.gid()).unwrap());
        std::fs::hard_link(&a, d.0.join("b")).unwrap();
        assert!(!give_to(&f, m.uid(), m.gid()).unwrap(), "two links: left alone");
    }
}
