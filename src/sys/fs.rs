//! Publishing a finished file under its final name without ever replacing an existing one:
//! `link(2)` and, where the file system has no hard links, `renameat2(2)` with
//! `RENAME_NOREPLACE`. Used by the SaveFile output so that a file appears complete or not at
//! all (the C original wrote in place with `O_EXCL`).

use super::cvt;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
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
    }
}
