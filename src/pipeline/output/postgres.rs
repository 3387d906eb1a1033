//! The submitPostgres output (`plugin-submitPostgres`, SAVEDATA stage): every attack with its
//! downloads into a PostgreSQL database of our own schema (`contrib/honeytrap.sql`). Replaces
//! the C original's htm_submitPostgres.c.
//!
//! Deliberate differences (the C module's database, the mwcollect stored functions, cannot be
//! had any more, and the module was injectable):
//! * Our own schema: tables `sensors`, `attacks`, `downloads`, `samples` (keyed by SHA-256).
//!   It is applied at connect time when a table is missing.
//! * Parameterised statements only: no value is ever formatted into SQL text.
//! * Capture never waits for the database. [`SubmitPostgres::submit`] copies what it needs
//!   into the bounded queue of the network outputs' sender (`sender.rs`; [`QUEUE_RECORDS`]
//!   records, [`QUEUE_BYTES`] bytes, one record of any size when it is empty); when it is
//!   full the record is dropped and counted. The sender thread writes the queue over one
//!   connection and, while the database is down, retries with back-off (1 s doubling to
//!   60 s), logging at most one line per minute. Its `POLICY`: connect at start, try a
//!   record up to three times over live connections (on a new one at once when the
//!   connection broke), and at shutdown write what is queued, with one more connection
//!   attempt, waiting at most [`SHUTDOWN_WAIT`].
//! * Each attack and its downloads are one transaction; the sample rows are upserted.
//! * Attack and proxy bytes are stored up to [`PAYLOAD_MAX`], sample bytes up to
//!   [`SAMPLE_MAX`] (lengths and digests are always those of the whole data). Strings
//!   cannot hold NUL in PostgreSQL: each NUL becomes U+FFFD, and strings are capped at
//!   [`TEXT_MAX`] bytes.
//! * Like the C module, attacks without bytes and without downloads are not written (a port
//!   scan would fill the database). Virtual records are written, flagged `is_virtual`.
//! * No TLS: use a Unix socket (`db_host` starting with `/`) or a trusted network.

use super::sender::{spawn_sender, Event, LinkError, Policy, SendError, SendQueue, Sender, Transport};
use super::OutputError;
use crate::attack::{Attack, Download, Payload};
use crate::config::{Plugin, PluginConfig};
use crate::log::{more_since, Throttle};
use crate::stats::Output;
use crate::{log_err, log_info, log_notice, log_warn};
use postgres::{Client, Config, NoTls, Statement};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Records the queue holds at most.
pub const QUEUE_RECORDS: usize = 10_000;
/// Bytes (payloads and samples) the queue holds at most.
pub const QUEUE_BYTES: usize = 64 << 20;
/// Attack and proxy bytes stored per attack.
pub const PAYLOAD_MAX: usize = 1 << 20;
/// Largest sample whose bytes are stored (larger ones: `data` NULL).
pub const SAMPLE_MAX: usize = 8 << 20;
/// Longest attacker-chosen string stored, in bytes.
pub const TEXT_MAX: usize = 8192;
/// Connect timeout of one attempt.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long dropping a [`SubmitPostgres`] waits for the queue to be written.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// At most one line per this interval about an unreachable database or failed writes.
const LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Attempts to write one record over live connections before it is given up.
const WRITE_TRIES: u32 = 3;

/// How the sender writes this output's queue (see the module header).
const POLICY: Policy = Policy {
    tries: Some(WRITE_TRIES),
    backoff_after_broken: false,
    connect_early: true,
    drain: None,
    drain_reconnect: true,
    join_wait: SHUTDOWN_WAIT,
};

/// The schema (`contrib/honeytrap.sql`), applied when a table is missing.
pub const SCHEMA: &str = include_str!("../../../contrib/honeytrap.sql");

/// What [`SubmitPostgres::submit`] did with an attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// In the queue; the sender thread writes it.
    Queued,
    /// Not written by design (no bytes and no downloads).
    Skipped,
    /// The queue was full (or the output shut down): dropped and counted.
    Dropped,
}

/// The submitPostgres output, running: a bounded queue and its sender thread.
pub struct SubmitPostgres {
    queue: Arc<SendQueue<Record>>,
    sender: Sender,
    drop_log: Throttle,
}

/// Where and as whom to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DbConfig {
    host: String,
    port: u16,
    name: String,
    user: String,
    pass: Option<String>,
    sensor: String,
}

impl SubmitPostgres {
    /// Reads the `plugin-submitPostgres` options and starts the worker. `db_host`, `db_name`
    /// and `db_user` are required, `db_pass` may be left out (trust or peer
    /// authentication), `db_port` defaults to 5432, and `sensor_id` names the sensor
    /// (default `sensor_name`, the sensor name of the configuration). Does not connect: the
    /// sender thread does, and retries while the database is down.
    pub fn start(cfg: &PluginConfig, sensor_name: &str) -> Result<SubmitPostgres, OutputError> {
        SubmitPostgres::start_with_queue(cfg, sensor_name, QUEUE_RECORDS)
    }

    /// [`SubmitPostgres::start`] with a queue of `records` records (at least 1).
    pub fn start_with_queue(
        cfg: &PluginConfig,
        sensor_name: &str,
        records: usize,
    ) -> Result<SubmitPostgres, OutputError> {
        let db = parse_config(cfg, sensor_name)?;
        let queue = SendQueue::counted(records.max(1), QUEUE_BYTES, Output::Postgres).oversize_when_empty();
        let queue = Arc::new(queue);
        let sender = spawn_sender(Plugin::SubmitPostgres, Arc::clone(&queue), PgTransport::new(db), POLICY, false)?;
        Ok(SubmitPostgres { queue, sender, drop_log: Throttle::new(LOG_INTERVAL) })
    }

    /// Queues `attack` for writing; never blocks on the database. Called by the pipeline
    /// after the downloads, on the connection's thread.
    pub fn submit(&self, attack: &Attack) -> Submitted {
        if attack.payload.is_empty() && attack.downloads.is_empty() {
            return Submitted::Skipped;
        }
        let rec = Record::from_attack(attack);
        let size = rec.size();
        if self.queue.push(rec, size) {
            return Submitted::Queued;
        }
        // Counted by the queue.
        if self.drop_log.due().is_some() {
            let n = self.queue.stats().1;
            log_warn!("submitPostgres - Warning - Queue full, attack dropped ({} dropped in all).", n);
        }
        Submitted::Dropped
    }

    /// Attacks written so far, and attacks dropped (queue full, given up, or left in the
    /// queue at shutdown while the database was unreachable).
    pub fn stats(&self) -> (u64, u64) {
        self.queue.stats()
    }
}

impl Drop for SubmitPostgres {
    /// Stops taking records, lets the sender thread write what is queued (one more
    /// connection attempt if it is not connected), and waits for it at most
    /// [`SHUTDOWN_WAIT`].
    fn drop(&mut self) {
        if !self.sender.stop(&self.queue) {
            log_warn!("submitPostgres - Warning - Worker still busy at shutdown, left behind.");
        }
    }
}

fn parse_config(cfg: &PluginConfig, sensor_name: &str) -> Result<DbConfig, OutputError> {
    if cfg.plugin != Plugin::SubmitPostgres {
        return Err(OutputError::WrongPlugin { got: cfg.plugin, expect: Plugin::SubmitPostgres });
    }
    // The texts of this output always carried an `Error - ` of their own.
    let bad = |key, why| OutputError::BadOption { plugin: Plugin::SubmitPostgres, key, why };
    let required = |key: &'static str| match cfg.option(key) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(bad(key, format!("Error - Option {key} is required."))),
    };
    let port = match cfg.option("db_port") {
        None => 5432,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad("db_port", format!("Error - Invalid db_port: {p}"))),
        },
    };
    let sensor = match cfg.option("sensor_id") {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => sensor_name.to_string(),
    };
    if sensor.is_empty() {
        return Err(bad("sensor_id", "Error - No sensor name: set sensor_id.".to_string()));
    }
    Ok(DbConfig {
        host: required("db_host")?,
        port,
        name: required("db_name")?,
        user: required("db_user")?,
        pass: cfg.option("db_pass").map(str::to_string),
        sensor: text(&sensor),
    })
}

/// A string as stored: NUL (which text columns cannot hold) becomes U+FFFD, capped at
/// [`TEXT_MAX`] bytes on a character boundary.
pub fn text(s: &str) -> String {
    let mut end = s.len().min(TEXT_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].replace('\0', "\u{fffd}")
}

/// An address as stored: IPv4-mapped IPv6 addresses as IPv4.
fn ip(a: &SocketAddr) -> IpAddr {
    a.ip().to_canonical()
}

fn port(a: &SocketAddr) -> i32 {
    i32::from(a.port())
}

fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What one attack needs in the database, copied off the connection's thread.
#[derive(Clone, Debug)]
struct Record {
    start: SystemTime,
    end: SystemTime,
    protocol: &'static str,
    src: SocketAddr,
    dst: SocketAddr,
    mode: i16,
    is_virtual: bool,
    payload: Part,
    proxy: Option<(SocketAddr, SocketAddr, Part)>,
    dl_tries: i32,
    downloads: Vec<DownloadRec>,
}

/// Digests, length and (capped) bytes of a payload.
#[derive(Clone, Debug)]
struct Part {
    len: i64,
    md5: String,
    sha256: String,
    sha512: String,
    data: Option<Vec<u8>>,
}

impl Part {
    fn new(p: &Payload, cap: usize, whole_or_nothing: bool) -> Part {
        let data = if whole_or_nothing {
            (p.data.len() <= cap).then(|| p.data.clone())
        } else {
            Some(p.data[..p.data.len().min(cap)].to_vec())
        };
        Part {
            len: len_i64(p.len()),
            md5: p.md5.clone(),
            sha256: p.sha256().to_string(),
            sha512: p.sha512.clone(),
            data,
        }
    }

    fn bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or(&[])
    }
}

#[derive(Clone, Debug)]
struct DownloadRec {
    dl_type: String,
    uri: Option<String>,
    remote: Option<SocketAddr>,
    user: Option<String>,
    pass: Option<String>,
    filename: Option<String>,
    sample: Part,
}

impl DownloadRec {
    fn new(d: &Download) -> DownloadRec {
        let t = |s: &Option<String>| s.as_deref().map(text);
        DownloadRec {
            dl_type: text(&d.dl_type),
            uri: t(&d.uri),
            remote: d.remote,
            user: t(&d.user),
            pass: t(&d.pass),
            filename: t(&d.filename),
            sample: Part::new(&d.payload, SAMPLE_MAX, true),
        }
    }
}

impl Record {
    fn from_attack(a: &Attack) -> Record {
        Record {
            start: a.start,
            end: a.end,
            protocol: a.proto_label(),
            src: a.remote,
            dst: a.local,
            mode: i16::from(a.mode.code()),
            is_virtual: a.is_virtual,
            payload: Part::new(&a.payload, PAYLOAD_MAX, false),
            proxy: a.proxy.as_ref().map(|p| (p.local, p.remote, Part::new(&p.payload, PAYLOAD_MAX, false))),
            dl_tries: i32::try_from(a.dl_tries).unwrap_or(i32::MAX),
            downloads: a.downloads.iter().map(DownloadRec::new).collect(),
        }
    }

    /// Bytes held, for the queue's byte budget.
    fn size(&self) -> usize {
        let strings = |d: &DownloadRec| {
            [&d.uri, &d.user, &d.pass, &d.filename].iter().map(|s| s.as_ref().map_or(0, String::len)).sum::<usize>()
        };
        256 + self.payload.bytes().len()
            + self.proxy.as_ref().map_or(0, |p| p.2.bytes().len())
            + self.downloads.iter().map(|d| 512 + d.sample.bytes().len() + strings(d)).sum::<usize>()
    }
}

const SENSOR_UPSERT: &str = "INSERT INTO sensors (name) VALUES ($1) \
     ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id";
const SAMPLE_UPSERT: &str = "INSERT INTO samples (sha256, md5, sha512, size, data, first_seen, last_seen) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (sha256) DO UPDATE SET \
     first_seen = LEAST(samples.first_seen, EXCLUDED.first_seen), \
     last_seen = GREATEST(samples.last_seen, EXCLUDED.last_seen), \
     data = COALESCE(samples.data, EXCLUDED.data)";
const ATTACK_INSERT: &str = "INSERT INTO attacks (sensor, start_time, end_time, protocol, src_ip, src_port, \
     dst_ip, dst_port, mode, is_virtual, payload_length, payload_md5, payload_sha256, payload, \
     proxy_local_ip, proxy_local_port, proxy_remote_ip, proxy_remote_port, proxy_payload_length, \
     proxy_payload_md5, proxy_payload_sha256, proxy_payload, dl_tries) VALUES ($1, $2, $3, $4, $5, \
     $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) RETURNING id";
const DOWNLOAD_INSERT: &str = "INSERT INTO downloads (attack, type, uri, remote_ip, remote_port, username, \
     password, filename, sample) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const TABLES_PRESENT: &str = "SELECT to_regclass('sensors') IS NOT NULL AND to_regclass('samples') IS NOT NULL \
     AND to_regclass('attacks') IS NOT NULL AND to_regclass('downloads') IS NOT NULL";

/// One connection with its prepared statements and this sensor's row id.
struct Conn {
    client: Client,
    sensor_id: i32,
    sample: Statement,
    attack: Statement,
    download: Statement,
}

/// The database connection the sender thread drives, with this output's log lines.
struct PgTransport {
    db: DbConfig,
    conn: Option<Conn>,
    down_log: Throttle,
    write_log: Throttle,
    /// Whether the database has been reachable before (for the "connected again" line).
    was_up: bool,
}

impl PgTransport {
    fn new(db: DbConfig) -> PgTransport {
        PgTransport {
            db,
            conn: None,
            down_log: Throttle::new(LOG_INTERVAL),
            write_log: Throttle::new(LOG_INTERVAL),
            was_up: false,
        }
    }
}

impl Transport for PgTransport {
    type Item = Record;

    fn describe(&self) -> String {
        format!("submitPostgres {} on {}:{}", self.db.name, self.db.host, self.db.port)
    }

    fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    fn connect(&mut self) -> Result<(), LinkError> {
        let c = open(&self.db).map_err(|e| LinkError::Protocol(error_text(&e)))?;
        self.conn = Some(c);
        Ok(())
    }

    /// One attack's transaction. A broken connection: tried again on a new one; a deadlock
    /// or serialization failure: tried again on this one; anything else: given up.
    fn send(&mut self, rec: &Record) -> Result<(), SendError> {
        let Some(conn) = self.conn.as_mut() else { return Err(SendError::Broken("not connected".into())) };
        let Err(e) = write_record(conn, rec) else { return Ok(()) };
        let why = error_text(&e);
        if conn.client.is_closed() || is_connection_error(&e) {
            Err(SendError::Broken(why))
        } else if is_transient(&e) {
            Err(SendError::Again(why))
        } else {
            Err(SendError::Permanent(why))
        }
    }

    fn disconnect(&mut self) {
        self.conn = None;
    }

    fn report(&mut self, event: &Event<'_, Record>) -> bool {
        match event {
            Event::Connected { .. } => {
                let sensor_id = self.conn.as_ref().map_or(0, |c| c.sensor_id);
                if !self.was_up {
                    log_notice!(
                        "submitPostgres - Connected to database {} on {}:{} as sensor {} (id {}).",
                        self.db.name,
                        self.db.host,
                        self.db.port,
                        self.db.sensor,
                        sensor_id
                    );
                } else {
                    log_info!("submitPostgres - Connected to database {} again.", self.db.name);
                }
                self.was_up = true;
            }
            Event::ConnectFailed(e) => {
                if let Some(n) = self.down_log.due() {
                    log_warn!(
                        "submitPostgres - Warning - Unable to connect to database {} on {}:{}: {}; retrying{}",
                        self.db.name,
                        self.db.host,
                        self.db.port,
                        e,
                        more_since(n)
                    );
                }
            }
            Event::GivenUp { item, why } => {
                if let Some(n) = self.write_log.due() {
                    log_err!(
                        "submitPostgres - Error - Unable to write attack from {}: {}{}",
                        item.src,
                        why,
                        more_since(n)
                    );
                }
            }
            Event::Abandoned(left) => {
                log_err!("submitPostgres - Error - Database unreachable at shutdown, {} record(s) not written.", left);
            }
            // Tried again at once, silently; drops are logged by `submit`.
            Event::Broken(_) | Event::DroppedSoFar(_) => {}
        }
        true
    }
}

fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

/// The connection is gone or unusable: I/O errors, SQLSTATE class 08, and the server
/// shutting down (57P01–57P03). The record is tried again on a new connection.
fn is_connection_error(e: &postgres::Error) -> bool {
    match e.code() {
        None => e.as_db_error().is_none(),
        Some(c) => c.code().starts_with("08") || matches!(c.code(), "57P01" | "57P02" | "57P03"),
    }
}

/// Deadlocks and serialization failures go away when tried again.
fn is_transient(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}

/// Connects, applies the schema when a table is missing, registers the sensor and prepares
/// the statements.
fn open(db: &DbConfig) -> Result<Conn, postgres::Error> {
    let mut cfg = Config::new();
    cfg.host(&db.host)
        .port(db.port)
        .dbname(&db.name)
        .user(&db.user)
        .application_name("honeytrap")
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(60))
        .tcp_user_timeout(Duration::from_secs(60))
        .options("-c statement_timeout=60000");
    if let Some(p) = &db.pass {
        cfg.password(p);
    }
    let mut client = cfg.connect(NoTls)?;
    let setup = |client: &mut Client| -> Result<(i32, [Statement; 3]), postgres::Error> {
        let present: bool = client.query_one(TABLES_PRESENT, &[])?.get(0);
        if !present {
            log_notice!("submitPostgres - Creating the honeytrap tables in database {}.", db.name);
            let mut tx = client.transaction()?;
            tx.batch_execute(SCHEMA)?;
            tx.commit()?;
        }
        let sensor_id: i32 = client.query_one(SENSOR_UPSERT, &[&db.sensor])?.get(0);
        Ok((
            sensor_id,
            [client.prepare(SAMPLE_UPSERT)?, client.prepare(ATTACK_INSERT)?, client.prepare(DOWNLOAD_INSERT)?],
        ))
    };
    let (sensor_id, [sample, attack, download]) = setup(&mut client)?;
    Ok(Conn { client, sensor_id, sample, attack, download })
}

/// Writes one attack, its samples and its downloads in one transaction.
fn write_record(conn: &mut Conn, rec: &Record) -> Result<(), postgres::Error> {
    let mut tx = conn.client.transaction()?;
    // Samples in a fixed order, so that two sensors never wait for each other in a cycle.
    let mut samples: Vec<&Part> = rec.downloads.iter().map(|d| &d.sample).collect();
    samples.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    samples.dedup_by(|a, b| a.sha256 == b.sha256);
    for s in samples {
        tx.execute(&conn.sample, &[&s.sha256, &s.md5, &s.sha512, &s.len, &s.data.as_deref(), &rec.start])?;
    }
    let p = &rec.payload;
    let proxy = rec.proxy.as_ref();
    let proxy_local_ip = proxy.map(|x| ip(&x.0));
    let proxy_local_port = proxy.map(|x| port(&x.0));
    let proxy_remote_ip = proxy.map(|x| ip(&x.1));
    let proxy_remote_port = proxy.map(|x| port(&x.1));
    let proxy_len = proxy.map(|x| x.2.len);
    let proxy_md5 = proxy.map(|x| x.2.md5.as_str());
    let proxy_sha256 = proxy.map(|x| x.2.sha256.as_str());
    let proxy_data = proxy.map(|x| x.2.bytes());
    let attack_id: i64 = tx
        .query_one(
            &conn.attack,
            &[
                &conn.sensor_id,
                &rec.start,
                &rec.end,
                &rec.protocol,
                &ip(&rec.src),
                &port(&rec.src),
                &ip(&rec.dst),
                &port(&rec.dst),
                &rec.mode,
                &rec.is_virtual,
                &p.len,
                &p.md5,
                &p.sha256,
                &p.bytes(),
                &proxy_local_ip,
                &proxy_local_port,
                &proxy_remote_ip,
                &proxy_remote_port,
                &proxy_len,
                &proxy_md5,
                &proxy_sha256,
                &proxy_data,
                &rec.dl_tries,
            ],
        )?
        .get(0);
    for d in &rec.downloads {
        tx.execute(
            &conn.download,
            &[
                &attack_id,
                &d.dl_type,
                &d.uri,
                &d.remote.as_ref().map(ip),
                &d.remote.as_ref().map(port),
                &d.user,
                &d.pass,
                &d.filename,
                &d.sample.sha256,
            ],
        )?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::ProxyConn;
    use crate::config::{Mode, Proto, Span};
    use std::path::PathBuf;
    use std::time::Instant;

    fn cfg(plugin: Plugin, opts: &[(&str, &str)]) -> PluginConfig {
        PluginConfig {
            plugin,
            options: opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            span: Span { file: PathBuf::from("t.conf"), line: 1, col: 1 },
        }
    }

    /// A port on loopback where nothing listens (bound, then closed).
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    fn attack(data: &[u8]) -> Attack {
        let mut a = Attack::new(
            Proto::Tcp,
            "192.0.2.1:445".parse().unwrap(),
            "[::ffff:198.51.100.7]:40000".parse().unwrap(),
            Mode::Normal,
            SystemTime::UNIX_EPOCH,
        );
        a.payload = Payload::new(data.to_vec());
        a
    }

    #[test]
    fn shared_between_connection_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SubmitPostgres>();
    }

    #[test]
    fn config_keys() {
        let full = [("db_host", "h"), ("db_name", "n"), ("db_user", "u"), ("db_pass", "p"), ("db_port", "6543")];
        let db = parse_config(&cfg(Plugin::SubmitPostgres, &full), "sensor-a").unwrap();
        assert_eq!((db.host.as_str(), db.port, db.name.as_str(), db.user.as_str()), ("h", 6543, "n", "u"));
        assert_eq!((db.pass.as_deref(), db.sensor.as_str()), (Some("p"), "sensor-a"));
        let mut opts = full.to_vec();
        opts.push(("sensor_id", "fleet-7"));
        opts.retain(|(k, _)| *k != "db_port" && *k != "db_pass");
        let db = parse_config(&cfg(Plugin::SubmitPostgres, &opts), "sensor-a").unwrap();
        assert_eq!((db.port, db.pass, db.sensor.as_str()), (5432, None, "fleet-7"));
        for missing in ["db_host", "db_name", "db_user"] {
            let o: Vec<_> = full.iter().copied().filter(|(k, _)| *k != missing).collect();
            let e = parse_config(&cfg(Plugin::SubmitPostgres, &o), "s").unwrap_err().to_string();
            assert_eq!(e, format!("submitPostgres - Error - Option {missing} is required."));
            let o: Vec<_> = full.iter().map(|&(k, v)| (k, if k == missing { "" } else { v })).collect();
            assert!(parse_config(&cfg(Plugin::SubmitPostgres, &o), "s").is_err());
        }
        for bad in ["0", "65536", "x", "-1"] {
            let o: Vec<_> = full.iter().map(|&(k, v)| (k, if k == "db_port" { bad } else { v })).collect();
            let e = parse_config(&cfg(Plugin::SubmitPostgres, &o), "s").unwrap_err().to_string();
            assert_eq!(e, format!("submitPostgres - Error - Invalid db_port: {bad}"));
        }
        assert!(parse_config(&cfg(Plugin::SubmitPostgres, &full), "").is_err(), "no sensor name at all");
        assert!(parse_config(&cfg(Plugin::SaveFile, &full), "s").is_err());
    }

    #[test]
    fn text_has_no_nul_and_is_capped() {
        assert_eq!(text("a\0b\0"), "a\u{fffd}b\u{fffd}");
        assert_eq!(text("it's \\ \"x\"; DROP TABLE attacks; --"), "it's \\ \"x\"; DROP TABLE attacks; --");
        let long = "é".repeat(TEXT_MAX); // 2 bytes each
        let t = text(&long);
        assert_eq!(t.len(), TEXT_MAX);
        let odd = format!("x{}", "é".repeat(TEXT_MAX));
        assert_eq!(text(&odd).len(), TEXT_MAX - 1, "cut on a character boundary");
    }

    #[test]
    fn record_caps_and_addresses() {
        let mut a = attack(&vec![b'A'; PAYLOAD_MAX + 10]);
        a.proxy = Some(ProxyConn {
            local: "10.0.0.1:5000".parse().unwrap(),
            remote: "10.0.0.2:80".parse().unwrap(),
            payload: Payload::new(vec![1; PAYLOAD_MAX + 1]),
        });
        let mut big = Download::new("ftp", vec![0; SAMPLE_MAX + 1]);
        big.filename = Some("a\0b".into());
        a.downloads = vec![Download::new("tftp", b"MZ".to_vec()), big];
        a.dl_tries = u32::MAX;
        let r = Record::from_attack(&a);
        assert_eq!((r.payload.len, r.payload.bytes().len()), (len_i64(PAYLOAD_MAX + 10), PAYLOAD_MAX));
        assert_eq!(r.payload.md5, a.payload.md5, "digest of the whole payload");
        assert_eq!(r.proxy.as_ref().unwrap().2.bytes().len(), PAYLOAD_MAX);
        assert_eq!(r.downloads[0].sample.data.as_deref(), Some(&b"MZ"[..]));
        assert!(r.downloads[1].sample.data.is_none(), "large samples: no bytes");
        assert_eq!(r.downloads[1].sample.len, len_i64(SAMPLE_MAX + 1));
        assert_eq!(r.downloads[1].filename.as_deref(), Some("a\u{fffd}b"));
        assert_eq!((r.dl_tries, r.mode, r.protocol), (i32::MAX, 1, "tcp"));
        assert_eq!(ip(&r.src), "198.51.100.7".parse::<IpAddr>().unwrap(), "v4-mapped stored as IPv4");
        assert!(r.size() >= 2 * PAYLOAD_MAX && r.size() < 2 * PAYLOAD_MAX + 4096);
    }

    #[test]
    fn down_database_never_blocks_and_drops_are_counted() {
        let c = cfg(
            Plugin::SubmitPostgres,
            &[("db_host", "127.0.0.1"), ("db_port", &closed_port().to_string()), ("db_name", "x"), ("db_user", "x")],
        );
        let out = SubmitPostgres::start_with_queue(&c, "s", 3).unwrap();
        assert_eq!(out.submit(&attack(b"")), Submitted::Skipped);
        let t = Instant::now();
        let results: Vec<Submitted> = (0..10).map(|i| out.submit(&attack(&[i]))).collect();
        assert!(t.elapsed() < Duration::from_millis(500), "submit waited: {:?}", t.elapsed());
        let queued = results.iter().filter(|r| **r == Submitted::Queued).count();
        // The queue holds 3, the worker at most one more while it retries.
        assert!((3..=4).contains(&queued), "{results:?}");
        assert_eq!(out.stats(), (0, 10 - queued as u64));
        drop(out);

        // Records beyond the byte budget are dropped even with room in the queue.

        let out = SubmitPostgres::start_with_queue(&c, "s", 1000).unwrap();
        let huge = attack(&vec![7; PAYLOAD_MAX]);
        let n = QUEUE_BYTES / PAYLOAD_MAX + 5;
        let queued = (0..n).filter(|_| out.submit(&huge) == Submitted::Queued).count();
        assert!(queued <= QUEUE_BYTES / PAYLOAD_MAX + 1 && queued + 3 >= QUEUE_BYTES / PAYLOAD_MAX, "{queued}");
        let (_, dropped) = out.stats();
        assert_eq!(dropped as usize, n - queued);
        // Shutting down while the database is down ends promptly; the queued ones count as dropped.
        let t = Instant::now();
        let queue = Arc::clone(&out.queue);
        drop(out);
        assert!(t.elapsed() < CONNECT_TIMEOUT + Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(queue.stats().1 as usize, n);
        assert_eq!(queue.bytes(), 0);
    }
}
