//! The FTP download client against real servers (pyftpdlib, vsftpd) started in the client
//! namespace of a veth pair, and against scripted hostile servers. The client runs in the
//! sensor namespace bound to 10.77.0.1 / fd77::1, as the honeypot would. Needs root (network
//! namespaces); the real servers come from `.ci/run` (python3-pyftpdlib, vsftpd).

mod common;

use common::{in_netns, root_or_skip, Pair, PeerServer, TempDir, CLI4, CLI6, SRV4, SRV6};
use honeytrap::log::{self, Level};
use honeytrap::pipeline::download::{ftp, Context, Error, Fetched, Limits, Policy};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const PYTHON: &str = "/usr/bin/python3";
const SIZE: usize = 300_000;

/// The log of this test binary, started afresh by each run (all tests share it; each looks
/// for text only it produces).
fn log_file() -> &'static Path {
    static LOG: OnceLock<PathBuf> = OnceLock::new();
    LOG.get_or_init(|| {
        let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("download_ftp.log");
        let _ = std::fs::remove_file(&p);
        log::set_level(Level::Debug);
        log::set_file(&p, log::open_file(&p).unwrap());
        p
    })
}

fn log_has(needle: &str) -> bool {
    std::fs::read_to_string(log_file()).is_ok_and(|s| s.contains(needle))
}

/// A few hundred KB of pseudo-random bytes (xorshift), different per seed.
fn payload(seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One `fetch` call: run in the sensor namespace from `local`, with `limits` and a deadline
/// `secs` away.
struct Job {
    local: &'static str,
    ftp_host: Option<&'static str>,
    server: SocketAddr,
    cred: Option<(&'static str, &'static str)>,
    path: &'static str,
    limits: Limits,
    secs: u64,
}

fn job(local: &'static str, server: SocketAddr, path: &'static str) -> Job {
    Job { local, ftp_host: None, server, cred: None, path, limits: limits(), secs: 20 }
}

impl Job {
    /// The result and how long it took.
    fn run(self, pair: &Pair) -> (Result<Fetched, Error>, Duration) {
        log_file();
        in_netns(&pair.srv.0, move || {
            let policy = Policy { allow_local: false, sensor: vec![ip(SRV4), ip(SRV6)] };
            let start = Instant::now();
            let ctx = Context {
                local_ip: ip(self.local),
                attacker: ip(CLI4),
                ftp_host: self.ftp_host.map(ip),
                policy: &policy,
                limits: &self.limits,
                deadline: start + Duration::from_secs(self.secs),
            };
            let (u, p) = self.cred.map_or((None, None), |(u, p)| (Some(u), Some(p)));
            let r = ftp::fetch(self.server, u, p, self.path, &ctx);
            (r, start.elapsed())
        })
    }
}

fn limits() -> Limits {
    Limits { max_size: 1 << 20, io_timeout: Duration::from_secs(5), max_redirects: 0, max_line: 512, max_lines: 100 }
}

fn assert_file(r: &Result<Fetched, Error>, want: &[u8]) {
    let got = match r {
        Ok(f) => f,
        Err(e) => panic!("download failed: {} ({:?})", e, e),
    };
    assert_eq!(got.data.len(), want.len());
    assert_eq!(honeytrap::attack::md5_hex(&got.data), honeytrap::attack::md5_hex(want));
}

type Server = PeerServer;

/// pyftpdlib with user foo/bar and anonymous access to `root`; `refuse` lists commands
/// answered with `500` (to force one transfer mode).
const PYFTPD: &str = r#"
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
root, host, port, refuse = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
auth = DummyAuthorizer()
auth.add_user("foo", "bar", root, perm="elr")
auth.add_anonymous(root)
class Handler(FTPHandler):
    pass
def refused(self, line):
    self.respond("500 Command disabled by the test.")
for cmd in refuse:
    setattr(Handler, "ftp_" + cmd, refused)
Handler.authorizer = auth
FTPServer((host, port), Handler).serve_forever()
"#;

fn pyftpd(pair: &Pair, dir: &TempDir, host: &str, refuse: &[&str]) -> (Server, SocketAddr) {
    let script = dir.join("server.py");
    std::fs::write(&script, PYFTPD).unwrap();
    let root = dir.join("root");
    let mut args = vec![script.to_str().unwrap(), root.to_str().unwrap(), host, "2121"];
    args.extend_from_slice(refuse);
    let mut s = PeerServer::spawn(pair, dir.join("server.out"), PYTHON, &args);
    let addr = SocketAddr::new(ip(host), 2121);
    s.wait_ready(pair, addr);
    (s, addr)
}

/// vsftpd, anonymous only, with `extra` configuration lines.
fn vsftpd(pair: &Pair, dir: &TempDir, extra: &str) -> (Server, SocketAddr) {
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let conf = dir.join("vsftpd.conf");
    std::fs::write(
        &conf,
        format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address={CLI4}\nlisten_port=2121\nbackground=NO\n\
             anonymous_enable=YES\nlocal_enable=NO\nwrite_enable=NO\nanon_root={root}\n\
             no_anon_password=YES\nrun_as_launching_user=YES\nsecure_chroot_dir={empty}\n\
             seccomp_sandbox=NO\nconnect_from_port_20=NO\nxferlog_enable=NO\nsyslog_enable=NO\n\
             vsftpd_log_file={log}\n{extra}\n",
            root = dir.join("root").display(),
            empty = empty.display(),
            log = dir.join("vsftpd.log").display(),
        ),
    )
    .unwrap();
    let mut s = PeerServer::spawn(pair, dir.join("server.out"), "vsftpd", &[conf.to_str().unwrap()]);
    let addr = SocketAddr::new(ip(CLI4), 2121);
    s.wait_ready(pair, addr);
    (s, addr)
}

/// A scratch directory with `root/evil.exe` (world-readable, as vsftpd wants it).
fn served(name: &str, seed: u64) -> (TempDir, Vec<u8>) {
    let dir = TempDir::new(name);
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let data = payload(seed);
    std::fs::write(root.join("evil.exe"), &data).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(root.join("evil.exe"), std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, data)
}

#[test]
fn anonymous_download_from_vsftpd() {
    if !root_or_skip("anonymous_download_from_vsftpd", &["ip", "vsftpd"]) {
        return;
    }
    let pair = Pair::new();
    let (dir, data) = served("ftp-anon", 1);
    let (_srv, addr) = vsftpd(&pair, &dir, "pasv_enable=NO");
    let (r, _) = job(SRV4, addr, "evil.exe").run(&pair);
    assert_file(&r, &data);
    let f = r.unwrap();
    assert_eq!((f.remote, f.uri.as_str()), (addr, "ftp://10.77.0.2:2121/evil.exe"));
}

#[test]
fn user_and_password_in_active_mode_from_port_1080() {
    if !root_or_skip("user_and_password_in_active_mode_from_port_1080", &["ip", PYTHON]) {
        return;
    }
    let pair = Pair::new();
    let (dir, data) = served("ftp-user", 2);
    let (srv, addr) = pyftpd(&pair, &dir, CLI4, &["PASV", "EPSV"]);
    let (r, _) = Job { cred: Some(("foo", "bar")), ..job(SRV4, addr, "evil.exe") }.run(&pair);
    assert_file(&r, &data);
    assert_eq!(r.unwrap().uri, "ftp://foo:bar@10.77.0.2:2121/evil.exe");
    let out = srv.output();
    for cmd in
        ["<- USER foo", "<- PASS", "<- SYST", "<- TYPE I", "<- PORT 10,77,0,1,4,56", "<- RETR evil.exe", "<- QUIT"]
    {
        assert!(out.contains(cmd), "server saw no {cmd:?}:\n{out}");
    }
    assert!(!out.contains("<- PASV"), "{out}");
    assert!(log_has("FTP download - Sending 'PORT 10,77,0,1,4,56."));
}

#[test]
fn pasv_fallback_when_vsftpd_refuses_port() {
    if !root_or_skip("pasv_fallback_when_vsftpd_refuses_port", &["ip", "vsftpd"]) {
        return;
    }
    let pair = Pair::new();
    let (dir, data) = served("ftp-pasv", 3);
    let (_srv, addr) = vsftpd(&pair, &dir, "port_enable=NO");
    let (r, _) = Job { cred: Some(("anonymous", "x@y")), ..job(SRV4, addr, "evil.exe") }.run(&pair);
    assert_file(&r, &data);
    assert!(log_has("FTP download - Active mode refused"));
}

#[test]
fn ftp_host_is_announced_in_port() {
    if !root_or_skip("ftp_host_is_announced_in_port", &["ip", PYTHON]) {
        return;
    }
    let pair = Pair::new();
    let (dir, data) = served("ftp-nat", 4);
    // pyftpdlib refuses a PORT naming another host than the client (RFC 2577): the client
    // then falls back to passive mode.
    let (srv, addr) = pyftpd(&pair, &dir, CLI4, &[]);
    let (r, _) = Job { ftp_host: Some("192.0.2.7"), ..job(SRV4, addr, "evil.exe") }.run(&pair);
    assert_file(&r, &data);
    let out = srv.output();
    assert!(out.contains("<- PORT 192,0,2,7,4,56"), "{out}");
    assert!(out.contains("<- PASV"), "{out}");
}

#[test]
fn ipv6_eprt_and_epsv() {
    if !root_or_skip("ipv6_eprt_and_epsv", &["ip", PYTHON]) {
        return;
    }
    let pair = Pair::new();
    let (dir, data) = served("ftp-v6", 5);
    // Active only: EPRT.
    let (srv, addr) = pyftpd(&pair, &dir, CLI6, &["PASV", "EPSV"]);
    let (r, _) = Job { cred: Some(("foo", "bar")), ..job(SRV6, addr, "evil.exe") }.run(&pair);
    assert_file(&r, &data);
    let out = srv.output();
    assert!(out.contains("<- EPRT |2|fd77::1|1080|"), "{out}");
    drop(srv);
    // Passive only: EPSV.
    let (srv, addr) = pyftpd(&pair, &dir, CLI6, &["PORT", "EPRT"]);
    let (r, _) = job(SRV6, addr, "evil.exe").run(&pair);
    assert_file(&r, &data);
    assert!(srv.output().contains("<- EPSV"), "{}", srv.output());
}

#[test]
fn missing_file_is_a_protocol_error_at_once() {
    if !root_or_skip("missing_file_is_a_protocol_error_at_once", &["ip", PYTHON]) {
        return;
    }
    let pair = Pair::new();
    let (dir, _) = served("ftp-missing", 6);
    let (_srv, addr) = pyftpd(&pair, &dir, CLI4, &[]);
    let (r, took) = job(SRV4, addr, "nothere.exe").run(&pair);
    match r {
        Err(Error::Protocol(line)) => assert!(line.starts_with("550"), "{line}"),
        other => panic!("{other:?}"),
    }
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(log_has("FTP download - FTP error code received: 550"));
}

#[test]
fn file_larger_than_the_cap_is_abandoned() {
    if !root_or_skip("file_larger_than_the_cap_is_abandoned", &["ip", PYTHON]) {
        return;
    }
    let pair = Pair::new();
    let (dir, _) = served("ftp-big", 7);
    let (_srv, addr) = pyftpd(&pair, &dir, CLI4, &[]);
    let small = Limits { max_size: 100_000, ..limits() };
    let (r, _) = Job { limits: small, ..job(SRV4, addr, "evil.exe") }.run(&pair);
    assert!(matches!(r, Err(Error::TooLarge(100_000))), "{r:?}");
}

// ---- hostile servers: scripted, in the client namespace ----

/// A listener made in the client namespace (a socket stays in the namespace it was made in).
fn listen_cli(pair: &Pair, addr: &str) -> TcpListener {
    let addr = addr.to_string();
    in_netns(&pair.cli.0, move || TcpListener::bind(addr).unwrap())
}

/// Serves one control connection on `l` with `script`, on a thread.
fn script(l: TcpListener, script: impl FnOnce(TcpStream) + Send + 'static) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        if let Ok((s, _)) = l.accept() {
            s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
            script(s);
        }
    })
}

/// Reads commands and answers each by the first rule whose prefix matches (in order).
fn answer(s: &mut TcpStream, rules: &[(&str, &str)]) -> Option<String> {
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    if line.is_empty() {
        return None;
    }
    let reply = rules.iter().find(|(p, _)| line.starts_with(p)).map_or("502 No.\r\n", |(_, a)| a);
    s.write_all(reply.as_bytes()).ok()?;
    Some(line)
}

const LOGIN: &[(&str, &str)] =
    &[("USER", "331 Password.\r\n"), ("PASS", "230 In.\r\n"), ("SYST", "215 UNIX\r\n"), ("TYPE", "200 Ok.\r\n")];

#[test]
fn endless_reply_lines_end_at_max_lines() {
    if !root_or_skip("endless_reply_lines_end_at_max_lines", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let l = listen_cli(&pair, "10.77.0.2:2121");
    let t = script(l, |mut s| {
        for _ in 0..100_000 {
            if s.write_all(b"220-Welcome, and welcome again\r\n").is_err() {
                break;
            }
        }
    });
    let (r, took) = Job { secs: 10, ..job(SRV4, "10.77.0.2:2121".parse().unwrap(), "x") }.run(&pair);
    assert!(matches!(&r, Err(Error::Protocol(w)) if w.contains("more than 100 reply lines")), "{r:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(log_has("FTP download error - more than 100 reply lines, giving up."));
    t.join().unwrap();
}

#[test]
fn one_huge_reply_line_is_refused() {
    if !root_or_skip("one_huge_reply_line_is_refused", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let l = listen_cli(&pair, "10.77.0.2:2121");
    let t = script(l, |mut s| {
        let _ = s.write_all(b"220 ");
        let _ = s.write_all(&[b'A'; 100_000]);
    });
    let (r, took) = Job { secs: 10, ..job(SRV4, "10.77.0.2:2121".parse().unwrap(), "x") }.run(&pair);
    assert!(matches!(&r, Err(Error::Protocol(w)) if w.contains("longer than 512 bytes")), "{r:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(log_has("FTP download error - reply line longer than 512 bytes, giving up."));
    t.join().unwrap();
}

#[test]
fn pasv_to_loopback_is_refused() {
    if !root_or_skip("pasv_to_loopback_is_refused", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let l = listen_cli(&pair, "10.77.0.2:2121");
    let t = script(l, |mut s| {
        let _ = s.write_all(b"220 Hi\r\n");
        let mut rules = LOGIN.to_vec();
        rules.push(("PORT", "500 No active mode.\r\n"));
        rules.push(("PASV", "227 Entering Passive Mode (127,0,0,1,0,22).\r\n"));
        while answer(&mut s, &rules).is_some() {}
    });
    let (r, took) = Job { secs: 10, ..job(SRV4, "10.77.0.2:2121".parse().unwrap(), "x") }.run(&pair);
    assert!(matches!(&r, Err(Error::Refused(w)) if w.contains("127.0.0.1")), "{r:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(log_has("Refusing passive-mode data connection to 127.0.0.1:22"));
    t.join().unwrap();
}

#[test]
fn slow_drip_ends_at_the_deadline() {
    if !root_or_skip("slow_drip_ends_at_the_deadline", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let l = listen_cli(&pair, "10.77.0.2:2121");
    let t = script(l, |mut s| {
        for _ in 0..10 {
            if s.write_all(b"2").is_err() {
                break;
            }
            thread::sleep(Duration::from_secs(1));
        }
    });
    let (r, took) = Job { secs: 3, ..job(SRV4, "10.77.0.2:2121".parse().unwrap(), "x") }.run(&pair);
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(took >= Duration::from_millis(2900) && took < Duration::from_secs(6), "{took:?}");
    assert!(log_has("FTP download - Control connection timeout."));
    t.join().unwrap();
}

#[test]
fn endless_data_ends_at_max_size() {
    if !root_or_skip("endless_data_ends_at_max_size", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let l = listen_cli(&pair, "10.77.0.2:2121");
    let data = listen_cli(&pair, "10.77.0.2:2122");
    let t = script(l, move |mut s| {
        let _ = s.write_all(b"220 Hi\r\n");
        let mut rules = LOGIN.to_vec();
        rules.push(("PORT", "500 No active mode.\r\n"));
        rules.push(("PASV", "227 Entering Passive Mode (10,77,0,2,8,74).\r\n"));
        rules.push(("RETR", "150 Here it comes.\r\n"));
        while let Some(cmd) = answer(&mut s, &rules) {
            if cmd.starts_with("RETR") {
                if let Ok((mut d, _)) = data.accept() {
                    let block = [0x90u8; 8192];
                    while d.write_all(&block).is_ok() {}
                }
            }
        }
    });
    let small = Limits { max_size: 200_000, ..limits() };
    let (r, took) = Job { limits: small, secs: 10, ..job(SRV4, "10.77.0.2:2121".parse().unwrap(), "x") }.run(&pair);
    assert!(matches!(r, Err(Error::TooLarge(200_000))), "{r:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(log_has("FTP download error - File larger than 200000 bytes, giving up."));
    t.join().unwrap();
}

/// A server that accepts PORT but never connects: the client aborts and uses passive mode;
/// a data connection from another address than the server's is dropped.
#[test]
fn silent_active_mode_falls_back_to_pasv() {
    if !root_or_skip("silent_active_mode_falls_back_to_pasv", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    common::run_ok("ip", &["-n", &pair.cli.0, "addr", "add", "10.77.0.3/24", "dev", "ht-c"]);
    let l = listen_cli(&pair, "10.77.0.2:2121");
    let data = listen_cli(&pair, "10.77.0.2:2122");
    let want = payload(8);
    let file = want.clone();
    let cli = pair.cli.0.clone();
    let t = script(l, move |mut s| {
        let _ = s.write_all(b"220-Multi\r\n220 line\r\n");
        let mut rules = LOGIN.to_vec();
        rules.push(("PORT", "200 PORT ok.\r\n"));
        rules.push(("ABOR", "426 Aborted.\r\n226 Abort ok.\r\n"));
        rules.push(("PASV", "227 Entering Passive Mode (10,77,0,2,8,74).\r\n"));
        rules.push(("QUIT", "221 Bye.\r\n"));
        rules.push(("RETR", "")); // answered below
        let mut retr = 0;
        while let Some(cmd) = answer(&mut s, &rules) {
            if cmd.starts_with("PORT") {
                // A third party connects to the announced port: must be dropped.
                let cli = cli.clone();
                in_netns(&cli, || {
                    let to = "10.77.0.1:1080".parse().unwrap();
                    let third =
                        honeytrap::sys::net::tcp_connect_from(Some(ip("10.77.0.3")), &to, Duration::from_secs(2));
                    assert!(third.is_ok(), "{third:?}");
                });
            }
            if cmd.starts_with("RETR") {
                retr += 1;
                if retr == 1 {
                    let _ = s.write_all(b"150 Connecting (not really).\r\n");
                } else {
                    let _ = s.write_all(b"150 Here it comes.\r\n");
                    if let Ok((mut d, _)) = data.accept() {
                        let _ = d.write_all(&file);
                    }
                    let _ = s.write_all(b"226 Done.\r\n");
                }
            }
        }
    });
    let short = Limits { io_timeout: Duration::from_secs(1), ..limits() };
    let (r, took) =
        Job { limits: short, secs: 10, ..job(SRV4, "10.77.0.2:2121".parse().unwrap(), "evil.exe") }.run(&pair);
    assert_file(&r, &want);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(log_has("FTP download - No data connection from the server, trying passive mode."));
    assert!(log_has("Dropping data connection from 10.77.0.3:"));
    t.join().unwrap();
}

#[test]
fn closed_port_is_a_connect_error() {
    if !root_or_skip("closed_port_is_a_connect_error", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let to: SocketAddr = "10.77.0.2:2121".parse().unwrap();
    let (r, took) = job(SRV4, to, "x").run(&pair);
    assert!(
        matches!(&r, Err(Error::Connect(a, e)) if *a == to && e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{r:?}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The sensor itself and loopback are never FTP servers for a download.
    for bad in ["10.77.0.1:21", "127.0.0.1:21"] {
        let (r, _) = job(SRV4, bad.parse().unwrap(), "x").run(&pair);
        assert!(matches!(r, Err(Error::Refused(_))), "{bad}: {r:?}");
    }
}
