//! The download stage (the download half of the C ANALYZE plugins): find the download
//! commands in the attack string and in every string the decoders derived from it
//! ([`super::decode::Decoders`]), fetch each file with the client of its scheme and attach it
//! to the attack. Replaces the plugin entry points of htm_ftpDownload.c, htm_tftpDownload.c
//! and htm_httpDownload.c. (The name "analysis" is kept for the file analysers to come.)
//!
//! Deliberate differences from the C plugins (docs/COMPATIBILITY.md, Differences from the C
//! honeytrap):
//! * Derived strings are not attack records of their own: their downloads belong to the
//!   original attack (the C vncDownload kept them on a copy that SaveFile wrote under the
//!   original's name).
//! * One extractor (`super::extract`) serves every scheme and finds many commands per
//!   attack; ftp is fetched if `plugin-ftpDownload` is configured, tftp with
//!   `plugin-tftpDownload`, http and https with `plugin-httpDownload` or, unless
//!   `http_download = "no"`, with any download plugin (the built-in client runs no shell,
//!   the reason T-Pot left the C plugin out); files the attack writes itself (`inline`) and
//!   raw TCP streams (`tcp`: `nc HOST PORT > f`, `cat </dev/tcp/HOST/PORT`) are kept when
//!   any download plugin is.
//! * Every download is capped in size and time, the downloads of one attack in number and
//!   time, the downloads of the daemon in number (`download_*` keys); addresses go through
//!   [`Policy`].
//! * `replace_private_ips` replaces the *server* address for FTP as for TFTP, with a correct
//!   private-address test; the fallback to the attacker's address also follows a failed name
//!   lookup, and applies to HTTP.

use super::download::policy::{self, is_private_or_invalid};
use super::download::{ftp, http, tcp, tftp, Context, Error, Fetched, Limits, Policy};
use super::extract;
use super::request::{Request, Scheme};
use super::PipelineError;
use crate::attack::{Attack, Download, Payload};
use crate::budget::Charge;
use crate::config::{Config, Plugin};
use crate::log::Throttle;
use crate::stats;
use crate::sys::net::interface_addrs;
use crate::{log_info, log_noisy, log_notice, log_warn};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the download stage reports as it goes, for the event stream.
pub enum Note<'a> {
    /// A download of this URL starts.
    Started(&'a str),
    /// The download of this URL failed for this reason.
    Failed(&'a str, &'a str),
}

/// A count shared by the threads of the daemon, kept under a cap by waiting for room.
struct Gate {
    state: Mutex<GateState>,
    freed: Condvar,
}

struct GateState {
    used: usize,
    /// Threads waiting for room: only then does leaving wake anyone (a wake-up is a system
    /// call, made otherwise for every attack).
    waiting: usize,
}

impl Gate {
    const fn new() -> Gate {
        Gate { state: Mutex::new(GateState { used: 0, waiting: 0 }), freed: Condvar::new() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `weight` once the count stays within `cap` with it, waiting until `deadline`;
    /// `false` (nothing added) when there was no room in time.
    fn enter(&self, weight: usize, cap: usize, deadline: Instant) -> bool {
        let mut st = self.state();
        while st.used + weight > cap {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st.waiting += 1;
            st = self.freed.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
            st.waiting -= 1;
        }
        st.used += weight;
        true
    }

    /// Adds `weight` whatever the cap.
    fn add(&self, weight: usize) {
        self.state().used += weight;
    }

    fn leave(&self, weight: usize) {
        let mut st = self.state();
        st.used = st.used.saturating_sub(weight);
        if st.waiting > 0 {
            self.freed.notify_all();
        }
    }
}

/// Download slots shared by every attack of the daemon (`downloads_in_flight`).
static IN_FLIGHT: Gate = Gate::new();

/// A running download's slot; freed when dropped.
struct Slot;

impl Slot {
    /// Takes a slot if fewer than `max` downloads run, waiting until `deadline` for one.
    fn acquire(max: usize, deadline: Instant) -> Option<Slot> {
        IN_FLIGHT.enter(1, max, deadline).then_some(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        IN_FLIGHT.leave(1);
    }
}

/// The HTTP side of `plugin-httpDownload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// `http_program` and `http_options`: run this program instead of the built-in client.
    pub program: Option<(String, String)>,
}

/// The download stage, built from the configuration.
#[derive(Clone, Debug)]
pub struct Downloader {
    /// `plugin-ftpDownload` configured; its `ftp_host` (the address announced in `PORT`).
    pub ftp: Option<Option<IpAddr>>,
    pub tftp: bool,
    pub http: Option<HttpSettings>,
    pub replace_private_ips: bool,
    pub limits: Limits,
    pub policy: Policy,
    pub per_download: Duration,
    pub per_attack: Duration,
    pub max_per_attack: usize,
    pub in_flight: usize,
}

impl Downloader {
    /// The download stage the configuration asks for; `Ok(None)` when no download plugin is
    /// configured. A bad `ftp_host` is an error naming its position.
    pub fn from_config(cfg: &Config) -> Result<Option<Downloader>, PipelineError> {
        let mut ftp = None;
        let mut tftp = false;
        let mut http = None;
        for p in &cfg.plugins {
            match p.plugin {
                Plugin::FtpDownload => {
                    let host = match p.option("ftp_host").filter(|h| !h.is_empty()) {
                        None => None,
                        Some(h) => Some(
                            h.parse::<IpAddr>()
                                .map_err(|_| PipelineError::FtpHost { span: p.span.clone(), value: h.to_string() })?,
                        ),
                    };
                    ftp = Some(host);
                }
                Plugin::TftpDownload => tftp = true,
                Plugin::HttpDownload => {
                    let program = p.option("http_program").filter(|s| !s.is_empty());
                    http = Some(HttpSettings {
                        program: program
                            .map(|prog| (prog.to_string(), p.option("http_options").unwrap_or("").to_string())),
                    });
                }
                _ => {}
            }
        }
        if ftp.is_none() && !tftp && http.is_none() {
            return Ok(None);
        }
        if http.is_none() && cfg.http_download {
            http = Some(HttpSettings { program: None });
        }
        let sensor = interface_addrs().unwrap_or_default();
        let per_download = Duration::from_secs(cfg.download_timeout.into());
        Ok(Some(Downloader {
            ftp,
            tftp,
            http,
            replace_private_ips: cfg.replace_private_ips,
            limits: Limits {
                max_size: cfg.download_max_size as usize,
                io_timeout: per_download.min(Duration::from_secs(60)),
                max_redirects: cfg.download_max_redirects,
                ..Limits::default()
            },
            policy: Policy { allow_local: cfg.download_allow_local, sensor },
            per_download,
            per_attack: Duration::from_secs(cfg.download_attack_timeout.into()),
            max_per_attack: cfg.downloads_per_attack as usize,
            in_flight: cfg.downloads_in_flight as usize,
        }))
    }

    fn enabled(&self, scheme: Scheme) -> bool {
        match scheme {
            Scheme::Ftp => self.ftp.is_some(),
            Scheme::Tftp => self.tftp,
            Scheme::Http | Scheme::Https => self.http.is_some(),
            Scheme::Inline | Scheme::Tcp => true,
        }
    }

    /// Fetches what `requests` ask for, within the caps, and attaches every non-empty file
    /// to `attack` (counting attempts in `dl_tries`), charged to the attack's share of the
    /// memory budget; a file the budget has no room for is not kept, with a warning.
    pub fn run(&self, attack: &mut Attack, requests: Vec<Request>, notes: &(dyn Fn(Note) + Sync)) {
        let mut requests: Vec<Request> = requests.into_iter().filter(|r| self.enabled(r.scheme)).collect();
        if requests.len() > self.max_per_attack {
            log_warn!(
                "Download - Attack string asks for {} downloads, only the first {} are tried.",
                requests.len(),
                self.max_per_attack
            );
            requests.truncate(self.max_per_attack);
        }
        let attack_deadline = Instant::now() + self.per_attack;
        let mut policy = self.policy.clone();
        policy.sensor.push(attack.local.ip());
        let (local_ip, attacker) = (attack.local.ip(), attack.remote.ip());

        // The fetches run on up to PARALLEL_PER_ATTACK threads (a server that does not
        // answer must not hold up the others); the files are attached in command order.
        type Fetch = Result<(Download, Charge), Failure>;
        let results: Vec<Mutex<Option<Fetch>>> = requests.iter().map(|_| Mutex::new(None)).collect();
        let budget = attack.charge.sibling();
        let next = AtomicUsize::new(0);
        let tries = AtomicU32::new(0);
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(req) = requests.get(i) else { break };
            if req.scheme == Scheme::Inline {
                continue;
            }
            let Some(_slot) = Slot::acquire(self.in_flight, attack_deadline) else {
                log_warn!("Download - No download slot free within the attack's time, {} skipped.", req.uri());
                continue;
            };
            let now = Instant::now();
            if now >= attack_deadline {
                log_warn!("Download - Time for this attack's downloads is up, {} skipped.", req.uri());
                continue;
            }
            tries.fetch_add(1, Ordering::Relaxed);
            let ctx = Context {
                local_ip,
                attacker,
                ftp_host: self.ftp.flatten(),
                policy: &policy,
                limits: &self.limits,
                deadline: (now + self.per_download).min(attack_deadline),
            };
            let uri = req.uri();
            notes(Note::Started(&uri));
            let result = match req.scheme {
                Scheme::Ftp => self.run_ftp(req, &ctx),
                Scheme::Tftp => self.run_tftp(req, &ctx),
                Scheme::Http | Scheme::Https => self.run_http(req, &ctx),
                Scheme::Tcp => self.run_tcp(req, &ctx),
                Scheme::Inline => continue,
            };
            let result = result.and_then(|dl| {
                let mut charge = budget.sibling();
                if charge.try_grow(dl.payload.len()) {
                    Ok((dl, charge))
                } else {
                    not_kept(&uri, dl.payload.len());
                    Err(Failure::NoMemory)
                }
            });
            if let Err(reason) = &result {
                notes(Note::Failed(&uri, &reason.to_string()));
            }
            *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        };
        let fetches = requests.iter().filter(|r| r.scheme != Scheme::Inline).count();
        std::thread::scope(|scope| {
            for _ in 1..fetches.min(PARALLEL_PER_ATTACK) {
                // A thread that cannot be had leaves more work to the others.
                let _ = std::thread::Builder::new().name("download".into()).spawn_scoped(scope, work);
            }
            // This thread works too (alone when no thread could be had).
            work();
        });
        attack.dl_tries += tries.into_inner();
        for (req, result) in requests.into_iter().zip(results) {
            if req.scheme == Scheme::Inline {
                attach_inline(attack, req);
                continue;
            }
            if let Some(Ok((dl, charge))) = result.into_inner().unwrap_or_else(|e| e.into_inner()) {
                attack.charge.absorb(charge);
                match req.scheme {
                    Scheme::Ftp => log_notice!("FTP download - {} attached to attack record.", req.filename),
                    Scheme::Tftp => log_notice!("TFTP download - {} attached to attack record.", req.filename),
                    Scheme::Tcp => log_notice!(
                        "TCP download - {} ({} bytes from {}) attached to attack record.",
                        req.filename,
                        dl.payload.len(),
                        req.uri()
                    ),
                    _ => log_info!(
                        "HTTP download - {} successfully downloaded and attached to attack record.",
                        dl.uri.as_deref().unwrap_or("")
                    ),
                }
                attack.downloads.push(dl);
            }
        }
    }

    /// The server's address: the first address of the host, replaced by the attacker's when
    /// `replace_private_ips` is on and it is private or invalid.
    fn server(&self, req: &Request, ctx: &Context, tag: &str) -> Result<SocketAddr, Error> {
        let addrs = policy::resolve(&req.host, req.port_or_default(), ctx.deadline)?;
        let mut server = addrs[0];
        if self.replace_private_ips && is_private_or_invalid(server.ip()) {
            log_noisy!("{} - Replacing private/invalid server address with attacking IP address.", tag);
            server.set_ip(ctx.attacker);
        }
        Ok(server)
    }

    fn run_ftp(&self, req: &Request, ctx: &Context) -> Result<Download, Failure> {
        let first = self.server(req, ctx, "FTP download");
        log_notice!("FTP download - Requesting '{}' from {}.", req.path, shown(&first, req));
        // The clients check every address against the policy themselves.
        let attempt = |server: SocketAddr| ftp::fetch(server, req.user.as_deref(), req.pass.as_deref(), &req.path, ctx);
        let mut result = first.and_then(attempt);
        if let Some(other) = fallback(&result, ctx, req) {
            log_noisy!(
                "FTP download - FTP server could not be reached, trying the attacking address ({}) instead.",
                other.ip()
            );
            result = attempt(other);
        }
        finish(req, result, "ftp", "FTP download")
    }

    fn run_tftp(&self, req: &Request, ctx: &Context) -> Result<Download, Failure> {
        // The client logs the `Requesting` line itself.
        let first = self.server(req, ctx, "TFTP download");
        let attempt = |server: SocketAddr| tftp::fetch(server, &req.path, ctx);
        let mut result = first.and_then(attempt);
        // A TFTP server that does not answer is as good as unreachable.
        let silent = matches!(result, Err(Error::Timeout)) && Instant::now() < ctx.deadline;
        let other = fallback(&result, ctx, req).or_else(|| {
            let other = SocketAddr::new(ctx.attacker, req.port_or_default());
            (silent && req.host.parse::<IpAddr>().ok() != Some(ctx.attacker)).then_some(other)
        });
        if let Some(other) = other {
            log_noisy!(
                "TFTP download - TFTP server could not be reached, trying the attacking address ({}) instead.",
                other.ip()
            );
            result = attempt(other);
        }
        finish(req, result, "tftp", "TFTP download")
    }

    fn run_http(&self, req: &Request, ctx: &Context) -> Result<Download, Failure> {
        let Some(settings) = &self.http else { return Err(Failure::NoHttp) };
        let attempt = |r: &Request| match &settings.program {
            Some((program, options)) => http::fetch_with_program(program, options, &r.uri(), ctx),
            None => http::fetch(r, ctx),
        };
        let mut result = attempt(req);
        if settings.program.is_none() {
            if let Some(other) = fallback(&result, ctx, req) {
                log_noisy!(
                    "HTTP download - HTTP server could not be reached, trying the attacking address ({}) instead.",
                    other.ip()
                );
                let mut r = req.clone();
                r.host = other.ip().to_string();
                result = attempt(&r);
            }
        }
        finish(req, result, req.scheme.name(), "HTTP download")
    }

    /// A raw TCP stream, with FTP's address rules: `replace_private_ips`, and the attacker's
    /// address when the server cannot be reached.
    fn run_tcp(&self, req: &Request, ctx: &Context) -> Result<Download, Failure> {
        let first = self.server(req, ctx, "TCP download");
        log_notice!("TCP download - Reading '{}' from {}.", req.filename, shown(&first, req));
        let shell = req.path == tcp::SHELL;
        let mut result = first.and_then(|server| tcp::fetch(server, &req.data, shell, ctx));
        if let Some(other) = fallback(&result, ctx, req) {
            log_noisy!(
                "TCP download - TCP server could not be reached, trying the attacking address ({}) instead.",
                other.ip()
            );
            result = tcp::fetch(other, &req.data, shell, ctx);
        }
        finish(req, result, "tcp", "TCP download")
    }
}

/// The server for the `Requesting` line: its address, or the host and port as named when it
/// could not be resolved.
fn shown(server: &Result<SocketAddr, Error>, req: &Request) -> String {
    match server {
        Ok(s) => s.to_string(),
        Err(_) => format!("{}:{}", req.host, req.port_or_default()),
    }
}

/// The attacker's address with the request's port, when `result` failed in a way that trying
/// the attacker instead could help (as the C ftpDownload did) and the attacker is another
/// address.
fn fallback(result: &Result<Fetched, Error>, ctx: &Context, req: &Request) -> Option<SocketAddr> {
    let retry = match result {
        Err(Error::Connect(server, _)) => server.ip() != ctx.attacker,
        Err(Error::Resolve(_)) => true,
        _ => false,
    };
    let other = SocketAddr::new(ctx.attacker, req.port_or_default());
    (retry && req.host.parse::<IpAddr>().ok() != Some(ctx.attacker)).then_some(other)
}

/// Why a fetch attached nothing: the reason of the `download_failed` event.
#[derive(Debug)]
enum Failure {
    /// The client failed (logged by [`finish`]).
    Fetch(Error),
    /// The server sent an empty file.
    Empty,
    /// An `http(s)` request without an HTTP download configured.
    NoHttp,
    /// The memory budget for attack data has no room for the file.
    NoMemory,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Fetch(e) => write!(f, "{e}"),
            Failure::Empty => f.write_str("empty file"),
            Failure::NoHttp => f.write_str("HTTP downloads are not configured"),
            Failure::NoMemory => f.write_str("memory budget exhausted"),
        }
    }
}

/// Most downloads of one attack that run at the same time.
pub const PARALLEL_PER_ATTACK: usize = 4;

/// The outcome of a fetch as the download to attach, or the reason (logged) why there is none.
fn finish(req: &Request, result: Result<Fetched, Error>, dl_type: &str, tag: &str) -> Result<Download, Failure> {
    let counted = match req.scheme {
        Scheme::Ftp => Some(stats::Scheme::Ftp),
        Scheme::Tftp => Some(stats::Scheme::Tftp),
        Scheme::Http => Some(stats::Scheme::Http),
        Scheme::Https => Some(stats::Scheme::Https),
        Scheme::Tcp => Some(stats::Scheme::Tcp),
        Scheme::Inline => None,
    };
    if let Some(c) = counted.map(|c| stats::STATS.download(c)) {
        match &result {
            Ok(f) if !f.data.is_empty() => c.done.inc(),
            _ => c.failed.inc(),
        }
    }
    match result {
        Ok(f) => download(req, f, dl_type).ok_or_else(|| {
            log_info!("{} - {} is empty, nothing attached.", tag, req.uri());
            Failure::Empty
        }),
        Err(e) => {
            log_warn!("{} error - {}: {}.", tag, req.uri(), e);
            Err(Failure::Fetch(e))
        }
    }
}

/// The download record of a fetched file; `None` for an empty one.
fn download(req: &Request, f: Fetched, dl_type: &str) -> Option<Download> {
    if f.data.is_empty() {
        return None;
    }
    Some(Download {
        dl_type: dl_type.to_string(),
        remote: (!f.remote.ip().is_unspecified()).then_some(f.remote),
        user: req.user.clone(),
        pass: req.pass.clone(),
        filename: Some(req.filename.clone()).filter(|n| !n.is_empty()),
        uri: Some(f.uri),
        payload: Payload::new(f.data),
        findings: Default::default(),
    })
}

/// A downloaded file the memory budget has no room for: `Download - Warning - ...`, at most
/// once a second.
fn not_kept(uri: &str, len: usize) {
    static WARN: Throttle = Throttle::new(Duration::from_secs(1));
    if let Some(more) = WARN.due() {
        log_warn!(
            "Download - Warning - {} ({} bytes) not kept: memory budget for attack data exhausted ({} more since the last warning).",
            uri,
            len,
            more
        );
    }
}

/// A file the attack wrote itself: attached as type `inline`, from the attacker.
fn attach_inline(attack: &mut Attack, req: Request) {
    if req.data.is_empty() {
        return;
    }
    if !attack.charge.try_grow(req.data.len()) {
        not_kept(&req.uri(), req.data.len());
        return;
    }
    log_notice!(
        "Inline download - {} ({} bytes written by the attack itself) attached to attack record.",
        req.filename,
        req.data.len()
    );
    attack.downloads.push(Download {
        dl_type: Scheme::Inline.name().to_string(),
        remote: Some(attack.remote),
        user: None,
        pass: None,
        uri: Some(req.uri()),
        filename: Some(req.filename).filter(|n| !n.is_empty()),
        payload: Payload::new(req.data),
        findings: Default::default(),
    });
}

/// Bytes of attack strings in the command extractor at once, daemon-wide: one full window
/// and some small strings beside it. The extractor works on one window of at most
/// [`extract::WINDOW`] bytes at a time and needs up to about 25 times that much memory for
/// it (hostile input; ordinary text far less), so this bounds its memory whatever the
/// number of connections that end at the same moment.
pub const EXTRACTING_MAX: usize = extract::WINDOW + extract::OVERLAP;
/// Longest wait for room in the extractor; after it the string is extracted anyway.
const EXTRACTING_WAIT: Duration = Duration::from_secs(60);
static EXTRACTING: Gate = Gate::new();

/// A string's share of [`EXTRACTING_MAX`] while it is in the extractor.
struct Extracting(usize);

impl Extracting {
    /// Waits (at most [`EXTRACTING_WAIT`]) until a string of `len` bytes fits.
    fn enter(len: usize) -> Extracting {
        let weight = len.min(extract::WINDOW);
        if !EXTRACTING.enter(weight, EXTRACTING_MAX, Instant::now() + EXTRACTING_WAIT) {
            static WARN: Throttle = Throttle::new(Duration::from_secs(60));
            if let Some(more) = WARN.due() {
                log_warn!(
                    "Download - Warning - Command extraction waited {} seconds for memory, going ahead ({} more since the last warning).",
                    EXTRACTING_WAIT.as_secs(),
                    more
                );
            }
            EXTRACTING.add(weight);
        }
        Extracting(weight)
    }
}

impl Drop for Extracting {
    fn drop(&mut self) {
        EXTRACTING.leave(self.0);
    }
}

/// The ANALYZE stage as a whole: every string (the attack and what the decoders derived
/// from it) through the extractor ([`EXTRACTING_MAX`] bytes at a time, daemon-wide),
/// duplicates dropped, then the downloads.
pub fn requests_of(data: &[u8], derived: &[Vec<u8>]) -> extract::Extracted {
    let mut out = extract::Extracted::default();
    for s in std::iter::once(data).chain(derived.iter().map(Vec::as_slice)) {
        let _room = Extracting::enter(s.len());
        let found = extract::extract_all(s);
        for r in found.requests {
            if !out.requests.contains(&r) {
                out.requests.push(r);
            }
        }
        for i in found.indicators {
            if !out.indicators.contains(&i) {
                out.indicators.push(i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn a_gate_wakes_its_waiters_when_room_is_freed() {
        let gate = Gate::new();
        assert!(gate.enter(3, 4, Instant::now()));
        assert!(!gate.enter(2, 4, Instant::now()), "no room, no wait");
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let t = Instant::now();
                (gate.enter(2, 4, t + Duration::from_secs(30)), t.elapsed())
            });
            // Leave only once the waiter waits (bounded).
            let end = Instant::now() + Duration::from_secs(10);
            while gate.state().waiting == 0 && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(1));
            }
            gate.leave(3);
            let (entered, waited) = waiter.join().unwrap();
            assert!(entered && waited < Duration::from_secs(10), "{waited:?}");
        });
        assert_eq!(gate.state().used, 2);
    }

    fn ctx_with<'a>(policy: &'a Policy, limits: &'a Limits, attacker: &str) -> Context<'a> {
        Context {
            local_ip: "10.0.0.1".parse().unwrap(),
            attacker: attacker.parse().unwrap(),
            ftp_host: None,
            policy,
            limits,
            deadline: Instant::now() + Duration::from_secs(5),
        }
    }

    fn req(host: &str) -> Request {
        Request { filename: "a.exe".into(), ..Request::new(Scheme::Ftp, host, Some(2121), "a.exe") }
    }

    #[test]
    fn fallback_goes_to_the_attacker_after_a_connect_or_resolve_failure_only() {
        let (p, l) = (Policy::default(), Limits::default());
        let ctx = ctx_with(&p, &l, "198.51.100.9");
        let refused = || io::Error::from(io::ErrorKind::ConnectionRefused);
        let named: SocketAddr = "203.0.113.5:2121".parse().unwrap();
        let want = Some("198.51.100.9:2121".parse().unwrap());
        assert_eq!(fallback(&Err(Error::Connect(named, refused())), &ctx, &req("203.0.113.5")), want);
        assert_eq!(fallback(&Err(Error::Resolve("x".into())), &ctx, &req("evil.example")), want);
        // Not after a protocol error, a refusal or a timeout, and not to the same address.
        assert_eq!(fallback(&Err(Error::Protocol("550".into())), &ctx, &req("203.0.113.5")), None);
        assert_eq!(fallback(&Err(Error::Refused("x".into())), &ctx, &req("203.0.113.5")), None);
        assert_eq!(fallback(&Err(Error::Timeout), &ctx, &req("203.0.113.5")), None);
        let at_attacker: SocketAddr = "198.51.100.9:2121".parse().unwrap();
        assert_eq!(fallback(&Err(Error::Connect(at_attacker, refused())), &ctx, &req("198.51.100.9")), None);
    }

    #[test]
    fn schemes_follow_the_plugins_and_http_download() {
        let load = |text: &str| {
            crate::config::load_str(text, std::path::Path::new("t.conf"), std::path::Path::new("/")).unwrap()
        };
        assert!(Downloader::from_config(&load("plugin-SaveFile = { }")).unwrap().is_none());
        // T-Pot: ftp and tftp plugins, no httpDownload: HTTP is fetched by the built-in client.
        let tpot =
            Downloader::from_config(&load("plugin-ftpDownload = \"\"\nplugin-tftpDownload = \"\"")).unwrap().unwrap();
        assert!(tpot.enabled(Scheme::Ftp) && tpot.enabled(Scheme::Tftp) && tpot.enabled(Scheme::Https));
        assert_eq!(tpot.http, Some(HttpSettings { program: None }));
        let strict = load("http_download = \"no\"\nplugin-tftpDownload = \"\"");
        let strict = Downloader::from_config(&strict).unwrap().unwrap();
        assert!(strict.enabled(Scheme::Tftp) && !strict.enabled(Scheme::Http) && !strict.enabled(Scheme::Ftp));
        assert!(strict.enabled(Scheme::Inline));
        let wget = load("plugin-httpDownload = { http_program = \"/usr/bin/wget\" http_options = \"-q -O-\" }");
        let wget = Downloader::from_config(&wget).unwrap().unwrap();
        assert_eq!(wget.http, Some(HttpSettings { program: Some(("/usr/bin/wget".into(), "-q -O-".into())) }));
        assert!(!wget.enabled(Scheme::Tftp));
    }

    #[test]
    fn download_slots_are_capped_and_freed() {
        // The slots are daemon-wide; this test is the only user in the unit tests.
        let soon = Instant::now() + Duration::from_millis(100);
        let a = Slot::acquire(2, soon).expect("first");
        let b = Slot::acquire(2, soon).expect("second");
        let t0 = Instant::now();
        assert!(Slot::acquire(2, Instant::now() + Duration::from_millis(100)).is_none());
        assert!(t0.elapsed() >= Duration::from_millis(90));
        drop(a);
        let c = Slot::acquire(2, Instant::now() + Duration::from_millis(100)).expect("freed");
        // A waiter is woken when a slot is freed.
        let waiter = std::thread::spawn(|| Slot::acquire(2, Instant::now() + Duration::from_secs(5)).is_some());
        std::thread::sleep(Duration::from_millis(50));
        drop(b);
        assert!(waiter.join().unwrap());
        drop(c);
    }

    #[test]
    fn the_extractor_takes_a_bounded_amount_of_input_at_once() {
        // A full window and the rest fill it; another string waits until one leaves.
        let a = Extracting::enter(10 * extract::WINDOW);
        let b = Extracting::enter(extract::OVERLAP);
        assert_eq!((a.0, b.0), (extract::WINDOW, extract::OVERLAP));
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let c = Extracting::enter(1);
            tx.send(()).unwrap();
            drop(c);
        });
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "entered while full");
        drop(a);
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok(), "woken when room was made");
        waiter.join().unwrap();
        drop(b);
    }

    #[test]
    fn attached_files_are_charged_to_the_memory_budget() {
        let cfg = crate::config::load_str(
            "plugin-tftpDownload = \"\"",
            std::path::Path::new("t.conf"),
            std::path::Path::new("/"),
        )
        .unwrap();
        let d = Downloader::from_config(&cfg).unwrap().unwrap();
        let inline = || Request {
            filename: "x.bin".into(),
            data: vec![0x7f; 100],
            ..Request::new(Scheme::Inline, "", None, "")
        };
        let budget = crate::budget::Budget::new(150);
        let attack = || {
            let mut a = Attack::new(
                crate::config::Proto::Tcp,
                "10.0.0.1:23".parse().unwrap(),
                "10.0.0.2:4000".parse().unwrap(),
                crate::config::Mode::Normal,
                std::time::SystemTime::now(),
            );
            a.charge = budget.charge();
            a
        };
        let mut a = attack();
        d.run(&mut a, vec![inline()], &|_| {});
        assert_eq!((a.downloads.len(), a.charge.bytes(), budget.used()), (1, 100, 100));
        // No room for a second one while the first record lives.
        let mut b = attack();
        d.run(&mut b, vec![inline()], &|_| {});
        assert_eq!((b.downloads.len(), budget.used()), (0, 100));
        drop((a, b));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn empty_files_give_no_download_and_the_request_fields_are_kept() {
        let mut r = req("203.0.113.5");
        r.user = Some("u".into());
        r.pass = Some("p".into());
        let f = |data: &[u8]| Fetched {
            data: data.to_vec(),
            remote: "203.0.113.5:2121".parse().unwrap(),
            uri: "ftp://u:p@203.0.113.5:2121/a.exe".into(),
        };
        assert!(download(&r, f(b""), "ftp").is_none());
        assert_eq!(finish(&r, Ok(f(b"")), "ftp", "FTP download").unwrap_err().to_string(), "empty file");
        assert!(finish(&r, Err(Error::Timeout), "ftp", "FTP download").is_err());
        let d = download(&r, f(b"MZ"), "ftp").unwrap();
        assert_eq!((d.dl_type.as_str(), d.user.as_deref(), d.pass.as_deref()), ("ftp", Some("u"), Some("p")));
        assert_eq!(
            (d.filename.as_deref(), d.uri.as_deref()),
            (Some("a.exe"), Some("ftp://u:p@203.0.113.5:2121/a.exe"))
        );
        assert_eq!(d.payload.md5, crate::attack::md5_hex(b"MZ"));
        assert_eq!(d.remote, Some("203.0.113.5:2121".parse().unwrap()));
    }
}
