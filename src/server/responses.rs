//! The normal-mode default responses (honeytrap.conf(5), `response_dir`): every file of
//! `response_dir` named `<port>…_tcp` or `<port>…_udp`, read into memory at configuration time
//! and looked up by (protocol, port). Replaces the response list of the C original
//! (`load_default_responses` and `send_default_response`'s lookup in responses.c/dynsrv.c);
//! sending is conn.rs's job.
//!
//! Kept from the C original: the name pattern (the globs `*_tcp` / `*_udp`, so hidden files
//! are not matched), the port as `atoi` of the name (`80_tcp` → 80, `80_web_tcp` → 80), the
//! alphabetically greatest name winning when two map to the same port, contents sent
//! verbatim. Different: a file that cannot be read (the C program crashed at start-up), is
//! not a regular file or is larger than [`MAX_RESPONSE_SIZE`] is skipped with a warning;
//! names whose port is 0 or out of range (`foo_tcp`, `70000_tcp`) are skipped with a debug
//! line instead of being loaded uselessly (port 0) or truncated (70000 → 4464).

use crate::config::Proto;
use crate::{log_debug, log_warn};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

/// Largest response file loaded (1 MiB); bigger ones are skipped with a warning.
pub const MAX_RESPONSE_SIZE: u64 = 1 << 20;

/// Response bytes by (protocol, port).
type Table = HashMap<(Proto, u16), Arc<[u8]>>;

/// The loaded responses; cloning is cheap (shared map).
#[derive(Clone, Debug, Default)]
pub struct Responses {
    map: Arc<Table>,
}

impl Responses {
    /// Loads every `*_tcp` / `*_udp` file of `dir`. Fails only when the directory itself
    /// cannot be read; problems with single files are logged and those files skipped.
    pub fn load(dir: &Path) -> io::Result<Responses> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            match parse_name(&name) {
                Some((proto, port)) if port != 0 => names.push((name, proto, port)),
                Some(_) => log_debug!(
                    "Response file {} has no valid port number in its name, skipped.",
                    dir.join(&name).display()
                ),
                None => {}
            }
        }
        // Greatest name first, so that it wins a shared port (as the C list in reverse order).
        names.sort_by(|a, b| b.0.as_bytes().cmp(a.0.as_bytes()));
        let mut map = HashMap::new();
        for (name, proto, port) in names {
            if map.contains_key(&(proto, port)) {
                log_debug!(
                    "Response file {} skipped: a greater name serves {}/{} already.",
                    dir.join(&name).display(),
                    port,
                    proto
                );
                continue;
            }
            let path = dir.join(&name);
            match read_capped(&path) {
                Ok(data) => {
                    log_debug!(
                        "Response for {}/{} loaded from {} ({} bytes).",
                        port,
                        proto,
                        path.display(),
                        data.len()
                    );
                    map.insert((proto, port), Arc::from(data));
                }
                Err(e) => log_warn!("Warning - Unable to load response file {}: {}.", path.display(), e),
            }
        }
        Ok(Responses { map: Arc::new(map) })
    }

    /// The response for `proto`/`port`; `None` means the caller sends a single `\n`.
    pub fn get(&self, proto: Proto, port: u16) -> Option<Arc<[u8]>> {
        self.map.get(&(proto, port)).cloned()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Protocol and port of a response file name, or `None` when the name does not match
/// `*_tcp` / `*_udp`. The port is the C `atoi` of the name: optional leading white space and
/// `+`, then decimal digits; anything else gives 0, and so does a number above 65535 (the C
/// program truncated it). A leading `-` gives 0 too.
pub fn parse_name(name: &OsStr) -> Option<(Proto, u16)> {
    let b = name.as_bytes();
    // Glob `*` does not match a leading dot.
    if b.first() == Some(&b'.') {
        return None;
    }
    let proto = if b.ends_with(b"_tcp") {
        Proto::Tcp
    } else if b.ends_with(b"_udp") {
        Proto::Udp
    } else {
        return None;
    };
    Some((proto, atoi_port(b)))
}

fn atoi_port(b: &[u8]) -> u16 {
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
        i += 1;
    }
    if i < b.len() && b[i] == b'+' {
        i += 1;
    }
    let mut n: u32 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n.saturating_mul(10).saturating_add(u32::from(b[i] - b'0'));
        i += 1;
    }
    u16::try_from(n).unwrap_or(0)
}

/// Reads a regular file of at most [`MAX_RESPONSE_SIZE`] bytes. Opened non-blocking so that
/// a FIFO in the directory cannot hang the start-up.
fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    let file: File = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut data = Vec::with_capacity(usize::try_from(meta.len().min(MAX_RESPONSE_SIZE)).unwrap_or(0));
    file.take(MAX_RESPONSE_SIZE + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_RESPONSE_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} bytes, skipped", MAX_RESPONSE_SIZE),
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "honeytrap-responses-test-{}-{}-{}",
                std::process::id(),
                tag,
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        fn write(&self, name: &str, data: &[u8]) {
            std::fs::write(self.0.join(name), data).unwrap();
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn names() {
        let cases: &[(&str, Option<(Proto, u16)>)] = &[
            ("80_tcp", Some((Proto::Tcp, 80))),
            ("53_udp", Some((Proto::Udp, 53))),
            ("80_web_tcp", Some((Proto::Tcp, 80))),
            ("foo_tcp", Some((Proto::Tcp, 0))),
            ("_tcp", Some((Proto::Tcp, 0))),
            ("+21_tcp", Some((Proto::Tcp, 21))),
            (" 21_tcp", Some((Proto::Tcp, 21))),
            ("-21_tcp", Some((Proto::Tcp, 0))),
            ("65535_tcp", Some((Proto::Tcp, 65535))),
            ("65536_tcp", Some((Proto::Tcp, 0))),
            ("99999999999999999999_udp", Some((Proto::Udp, 0))),
            ("0080_tcp", Some((Proto::Tcp, 80))),
            ("80_tcp~", None),
            ("80_TCP", None),
            ("80-tcp", None),
            ("80tcp", None),
            ("80_tcp.bak", None),
            (".80_tcp", None),
            ("README", None),
        ];
        for (name, want) in cases {
            assert_eq!(parse_name(OsStr::new(name)), *want, "{name}");
        }
        assert_eq!(parse_name(OsStr::from_bytes(b"21\xff_tcp")), Some((Proto::Tcp, 21)));
    }

    #[test]
    fn load_and_lookup() {
        let d = Dir::new("load");
        d.write("21_tcp", b"220 Welcome to localhost\n");
        d.write("139_tcp", &[0x82, 0, 0, 0]);
        d.write("53_udp", b"dns");
        d.write("80_tcp", b"first");
        d.write("80_web_tcp", b"greatest");
        d.write("foo_tcp", b"useless");
        d.write("empty_udp", b"");
        d.write("7_udp", b"");
        d.write("README", b"not a response");
        std::fs::create_dir(d.0.join("9_tcp")).unwrap();
        let r = Responses::load(&d.0).unwrap();
        assert_eq!(r.get(Proto::Tcp, 21).as_deref(), Some(&b"220 Welcome to localhost\n"[..]));
        assert_eq!(r.get(Proto::Tcp, 139).as_deref(), Some(&[0x82u8, 0, 0, 0][..]));
        assert_eq!(r.get(Proto::Udp, 53).as_deref(), Some(&b"dns"[..]));
        assert_eq!(r.get(Proto::Tcp, 53), None);
        assert_eq!(r.get(Proto::Tcp, 80).as_deref(), Some(&b"greatest"[..]));
        assert_eq!(r.get(Proto::Udp, 7).as_deref(), Some(&b""[..]));
        assert_eq!(r.get(Proto::Tcp, 0), None);
        assert_eq!(r.get(Proto::Tcp, 9), None, "a directory is skipped");
        assert_eq!(r.len(), 5);
        let clone = r.clone();
        assert_eq!(clone.get(Proto::Tcp, 21), r.get(Proto::Tcp, 21));
    }

    #[test]
    fn size_cap() {
        let d = Dir::new("cap");
        d.write("1_tcp", &vec![b'a'; MAX_RESPONSE_SIZE as usize]);
        d.write("2_tcp", &vec![b'b'; MAX_RESPONSE_SIZE as usize + 1]);
        let r = Responses::load(&d.0).unwrap();
        assert_eq!(r.get(Proto::Tcp, 1).map(|v| v.len()), Some(MAX_RESPONSE_SIZE as usize));
        assert_eq!(r.get(Proto::Tcp, 2), None);
    }

    #[test]
    fn unreadable_greatest_falls_back() {
        let d = Dir::new("dangling");
        d.write("25_a_tcp", b"readable");
        // A dangling symlink sorts greater and cannot be opened: skipped, the next one wins.
        std::os::unix::fs::symlink(d.0.join("nonexistent"), d.0.join("25_b_tcp")).unwrap();
        std::os::unix::fs::symlink(d.0.join("nonexistent"), d.0.join("26_tcp")).unwrap();
        let r = Responses::load(&d.0).unwrap();
        assert_eq!(r.get(Proto::Tcp, 25).as_deref(), Some(&b"readable"[..]));
        assert_eq!(r.get(Proto::Tcp, 26), None);
    }

    #[test]
    fn fifo_does_not_hang() {
        let d = Dir::new("fifo");
        let st = std::process::Command::new("mkfifo").arg(d.0.join("31_tcp")).status();
        assert!(st.as_ref().is_ok_and(|s| s.success()), "mkfifo (coreutils): {st:?}");
        let r = Responses::load(&d.0).unwrap();
        assert_eq!(r.get(Proto::Tcp, 31), None);
    }

    #[test]
    fn missing_dir_is_an_error() {
        let d = Dir::new("missing");
        assert!(Responses::load(&d.0.join("nope")).is_err());
        let file = d.0.join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(Responses::load(&file).is_err());
        assert!(Responses::load(&d.0).unwrap().is_empty());
    }

    #[test]
    fn shipped_responses_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/responses");
        let r = Responses::load(&dir).unwrap();
        assert!(r.get(Proto::Tcp, 21).is_some_and(|v| v.starts_with(b"220")));
    }
}
