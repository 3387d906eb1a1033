//! Extraction: Windows scripts, the `echo open HOST > f` FTP scripts for `ftp -s:f` (the
//! forms htm_ftpDownload.c parsed), PowerShell `.DownloadFile(URL, dest)` and the UTF-16LE
//! text of `powershell -EncodedCommand`.

use super::*;
use crate::pipeline::request::parse_port;

#[derive(Default)]
pub(super) struct FtpScript {
    pub(super) key: Vec<u8>,
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) user: Option<String>,
    pub(super) pass: Option<String>,
    pub(super) cwd: Option<String>,
}

impl Scan<'_> {
    /// PowerShell `.DownloadFile('URL', 'C:\dest.exe')`: the destination's file name.
    pub(super) fn ps_downloadfile_dest(&self, hit: &UrlHit) -> Option<String> {
        let t = &self.t;
        let before = &t[hit.start.saturating_sub(64)..hit.start];
        if !contains_ci(before, b"downloadfile") {
            return None;
        }
        let mut i = hit.end;
        while i < t.len() && i - hit.end < 16 && matches!(t[i], b'\'' | b'"' | b' ') {
            i += 1;
        }
        if t.get(i) != Some(&b',') {
            return None;
        }
        i += 1;
        while i < t.len() && matches!(t[i], b'\'' | b'"' | b' ') {
            i += 1;
        }
        let s = i;
        while i < t.len() && i - s < 1024 && !matches!(t[i], b'\'' | b'"' | b')' | b';' | b'\n' | b'\r') {
            i += 1;
        }
        basename(&t[s..i])
    }

    /// `echo open HOST [PORT] > f`, `echo user U P >> f`, `echo U >> f`, `echo get FILE >> f`
    /// (the forms htm_ftpDownload.c parsed) — one script per target file; each `get` is a
    /// download.
    pub(super) fn ftp_script(&mut self, args: &[&[u8]], target: Option<&[u8]>, pos: usize) {
        let key = target.unwrap_or(b"").to_vec();
        let Some(first) = args.first() else { return };
        let cmd = lower(first);
        if cmd == b"open" {
            let Some((host, mut port)) = args.get(1).and_then(|h| host_port(h)) else { return };
            if port.is_none() {
                port = args.get(2).and_then(|p| parse_port(p));
            }
            let script = FtpScript { key: key.clone(), host, port, ..FtpScript::default() };
            if let Some(s) = self.scripts.iter_mut().find(|s| s.key == key) {
                *s = script;
            } else if self.scripts.len() < MAX_SCRIPTS {
                self.scripts.push(script);
            }
            return;
        }
        let Some(idx) = self.scripts.iter().position(|s| s.key == key) else { return };
        match &cmd[..] {
            // A lone `USER`/`PASS` is the user name or password itself (as htm_ftpDownload.c
            // read it).
            b"user" | b"pass" if args.len() == 1 => self.ftp_credential(idx, args),
            b"user" => {
                let s = &mut self.scripts[idx];
                s.user = args.get(1).map(|u| text(u));
                s.pass = args.get(2).map(|p| text(p));
            }
            b"pass" => self.scripts[idx].pass = args.get(1).map(|p| text(p)),
            b"cd" => self.scripts[idx].cwd = args.get(1).map(|d| text(d)),
            b"get" | b"recv" | b"mget" => {
                let files: Vec<(&[u8], Option<&[u8]>)> = if cmd == b"mget" {
                    args[1..].iter().map(|f| (*f, None)).collect()
                } else {
                    args.get(1).map(|f| (*f, args.get(2).copied())).into_iter().collect()
                };
                for (file, local) in files {
                    let s = &self.scripts[idx];
                    let remote = match &s.cwd {
                        Some(d) if !file.starts_with(b"/") => format!("{}/{}", d.trim_end_matches('/'), text(file)),
                        _ => text(file),
                    };
                    let name = local.and_then(basename).or_else(|| basename(file));
                    let f = Fetch { host: s.host.clone(), port: s.port, remote: remote.into_bytes(), local: None };
                    let (user, pass) = (s.user.clone(), if s.user.is_some() { s.pass.clone() } else { None });
                    self.push_fetch(Scheme::Ftp, f, name, user, pass, pos);
                }
            }
            b"bin" | b"binary" | b"ascii" | b"bye" | b"quit" | b"prompt" | b"hash" | b"type" | b"passive"
            | b"verbose" | b"close" | b"disconnect" | b"lcd" | b"literal" | b"quote" | b"status" | b"debug"
            | b"glob" | b"bell" | b"put" | b"send" | b"mput" | b"dir" | b"ls" | b"pwd" => {}
            _ => self.ftp_credential(idx, args),
        }
    }

    /// Without -n, ftp.exe reads the user name and the password as the first lines after
    /// `open`.
    pub(super) fn ftp_credential(&mut self, idx: usize, args: &[&[u8]]) {
        let (Some(s), Some(first)) = (self.scripts.get_mut(idx), args.first()) else { return };
        if s.user.is_none() {
            s.user = Some(text(first));
            s.pass = args.get(1).map(|p| text(p));
        } else if s.pass.is_none() {
            s.pass = Some(text(first));
        }
    }
}

/// The text of UTF-16LE bytes (PowerShell `-EncodedCommand`); non-ASCII characters become
/// `?`.
pub(super) fn utf16le_text(d: &[u8]) -> Vec<u8> {
    d.chunks(2)
        .map(|c| match c {
            [lo, 0] if *lo != 0 => *lo,
            [lo] => *lo,
            _ => b'?',
        })
        .collect()
}
