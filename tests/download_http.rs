//! The HTTP(S) download client against a real nginx in a client network namespace (plain,
//! IPv6, TLS, redirects, auth, errors), against scripted hostile servers (chunked bodies,
//! endless headers, slow drip, huge announced lengths), and `http_program` without a shell.
//! The client runs in the sensor namespace (10.77.0.1 / fd77::1); servers listen on
//! 10.77.0.2 / fd77::2. Root-only tests skip when not root.

mod common;

use common::{in_netns, root_or_skip, wait_until, Daemon, Pair, TempDir, CLI4};
use honeytrap::pipeline::download::{http, Context, Error, Fetched, Limits, Policy};
use honeytrap::pipeline::request::{Request, Scheme};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// All log lines of this test binary (DEBUG level) go to one file in cargo's scratch dir.
fn log_file() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = format!("{}/download_http-{}.log", env!("CARGO_TARGET_TMPDIR"), std::process::id());
        let file = honeytrap::log::open_file(std::path::Path::new(&path)).expect("log file");
        honeytrap::log::set_file(std::path::Path::new(&path), file);
        honeytrap::log::set_level(honeytrap::log::Level::Debug);
        path
    })
}

fn logged(needle: &str) -> bool {
    std::fs::read_to_string(log_file()).is_ok_and(|s| s.contains(needle))
}

fn policy() -> Policy {
    Policy { allow_local: false, sensor: vec!["10.77.0.1".parse().unwrap(), "fd77::1".parse().unwrap()] }
}

fn request(scheme: Scheme, host: &str, port: Option<u16>, path: &str) -> Request {
    Request::new(scheme, host, port, path)
}

fn url(path: &str) -> Request {
    request(Scheme::Http, CLI4, None, path)
}

/// Runs `http::fetch` in the sensor namespace; returns the result and how long it took.
fn fetch(pair: &Pair, req: Request, limits: Limits, deadline: Duration) -> (Result<Fetched, Error>, Duration) {
    log_file();
    in_netns(&pair.srv.0, move || {
        let policy = policy();
        let start = Instant::now();
        let ctx = Context {
            local_ip: "10.77.0.1".parse().unwrap(),
            attacker: CLI4.parse().unwrap(),
            ftp_host: None,
            policy: &policy,
            limits: &limits,
            deadline: start + deadline,
        };
        let r = http::fetch(&req, &ctx);
        (r, start.elapsed())
    })
}

fn quick(pair: &Pair, req: Request) -> Result<Fetched, Error> {
    fetch(pair, req, Limits::default(), Duration::from_secs(8)).0
}

/// A deterministic ~300 KB file that is not all one byte.
fn content(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// nginx (single process, foreground) in the client namespace on port 80 and 443 (TLS with a
/// self-signed certificate) of 10.77.0.2 and fd77::2, serving `www/` of its own TempDir.
struct Nginx {
    dir: TempDir,
    _daemon: Daemon,
}

impl Nginx {
    fn start(pair: &Pair) -> Nginx {
        let dir = TempDir::new("nginx");
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.join("www/auth")).unwrap();
        std::fs::write(dir.join("www/file"), content(300 * 1024 + 17)).unwrap();
        std::fs::write(dir.join("www/empty"), b"").unwrap();
        std::fs::write(dir.join("www/auth/secret"), b"the secret payload").unwrap();
        std::fs::write(dir.join("htpasswd"), "bot:{PLAIN}s3cret\n").unwrap();
        let st = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test", "-days", "1"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(st.success(), "openssl req failed");
        let conf = format!(
            "daemon off;\nmaster_process off;\nuser root;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
             http {{\n access_log {d}/access.log;\n default_type application/octet-stream;\n\
             client_body_temp_path {d}/t1; proxy_temp_path {d}/t2; fastcgi_temp_path {d}/t3;\n\
             uwsgi_temp_path {d}/t4; scgi_temp_path {d}/t5;\n\
             server {{\n  listen 10.77.0.2:80; listen [fd77::2]:80;\n  listen 10.77.0.2:443 ssl; listen [fd77::2]:443 ssl;\n\
               ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;\n  root {d}/www;\n\
               location = /redir {{ return 302 /file; }}\n\
               location = /relative {{ return 301 file; }}\n\
               location = /loop {{ return 302 /loop; }}\n\
               location = /local {{ return 302 http://127.0.0.1/file; }}\n\
               location = /link-local {{ return 307 http://[fe80::1]/file; }}\n\
               location = /tohttps {{ return 301 https://10.77.0.2/file; }}\n\
               location = /tohttp {{ return 308 http://[fd77::2]/file; }}\n\
               location /auth/ {{ auth_basic \"x\"; auth_basic_user_file {d}/htpasswd; }}\n }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut cmd = pair.cli.command("nginx");
        cmd.arg("-c").arg(dir.join("nginx.conf"));
        let daemon = Daemon::spawn(cmd);
        let up = in_netns(&pair.srv.0, || {
            wait_until(Duration::from_secs(5), || {
                ["10.77.0.2:80", "10.77.0.2:443", "[fd77::2]:80"]
                    .iter()
                    .all(|a| TcpStream::connect_timeout(&a.parse().unwrap(), Duration::from_millis(200)).is_ok())
            })
        });
        let nginx = Nginx { dir, _daemon: daemon };
        assert!(up, "nginx did not start: {}", common::read(&nginx.dir.join("error.log")));
        nginx
    }

    fn file(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("www/file")).unwrap()
    }
}

#[test]
fn plain_get_ipv4_ipv6_and_empty_file() {
    if !root_or_skip("plain_get_ipv4_ipv6_and_empty_file", &["ip", "nginx", "openssl"]) {
        return;
    }
    let pair = Pair::new();
    let nginx = Nginx::start(&pair);
    let got = quick(&pair, url("/file")).unwrap();
    assert!(got.data == nginx.file(), "{} bytes differ from the served file", got.data.len());
    assert_eq!(got.remote, "10.77.0.2:80".parse::<SocketAddr>().unwrap());
    assert_eq!(got.uri, "http://10.77.0.2/file");

    let got = quick(&pair, request(Scheme::Http, "fd77::2", Some(80), "/file")).unwrap();
    assert!(got.data == nginx.file());
    assert_eq!(got.remote, "[fd77::2]:80".parse::<SocketAddr>().unwrap());
    assert_eq!(got.uri, "http://[fd77::2]/file");

    assert!(quick(&pair, url("/empty")).unwrap().data.is_empty());
    let access = common::read(&nginx.dir.join("access.log"));
    assert!(access.contains("\"GET /file HTTP/1.1\" 200") && access.contains("Wget/1.21.3"), "{}", access);
}

#[test]
fn https_with_a_self_signed_certificate() {
    if !root_or_skip("https_with_a_self_signed_certificate", &["ip", "nginx", "openssl"]) {
        return;
    }
    let pair = Pair::new();
    let nginx = Nginx::start(&pair);
    for host in [CLI4, "fd77::2"] {
        let r = quick(&pair, request(Scheme::Https, host, None, "/file"));
        if cfg!(feature = "tls") {
            let got = r.unwrap();
            assert!(got.data == nginx.file(), "{}", host);
            assert_eq!(got.remote.port(), 443);
            assert!(got.uri.starts_with("https://"), "{}", got.uri);
        } else {
            assert!(matches!(r, Err(Error::Unsupported(ref s)) if s == "https"), "{:?}", r);
        }
    }
    // Plain HTTP to the TLS port: a protocol error, not a hang.
    let (r, took) =
        fetch(&pair, request(Scheme::Http, CLI4, Some(443), "/file"), Limits::default(), Duration::from_secs(8));
    assert!(matches!(r, Err(Error::Protocol(ref m)) if m.contains("400")), "{:?}", r);
    assert!(took < Duration::from_secs(3));
}

#[test]
fn redirects_followed_bounded_and_policy_checked() {
    if !root_or_skip("redirects_followed_bounded_and_policy_checked", &["ip", "nginx", "openssl"]) {
        return;
    }
    let pair = Pair::new();
    let nginx = Nginx::start(&pair);
    let got = quick(&pair, url("/redir")).unwrap();
    assert!(got.data == nginx.file());
    assert_eq!(got.uri, "http://10.77.0.2/file");
    assert!(logged("HTTP download - http://10.77.0.2/redir redirected (302) to http://10.77.0.2/file."));
    assert!(quick(&pair, url("/relative")).unwrap().data == nginx.file());
    if cfg!(feature = "tls") {
        let got = quick(&pair, url("/tohttps")).unwrap();
        assert_eq!((got.uri.as_str(), got.remote.port()), ("https://10.77.0.2/file", 443));
        let got = quick(&pair, request(Scheme::Https, CLI4, None, "/tohttp")).unwrap();
        assert_eq!(got.uri, "http://[fd77::2]/file");
        assert_eq!(got.remote, "[fd77::2]:80".parse::<SocketAddr>().unwrap());
        assert!(got.data == nginx.file());
    }

    let limits = Limits { max_redirects: 3, ..Limits::default() };
    let (r, took) = fetch(&pair, url("/loop"), limits, Duration::from_secs(8));
    assert!(matches!(r, Err(Error::Protocol(ref m)) if m == "too many redirects"), "{:?}", r);
    assert!(took < Duration::from_secs(3));
    assert!(logged("HTTP download - http://10.77.0.2/loop failed: too many redirects."));
    let access = common::read(&nginx.dir.join("access.log"));
    assert_eq!(access.matches("GET /loop ").count(), 4, "{}", access);

    for path in ["/local", "/link-local"] {
        let r = quick(&pair, url(path));
        assert!(matches!(r, Err(Error::Refused(_))), "{}: {:?}", path, r);
    }
    // The sensor itself and loopback are refused before any connection, too.
    for host in ["10.77.0.1", "127.0.0.1", "::1"] {
        let r = quick(&pair, request(Scheme::Http, host, None, "/file"));
        assert!(matches!(r, Err(Error::Refused(_))), "{}: {:?}", host, r);
    }
}

#[test]
fn errors_size_cap_and_basic_auth() {
    if !root_or_skip("errors_size_cap_and_basic_auth", &["ip", "nginx", "openssl"]) {
        return;
    }
    let pair = Pair::new();
    let _nginx = Nginx::start(&pair);
    let r = quick(&pair, url("/missing"));
    assert!(matches!(r, Err(Error::Protocol(ref m)) if m == "HTTP 404"), "{:?}", r);
    assert!(logged("HTTP download - http://10.77.0.2/missing failed: HTTP 404."));

    let limits = Limits { max_size: 100 * 1024, ..Limits::default() };
    let (r, took) = fetch(&pair, url("/file"), limits, Duration::from_secs(8));
    assert!(matches!(r, Err(Error::TooLarge(n)) if n == 100 * 1024), "{:?}", r);
    assert!(took < Duration::from_secs(3));

    let mut auth = url("/auth/secret");
    assert!(matches!(quick(&pair, auth.clone()), Err(Error::Protocol(ref m)) if m == "HTTP 401"));
    auth.user = Some("bot".into());
    auth.pass = Some("wrong".into());
    assert!(matches!(quick(&pair, auth.clone()), Err(Error::Protocol(ref m)) if m == "HTTP 401"));
    auth.pass = Some("s3cret".into());
    let got = quick(&pair, auth).unwrap();
    assert_eq!(got.data, b"the secret payload");
    assert_eq!(got.uri, "http://bot:s3cret@10.77.0.2/auth/secret");

    // Nothing listens on port 81: a connect error naming the address.
    let r = quick(&pair, request(Scheme::Http, CLI4, Some(81), "/"));
    assert!(matches!(r, Err(Error::Connect(a, _)) if a.port() == 81), "{:?}", r);
}

// ---------------------------------------------------------------------------------------
// Scripted hostile servers

/// Joins network namespace `ns` on the calling thread.
fn enter_netns(ns: &str) {
    use std::os::fd::AsRawFd;
    let path = format!("/var/run/netns/{ns}");
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: setns on a namespace descriptor; affects only the calling thread. (Test code:
    // the crate's no-unsafe rule covers the library.)
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}");
}

/// A one-connection server on 10.77.0.2:8080 in the client namespace: reads the request
/// head, then runs `script` on the connection. Gives up after 10 s without a client.
fn scripted(pair: &Pair, script: impl FnOnce(&mut TcpStream) + Send + 'static) -> JoinHandle<()> {
    let ns = pair.cli.0.clone();
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        enter_netns(&ns);
        // The previous script's server may still hold the port for a moment.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind("10.77.0.2:8080") {
                Ok(l) => break l,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("bind 10.77.0.2:8080: {e}"),
            }
        };
        listener.set_nonblocking(true).unwrap();
        tx.send(()).unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        let mut conn = loop {
            match listener.accept() {
                Ok((c, _)) => break c,
                Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("no client: {e}"),
            }
        };
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
            match conn.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        assert!(head.starts_with(b"GET /"), "{:?}", String::from_utf8_lossy(&head));
        script(&mut conn);
    });
    rx.recv_timeout(Duration::from_secs(5)).expect("scripted server did not start");
    handle
}

/// Writes `chunk` again and again for at most 10 s, until the client goes away.
fn endless(conn: &mut TcpStream, start: &[u8], chunk: &[u8], pause: Duration) {
    let end = Instant::now() + Duration::from_secs(10);
    if conn.write_all(start).is_err() {
        return;
    }
    while Instant::now() < end {
        if conn.write_all(chunk).is_err() {
            return;
        }
        std::thread::sleep(pause);
    }
}

fn hostile(path: &str) -> Request {
    request(Scheme::Http, CLI4, Some(8080), path)
}

#[test]
fn chunked_bodies_from_a_scripted_server() {
    if !root_or_skip("chunked_bodies_from_a_scripted_server", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let server = scripted(&pair, |c| {
        let _ = c.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              4;ext=1;other=\"q\"\r\nELF!\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n",
        );
    });
    let got = quick(&pair, hostile("/chunked")).unwrap();
    assert_eq!(got.data, b"ELF!abcdefghijklmnopqrstuvwxyz");
    assert_eq!(got.uri, "http://10.77.0.2:8080/chunked");
    server.join().unwrap();

    let server = scripted(&pair, |c| {
        let _ =
            c.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nELF!\r\n0x1A\r\nabc\r\n0\r\n\r\n");
    });
    let r = quick(&pair, hostile("/badchunk"));
    assert!(matches!(r, Err(Error::Protocol(ref m)) if m.contains("bad chunk size")), "{:?}", r);
    assert!(logged("HTTP download - http://10.77.0.2:8080/badchunk failed: bad chunk size"));
    server.join().unwrap();
}

#[test]
fn endless_headers_end_at_max_lines() {
    if !root_or_skip("endless_headers_end_at_max_lines", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let server = scripted(&pair, |c| endless(c, b"HTTP/1.1 200 OK\r\n", b"X-Junk: yes\r\n", Duration::ZERO));
    let (r, took) = fetch(&pair, hostile("/headers"), Limits::default(), Duration::from_secs(8));
    assert!(matches!(r, Err(Error::Protocol(ref m)) if m == "more than 200 header lines"), "{:?}", r);
    assert!(took < Duration::from_secs(3), "{:?}", took);
    assert!(logged("HTTP download - http://10.77.0.2:8080/headers failed: more than 200 header lines."));
    server.join().unwrap();
}

#[test]
fn endless_header_line_ends_at_max_line() {
    if !root_or_skip("endless_header_line_ends_at_max_line", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let server = scripted(&pair, |c| endless(c, b"HTTP/1.1 200 OK\r\nX-Long: ", &[b'a'; 1024], Duration::ZERO));
    let (r, took) = fetch(&pair, hostile("/line"), Limits::default(), Duration::from_secs(8));
    assert!(matches!(r, Err(Error::Protocol(ref m)) if m == "reply line longer than 4096 bytes"), "{:?}", r);
    assert!(took < Duration::from_secs(3), "{:?}", took);
    assert!(logged("HTTP download - http://10.77.0.2:8080/line failed: reply line longer than 4096 bytes."));
    server.join().unwrap();
}

#[test]
fn slow_drip_ends_at_the_deadline() {
    if !root_or_skip("slow_drip_ends_at_the_deadline", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    // A valid reply whose body trickles in a byte every 100 ms: each read succeeds, only the
    // deadline can end it.
    let server = scripted(&pair, |c| {
        endless(c, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x", Duration::from_millis(100))
    });
    let (r, took) = fetch(&pair, hostile("/drip"), Limits::default(), Duration::from_secs(3));
    assert!(matches!(r, Err(Error::Timeout)), "{:?}", r);
    assert!(took >= Duration::from_millis(2900) && took < Duration::from_secs(6), "{:?}", took);
    assert!(logged("HTTP download - http://10.77.0.2:8080/drip failed: timeout."));
    server.join().unwrap();

    // The same in the header: the status line never ends.
    let server = scripted(&pair, |c| endless(c, b"HTTP/1.1 2", b"0", Duration::from_millis(200)));
    let (r, took) = fetch(&pair, hostile("/drip2"), Limits::default(), Duration::from_secs(2));
    assert!(matches!(r, Err(Error::Timeout)), "{:?}", r);
    assert!(took < Duration::from_secs(4), "{:?}", took);
    server.join().unwrap();
}

#[test]
fn announced_length_beyond_max_size_is_refused_unread() {
    if !root_or_skip("announced_length_beyond_max_size_is_refused_unread", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    // The body never comes: only refusing on the header ends this quickly.
    let server = scripted(&pair, |c| {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n");
        let mut b = [0u8; 16];
        let _ = c.read(&mut b);
    });
    let limits = Limits { max_size: 1 << 20, ..Limits::default() };
    let (r, took) = fetch(&pair, hostile("/huge"), limits, Duration::from_secs(8));
    assert!(matches!(r, Err(Error::TooLarge(n)) if n == 1 << 20), "{:?}", r);
    assert!(took < Duration::from_secs(2), "{:?}", took);
    assert!(logged("HTTP download - http://10.77.0.2:8080/huge failed: file larger than 1048576 bytes."));
    server.join().unwrap();
}

#[test]
fn tls_garbage_and_tls_drip() {
    if !root_or_skip("tls_garbage_and_tls_drip", &["ip"]) || !cfg!(feature = "tls") {
        return;
    }
    let pair = Pair::new();
    // Plain HTTP in answer to the ClientHello.
    let server = raw_server(&pair, |c| {
        let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let r = quick(&pair, request(Scheme::Https, CLI4, Some(8080), "/x"));
    assert!(matches!(r, Err(Error::Protocol(ref m)) if m.starts_with("TLS")), "{:?}", r);
    server.join().unwrap();

    // A handshake record header, then its body a byte every 100 ms: each read inside the
    // TLS layer succeeds, only the deadline ends it.
    let server = raw_server(&pair, |c| endless(c, b"\x16\x03\x03\x40\x00", b"\x02", Duration::from_millis(100)));
    let (r, took) =
        fetch(&pair, request(Scheme::Https, CLI4, Some(8080), "/tlsdrip"), Limits::default(), Duration::from_secs(2));
    assert!(matches!(r, Err(Error::Timeout)), "{:?}", r);
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(4), "{:?}", took);
    assert!(logged("HTTP download - https://10.77.0.2:8080/tlsdrip failed: timeout."));
    server.join().unwrap();
}

/// A one-connection server on 10.77.0.2:8080 that reads one block (a ClientHello) and runs
/// `script`.
fn raw_server(pair: &Pair, script: impl FnOnce(&mut TcpStream) + Send + 'static) -> JoinHandle<()> {
    let ns = pair.cli.0.clone();
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        enter_netns(&ns);
        let listener = TcpListener::bind("10.77.0.2:8080").unwrap();
        tx.send(()).unwrap();
        let (mut c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 4096];
        let _ = c.read(&mut b);
        script(&mut c);
    });
    rx.recv_timeout(Duration::from_secs(5)).expect("server did not start");
    handle
}

// ---------------------------------------------------------------------------------------
// http_program

fn program_ctx<T>(limits: Limits, deadline: Duration, f: impl FnOnce(&Context) -> T) -> T {
    log_file();
    let policy = policy();
    let ctx = Context {
        local_ip: "10.77.0.1".parse().unwrap(),
        attacker: CLI4.parse().unwrap(),
        ftp_host: None,
        policy: &policy,
        limits: &limits,
        deadline: Instant::now() + deadline,
    };
    f(&ctx)
}

fn script(dir: &TempDir, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

#[test]
fn program_gets_the_url_as_one_argument_without_a_shell() {
    let dir = TempDir::new("httpprog");
    let pwned = dir.join("pwned");
    let url = format!("http://x/;touch${{IFS}}{}", pwned.display());
    // A program that prints its arguments one per line.
    let args = script(&dir, "args", "for a in \"$@\"; do printf '%s\\n' \"$a\"; done");
    let got = program_ctx(Limits::default(), Duration::from_secs(5), |ctx| {
        http::fetch_with_program(&args, " -q  -O-\t-t1 ", &url, ctx)
    })
    .unwrap();
    assert_eq!(String::from_utf8(got.data).unwrap(), format!("-q\n-O-\n-t1\n{url}\n"));
    assert_eq!(got.remote, SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0));
    assert_eq!(got.uri, url);
    assert!(!pwned.exists(), "the URL was run by a shell");

    // With the real wget too (it fails to resolve "x": an error, and still no file).
    if common::have("wget") {
        let r = program_ctx(Limits::default(), Duration::from_secs(5), |ctx| {
            http::fetch_with_program("/usr/bin/wget", "-q -t1 -T1 -O-", &url, ctx)
        });
        assert!(r.as_ref().map_or(true, |f| f.data.is_empty()), "{:?}", r.map(|f| f.data.len()));
        assert!(!pwned.exists(), "the URL was run by a shell");
    } else {
        let part = "program_gets_the_url_as_one_argument_without_a_shell (its wget part)";
        common::skip(part, "needs the `wget` command");
    }

    for bad in ["-O/etc/passwd", "http://x/a b", "http://x/\n", "http://x/\u{e9}", ""] {
        let r =
            program_ctx(Limits::default(), Duration::from_secs(5), |ctx| http::fetch_with_program(&args, "", bad, ctx));
        assert!(matches!(r, Err(Error::Refused(_))), "{:?}: {:?}", bad, r);
    }
    // The refused URL is logged on one line.
    assert!(logged("HTTP download - http://x/\\x0a failed: refused"));
    // A literal forbidden address is refused before the program runs.
    let r = program_ctx(Limits::default(), Duration::from_secs(5), |ctx| {
        http::fetch_with_program(&args, "", "http://127.0.0.1/x", ctx)
    });
    assert!(matches!(r, Err(Error::Refused(_))), "{:?}", r);
}

#[test]
fn program_is_killed_at_the_deadline_and_capped_in_size() {
    let dir = TempDir::new("httpprog");
    let pidfile = dir.join("pid");
    let sleeper = script(&dir, "sleeper", &format!("echo $$ > {}\nprintf partial\nexec sleep 30", pidfile.display()));
    let start = Instant::now();
    let r = program_ctx(Limits::default(), Duration::from_secs(1), |ctx| {
        http::fetch_with_program(&sleeper, "", "http://10.0.0.9/x", ctx)
    });
    assert!(matches!(r, Err(Error::Timeout)), "{:?}", r);
    assert!(start.elapsed() < Duration::from_secs(3));
    let pid = common::read(&pidfile).trim().to_string();
    assert!(!pid.is_empty());
    assert!(wait_until(Duration::from_secs(2), || {
        common::proc_status(pid.parse().unwrap(), "State").is_none_or(|s| s.starts_with('Z'))
    }));
    assert!(logged("HTTP download - http://10.0.0.9/x failed: timeout."));

    let flood = script(&dir, "flood", "exec head -c 100000 /dev/zero");
    let limits = Limits { max_size: 1000, ..Limits::default() };
    let r = program_ctx(limits, Duration::from_secs(5), |ctx| {
        http::fetch_with_program(&flood, "", "http://10.0.0.9/y", ctx)
    });
    assert!(matches!(r, Err(Error::TooLarge(1000))), "{:?}", r);

    let failing = script(&dir, "failing", "exit 8");
    let r = program_ctx(Limits::default(), Duration::from_secs(5), |ctx| {
        http::fetch_with_program(&failing, "", "http://10.0.0.9/z", ctx)
    });
    assert!(matches!(r, Err(Error::Protocol(ref m)) if m.contains("exit status: 8")), "{:?}", r);
    let r = program_ctx(Limits::default(), Duration::from_secs(5), |ctx| {
        http::fetch_with_program("/nonexistent/wget", "", "http://10.0.0.9/z", ctx)
    });
    assert!(matches!(r, Err(Error::Io(_))), "{:?}", r);
}

#[test]
fn program_wget_fetches_from_nginx() {
    if !root_or_skip("program_wget_fetches_from_nginx", &["ip", "nginx", "openssl", "wget"]) {
        return;
    }
    let pair = Pair::new();
    let nginx = Nginx::start(&pair);
    let got = in_netns(&pair.srv.0, || {
        program_ctx(Limits::default(), Duration::from_secs(8), |ctx| {
            http::fetch_with_program("/usr/bin/wget", "-q -t1 -T2 -O-", "http://10.77.0.2/file", ctx)
        })
    })
    .unwrap();
    assert!(got.data == nginx.file(), "{} bytes", got.data.len());
    assert_eq!(got.uri, "http://10.77.0.2/file");
}

#[test]
fn requests_leave_from_the_attacked_address() {
    if !root_or_skip("requests_leave_from_the_attacked_address", &["ip", "nginx", "openssl"]) {
        return;
    }
    let pair = Pair::new();
    let nginx = Nginx::start(&pair);
    // A second sensor address, as on a multi-homed sensor.
    common::run_ok("ip", &["-n", &pair.srv.0, "addr", "add", "10.77.0.5/24", "dev", "ht-s"]);
    log_file();
    for (attacked, seen) in [("10.77.0.5", "10.77.0.5"), ("10.77.0.9", "10.77.0.1")] {
        let got = in_netns(&pair.srv.0, move || {
            let policy = policy();
            let limits = Limits::default();
            let ctx = Context {
                local_ip: attacked.parse().unwrap(),
                attacker: CLI4.parse().unwrap(),
                ftp_host: None,
                policy: &policy,
                limits: &limits,
                deadline: Instant::now() + Duration::from_secs(8),
            };
            http::fetch(&url("/empty"), &ctx)
        });
        assert!(got.is_ok(), "{attacked}: {got:?}");
        // 10.77.0.9 is not an address of the sensor: the request leaves from its own.
        let last = common::read(&nginx.dir.join("access.log")).lines().last().unwrap_or_default().to_string();
        assert!(last.starts_with(&format!("{seen} ")), "attacked {attacked}: {last}");
    }
}
