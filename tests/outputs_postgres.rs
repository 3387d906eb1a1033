//! plugin-submitPostgres against a real PostgreSQL server (root: the server runs as the
//! `postgres` user in a scratch directory, on a free loopback port, and is killed by PID).
//! Attacks with 0, 1 and 2 downloads and hostile strings are written and read back; a sample
//! seen twice is one row; the database being down at start or going away later never blocks
//! `submit`, and the queued records arrive once it is back; a full queue counts its drops;
//! at shutdown what is queued is written over one more connection attempt.
#![cfg(feature = "postgres")]

mod common;

use common::{pg_bin, root_or_skip, skip, wait_until, TempDir};
use honeytrap::attack::{Attack, Download, Payload, ProxyConn};
use honeytrap::config::{Mode, Plugin, PluginConfig, Proto, Span};
use honeytrap::pipeline::output::postgres::{SubmitPostgres, Submitted, SHUTDOWN_WAIT};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const USER: &str = "ht";
const PASS: &str = "s3cr'et\\pw";
const DB: &str = "honeytrap";

fn ready(test: &str) -> Option<PathBuf> {
    if !root_or_skip(test, &["setpriv", "psql"]) {
        return None;
    }
    let bin = pg_bin();
    if bin.is_none() {
        skip(test, "needs the PostgreSQL server (apt-get install postgresql)");
    }
    bin
}

/// A scratch cluster with superuser `ht` (SCRAM password) and database `honeytrap`.
struct Pg {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    server: Option<Child>,
}

/// `program args…` as the postgres user (setpriv execs: the child's PID is the program's).
fn as_postgres(program: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=postgres", "--regid=postgres", "--clear-groups", "--"]).arg(program);
    c
}

impl Pg {
    fn init(bin: PathBuf, name: &str) -> Pg {
        let dir = TempDir::new(name);
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASS).unwrap();
        let out = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", USER, "--auth-host=scram-sha-256", "--auth-local=trust", "--no-locale", "-E", "UTF8"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Pg { bin, dir, port, server: None }
    }

    fn start(&mut self) {
        let child = as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-k"])
            .arg(self.dir.path())
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("server.log")).unwrap())
            .spawn()
            .unwrap();
        self.server = Some(child);
        let up = wait_until(Duration::from_secs(15), || self.psql_try("postgres", "SELECT 1").is_some());
        assert!(
            up,
            "postgres did not start: {}",
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }

    /// Fast shutdown (SIGINT): clients are disconnected.
    fn stop(&mut self) {
        if let Some(mut c) = self.server.take() {
            common::run_ok("kill", &["-INT", &c.id().to_string()]);
            let gone = wait_until(Duration::from_secs(10), || c.try_wait().unwrap().is_some());
            if !gone {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    fn psql_try(&self, db: &str, sql: &str) -> Option<String> {
        let out = Command::new("psql")
            .env("PGPASSWORD", PASS)
            .env("PGCONNECT_TIMEOUT", "3")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, "-d", db])
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-c", sql])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn psql(&self, sql: &str) -> String {
        self.psql_try(DB, sql).unwrap_or_else(|| panic!("psql failed: {sql}"))
    }

    fn create_db(&self) {
        assert!(self.psql_try("postgres", &format!("CREATE DATABASE {DB}")).is_some());
    }

    fn client(&self) -> postgres::Client {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(USER)
            .password(PASS)
            .dbname(DB)
            .connect_timeout(Duration::from_secs(5))
            .connect(postgres::NoTls)
            .unwrap()
    }

    fn plugin(&self, sensor_id: Option<&str>) -> PluginConfig {
        let port = self.port.to_string();
        let mut options = vec![
            ("db_host", "127.0.0.1"),
            ("db_port", port.as_str()),
            ("db_name", DB),
            ("db_user", USER),
            ("db_pass", PASS),
        ];
        if let Some(s) = sensor_id {
            options.push(("sensor_id", s));
        }
        PluginConfig {
            plugin: Plugin::SubmitPostgres,
            options: options.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            span: Span { file: PathBuf::from("honeytrap.conf"), line: 1, col: 1 },
        }
    }

    fn count(&self, table: &str) -> i64 {
        self.psql(&format!("SELECT count(*) FROM {table}")).parse().unwrap()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn at(secs: u64, micros: u32) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(secs, micros * 1000)
}

fn attack(remote: &str, local: &str, data: &[u8]) -> Attack {
    let r: SocketAddr = remote.parse().unwrap();
    let l: SocketAddr = local.parse().unwrap();
    let mut a = Attack::new(Proto::Tcp, l, r, Mode::Normal, at(1_700_000_000, 123_456));
    a.end = at(1_700_000_002, 654_321);
    a.payload = Payload::new(data.to_vec());
    a
}

fn wait_written(out: &SubmitPostgres, n: u64, secs: u64) -> bool {
    wait_until(Duration::from_secs(secs), || out.stats().0 >= n)
}

#[test]
fn attacks_downloads_and_hostile_strings_are_written_and_read_back() {
    let Some(bin) = ready("attacks_downloads_and_hostile_strings_are_written_and_read_back") else { return };
    let mut pg = Pg::init(bin, "pg-write");
    pg.start();
    pg.create_db();
    // The shipped schema loads with psql, and loading it again changes nothing.
    for _ in 0..2 {
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/honeytrap.sql");
        let st = Command::new("psql")
            .env("PGPASSWORD", PASS)
            .args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U", USER, "-d", DB, "-X", "-q"])
            .args(["-v", "ON_ERROR_STOP=1", "-f"])
            .arg(schema)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "contrib/honeytrap.sql does not load");
    }

    let out = SubmitPostgres::start(&pg.plugin(Some("fleet-7 'north'")), "ignored").unwrap();
    let all_bytes: Vec<u8> = (0..=255u8).collect();

    // 1: no download, every byte value, an IPv6 UDP attack.
    let mut a1 = attack("[2001:db8::5]:5353", "[fd77::1]:53", &all_bytes);
    a1.proto = Proto::Udp;
    // 2: one download with hostile strings, proxy side.
    let mut a2 = attack("198.51.100.7:40000", "192.0.2.1:21", b"USER x\r\n");
    a2.mode = Mode::Proxy;
    a2.proxy = Some(ProxyConn {
        local: "192.0.2.1:50000".parse().unwrap(),
        remote: "203.0.113.9:21".parse().unwrap(),
        payload: Payload::new(b"220 hi\r\n".to_vec()),
    });
    let hostile_name = "x'); DROP TABLE attacks; --\\\0\"$1é";
    let mut d = Download::new("ftp", b"MZ\x90\x00sample".to_vec());
    d.remote = Some("198.51.100.7:21".parse().unwrap());
    d.user = Some("O'Brien\\".into());
    d.pass = Some("\0".into());
    d.filename = Some(hostile_name.into());
    d.uri = Some(String::from_utf8_lossy(b"ftp://\xff\xfe/a").into_owned());
    a2.downloads.push(d.clone());
    a2.dl_tries = 1;
    // 3: two downloads, one of them the sample of attack 2 again, earlier in time.
    let mut a3 = attack("198.51.100.8:40001", "192.0.2.1:69", b"");
    a3.start = at(1_600_000_000, 0);
    a3.is_virtual = true;
    a3.downloads.push(Download::new("tftp", b"MZ\x90\x00sample".to_vec()));
    let mut other = Download::new("http", b"#!/bin/sh\n".to_vec());
    other.uri = Some("http://203.0.113.5/x.sh".into());
    a3.downloads.push(other);
    a3.dl_tries = 2;
    // 4: nothing at all: not written.
    let a4 = attack("198.51.100.9:1", "192.0.2.1:22", b"");

    for a in [&a1, &a2, &a3] {
        assert_eq!(out.submit(a), Submitted::Queued);
    }
    assert_eq!(out.submit(&a4), Submitted::Skipped);
    assert!(wait_written(&out, 3, 15), "written: {:?}", out.stats());
    assert_eq!(out.stats(), (3, 0));

    let mut c = pg.client();
    let sensors = c.query("SELECT id, name FROM sensors", &[]).unwrap();
    assert_eq!(sensors.len(), 1);
    assert_eq!(sensors[0].get::<_, &str>(1), "fleet-7 'north'");
    let sensor: i32 = sensors[0].get(0);

    let rows = c
        .query(
            "SELECT id, sensor, start_time, end_time, protocol, src_ip, src_port, dst_ip, dst_port, mode, is_virtual, \
             payload_length, payload_md5, payload_sha256, payload, proxy_local_ip, proxy_local_port, \
             proxy_remote_ip, proxy_remote_port, proxy_payload_length, proxy_payload_md5, proxy_payload, dl_tries \
             FROM attacks ORDER BY id",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 3);
    let r = &rows[0];
    assert_eq!(r.get::<_, i32>("sensor"), sensor);
    assert_eq!(r.get::<_, SystemTime>("start_time"), a1.start, "microseconds kept");
    assert_eq!(r.get::<_, SystemTime>("end_time"), a1.end);
    assert_eq!(r.get::<_, &str>("protocol"), "udp");
    assert_eq!(r.get::<_, IpAddr>("src_ip"), "2001:db8::5".parse::<IpAddr>().unwrap());
    assert_eq!((r.get::<_, i32>("src_port"), r.get::<_, i32>("dst_port")), (5353, 53));
    assert_eq!(r.get::<_, IpAddr>("dst_ip"), "fd77::1".parse::<IpAddr>().unwrap());
    assert_eq!((r.get::<_, i16>("mode"), r.get::<_, bool>("is_virtual")), (1, false));
    assert_eq!(r.get::<_, i64>("payload_length"), 256);
    assert_eq!(r.get::<_, &str>("payload_md5"), a1.payload.md5);
    assert_eq!(r.get::<_, &str>("payload_sha256"), a1.payload.sha256());
    assert_eq!(r.get::<_, Vec<u8>>("payload"), all_bytes, "bytes round-trip exactly");
    assert_eq!(r.get::<_, Option<IpAddr>>("proxy_local_ip"), None);
    assert_eq!(r.get::<_, i32>("dl_tries"), 0);

    let r = &rows[1];
    assert_eq!(r.get::<_, i16>("mode"), 8);
    assert_eq!(r.get::<_, &str>("protocol"), "tcp");
    assert_eq!(r.get::<_, Option<IpAddr>>("proxy_local_ip"), Some("192.0.2.1".parse().unwrap()));
    assert_eq!(r.get::<_, Option<i32>>("proxy_local_port"), Some(50000));
    assert_eq!(r.get::<_, Option<IpAddr>>("proxy_remote_ip"), Some("203.0.113.9".parse().unwrap()));
    assert_eq!(r.get::<_, Option<i32>>("proxy_remote_port"), Some(21));
    assert_eq!(r.get::<_, Option<i64>>("proxy_payload_length"), Some(8));
    assert_eq!(r.get::<_, Option<String>>("proxy_payload_md5"), Some(a2.proxy.as_ref().unwrap().payload.md5.clone()));
    assert_eq!(r.get::<_, Option<Vec<u8>>>("proxy_payload"), Some(b"220 hi\r\n".to_vec()));
    assert_eq!(r.get::<_, i32>("dl_tries"), 1);
    let id2: i64 = r.get("id");

    let r = &rows[2];
    assert_eq!((r.get::<_, &str>("protocol"), r.get::<_, bool>("is_virtual")), ("raw", true));
    assert_eq!((r.get::<_, i64>("payload_length"), r.get::<_, Vec<u8>>("payload")), (0, vec![]));
    let id3: i64 = r.get("id");

    let dls = c
        .query(
            "SELECT attack, type, uri, remote_ip, remote_port, username, password, filename, sample \
             FROM downloads ORDER BY id",
            &[],
        )
        .unwrap();
    assert_eq!(dls.len(), 3);
    let r = &dls[0];
    assert_eq!(r.get::<_, i64>("attack"), id2);
    assert_eq!(r.get::<_, &str>("type"), "ftp");
    assert_eq!(r.get::<_, Option<&str>>("filename"), Some("x'); DROP TABLE attacks; --\\\u{fffd}\"$1é"));
    assert_eq!(r.get::<_, Option<&str>>("username"), Some("O'Brien\\"));
    assert_eq!(r.get::<_, Option<&str>>("password"), Some("\u{fffd}"));
    assert_eq!(r.get::<_, Option<&str>>("uri"), Some("ftp://\u{fffd}\u{fffd}/a"));
    assert_eq!(r.get::<_, Option<IpAddr>>("remote_ip"), Some("198.51.100.7".parse().unwrap()));
    assert_eq!(r.get::<_, Option<i32>>("remote_port"), Some(21));
    assert_eq!(r.get::<_, &str>("sample"), d.payload.sha256());
    assert_eq!((dls[1].get::<_, i64>("attack"), dls[2].get::<_, i64>("attack")), (id3, id3));
    assert_eq!(dls[1].get::<_, &str>("type"), "tftp");
    assert_eq!(dls[1].get::<_, Option<IpAddr>>("remote_ip"), None);
    assert_eq!(dls[1].get::<_, Option<&str>>("filename"), None);
    assert_eq!(dls[2].get::<_, Option<&str>>("uri"), Some("http://203.0.113.5/x.sh"));

    // The sample of attacks 2 and 3 is one row, first seen at the earlier attack.
    assert_eq!(pg.count("samples"), 2);
    let s = c
        .query_one(
            "SELECT md5, sha512, size, data, first_seen, last_seen FROM samples WHERE sha256 = $1",
            &[&d.payload.sha256()],
        )
        .unwrap();
    assert_eq!((s.get::<_, &str>(0), s.get::<_, &str>(1)), (d.payload.md5.as_str(), d.payload.sha512.as_str()));
    assert_eq!(s.get::<_, i64>(2), 10);
    assert_eq!(s.get::<_, Option<Vec<u8>>>(3), Some(b"MZ\x90\x00sample".to_vec()));
    assert_eq!((s.get::<_, SystemTime>(4), s.get::<_, SystemTime>(5)), (a3.start, a2.start));
    // Nothing was injected: every table is still there.
    assert_eq!(
        pg.psql("SELECT count(*) FROM pg_tables WHERE tablename IN ('sensors','samples','attacks','downloads')"),
        "4"
    );

    // Over the Unix socket (db_host is its directory), without a password (local trust), as
    // a second sensor.
    let mut local = pg.plugin(Some("sensor-unix"));
    local.options.retain(|(k, _)| k != "db_host" && k != "db_pass");
    local.options.push(("db_host".into(), pg.dir.path().display().to_string()));
    let out2 = SubmitPostgres::start(&local, "ignored").unwrap();
    assert_eq!(out2.submit(&a1), Submitted::Queued);
    assert!(wait_written(&out2, 1, 15), "unix socket: {:?}", out2.stats());
    drop(out2);
    assert_eq!(
        pg.psql("SELECT s.name FROM attacks a JOIN sensors s ON s.id = a.sensor ORDER BY a.id DESC LIMIT 1"),
        "sensor-unix"
    );

    // Clean shutdown flushes what is queued.
    for _ in 0..20 {
        assert_eq!(out.submit(&a2), Submitted::Queued);
    }
    drop(out);
    assert_eq!(pg.count("attacks"), 24);
    assert_eq!(pg.count("samples"), 2);
    pg.stop();
}

#[test]
fn database_down_never_blocks_and_queued_records_arrive() {
    let Some(bin) = ready("database_down_never_blocks_and_queued_records_arrive") else { return };
    let mut pg = Pg::init(bin, "pg-down");
    // Nothing listens yet: submit returns at once, records wait in the queue.
    let out = SubmitPostgres::start_with_queue(&pg.plugin(None), "sensor-b", 5).unwrap();
    let a = attack("198.51.100.7:40000", "192.0.2.1:445", b"\x00\x00\x00\x85\xffSMB");
    let t = Instant::now();
    let results: Vec<Submitted> = (0..8).map(|_| out.submit(&a)).collect();
    assert!(t.elapsed() < Duration::from_millis(500), "submit blocked: {:?}", t.elapsed());
    let queued = results.iter().filter(|r| **r == Submitted::Queued).count() as u64;
    // 5 in the queue, at most one more held by the worker while it retries; the rest dropped.
    assert!((5..=6).contains(&queued), "{results:?}");
    assert_eq!(out.stats(), (0, 8 - queued));

    // The database comes up (empty: the worker creates the tables) and the records arrive.
    pg.start();
    pg.create_db();
    assert!(wait_written(&out, queued, 20), "stats {:?}", out.stats());
    assert_eq!(pg.count("attacks"), queued as i64);
    assert_eq!(pg.psql("SELECT name FROM sensors"), "sensor-b", "sensor name from the configuration");

    // The database goes away under a live connection; submit still returns at once, and the
    // records arrive after it is back.
    pg.stop();
    let t = Instant::now();
    for _ in 0..3 {
        assert_eq!(out.submit(&a), Submitted::Queued);
    }
    assert!(t.elapsed() < Duration::from_millis(500), "submit blocked: {:?}", t.elapsed());
    pg.start();
    assert!(wait_written(&out, queued + 3, 20), "stats {:?}", out.stats());
    assert_eq!(out.stats(), (queued + 3, 8 - queued));
    assert_eq!(pg.count("attacks"), queued as i64 + 3);
    drop(out);
    pg.stop();
}

#[test]
fn shutdown_writes_the_queue_over_one_more_connection_attempt() {
    let Some(bin) = ready("shutdown_writes_the_queue_over_one_more_connection_attempt") else { return };
    let mut pg = Pg::init(bin, "pg-shutdown");
    // The server runs but the database does not exist yet: every connection attempt fails
    // and the records wait in the queue.
    pg.start();
    let out = SubmitPostgres::start_with_queue(&pg.plugin(None), "sensor-c", 10).unwrap();
    let a = attack("198.51.100.9:40000", "192.0.2.1:80", b"GET / HTTP/1.0\r\n\r\n");
    for _ in 0..3 {
        assert_eq!(out.submit(&a), Submitted::Queued);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(out.stats(), (0, 0));
    // The database appears just before the output is dropped, while the sender waits its
    // back-off: the shutdown's own connection attempt writes the queue.
    pg.create_db();
    let t = Instant::now();
    drop(out);
    assert!(t.elapsed() < SHUTDOWN_WAIT, "{:?}", t.elapsed());
    assert_eq!(pg.count("attacks"), 3, "written at shutdown");
    pg.stop();
}
