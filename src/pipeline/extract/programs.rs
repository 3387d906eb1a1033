//! Extraction, pass 4: which program a command runs (after wrappers such as `busybox`,
//! `sudo`, `sh -c`) and the options of the download programs: wget, curl, PowerShell,
//! certutil, bitsadmin, tftp, ftpget. Replaces the command parsing of htm_tftpDownload.c and
//! htm_httpDownload.c.

use super::*;
use crate::pipeline::request::parse_port;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Prog {
    Wget,
    Curl,
    Fetch,
    /// Programs whose output file is the word after the URL: lwp-download, certutil,
    /// bitsadmin.
    UrlThenFile,
    /// PowerShell cmdlets: Invoke-WebRequest, iwr, Invoke-RestMethod, irm,
    /// Start-BitsTransfer.
    PsWeb,
    Tftp,
    Ftpget,
    Echo,
    Printf,
    Base64,
    Shell,
    /// `powershell -enc <base64 UTF-16LE>`: index of the encoded word.
    PsEnc(usize),
    Other,
}

fn classify(name: &[u8]) -> Option<Prog> {
    Some(match name {
        b"wget" => Prog::Wget,
        b"curl" => Prog::Curl,
        b"fetch" => Prog::Fetch,
        b"lwp-download" | b"certutil" | b"bitsadmin" => Prog::UrlThenFile,
        b"invoke-webrequest" | b"iwr" | b"invoke-restmethod" | b"irm" | b"start-bitstransfer" => Prog::PsWeb,
        b"tftp" => Prog::Tftp,
        b"ftpget" => Prog::Ftpget,
        b"echo" | b"@echo" => Prog::Echo,
        b"printf" => Prog::Printf,
        b"base64" => Prog::Base64,
        b"sh" | b"bash" | b"ash" | b"dash" | b"zsh" | b"ksh" => Prog::Shell,
        _ => return None,
    })
}

/// The program name a word names: after a form-field or URL prefix (`cmd=`, `?`, `:`), the
/// last path component, lower case, without `.exe`.
fn prog_name(w: &[u8]) -> Vec<u8> {
    let w = match w.iter().rposition(|&c| matches!(c, b'=' | b'?' | b':')) {
        Some(k) => &w[k + 1..],
        None => w,
    };
    let w = match w.iter().rposition(|&c| c == b'/' || c == b'\\') {
        Some(k) => &w[k + 1..],
        None => w,
    };
    let mut l = lower(w);
    if l.ends_with(b".exe") {
        l.truncate(l.len() - 4);
    }
    l
}

/// Finds the program of a command: returns it and the index of its first argument.
pub(super) fn resolve(words: &[&[u8]]) -> (Prog, usize) {
    let mut k = 0;
    while k < words.len() {
        let w = words[k];
        let name = prog_name(w);
        match &name[..] {
            b"busybox" | b"sudo" | b"nohup" | b"exec" | b"env" | b"time" | b"nice" | b"then" | b"do" | b"else"
            | b"eval" | b"call" | b"command" | b"!" | b"su" => {
                k += 1;
                continue;
            }
            b"start" => {
                k += 1;
                while words.get(k).is_some_and(|w| w.starts_with(b"/")) {
                    k += 1;
                }
                continue;
            }
            b"cmd" => {
                k += 1;
                while words.get(k).is_some_and(|w| w.starts_with(b"/") && w.len() <= 6) {
                    k += 1;
                }
                continue;
            }
            b"sh" | b"bash" | b"ash" | b"dash" | b"zsh" | b"ksh" => {
                if words.get(k + 1).is_some_and(|o| o.starts_with(b"-") && o.contains(&b'c')) {
                    k += 2;
                    continue;
                }
                return (Prog::Shell, k + 1);
            }
            b"powershell" | b"pwsh" => {
                k += 1;
                while let Some(o) = words.get(k) {
                    let ol = lower(o);
                    if !(ol.starts_with(b"-") || ol.starts_with(b"/")) {
                        break;
                    }
                    let opt = &ol[1..];
                    if !opt.is_empty() && (b"encodedcommand".starts_with(opt) || opt == b"ec") && opt.starts_with(b"e")
                    {
                        return (Prog::PsEnc(k + 1), k + 2);
                    }
                    if opt == b"c" || opt == b"command" {
                        k += 1;
                        break;
                    }
                    let takes_value = matches!(
                        opt,
                        b"w" | b"windowstyle" | b"win" | b"ep" | b"ex" | b"exec" | b"executionpolicy" | b"f" | b"file"
                    );
                    k += 1 + usize::from(takes_value);
                }
                continue;
            }
            _ => {}
        }
        if let Some(p) = classify(&name) {
            return (p, k + 1);
        }
        // cron fields (`*/5 * * * *`, `@reboot`), environment assignments and form fields
        // (`todo=syscmd`) before the program.
        let cron = w.iter().all(|c| matches!(c, b'*' | b'/' | b',' | b'-' | b'0'..=b'9')) || w.starts_with(b"@");
        if (cron || w.contains(&b'=')) && k + 1 < words.len() {
            k += 1;
            continue;
        }
        // An unknown leading word (`EXEC master..xp_cmdshell`, the user field of a system
        // crontab line, a SQL or script wrapper): a download client later in the same
        // command is still the program.
        for (j, w) in words.iter().enumerate().skip(k + 1) {
            if let Some(p) = classify(&prog_name(w)) {
                if matches!(
                    p,
                    Prog::Wget | Prog::Curl | Prog::Fetch | Prog::UrlThenFile | Prog::PsWeb | Prog::Tftp | Prog::Ftpget
                ) {
                    return (p, j + 1);
                }
            }
        }
        return (Prog::Other, k + 1);
    }
    (Prog::Other, words.len())
}

// ---------------------------------------------------------------------------------------
// Option parsing of the web clients.

#[derive(Default)]
pub(super) struct WebArgs<'a> {
    /// Output file (`-O`, `-o`, `-OutFile`, the word after the URL, …); `-` is stdout.
    pub(super) output: Option<&'a [u8]>,
    /// curl `-O`: save under the remote name.
    pub(super) remote_name: bool,
    pub(super) positionals: Vec<&'a [u8]>,
    pub(super) user: Option<String>,
    pub(super) pass: Option<String>,
    /// busybox `wget -g HOST -l LOCAL -r REMOTE` (TFTP syntax used by Satori's exploit).
    pub(super) g_host: Option<&'a [u8]>,
    pub(super) g_local: Option<&'a [u8]>,
    pub(super) g_remote: Option<&'a [u8]>,
}

pub(super) fn parse_web<'a>(prog: Prog, args: &[&'a [u8]]) -> WebArgs<'a> {
    let mut wa = WebArgs::default();
    let (out_letter, value_letters): (u8, &[u8]) = match prog {
        Prog::Wget => (b'O', b"otTUPeiaBwQDIXRAlY"),
        Prog::Curl => (b'o', b"AbcdDeEFhHKmrTuUwxXyYzCQ"),
        Prog::Fetch => (b'o', b"BSTNiM"),
        _ => (0, b""),
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        let al = lower(a);
        let next = args.get(i + 1).copied();
        i += 1;
        if a.len() < 2
            || !(a[0] == b'-'
                || (a[0] == b'/'
                    && matches!(prog, Prog::UrlThenFile)
                    && !a[1..].contains(&b'/')
                    && !a[1..].contains(&b'\\')))
        {
            wa.positionals.push(a);
            continue;
        }
        // PowerShell-style parameters (also the wget/curl aliases of Windows PowerShell).
        if al.starts_with(b"-outf") || al.starts_with(b"-dest") {
            wa.output = next;
            i += 1;
            continue;
        }
        if matches!(prog, Prog::PsWeb | Prog::UrlThenFile) {
            let takes = matches!(
                &al[1..],
                b"method"
                    | b"headers"
                    | b"useragent"
                    | b"body"
                    | b"contenttype"
                    | b"credential"
                    | b"proxy"
                    | b"timeoutsec"
                    | b"displayname"
                    | b"description"
                    | b"transfertype"
                    | b"priority"
            );
            i += usize::from(takes);
            continue;
        }
        if prog == Prog::Wget && matches!(a, b"-g" | b"-l" | b"-r") {
            match a {
                b"-g" => wa.g_host = next,
                b"-l" => wa.g_local = next,
                _ => wa.g_remote = next,
            }
            i += 1;
            continue;
        }
        if let Some(long) = al.strip_prefix(b"--") {
            let (name, val, inline) = match long.iter().position(|&c| c == b'=') {
                Some(k) => (&long[..k], Some(&a[2 + k + 1..]), true),
                None => (long, next, false),
            };
            let consumed = match name {
                b"output-document" | b"output" => {
                    wa.output = val;
                    true
                }
                b"user" | b"http-user" | b"ftp-user" | b"username" => {
                    wa.user = val.map(text);
                    true
                }
                b"password" | b"http-password" | b"ftp-password" | b"http-passwd" => {
                    wa.pass = val.map(text);
                    true
                }
                b"remote-name" => {
                    wa.remote_name = true;
                    false
                }
                b"header" | b"user-agent" | b"referer" | b"tries" | b"timeout" | b"directory-prefix" | b"data"
                | b"request" | b"proxy" | b"max-time" | b"connect-timeout" | b"cookie" | b"retry" | b"output-file"
                | b"append-output" | b"execute" | b"wait" | b"limit-rate" | b"data-binary" | b"form" => true,
                _ => false,
            };
            if consumed && !inline {
                i += 1;
            }
            continue;
        }
        // Short options, possibly grouped (`-qO-`, `-fsSLo x`).
        for (k, &ch) in a.iter().enumerate().skip(1) {
            if ch == out_letter || value_letters.contains(&ch) {
                let rest = &a[k + 1..];
                let val = if rest.is_empty() {
                    i += 1;
                    next
                } else {
                    Some(rest)
                };
                if ch == out_letter {
                    wa.output = val;
                } else if prog == Prog::Curl && ch == b'u' {
                    if let Some(v) = val {
                        match v.iter().position(|&c| c == b':') {
                            Some(p) => {
                                wa.user = Some(text(&v[..p]));
                                wa.pass = Some(text(&v[p + 1..]));
                            }
                            None => wa.user = Some(text(v)),
                        }
                    }
                }
                break;
            }
            if prog == Prog::Curl && ch == b'O' {
                wa.remote_name = true;
            }
        }
    }
    wa
}

// ---------------------------------------------------------------------------------------
// tftp and ftpget.

pub(super) struct Fetch {
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) remote: Vec<u8>,
    pub(super) local: Option<Vec<u8>>,
}

/// Windows `tftp [-i] HOST GET FILE [LOCAL]`, busybox `tftp -g -r FILE [-l LOCAL] HOST
/// [PORT]`, tftp-hpa `tftp [-m MODE] HOST [PORT] -c get FILE [LOCAL]`.
pub(super) fn parse_tftp(args: &[&[u8]]) -> Option<Fetch> {
    let (mut remote, mut local) = (None, None);
    let mut pos: Vec<&[u8]> = Vec::new();
    let mut cmd: Vec<&[u8]> = Vec::new();
    let mut cmd_mode = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        if cmd_mode {
            cmd.push(a);
            continue;
        }
        if a.len() > 1 && a[0] == b'-' {
            let al = lower(a);
            if al == b"-c" {
                cmd_mode = true;
                continue;
            }
            for (k, &ch) in al.iter().enumerate().skip(1) {
                if matches!(ch, b'r' | b'l' | b'b' | b'm') {
                    let val = if k + 1 < a.len() {
                        Some(&a[k + 1..])
                    } else {
                        i += 1;
                        args.get(i - 1).copied()
                    };
                    match ch {
                        b'r' => remote = val,
                        b'l' => local = val,
                        _ => {}
                    }
                    break;
                }
            }
            continue;
        }
        pos.push(a);
    }
    let mut port_word = pos.get(1).copied();
    if remote.is_none() {
        if cmd.first().is_some_and(|c| c.eq_ignore_ascii_case(b"get")) {
            remote = cmd.get(1).copied();
            local = cmd.get(2).copied().or(local);
        } else if let Some(g) = pos.iter().position(|w| w.eq_ignore_ascii_case(b"get")).filter(|&g| g >= 1) {
            remote = pos.get(g + 1).copied();
            local = pos.get(g + 2).copied().or(local);
            port_word = if g == 2 { pos.get(1).copied() } else { None };
        }
    }
    let remote = remote.or(local)?;
    let (host, mut port) = host_port(pos.first()?)?;
    if port.is_none() {
        port = port_word.and_then(parse_port);
    }
    Some(Fetch { host, port, remote: remote.to_vec(), local: local.map(<[u8]>::to_vec) })
}

/// busybox `ftpget [-c] [-v] [-u USER] [-p PASS] [-P PORT] HOST [LOCAL] REMOTE`.
pub(super) fn parse_ftpget(args: &[&[u8]]) -> Option<(Fetch, Option<String>, Option<String>)> {
    let (mut user, mut pass, mut port) = (None, None, None);
    let mut pos: Vec<&[u8]> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        let next = args.get(i + 1).copied();
        i += 1;
        if let Some(long) = a.strip_prefix(b"--") {
            let (name, val) = match long.iter().position(|&c| c == b'=') {
                Some(k) => (&long[..k], Some(&long[k + 1..])),
                None => {
                    i += 1;
                    (long, next)
                }
            };
            match name {
                b"username" => user = val.map(text),
                b"password" => pass = val.map(text),
                b"port" => port = val.and_then(parse_port),
                _ => {}
            }
            continue;
        }
        if a.len() > 1 && a[0] == b'-' {
            for (k, &ch) in a.iter().enumerate().skip(1) {
                if matches!(ch, b'u' | b'p' | b'P') {
                    let val = if k + 1 < a.len() {
                        Some(&a[k + 1..])
                    } else {
                        i += 1;
                        next
                    };
                    match ch {
                        b'u' => user = val.map(text),
                        b'p' => pass = val.map(text),
                        _ => port = val.and_then(parse_port),
                    }
                    break;
                }
            }
            continue;
        }
        pos.push(a);
    }
    let (host, hport) = host_port(pos.first()?)?;
    let (local, remote) = match pos.len() {
        0 | 1 => return None,
        2 => (None, pos[1]),
        _ => (Some(pos[1].to_vec()), pos[2]),
    };
    Some((Fetch { host, port: port.or(hport), remote: remote.to_vec(), local }, user, pass))
}
