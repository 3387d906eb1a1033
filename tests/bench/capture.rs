//! `make bench`: capture-rate, latency, concurrency, throughput and memory benchmarks of the
//! real release binary. Not a test: it measures and prints a Markdown table (also written to
//! target/bench-capture.md); targets are printed beside the numbers and never fail the run.
//!
//! For each monitor (nfq, then pcap) the daemon runs in a sensor network namespace joined by
//! a veth pair to a client namespace (names of its own, deleted afterwards even on failure;
//! processes are killed by PID). nfq gets iptables NFQUEUE rules for TCP SYN and UDP in the
//! sensor namespace; pcap watches the sensor's veth. Scenarios, each bounded in count and time:
//!
//! 1. first attempts to N fresh ports, paced and in bursts: served (connect succeeds, the
//!    server reads what was sent and closes after our FIN) and saved (an attack file with the
//!    bytes sent exists, counted by content); with pcap the first attempt is refused by design
//!    and a second attempt is made after [`PCAP_RETRY`];
//! 2. connect latency to a fresh port (nfq: SYN held until the port is bound; pcap: time from
//!    the refused attempt until the port is served) and to an already served port;
//! 3. many simultaneous connections held open on one port (fresh daemon for each size): how
//!    many were accepted and are still open, the daemon's VmRSS and thread count, and the
//!    first-response-byte latency relative to the read timeout (-r 1);
//! 4. short sessions (connect, send 16 bytes, close), [`N_SESSIONS`] from one address at a
//!    client concurrency of [`SESSION_CLIENTS`], in rounds alternating with the same load on a
//!    reference server (below): records saved and lost, sessions per second until all are
//!    saved and the CPU time per saved session (also with the client threads' CPU time, see
//!    [`cpu_with_clients`]), ours as a ratio to the reference's; then the same with a daemon
//!    configured with SaveFile only (the reference's work);
//! 5. UDP datagrams to closed ports from distinct source ports: records saved once, none empty.
//!
//! The daemon runs what users get: the shipped configuration (contrib/honeytrap.conf.dist,
//! with its paths moved into a scratch directory, run user nobody), the default command-line
//! options (`-D -C <file>`, and `-i <device>` for pcap) and the open file limit the bench was
//! given (the daemon raises its soft limit to the hard one, as anywhere). No limit is raised.
//!
//! The reference server is this program run as `--reference-server <dir> <port>` in the
//! sensor namespace: the least a server that keeps every session must do (a listener bound
//! beforehand, a thread per connection that reads to EOF and writes what it read to a file
//! of its own). Its CPU time and the daemon's are utime + stime from /proc/<pid>/stat.
//!
//! Needs root (namespaces, iptables); without root it says why and exits 0.

#[path = "../common/mod.rs"]
mod common;

use common::load::{nb_connect, net_counter, run_facts, sockaddr_in, RunFacts};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = common::BIN;
const SRV: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const CLI: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
const SRV_DEV: &str = "htb-s";
const CLI_DEV: &str = "htb-c";
const NS_PREFIX: &str = "htbench-";

/// Fresh ports per capture scenario.
const N_CAPTURE: u16 = 1000;
/// Paced attempts: one every this long.
const PACE: Duration = Duration::from_millis(2);
const BURST: u16 = 100;
/// Pause between bursts (after the previous burst's attempts have finished).
const BURST_GAP: Duration = Duration::from_millis(200);
/// pcap: the second attempt is made this long after the first was refused.
const PCAP_RETRY: Duration = Duration::from_millis(100);
/// pcap: how often a refused port is tried again when timing how soon it is served.
const FRESH_RETRY: Duration = Duration::from_micros(200);
/// Latency samples (fresh ports, served port).
const N_LATENCY: u16 = 500;
const N_CONNECT_CLOSE: usize = 1000;
const HOLD_SIZES: [usize; 2] = [2000, 10000];
/// Connects in flight at once while building up the held connections.
const HOLD_INFLIGHT: usize = 256;
/// Short sessions per round, from one client address, and the clients doing them at once.
const N_SESSIONS: usize = 2000;
const SESSION_CLIENTS: usize = 20;
/// Rounds on the daemon and on the reference server, alternating.
const SESSION_ROUNDS: usize = 5;
const N_UDP: u16 = 50;
/// The whole run stops starting new phases after this long.
const BUDGET: Duration = Duration::from_secs(540);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Read timeout of the daemon (-r): its default.
const READ_TIMEOUT_S: u64 = 1;

// Port plan (sensor side).
const P_UDP: u16 = 40000;
const P_UDP_NORL: u16 = 40100;
const P_PACED: u16 = 20000;
const P_BURST: u16 = 21000;
const P_FRESH: u16 = 22000;
const P_SERVED: u16 = 23000;
const P_CONNCLOSE: u16 = 23001;
const P_SESSIONS: u16 = 23002;
/// The reference server's port (nfq: accepted before the NFQUEUE rule).
const P_REFERENCE: u16 = 23003;
/// Listen backlog of the reference server: the daemon's (engine.rs).
const BACKLOG: i32 = 4096;
const P_HOLD: u16 = 24000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, dir, port] = &args[..] {
        if mode == "--reference-server" {
            reference_server(Path::new(dir), port.parse().expect("port"));
        }
    }
    if !common::is_root() {
        println!("bench capture: skipped: needs root (network namespaces, veth pairs, iptables NFQUEUE rules).");
        return;
    }
    for t in ["ip", "iptables"] {
        if !common::have(t) {
            println!("bench capture: skipped: needs the `{t}` command.");
            return;
        }
    }
    if !Path::new(BIN).exists() {
        println!("bench capture: {BIN} does not exist; run `make bench` (it builds it first).");
        std::process::exit(1);
    }
    remove_stale_namespaces();
    let started = Instant::now();
    let mut notes: Vec<String> = Vec::new();
    // The client needs a descriptor per connection it holds: its soft limit goes up to the
    // hard one, which the daemon (started by it) does for itself anyway. Nothing more.
    let nofile = soft_nofile_to_hard();
    let hold_max = nofile.saturating_sub(500) as usize;
    if hold_max < HOLD_SIZES[HOLD_SIZES.len() - 1] {
        notes.push(format!("The open file limit is {nofile}: at most {hold_max} simultaneous connections are tried."));
    }
    // HT_BENCH_MONITORS=pcap (or pcap,nfq) runs one monitor only, or another order.
    let monitors: Vec<bool> = match std::env::var("HT_BENCH_MONITORS") {
        Ok(v) => v
            .split(',')
            .filter_map(|m| match m.trim() {
                "nfq" => Some(true),
                "pcap" => Some(false),
                _ => None,
            })
            .collect(),
        Err(_) => vec![true, false],
    };
    let mut results = Vec::new();
    for (i, nfq) in monitors.into_iter().enumerate() {
        if i > 0 {
            // Let the kernel finish tearing down the previous namespaces (thousands of
            // sockets) before measuring again.
            thread::sleep(Duration::from_secs(5));
        }
        let name = if nfq { "nfq" } else { "pcap" };
        eprintln!("== {name}");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_monitor(nfq, started, hold_max)));
        match r {
            Ok(r) => {
                notes.extend(r.notes.iter().map(|n| format!("{name}: {n}")));
                results.push(r);
            }
            Err(_) => {
                notes.push(format!("{name}: the run failed (see the messages above); its column is empty."));
                results.push(MonResults::new(nfq));
            }
        }
    }
    let table = render(&results, &notes, started.elapsed());
    println!("{table}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-capture.md");
    match std::fs::write(&out, &table) {
        Ok(()) => eprintln!("written to {}", out.display()),
        Err(e) => eprintln!("could not write {}: {e}", out.display()),
    }
}

// ---------------------------------------------------------------------------------------------
// Results

#[derive(Default, Clone, Copy)]
struct Capture {
    attempts: usize,
    served_first: usize,
    served_second: usize,
    saved: usize,
    /// Saved more than once.
    duplicates: usize,
    launch: Duration,
}

struct Hold {
    n: usize,
    connected: usize,
    accepted: usize,
    open_client: usize,
    handlers: usize,
    rss_kib: u64,
    /// VmRSS before the connections were opened.
    rss_idle_kib: u64,
    threads: u64,
    first_byte: Vec<Duration>,
    build_up: Duration,
}

#[derive(Default)]
struct Udp {
    sent: usize,
    once: usize,
    missing: usize,
    multiple: usize,
    empty: usize,
}

struct MonResults {
    nfq: bool,
    paced: Option<Capture>,
    burst: Option<Capture>,
    fresh: Vec<Duration>,
    fresh_failed: usize,
    served: Vec<Duration>,
    served_failed: usize,
    connect_close: Option<(Duration, usize)>,
    hold: Vec<Hold>,
    /// Short sessions with the shipped configuration, and with SaveFile only.
    sessions: Option<SessionRuns>,
    sessions_savefile: Option<SessionRuns>,
    udp: Option<Udp>,
    udp_norl: Option<Udp>,
    notes: Vec<String>,
}

impl MonResults {
    fn new(nfq: bool) -> MonResults {
        MonResults {
            nfq,
            paced: None,
            burst: None,
            fresh: Vec::new(),
            fresh_failed: 0,
            served: Vec::new(),
            served_failed: 0,
            connect_close: None,
            hold: Vec::new(),
            sessions: None,
            sessions_savefile: None,
            udp: None,
            udp_norl: None,
            notes: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Environment: namespaces, daemon

fn run_ok(program: &str, args: &[&str]) {
    let st = Command::new(program).args(args).stdout(Stdio::null()).status();
    match st {
        Ok(s) if s.success() => {}
        other => panic!("{program} {args:?} failed: {other:?}"),
    }
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Namespaces left by an earlier run that was killed (its PID is in the name).
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some(rest) = name.strip_prefix(NS_PREFIX) else { continue };
        let pid: Option<i32> = rest.split('-').next().and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| !pid_alive(p)) {
            let _ = Command::new("ip").args(["netns", "delete", name]).status();
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard one (as the daemon does at start-up); returns
/// the soft limit now in force.
fn soft_nofile_to_hard() -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `rl` is a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return 1024;
    }
    rl.rlim_cur = rl.rlim_max;
    // SAFETY: `rl` is a valid in-pointer.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) };
    rl.rlim_cur
}

/// The two namespaces and the veth pair; deleted on drop.
type Net = common::load::NetPair;

fn net(tag: &str) -> Net {
    Net::new(NS_PREFIX, tag, [SRV_DEV, CLI_DEV], [SRV, CLI])
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    /// The directory with what the shipped configuration names in it: attacks/, downloads/,
    /// plugins/ and responses/ (the shipped templates), writable by the run user.
    fn new(tag: &str) -> Scratch {
        use std::os::unix::fs::PermissionsExt;
        let p = std::env::temp_dir().join(format!("{NS_PREFIX}{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        for d in ["", "attacks", "downloads", "plugins", "responses"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
            std::fs::set_permissions(p.join(d), std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/responses");
        for e in std::fs::read_dir(shipped).unwrap().flatten() {
            std::fs::copy(e.path(), p.join("responses").join(e.file_name())).unwrap();
        }
        Scratch(p)
    }
}

/// What the daemon is configured with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Conf {
    /// contrib/honeytrap.conf.dist, its paths moved into the scratch directory.
    Shipped,
    /// The same paths, user and port default, and SaveFile as the only plugin: the work the
    /// reference server does.
    SaveFileOnly,
}

fn config_text(conf: Conf, dir: &Path, nfq: bool) -> String {
    let d = dir.display().to_string();
    let monitor = format!("monitor = \"{}\"\n", if nfq { "nfq" } else { "pcap" });
    match conf {
        Conf::Shipped => {
            let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/honeytrap.conf.dist");
            let text = std::fs::read_to_string(dist).unwrap();
            let text =
                ["@LOGDIR@/honeytrap", "@RUNDIR@/honeytrap", "@SYSCONFDIR@/honeytrap", "@LOCALSTATEDIR@/lib/honeytrap"]
                    .iter()
                    .fold(text, |t, p| t.replace(p, &d));
            assert!(!text.contains("@LOCALSTATEDIR@") && !text.contains("@LOGDIR@"), "a path left in the dist file");
            text + &monitor
        }
        Conf::SaveFileOnly => format!(
            "logfile = \"{d}/honeytrap.log\"\npidfile = \"{d}/honeytrap.pid\"\nresponse_dir = \"{d}/responses\"\n\
             user = \"nobody\"\ngroup = \"nogroup\"\nportconf_default = \"normal\"\n{monitor}\
             plugin-SaveFile = {{ attacks_dir = \"{d}/attacks\" }}\n"
        ),
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The daemon in the sensor namespace; killed by PID on drop.
struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Daemon {
    fn start(net: &Net, dir: &Path, nfq: bool, conf: Conf) -> Daemon {
        let conf_file = dir.join("honeytrap.conf");
        std::fs::write(&conf_file, config_text(conf, dir, nfq)).unwrap();
        let _ = std::fs::remove_file(dir.join("honeytrap.log"));
        let mut args = vec!["netns", "exec", &net.srv, BIN, "-D", "-C", conf_file.to_str().unwrap()];
        if !nfq {
            args.extend_from_slice(&["-i", SRV_DEV]);
        }
        let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
        let child = Command::new("ip")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start honeytrap");
        let mut daemon = Daemon { child, dir: dir.to_path_buf() };
        let ok = common::wait_until(Duration::from_secs(15), || {
            daemon.log().contains("---- Trapping attacks") || !matches!(daemon.child.try_wait(), Ok(None))
        });
        if !ok || !daemon.log().contains("---- Trapping attacks") {
            panic!(
                "honeytrap did not start; log:\n{}\nstderr:\n{}",
                daemon.log(),
                std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
            );
        }
        daemon
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("honeytrap.log")).unwrap_or_default()
    }

    fn status(&self, field: &str) -> u64 {
        status_number(self.pid(), field)
    }

    /// Threads handling a TCP connection now (named `conn <port>/tcp`).
    fn handlers(&self) -> usize {
        let Ok(rd) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else { return 0 };
        rd.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
            .filter(|c| c.starts_with("conn "))
            .count()
    }

    /// Waits (bounded) until no connection handler runs any more.
    fn settle(&self, max: Duration) {
        common::wait_until(max, || self.handlers() == 0);
    }

    /// SIGTERM, bounded wait, then SIGKILL.
    fn stop(mut self, max: Duration) {
        // SAFETY: kill(2) on the PID of our own child, which has not been reaped yet.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let end = Instant::now() + max;
        while Instant::now() < end {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        eprintln!("honeytrap did not stop within {max:?}; killed");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A number of /proc/<pid>/status (`VmRSS`, `Threads`, ...); 0 if unreadable.
fn status_number(pid: i32, field: &str) -> u64 {
    common::proc_status(pid, field).and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok())).unwrap_or(0)
}

/// CPU time process `pid` has used so far, its threads (also the ended ones) together:
/// utime + stime of /proc/<pid>/stat.
fn cpu_time(pid: i32) -> Duration {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) in parentheses: state is
    // field 3, utime 14, stime 15.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().map(|w| w.parse().unwrap_or(0)).collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    // SAFETY: sysconf has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / hz)
}

/// Runs `f` on a thread inside network namespace `ns`; threads it spawns inherit the namespace.
fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/var/run/netns/{ns}");
    thread::scope(|s| {
        let h = s.spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: setns on a namespace descriptor; affects only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        });
        h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(SRV, port))
}

// ---------------------------------------------------------------------------------------------
// Attack files

/// Contents of the attack files whose name starts with `prefix`, with how often each occurs.
fn saved_contents(dir: &Path, prefix: impl Fn(&str) -> bool) -> HashMap<Vec<u8>, usize> {
    let mut m = HashMap::new();
    let Ok(rd) = std::fs::read_dir(dir.join("attacks")) else { return m };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !prefix(&name) {
            continue;
        }
        if let Ok(data) = std::fs::read(e.path()) {
            *m.entry(data).or_insert(0) += 1;
        }
    }
    m
}

fn tcp_port_of(name: &str) -> Option<u16> {
    port_of(name, "-tcp_")
}

fn udp_port_of(name: &str) -> Option<u16> {
    port_of(name, "-udp_")
}

/// The port in `from_port_<port><marker>...`.
fn port_of(name: &str, marker: &str) -> Option<u16> {
    let rest = name.strip_prefix("from_port_")?;
    rest[..rest.find(marker)?].parse().ok()
}

/// Waits until every payload in `want` is saved, or nothing new appeared for `quiet`, at most
/// `max`; returns (saved, duplicates).
fn wait_saved(dir: &Path, ports: (u16, u16), want: &[Vec<u8>], quiet: Duration, max: Duration) -> (usize, usize) {
    let end = Instant::now() + max;
    let mut last = (0, 0);
    let mut last_change = Instant::now();
    loop {
        let got = saved_contents(dir, |n| tcp_port_of(n).is_some_and(|p| p >= ports.0 && p < ports.1));
        let saved = want.iter().filter(|w| got.contains_key(*w)).count();
        let dups = want.iter().filter(|w| got.get(*w).is_some_and(|n| *n > 1)).count();
        if (saved, dups) != last {
            last = (saved, dups);
            last_change = Instant::now();
        }
        if saved == want.len() || last_change.elapsed() >= quiet || Instant::now() >= end {
            return last;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------
// Client primitives

/// Connects, sends `payload`, half-closes and reads to EOF: true when the server took it
/// (the connection was accepted, our FIN was seen and the server closed cleanly).
fn served_attempt(to: SocketAddr, payload: &[u8]) -> Result<(), ErrorKind> {
    let mut s = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT).map_err(|e| e.kind())?;
    s.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.kind())?;
    s.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| e.kind())?;
    s.write_all(payload).map_err(|e| e.kind())?;
    s.shutdown(Shutdown::Write).map_err(|e| e.kind())?;
    let mut back = Vec::new();
    s.read_to_end(&mut back).map_err(|e| e.kind())?;
    Ok(())
}

/// One port's first attempt (and with pcap, when refused, a second one after [`PCAP_RETRY`]).
/// Returns (first served, second served).
fn capture_port(port: u16, tag: &str, retry: bool) -> (bool, bool) {
    if served_attempt(addr(port), format!("{tag}-first-{port}").as_bytes()).is_ok() {
        return (true, false);
    }
    if !retry {
        return (false, false);
    }
    thread::sleep(PCAP_RETRY);
    (false, served_attempt(addr(port), format!("{tag}-second-{port}").as_bytes()).is_ok())
}

/// Makes sure a listener serves `port` (pcap: the first attempt is refused), bounded.
fn ensure_served(port: u16) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if TcpStream::connect_timeout(&addr(port), CONNECT_TIMEOUT).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}

fn percentile(v: &[Duration], p: f64) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    Some(s[rank.clamp(1, s.len()) - 1])
}

// ---------------------------------------------------------------------------------------------
// Scenarios

fn run_monitor(nfq: bool, started: Instant, hold_max: usize) -> MonResults {
    let name = if nfq { "nfq" } else { "pcap" };
    let mut r = MonResults::new(nfq);
    let over = |what: &str, r: &mut MonResults| {
        let o = started.elapsed() >= BUDGET;
        if o {
            r.notes.push(format!("{what} skipped: time budget of {} s used up.", BUDGET.as_secs()));
        }
        o
    };

    // Daemon 1: capture, latency, sessions, UDP; then daemon 1b (SaveFile only): sessions.
    // The reference server runs beside both, in the same namespaces.
    {
        let net = net(name);
        if nfq {
            let port = P_REFERENCE.to_string();
            let accept = ["-p", "tcp", "--dport", &port, "-j", "ACCEPT"];
            run_ok(
                "ip",
                &[&["netns", "exec", &net.srv, "iptables", "-A", "INPUT", "-i", SRV_DEV][..], &accept].concat(),
            );
            for rule in [&["-p", "tcp", "--syn"][..], &["-p", "udp"][..]] {
                let mut a = vec!["netns", "exec", &net.srv, "iptables", "-A", "INPUT", "-i", SRV_DEV];
                a.extend_from_slice(rule);
                a.extend_from_slice(&["-j", "NFQUEUE", "--queue-num", "0"]);
                run_ok("ip", &a);
            }
        }
        let scratch = Scratch::new(&format!("{name}-main"));
        let dir = scratch.0.clone();
        let reference = Reference::start(&net, &scratch);
        let daemon = Daemon::start(&net, &dir, nfq, Conf::Shipped);

        // UDP first: its records appear only after 11 idle intervals; checked at the end.
        let udp_socks = in_ns(&net.cli, || udp_send(P_UDP, nfq));

        eprintln!("{name}: capture, paced");
        r.paced = Some(in_ns(&net.cli, || capture_paced(P_PACED, name, !nfq)));
        finish_capture(&dir, P_PACED, r.paced.as_mut().unwrap(), name, nfq);
        let planned = PACE * u32::from(N_CAPTURE);
        let launch = r.paced.map_or(Duration::ZERO, |c| c.launch);
        if launch > planned + planned / 10 {
            r.notes.push(format!(
                "the paced attempts were started over {:.2} s instead of {:.2} s (client too slow).",
                launch.as_secs_f64(),
                planned.as_secs_f64()
            ));
        }

        if !over("bursts", &mut r) {
            eprintln!("{name}: capture, bursts");
            r.burst = Some(in_ns(&net.cli, || capture_bursts(P_BURST, name, !nfq)));
            finish_capture(&dir, P_BURST, r.burst.as_mut().unwrap(), name, nfq);
        }
        daemon.settle(Duration::from_secs(10));

        if !over("latency", &mut r) {
            eprintln!("{name}: latency");
            let (fresh, ff) = in_ns(&net.cli, || latency_fresh(P_FRESH, nfq));
            r.fresh = fresh;
            r.fresh_failed = ff;
            daemon.settle(Duration::from_secs(10));
            let (served, sf) = in_ns(&net.cli, || latency_served(P_SERVED));
            r.served = served;
            r.served_failed = sf;
            daemon.settle(Duration::from_secs(10));
            r.connect_close = in_ns(&net.cli, || connect_close(P_CONNCLOSE));
            daemon.settle(Duration::from_secs(10));
        }

        if !over("short sessions", &mut r) {
            eprintln!("{name}: short sessions");
            r.sessions = Some(session_rounds(&net, &daemon, &reference));
        }

        eprintln!("{name}: udp check");
        r.udp = Some(udp_check(&dir, &daemon, P_UDP, &udp_socks.1));
        drop(udp_socks);
        if !nfq && !over("udp without ICMP rate limit", &mut r) {
            // pcap only sees UDP attempts the kernel answers with ICMP port unreachable, which
            // it rate-limits per peer (net.ipv4.icmp_ratelimit): the same run without the limit.
            net.sysctl(&net.srv, "net.ipv4.icmp_ratelimit", "0");
            let socks = in_ns(&net.cli, || udp_send(P_UDP_NORL, nfq));
            r.udp_norl = Some(udp_check(&dir, &daemon, P_UDP_NORL, &socks.1));
        }
        let log = daemon.log();
        let bad: Vec<&str> = log.lines().filter(|l| l.contains("Error") || l.contains("Warning")).collect();
        if !bad.is_empty() {
            r.notes.push(format!(
                "{} warning/error lines in the log of the main run, e.g. {:?}",
                bad.len(),
                &bad[..bad.len().min(3)]
            ));
        }
        if let Some(cap) = log.lines().find_map(|l| l.split_once("] Capacity: ")) {
            r.notes.push(format!("the daemon's start-up line: Capacity: {}", cap.1));
        }
        daemon.stop(Duration::from_secs(20));

        if !over("short sessions with SaveFile only", &mut r) {
            eprintln!("{name}: short sessions, SaveFile only");
            let scratch = Scratch::new(&format!("{name}-savefile"));
            let daemon = Daemon::start(&net, &scratch.0, nfq, Conf::SaveFileOnly);
            r.sessions_savefile = Some(session_rounds(&net, &daemon, &reference));
            daemon.stop(Duration::from_secs(20));
        }
    }

    // Daemons 2 and 3: simultaneous connections held on one port.
    for n in HOLD_SIZES.map(|n| n.min(hold_max)) {
        if over(&format!("{n} simultaneous connections"), &mut r) {
            continue;
        }
        eprintln!("{name}: {n} simultaneous connections");
        let net = net(&format!("{name}{n}"));
        if nfq {
            run_ok(
                "ip",
                &[
                    "netns",
                    "exec",
                    &net.srv,
                    "iptables",
                    "-A",
                    "INPUT",
                    "-i",
                    SRV_DEV,
                    "-p",
                    "tcp",
                    "--syn",
                    "-j",
                    "NFQUEUE",
                    "--queue-num",
                    "0",
                ],
            );
        }
        let scratch = Scratch::new(&format!("{name}-hold{n}"));
        let daemon = Daemon::start(&net, &scratch.0, nfq, Conf::Shipped);
        let h = in_ns(&net.cli, || hold(P_HOLD, n, &daemon));
        r.hold.push(h);
        daemon.stop(Duration::from_secs(30));
    }
    r
}

fn finish_capture(dir: &Path, base: u16, c: &mut Capture, tag: &str, nfq: bool) {
    // Every payload that was sent over an accepted connection (first or second attempt).
    let want: Vec<Vec<u8>> = (base..base + N_CAPTURE)
        .flat_map(|p| [format!("{tag}-first-{p}").into_bytes(), format!("{tag}-second-{p}").into_bytes()])
        .collect();
    let expect = if nfq { c.served_first } else { c.served_first + c.served_second };
    let (saved, dups) = wait_saved_count(dir, (base, base + N_CAPTURE), &want, expect);
    c.saved = saved;
    c.duplicates = dups;
}

fn wait_saved_count(dir: &Path, ports: (u16, u16), want: &[Vec<u8>], expect: usize) -> (usize, usize) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, d) = wait_saved(dir, ports, want, Duration::from_secs(3), Duration::from_secs(3));
        if s >= expect || Instant::now() >= end {
            return (s, d);
        }
    }
}

fn capture_paced(base: u16, tag: &str, retry: bool) -> Capture {
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(N_CAPTURE.into());
    for i in 0..N_CAPTURE {
        let due = t0 + PACE * u32::from(i);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            thread::sleep(d);
        }
        let tag = tag.to_string();
        handles.push(thread::spawn(move || capture_port(base + i, &tag, retry)));
    }
    let launch = t0.elapsed();
    tally(handles, launch)
}

fn capture_bursts(base: u16, tag: &str, retry: bool) -> Capture {
    let mut all = Capture::default();
    let t0 = Instant::now();
    for b in 0..N_CAPTURE / BURST {
        let barrier = Arc::new(Barrier::new(BURST.into()));
        let handles: Vec<_> = (0..BURST)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                let tag = tag.to_string();
                let port = base + b * BURST + i;
                thread::spawn(move || {
                    barrier.wait();
                    capture_port(port, &tag, retry)
                })
            })
            .collect();
        let c = tally(handles, Duration::ZERO);
        all.attempts += c.attempts;
        all.served_first += c.served_first;
        all.served_second += c.served_second;
        thread::sleep(BURST_GAP);
    }
    all.launch = t0.elapsed();
    all
}

fn tally(handles: Vec<thread::JoinHandle<(bool, bool)>>, launch: Duration) -> Capture {
    let mut c = Capture { launch, ..Capture::default() };
    for h in handles {
        c.attempts += 1;
        if let Ok((first, second)) = h.join() {
            c.served_first += usize::from(first);
            c.served_second += usize::from(second);
        }
    }
    c
}

/// nfq: connect() time to a fresh port (the SYN is held until the port is bound).
/// pcap: time from the refused first attempt until a connect succeeds (retried every
/// [`FRESH_RETRY`]).
fn latency_fresh(base: u16, nfq: bool) -> (Vec<Duration>, usize) {
    let mut v = Vec::new();
    let mut failed = 0;
    for i in 0..N_LATENCY {
        let to = addr(base + i);
        if nfq {
            let t = Instant::now();
            match TcpStream::connect_timeout(&to, CONNECT_TIMEOUT) {
                Ok(_) => v.push(t.elapsed()),
                Err(_) => failed += 1,
            }
        } else {
            let first = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT);
            let t = Instant::now();
            if first.is_ok() {
                failed += 1;
                continue;
            }
            let end = t + Duration::from_secs(2);
            let mut ok = false;
            while Instant::now() < end {
                if TcpStream::connect_timeout(&to, CONNECT_TIMEOUT).is_ok() {
                    ok = true;
                    break;
                }
                thread::sleep(FRESH_RETRY);
            }
            if ok {
                v.push(t.elapsed());
            } else {
                failed += 1;
            }
        }
        thread::sleep(Duration::from_millis(2));
    }
    (v, failed)
}

/// connect() time to a port that is already served.
fn latency_served(port: u16) -> (Vec<Duration>, usize) {
    if !ensure_served(port) {
        return (Vec::new(), N_LATENCY.into());
    }
    thread::sleep(Duration::from_millis(100));
    let mut v = Vec::new();
    let mut failed = 0;
    for _ in 0..N_LATENCY {
        let t = Instant::now();
        match TcpStream::connect_timeout(&addr(port), CONNECT_TIMEOUT) {
            Ok(_) => v.push(t.elapsed()),
            Err(_) => failed += 1,
        }
        thread::sleep(Duration::from_millis(1));
    }
    (v, failed)
}

/// N connect + close in a row on one served port: total time and failures.
fn connect_close(port: u16) -> Option<(Duration, usize)> {
    if !ensure_served(port) {
        return None;
    }
    thread::sleep(Duration::from_millis(100));
    let mut failed = 0;
    let t = Instant::now();
    for _ in 0..N_CONNECT_CLOSE {
        if TcpStream::connect_timeout(&addr(port), CONNECT_TIMEOUT).is_err() {
            failed += 1;
        }
    }
    Some((t.elapsed(), failed))
}

/// Where a round of short sessions goes and how its records are found.
struct SessionTarget<'a> {
    /// The process whose CPU time is measured (the daemon or the reference server).
    pid: i32,
    port: u16,
    /// The directory the records appear in, and which names are records of this port.
    dir: PathBuf,
    is_record: &'a dyn Fn(&str) -> bool,
}

/// One round of [`N_SESSIONS`] short sessions.
#[derive(Clone, Default)]
struct Round {
    done: usize,
    failed: usize,
    /// Connects that took longer than 500 ms (a SYN was retransmitted).
    slow: usize,
    /// Listen queue overflows in the sensor namespace during the round.
    overflows: u64,
    saved: usize,
    duplicates: usize,
    /// From the first connect until the last record appeared.
    took: Duration,
    /// CPU time of the serving process during the round.
    cpu: Duration,
    /// CPU time of the client threads during the round.
    client_cpu: Duration,
}

/// [`SESSION_ROUNDS`] rounds on the daemon and as many on the reference server, alternating.
#[derive(Clone, Default)]
struct SessionRuns {
    ours: Vec<Round>,
    reference: Vec<Round>,
}

/// The names in `dir` that `is_record` accepts.
fn records_in(dir: &Path, is_record: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.flatten().filter(|e| is_record(&e.file_name().to_string_lossy())).map(|e| e.path()).collect()
}

/// CPU time the calling thread has used so far (the scheduler's, in nanoseconds).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// [`SESSION_CLIENTS`] clients doing [`N_SESSIONS`] sessions (connect, 16 bytes, close) to
/// `port` between them. Returns the payloads sent, the failed sessions, the slow connects
/// and the CPU time the client threads used.
fn run_sessions(port: u16, round: usize) -> (Vec<Vec<u8>>, usize, usize, Duration) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(Vec<Vec<u8>>, usize, usize, Duration)> = thread::scope(|sc| {
        let handles: Vec<_> = (0..SESSION_CLIENTS)
            .map(|c| {
                let next = &next;
                sc.spawn(move || {
                    let (mut sent, mut failed, mut slow) = (Vec::new(), 0, 0);
                    let cpu0 = thread_cpu();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= N_SESSIONS {
                            break;
                        }
                        let payload = format!("r{round}c{c:02}s{i:010}").into_bytes();
                        let t = Instant::now();
                        let conn = TcpStream::connect_timeout(&addr(port), CONNECT_TIMEOUT);
                        slow += usize::from(t.elapsed() > Duration::from_millis(500));
                        let ok = conn.and_then(|mut c| {
                            c.set_write_timeout(Some(IO_TIMEOUT))?;
                            c.write_all(&payload)
                        });
                        match ok {
                            Ok(()) => sent.push(payload),
                            Err(_) => failed += 1,
                        }
                    }
                    (sent, failed, slow, thread_cpu().saturating_sub(cpu0))
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    results.into_iter().fold((Vec::new(), 0, 0, Duration::ZERO), |(mut d, f, s, c), (d1, f1, s1, c1)| {
        d.extend(d1);
        (d, f + f1, s + s1, c + c1)
    })
}

/// One round of short sessions on `t`: the round ends when every session is saved (or
/// nothing new appeared for 5 s, at most 60 s), and its CPU time is read once the serving
/// threads are gone. The records of earlier rounds stay where they are (each round's
/// payloads are its own, so records are told apart by content): removing thousands of files
/// just before thousands are created makes ext4 step over every recently freed inode for
/// each new file, which cost either side several times its own CPU time per session in some
/// rounds and none in others.
fn session_round(net: &Net, t: &SessionTarget, round: usize) -> Round {
    let before = records_in(&t.dir, t.is_record).len();
    let idle_threads = status_number(t.pid, "Threads");
    let cpu0 = cpu_time(t.pid);
    let overflows = net_counter(t.pid, "netstat", "TcpExt", "ListenOverflows");
    let t0 = Instant::now();
    let port = t.port;
    let (done, failed, slow, client_cpu) = in_ns(&net.cli, || run_sessions(port, round));
    let mut r = Round { done: done.len(), failed, slow, client_cpu, ..Round::default() };
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        let n = records_in(&t.dir, t.is_record).len().saturating_sub(before);
        if n != last {
            (last, last_change) = (n, Instant::now());
            r.took = t0.elapsed();
        }
        if n >= done.len() || last_change.elapsed() > Duration::from_secs(5) || t0.elapsed() > Duration::from_secs(60) {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    common::wait_until(Duration::from_secs(5), || status_number(t.pid, "Threads") <= idle_threads);
    r.cpu = cpu_time(t.pid).saturating_sub(cpu0);
    r.overflows = net_counter(t.pid, "netstat", "TcpExt", "ListenOverflows").saturating_sub(overflows);
    let mut got: HashMap<Vec<u8>, usize> = HashMap::new();
    for f in records_in(&t.dir, t.is_record) {
        if let Ok(data) = std::fs::read(f) {
            *got.entry(data).or_insert(0) += 1;
        }
    }
    r.saved = done.iter().filter(|p| got.contains_key(*p)).count();
    r.duplicates = done.iter().filter(|p| got.get(*p).is_some_and(|n| *n > 1)).count();
    r
}

/// The session rounds on the daemon (port [`P_SESSIONS`], served first: with pcap the first
/// attempt is refused) alternating with the reference server's.
fn session_rounds(net: &Net, daemon: &Daemon, reference: &Reference) -> SessionRuns {
    let mut runs = SessionRuns::default();
    if !in_ns(&net.cli, || ensure_served(P_SESSIONS)) {
        return runs;
    }
    daemon.settle(Duration::from_secs(5));
    let is_ours = |n: &str| tcp_port_of(n) == Some(P_SESSIONS);
    let ours =
        SessionTarget { pid: daemon.pid(), port: P_SESSIONS, dir: daemon.dir.join("attacks"), is_record: &is_ours };
    let is_ref = |n: &str| n.starts_with('s');
    let refr =
        SessionTarget { pid: reference.pid(), port: P_REFERENCE, dir: reference.dir.clone(), is_record: &is_ref };
    for round in 0..SESSION_ROUNDS {
        runs.reference.push(session_round(net, &refr, 2 * round));
        runs.ours.push(session_round(net, &ours, 2 * round + 1));
    }
    runs
}

/// A listening TCP socket on every IPv4 address, port `port`, with [`BACKLOG`].
fn reference_listener(port: u16) -> std::io::Result<std::net::TcpListener> {
    // SAFETY: plain socket(2) call; the descriptor is owned by the TcpListener below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket we own.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: `one` lives for the call and its size is passed.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let sa = sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
    // SAFETY: `sa` is a valid sockaddr_in of the given length.
    if unsafe { libc::bind(fd, &sa as *const _ as *const libc::sockaddr, std::mem::size_of_val(&sa) as u32) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: no memory arguments.
    if unsafe { libc::listen(fd, BACKLOG) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(listener)
}

/// `--reference-server <dir> <port>`: the least a server that keeps every session does, to
/// measure the daemon against. Bound before the sessions come; a thread per connection,
/// which reads to EOF and writes what it read to a new file `<dir>/s<n>`. Says it is ready
/// by creating `<dir>/.ready`; runs until killed.
fn reference_server(dir: &Path, port: u16) -> ! {
    let listener = reference_listener(port).unwrap_or_else(|e| {
        eprintln!("reference server: port {port}: {e}");
        std::process::exit(1)
    });
    std::fs::write(dir.join(".ready"), b"").expect("ready file");
    let mut n = 0u64;
    loop {
        let Ok((mut conn, _)) = listener.accept() else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        n += 1;
        let file = dir.join(format!("s{n}"));
        let _ = thread::Builder::new().spawn(move || {
            let mut data = Vec::new();
            if conn.read_to_end(&mut data).is_ok() {
                let _ = std::fs::write(file, data);
            }
        });
    }
}

/// The reference server running in the sensor namespace; killed by PID on drop.
struct Reference {
    child: Child,
    dir: PathBuf,
}

impl Reference {
    fn start(net: &Net, scratch: &Scratch) -> Reference {
        let dir = scratch.0.join("reference");
        std::fs::create_dir_all(&dir).unwrap();
        let exe = std::env::current_exe().expect("this program");
        let child = Command::new("ip")
            .args(["netns", "exec", &net.srv])
            .arg(exe)
            .arg("--reference-server")
            .arg(&dir)
            .arg(P_REFERENCE.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the reference server");
        let mut r = Reference { child, dir };
        let ready = common::wait_until(Duration::from_secs(10), || {
            r.dir.join(".ready").exists() || !matches!(r.child.try_wait(), Ok(None))
        });
        assert!(ready && r.dir.join(".ready").exists(), "the reference server did not start");
        r
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one datagram to each of [`N_UDP`] closed ports, each from its own socket (pcap: a
/// second one from the same socket after [`PCAP_RETRY`]). Returns the sockets (kept open until
/// the check) and the payload each port's record should hold.
fn udp_send(base: u16, nfq: bool) -> (Vec<UdpSocket>, Vec<Vec<u8>>) {
    let mut socks = Vec::new();
    let mut want = Vec::new();
    for i in 0..N_UDP {
        let port = base + i;
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        let first = format!("udp-first-{port}").into_bytes();
        let _ = s.send_to(&first, addr(port));
        socks.push(s);
        want.push(if nfq { first } else { format!("udp-second-{port}").into_bytes() });
        thread::sleep(Duration::from_millis(2));
    }
    if !nfq {
        thread::sleep(PCAP_RETRY);
        for (i, s) in socks.iter().enumerate() {
            let _ = s.send_to(&want[i], addr(base + i as u16));
        }
    }
    (socks, want)
}

fn udp_check(dir: &Path, daemon: &Daemon, base: u16, want: &[Vec<u8>]) -> Udp {
    let in_range = |n: &str| udp_port_of(n).is_some_and(|p| p >= base && p < base + N_UDP);
    // A flow's record is written after 11 idle read timeouts.
    let wait = Duration::from_secs(11 * READ_TIMEOUT_S + 8);
    common::wait_until(wait, || {
        let got = saved_contents(dir, in_range);
        want.iter().all(|w| got.keys().any(|k| k.ends_with(w)))
    });
    thread::sleep(Duration::from_secs(1));
    let mut per_port: HashMap<u16, Vec<Vec<u8>>> = HashMap::new();
    if let Ok(rd) = std::fs::read_dir(dir.join("attacks")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Some(p) = udp_port_of(&name).filter(|p| *p >= base && *p < base + N_UDP) {
                per_port.entry(p).or_default().push(std::fs::read(e.path()).unwrap_or_default());
            }
        }
    }
    let mut u = Udp { sent: want.len(), ..Udp::default() };
    for (i, w) in want.iter().enumerate() {
        let recs = per_port.get(&(base + i as u16)).map(Vec::as_slice).unwrap_or(&[]);
        match recs.iter().filter(|r| r.ends_with(w)).count() {
            0 => u.missing += 1,
            1 if recs.len() == 1 => u.once += 1,
            _ => u.multiple += 1,
        }
    }
    // SaveFile writes no file for an empty record; the log has a line for each.
    let log = daemon.log();
    u.empty = log
        .lines()
        .filter(|l| l.contains("/udp  No bytes received from"))
        .filter(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_suffix("/udp").and_then(|p| p.parse::<u16>().ok()))
                .is_some_and(|p| p >= base && p < base + N_UDP)
        })
        .count();
    u
}

/// One held connection of [`hold`].
struct Held {
    sock: TcpStream,
    started: Instant,
    connected: Option<Instant>,
    first_byte: Option<Instant>,
    last_sent: Instant,
    closed: bool,
}

/// Opens `n` connections to one port (at most [`HOLD_INFLIGHT`] connects in flight), keeps
/// them open (one byte every 4 s, so that the idle timeout of 11 read timeouts never
/// closes them), waits for every first response byte (at most 3 s after the last connect),
/// then takes the daemon's numbers.
fn hold(port: u16, n: usize, daemon: &Daemon) -> Hold {
    let mut h = Hold {
        n,
        connected: 0,
        accepted: 0,
        open_client: 0,
        handlers: 0,
        rss_kib: 0,
        rss_idle_kib: 0,
        threads: 0,
        first_byte: Vec::new(),
        build_up: Duration::ZERO,
    };
    if !ensure_served(port) {
        return h;
    }
    // The warm-up connections end before the measurement, and their log lines are skipped.
    common::wait_until(Duration::from_secs(5), || daemon.log().contains("Handling tcp connection request"));
    daemon.settle(Duration::from_secs(5));
    let log_offset = daemon.log().len();
    h.rss_idle_kib = daemon.status("VmRSS");
    let to = SocketAddrV4::new(SRV, port);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(120);
    let mut conns: Vec<Held> = Vec::with_capacity(n);
    let mut failed = 0usize;
    let mut inflight = 0usize;
    let mut all_connected_at: Option<Instant> = None;
    let mut buf = [0u8; 256];
    let mut pfds: Vec<libc::pollfd> = Vec::with_capacity(n);
    let mut idx: Vec<usize> = Vec::with_capacity(n);
    while Instant::now() < deadline {
        while inflight < HOLD_INFLIGHT && conns.len() + failed < n {
            match nb_connect(to) {
                Ok(sock) => {
                    let now = Instant::now();
                    conns.push(Held {
                        sock,
                        started: now,
                        connected: None,
                        first_byte: None,
                        last_sent: now,
                        closed: false,
                    });
                    inflight += 1;
                }
                Err(e) => {
                    if failed == 0 {
                        eprintln!("connect: {e}");
                    }
                    failed += 1;
                }
            }
        }
        pfds.clear();
        idx.clear();
        let now = Instant::now();
        for (i, c) in conns.iter_mut().enumerate() {
            if c.closed {
                continue;
            }
            if c.connected.is_none() {
                if now.duration_since(c.started) > Duration::from_secs(10) {
                    c.closed = true;
                    inflight -= 1;
                    failed += 1;
                    continue;
                }
                pfds.push(libc::pollfd { fd: c.sock.as_raw_fd(), events: libc::POLLOUT, revents: 0 });
            } else {
                if now.duration_since(c.last_sent) >= Duration::from_secs(4) {
                    c.last_sent = now;
                    let _ = c.sock.write(b"k");
                }
                pfds.push(libc::pollfd { fd: c.sock.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
            idx.push(i);
        }
        // SAFETY: `pfds` is a valid array of pollfd of the given length.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 10) };
        if rc > 0 {
            let now = Instant::now();
            for (k, p) in pfds.iter().enumerate() {
                if p.revents == 0 {
                    continue;
                }
                let c = &mut conns[idx[k]];
                if c.connected.is_none() {
                    inflight -= 1;
                    match c.sock.take_error() {
                        Ok(None) if p.revents & (libc::POLLERR | libc::POLLHUP) == 0 => {
                            c.connected = Some(now);
                            c.last_sent = now;
                        }
                        _ => {
                            c.closed = true;
                            failed += 1;
                        }
                    }
                    continue;
                }
                loop {
                    match c.sock.read(&mut buf) {
                        Ok(0) => {
                            c.closed = true;
                            break;
                        }
                        Ok(_) => {
                            c.first_byte.get_or_insert(now);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => {
                            c.closed = true;
                            break;
                        }
                    }
                }
            }
        }
        let launched_all = conns.len() + failed >= n;
        if launched_all && inflight == 0 {
            let at = *all_connected_at.get_or_insert_with(Instant::now);
            let waiting = conns.iter().any(|c| c.connected.is_some() && !c.closed && c.first_byte.is_none());
            if !waiting || at.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
    }
    h.build_up = all_connected_at.map_or(t0.elapsed(), |a| a.duration_since(t0));
    // The daemon's numbers while every connection is held.
    h.rss_kib = daemon.status("VmRSS");
    h.threads = daemon.status("Threads");
    h.handlers = daemon.handlers();
    // Accepted: a `Handling` line, logged since the start, for the source port of one of our
    // connections (a warm-up connection's port may have been reused).
    let ours: std::collections::HashSet<u16> =
        conns.iter().filter_map(|c| c.connected.and(c.sock.local_addr().ok()).map(|a| a.port())).collect();
    let from = format!("Handling tcp connection request from {CLI}:");
    let log = daemon.log();
    h.accepted = log
        .get(log_offset..)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(&from)?.1.split(' ').next()?.parse::<u16>().ok())
        .filter(|p| ours.contains(p))
        .count();
    // Still open on our side: not closed, and no EOF or reset pending now.
    for c in conns.iter_mut().filter(|c| c.connected.is_some() && !c.closed) {
        let mut p = libc::pollfd { fd: c.sock.as_raw_fd(), events: libc::POLLIN | libc::POLLRDHUP, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 0) };
        if p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
            c.closed = true;
        }
    }
    h.connected = conns.iter().filter(|c| c.connected.is_some()).count();
    h.open_client = conns.iter().filter(|c| c.connected.is_some() && !c.closed).count();
    h.first_byte = conns.iter().filter_map(|c| Some(c.first_byte?.saturating_duration_since(c.connected?))).collect();
    drop(conns);
    h
}

// ---------------------------------------------------------------------------------------------
// Report

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn frac(n: usize, of: usize) -> String {
    if of == 0 {
        return "—".into();
    }
    format!("{n}/{of} ({:.1} %)", 100.0 * n as f64 / of as f64)
}

fn pcts(v: &[Duration], f: impl Fn(Duration) -> String) -> String {
    match (percentile(v, 50.0), percentile(v, 99.0)) {
        (Some(a), Some(b)) => format!("{} / {}", f(a), f(b)),
        _ => "—".into(),
    }
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗ MISSED"
    }
}

fn render(results: &[MonResults], notes: &[String], took: Duration) -> String {
    let mut s = String::new();
    let RunFacts { date, kernel, cpus } = run_facts();
    let _ = writeln!(s, "### Capture benchmark (`make bench`), {date}\n");
    let _ = writeln!(
        s,
        "Linux {}, {cpus} CPUs; `target/release/honeytrap -D -C <file>` (pcap: and `-i <veth>`) in a \
         network namespace, the client in another, joined by a veth pair (client namespace: \
         ip_local_port_range 1024-65000, tcp_tw_reuse 1); the shipped configuration \
         (contrib/honeytrap.conf.dist with its paths in a scratch directory: user nobody, read_limit \
         20 MiB, the download, decoder, SaveFile, logAttacker and logJSON plugins; no limit set, \
         open file limit {}); nfq: iptables `-p tcp --syn` and `-p udp` to NFQUEUE 0; pcap: on the \
         veth. Run took {:.0} s.\n",
        kernel,
        soft_nofile_to_hard(),
        took.as_secs_f64()
    );
    let _ = writeln!(s, "| Measurement | nfq | pcap | Target |");
    let _ = writeln!(s, "|---|---|---|---|");
    let get = |nfq: bool| results.iter().find(|r| r.nfq == nfq);
    let mut row = |what: &str, f: &dyn Fn(&MonResults) -> String, target: &str| {
        let cell = |nfq: bool| get(nfq).map_or("—".to_string(), f);
        let _ = writeln!(s, "| {what} | {} | {} | {target} |", cell(true), cell(false));
    };
    let n = N_CAPTURE as usize;
    for (label, pick) in [
        (
            format!("paced (1 every {} ms)", PACE.as_millis()),
            (|r: &MonResults| r.paced) as fn(&MonResults) -> Option<Capture>,
        ),
        (format!("bursts of {BURST} ({} bursts)", N_CAPTURE / BURST), |r: &MonResults| r.burst),
    ] {
        row(
            &format!("First attempt to {n} fresh ports served, {label}"),
            &|r| match pick(r) {
                Some(c) if r.nfq => {
                    format!("{} {}", frac(c.served_first, c.attempts), mark(c.served_first == c.attempts))
                }
                Some(c) => format!("{} (refused by design)", frac(c.served_first, c.attempts)),
                None => "skipped".into(),
            },
            "nfq 100 %",
        );
        row(
            &format!("First attempt saved, {label}"),
            &|r| match pick(r) {
                Some(c) if r.nfq => format!(
                    "{} {}{}",
                    frac(c.saved, c.attempts),
                    mark(c.saved == c.attempts && c.duplicates == 0),
                    if c.duplicates > 0 { format!(", {} saved twice", c.duplicates) } else { String::new() }
                ),
                Some(_) => "—".into(),
                None => "skipped".into(),
            },
            "nfq 100 %",
        );
        row(
            &format!("Second attempt ({} ms after the refusal) served, {label}", PCAP_RETRY.as_millis()),
            &|r| match pick(r) {
                Some(c) if !r.nfq => {
                    let of = c.attempts - c.served_first;
                    format!("{} {}", frac(c.served_second, of), mark(c.served_second == of))
                }
                Some(_) => "—".into(),
                None => "skipped".into(),
            },
            "pcap 100 %",
        );
        row(
            &format!("Second attempt saved, {label}"),
            &|r| match pick(r) {
                Some(c) if !r.nfq => {
                    let of = c.attempts - c.served_first;
                    format!(
                        "{} {}{}",
                        frac(c.saved, of),
                        mark(c.saved == of && c.duplicates == 0),
                        if c.duplicates > 0 { format!(", {} saved twice", c.duplicates) } else { String::new() }
                    )
                }
                Some(_) => "—".into(),
                None => "skipped".into(),
            },
            "pcap 100 %",
        );
    }
    row(
        &format!("Connect latency to a fresh port, p50 / p99 ({N_LATENCY} ports)"),
        &|r| {
            if !r.nfq {
                return "— (refused by design)".into();
            }
            let ok = percentile(&r.fresh, 99.0).is_some_and(|p| p < Duration::from_millis(5)) && r.fresh_failed == 0;
            format!("{} {}{}", pcts(&r.fresh, ms), mark(ok), failed_note(r.fresh_failed))
        },
        "p99 < 5 ms",
    );
    row(
        &format!(
            "pcap: refused first attempt → port served (retry every {} ms), p50 / p99 ({N_LATENCY} ports)",
            FRESH_RETRY.as_secs_f64() * 1000.0
        ),
        &|r| if r.nfq { "—".into() } else { format!("{}{}", pcts(&r.fresh, ms), failed_note(r.fresh_failed)) },
        "—",
    );
    row(
        &format!("Connect latency to a served port, p50 / p99 ({N_LATENCY} samples)"),
        &|r| {
            let ok =
                percentile(&r.served, 50.0).is_some_and(|p| p < Duration::from_micros(200)) && r.served_failed == 0;
            format!("{} {}{}", pcts(&r.served, ms), mark(ok), failed_note(r.served_failed))
        },
        "p50 < 0.2 ms",
    );
    row(
        &format!("{N_CONNECT_CLOSE} connect/close in a row on one port"),
        &|r| match r.connect_close {
            Some((d, f)) => {
                format!("{:.3} s {}{}", d.as_secs_f64(), mark(d < Duration::from_millis(300) && f == 0), failed_note(f))
            }
            None => "skipped".into(),
        },
        "< 0.3 s",
    );
    for size in HOLD_SIZES.iter() {
        row(
            &format!("{size} simultaneous connections on one port: accepted / still open (daemon handlers)"),
            &|r| match hold_of(r, *size) {
                Some(h) => format!(
                    "{} / {} ({}) {}{}",
                    h.accepted,
                    h.open_client,
                    h.handlers,
                    mark(h.accepted == h.n && h.open_client == h.n),
                    if h.connected < h.n { format!(", {} connects failed", h.n - h.connected) } else { String::new() }
                ),
                None => "skipped".into(),
            },
            "all",
        );
        row(
            &format!("{size} held: daemon VmRSS (before) / threads (time to open them all)"),
            &|r| match hold_of(r, *size) {
                Some(h) => format!(
                    "{:.1} MiB ({:.1} MiB) / {} ({:.1} s){}",
                    h.rss_kib as f64 / 1024.0,
                    h.rss_idle_kib as f64 / 1024.0,
                    h.threads,
                    h.build_up.as_secs_f64(),
                    if *size >= 10000 { format!(" {}", mark(h.rss_kib < 256 * 1024)) } else { String::new() }
                ),
                None => "skipped".into(),
            },
            if *size >= 10000 { "RSS < 256 MiB" } else { "—" },
        );
        row(
            &format!("{size} held: first response byte p50 / p99 (read timeout {READ_TIMEOUT_S} s)"),
            &|r| match hold_of(r, *size) {
                Some(h) => {
                    let rt = Duration::from_secs(READ_TIMEOUT_S);
                    let rel = |d: Duration| {
                        format!(
                            "{:.3} s ({:+.1} %)",
                            d.as_secs_f64(),
                            100.0 * (d.as_secs_f64() / rt.as_secs_f64() - 1.0)
                        )
                    };
                    let ok =
                        h.first_byte.len() == h.n && percentile(&h.first_byte, 50.0).is_some_and(|p| p <= rt + rt / 10);
                    let missing = h.n.saturating_sub(h.first_byte.len());
                    format!(
                        "{}{}{}",
                        pcts(&h.first_byte, rel),
                        if *size < 10000 { format!(" {}", mark(ok)) } else { String::new() },
                        if missing > 0 { format!(", {missing} got none") } else { String::new() }
                    )
                }
                None => "skipped".into(),
            },
            if *size < 10000 { "p50 within 10 % of the read timeout" } else { "—" },
        );
    }
    row(
        &format!(
            "{N_SESSIONS} short sessions from one address (connect, 16 bytes, close; {SESSION_CLIENTS} clients), \
             {SESSION_ROUNDS} rounds: lost (sent, no record) / saved twice / failed connects (connects > 0.5 s; \
             listen queue overflows)"
        ),
        &|r| match &r.sessions {
            Some(x) if !x.ours.is_empty() => {
                let sum = |f: fn(&Round) -> usize| x.ours.iter().map(f).sum::<usize>();
                let (done, saved, dups, failed) =
                    (sum(|r| r.done), sum(|r| r.saved), sum(|r| r.duplicates), sum(|r| r.failed));
                format!(
                    "{} / {} / {} {} ({}; {})",
                    done - saved,
                    dups,
                    failed,
                    mark(done == saved && dups == 0 && failed == 0 && done == N_SESSIONS * x.ours.len()),
                    sum(|r| r.slow),
                    x.ours.iter().map(|r| r.overflows).sum::<u64>()
                )
            }
            _ => "skipped".into(),
        },
        "none lost",
    );
    for (what, pick) in [
        ("shipped configuration", (|r: &MonResults| r.sessions.as_ref()) as fn(&MonResults) -> Option<&SessionRuns>),
        ("SaveFile only", |r: &MonResults| r.sessions_savefile.as_ref()),
    ] {
        row(
            &format!("Short sessions per second until all saved, {what}: daemon / reference server, medians (ratio: median of the rounds' ratios)"),
            &|r| pick(r).map_or("skipped".into(), |x| compare(x, rate, |v| format!("{v:.0}/s"))),
            "—",
        );
        row(
            &format!("CPU time per saved session, {what}: daemon / reference server, medians (ratio: median of the rounds' ratios)"),
            &|r| pick(r).map_or("skipped".into(), |x| compare(x, cpu_per_session, |v| format!("{v:.0} µs"))),
            "close to the reference",
        );
        row(
            &format!("CPU time per saved session, {what}, the server and its clients together: daemon / reference server, medians (ratio: median of the rounds' ratios)"),
            &|r| pick(r).map_or("skipped".into(), |x| compare(x, cpu_with_clients, |v| format!("{v:.0} µs"))),
            "—",
        );
    }
    let udp_cell = |u: &Udp| {
        format!(
            "{}/{} once; {} missing, {} more than once, {} empty {}",
            u.once,
            u.sent,
            u.missing,
            u.multiple,
            u.empty,
            mark(u.once == u.sent && u.empty == 0)
        )
    };
    row(
        &format!("UDP: {N_UDP} datagrams to {N_UDP} closed ports from distinct source ports (pcap: second datagram {} ms later): recorded", PCAP_RETRY.as_millis()),
        &|r| r.udp.as_ref().map_or("skipped".into(), udp_cell),
        "50/50 once, none empty",
    );
    row(
        "UDP, as above, with net.ipv4.icmp_ratelimit = 0 in the sensor namespace",
        &|r| if r.nfq { "—".into() } else { r.udp_norl.as_ref().map_or("skipped".into(), udp_cell) },
        "—",
    );
    let _ = writeln!(
        s,
        "\nServed: the connect succeeded and the server read the bytes sent, saw our FIN and closed \
         cleanly (read to EOF). Saved: an attack file holding exactly the bytes sent exists \
         (files counted by content). Latencies are connect() times seen by the client; the first \
         response byte is timed from connect() returning. Held connections send one byte every 4 s \
         so the idle timeout (11 read timeouts) does not close them; \"still open\" is checked on \
         the client side after the last first byte arrived (at most 3 s after the last connect). \
         Short sessions: {SESSION_ROUNDS} rounds of {N_SESSIONS} on the daemon alternate with as many \
         on the reference server, a program of the benchmark in the sensor namespace (a listener \
         bound beforehand with the daemon's backlog, a thread per connection that reads to EOF and \
         writes what it read to a file of its own); per second: sessions saved from the first \
         connect until the last record appeared; CPU time: utime + stime of the serving process \
         (/proc/<pid>/stat, 10 ms ticks) over the round, per saved session; with its clients: \
         plus the CPU time of the client threads (CLOCK_THREAD_CPUTIME_ID), because the TCP \
         handshake of both ends is charged to the client's connect() with the reference server \
         and to the daemon's verdict with nfq (one host, a veth pair). The records of earlier \
         rounds are not removed (mass removal right before mass creation makes ext4 slow to \
         allocate inodes for a while). SaveFile only: a \
         daemon with the shipped paths, user and port default but no other plugin, doing the \
         reference server's work. Full sizes were used (N = {N_CAPTURE}, {N_LATENCY} latency \
         samples, {N_UDP} datagrams); nothing was lowered for time."
    );
    if !notes.is_empty() {
        let _ = writeln!(s, "\nNotes:\n");
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

/// Sessions saved per second in a round.
fn rate(r: &Round) -> f64 {
    r.saved as f64 / r.took.as_secs_f64().max(0.001)
}

/// CPU time per saved session in a round, in µs.
fn cpu_per_session(r: &Round) -> f64 {
    r.cpu.as_secs_f64() * 1e6 / r.saved.max(1) as f64
}

/// CPU time of the server and the client threads together per saved session, in µs: the
/// TCP handshake of both ends (one host, a veth pair) runs in the client's connect() with
/// the reference server and in the daemon's verdict with nfq, so only the sum compares the
/// same work.
fn cpu_with_clients(r: &Round) -> f64 {
    (r.cpu + r.client_cpu).as_secs_f64() * 1e6 / r.saved.max(1) as f64
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// `ours / reference (ratio)`: the medians of `f` over the rounds and the median of the
/// ratios of each daemon round to the reference round just before it (the machine's load
/// changes less between the two), then those ratios.
fn compare(x: &SessionRuns, f: fn(&Round) -> f64, show: fn(f64) -> String) -> String {
    let (Some(ours), Some(theirs)) =
        (median(x.ours.iter().map(f).collect()), median(x.reference.iter().map(f).collect()))
    else {
        return "—".into();
    };
    let pairs: Vec<f64> = x.ours.iter().zip(&x.reference).map(|(o, r)| f(o) / f(r).max(f64::MIN_POSITIVE)).collect();
    let each = pairs.iter().map(|p| format!("{p:.2}")).collect::<Vec<_>>().join(", ");
    format!("{} / {} ({:.2}; round by round: {each})", show(ours), show(theirs), median(pairs).unwrap_or(0.0))
}

fn hold_of(r: &MonResults, n: usize) -> Option<&Hold> {
    r.hold.iter().find(|h| h.n == n)
}

fn failed_note(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} failed")
    }
}
