//! Publishing a finished file under its final name without ever replacing an existing one:
//! an unnamed file (`O_TMPFILE`) linked once written, or a temporary name and `link(2)` and,
//! where the file system has no hard links, `renameat2(2)` with `RENAME_NOREPLACE`. Used by
//! the SaveFile output so that a file appears complete or not at all (the C original wrote
//! in place with `O_EXCL`).

use super::cvt;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
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
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn never_replaces() {
        let d = Dir(std::env::temp_dir().join(format!("honeytrap-sysfs-test-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(&d.0);
        std::fs::create_dir_all(&d.0).unwrap();
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
}
