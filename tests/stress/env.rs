//! The world a stress scenario runs in: a sensor and a client network namespace joined by a
//! veth pair (nfq rules in the sensor namespace), a scratch directory holding the shipped
//! configuration with its paths moved into it, the daemon started on it as root with `-u
//! nobody -g nogroup`, and watches on what the daemon does (open files, threads, memory,
//! credentials). Everything created here is removed by its guard's `Drop`, also when the
//! scenario panics; processes are killed by PID.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const SRV: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 1);
pub const CLI: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);
const SRV_DEV: &str = "hts-s";
const CLI_DEV: &str = "hts-c";
/// Prefix of every namespace, scratch directory and harness file of a run (then the PID).
pub const PREFIX: &str = "htstress-";
/// The run user and group of the daemon (`-u`, `-g`; also the dist configuration's).
pub const RUN_USER: &str = "nobody";
pub const RUN_GROUP: &str = "nogroup";
/// The descriptor limit the daemon gets unless a scenario says otherwise: systemd's default
/// for services (soft 1024, hard 524288), which the shipped unit does not change; the hard
/// limit is lowered to this process's own where that is lower (no CAP_SYS_RESOURCE).
pub fn nofile_default() -> (u64, u64) {
    (1024, 524_288.min(own_nofile().1))
}

/// This process's RLIMIT_NOFILE (soft, hard).
pub fn own_nofile() -> (u64, u64) {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `rl` is a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return (1024, 1024);
    }
    (rl.rlim_cur, rl.rlim_max)
}

pub fn run_ok(program: &str, args: &[&str]) {
    let st = Command::new(program).args(args).stdout(Stdio::null()).status();
    match st {
        Ok(s) if s.success() => {}
        other => panic!("{program} {args:?} failed: {other:?}"),
    }
}

pub fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Leftovers of an earlier run that was killed (its PID, no longer alive, is in the names):
/// mounts, namespaces, scratch directories.
pub fn remove_stale() {
    let dead = |name: &str| -> bool {
        let Some(rest) = name.strip_prefix(PREFIX) else { return false };
        let pid: Option<i32> = rest.split('-').next().and_then(|p| p.parse().ok());
        pid.is_some_and(|p| !pid_alive(p))
    };
    let tmp = std::env::temp_dir();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for m in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
        let p = Path::new(m);
        if let Ok(rel) = p.strip_prefix(&tmp) {
            if rel.components().next().is_some_and(|c| dead(&c.as_os_str().to_string_lossy())) {
                let _ = Command::new("umount").arg("-l").arg(p).status();
            }
        }
    }
    if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(name) = line.split_whitespace().next().filter(|n| dead(n)) {
                // A daemon or server left running in it (its harness was killed): by PID.
                if let Ok(p) = Command::new("ip").args(["netns", "pids", name]).output() {
                    for pid in String::from_utf8_lossy(&p.stdout).split_whitespace() {
                        let _ = Command::new("kill").args(["-KILL", pid]).status();
                    }
                }
                let _ = Command::new("ip").args(["netns", "delete", name]).status();
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        for e in rd.flatten() {
            if dead(&e.file_name().to_string_lossy()) {
                let _ = std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
            }
        }
    }
}

/// Sets RLIMIT_NOFILE of this process (the client side holds thousands of sockets); returns
/// the soft limit in force afterwards.
pub fn raise_own_nofile(n: u64) -> u64 {
    let rl = libc::rlimit { rlim_cur: n, rlim_max: n };
    // SAFETY: `rl` is a valid in-pointer for the duration of the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } == 0 {
        return n;
    }
    let (_, hard) = own_nofile();
    let rl = libc::rlimit { rlim_cur: hard, rlim_max: hard };
    // SAFETY: `rl` is a valid in-pointer for the duration of the call.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) };
    own_nofile().0
}

// ---------------------------------------------------------------------------------------------
// Network

/// The sensor and the client namespace, joined by a veth pair; deleted on drop.
pub type Net = crate::common::load::NetPair;

/// Namespaces `htstress-<pid>-<tag>-s` (sensor, with the nfq rules the README gives) and
/// `-c` (client, for many connections from one address).
pub fn net(tag: &str) -> Net {
    let net = Net::new(PREFIX, tag, [SRV_DEV, CLI_DEV], [SRV, CLI]);
    for proto in ["tcp", "udp"] {
        let mut args = vec!["netns", "exec", &net.srv, "iptables", "-A", "INPUT", "-i", SRV_DEV, "-p", proto];
        if proto == "tcp" {
            args.push("--syn");
        }
        args.extend_from_slice(&[
            "-m",
            "state",
            "--state",
            "NEW",
            "-j",
            "NFQUEUE",
            "--queue-num",
            "0",
            "--queue-bypass",
        ]);
        run_ok("ip", &args);
    }
    net
}

/// Runs `f` on a thread inside network namespace `ns`; threads it spawns inherit the
/// namespace.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/var/run/netns/{ns}");
    thread::scope(|s| {
        let h = s.spawn(move || {
            enter_ns(&path);
            f()
        });
        h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter_ns(path: &str) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // SAFETY: setns on a namespace descriptor we hold; affects only this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

// ---------------------------------------------------------------------------------------------
// Scratch directory and the shipped configuration

/// `contrib/honeytrap.conf.dist` with the install paths moved under `root`: the Makefile's
/// substitutions, the logEvents block switched on, `monitor = "nfq"` spelled out. Nothing
/// else changes (no limit is raised).
pub fn dist_config(root: &Path) -> String {
    let dist = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/honeytrap.conf.dist"))
        .expect("contrib/honeytrap.conf.dist");
    let r = root.display();
    let mut text = dist
        .replace("@SYSCONFDIR@", &format!("{r}/etc"))
        .replace("@LOCALSTATEDIR@", &format!("{r}/var"))
        .replace("@LOGDIR@", &format!("{r}/var/log"))
        .replace("@RUNDIR@", &format!("{r}/run"))
        .replace("@DATADIR@", &format!("{r}/share"))
        .replace("@SBINDIR@", &format!("{r}/sbin"));
    let events_off = format!("//plugin-logEvents = {{\n//    logfile = \"{r}/var/log/honeytrap/events.json\"\n//}}\n");
    let events_on = format!("plugin-logEvents = {{\n    logfile = \"{r}/var/log/honeytrap/events.json\"\n}}\n");
    assert!(text.contains(&events_off), "the dist configuration's logEvents block changed; update tests/stress/env.rs");
    text = text.replace(&events_off, &events_on);
    assert!(text.contains("\n//monitor = \"nfq\"\n"), "the dist configuration's monitor line changed");
    text = text.replace("\n//monitor = \"nfq\"\n", "\nmonitor = \"nfq\"\n");
    let b = text.as_bytes();
    let placeholder = (0..b.len()).any(|i| {
        b[i] == b'@' && {
            let n = b[i + 1..].iter().take_while(|c| c.is_ascii_uppercase()).count();
            n > 0 && b.get(i + 1 + n) == Some(&b'@')
        }
    });
    assert!(!placeholder, "an install path of the dist configuration was not substituted");
    text
}

/// A scratch directory laid out like an installation (`etc/honeytrap`, `var/log/honeytrap`,
/// `var/lib/honeytrap/{attacks,downloads}`, `run/honeytrap`; the daemon's directories owned
/// by the run user as the shipped tmpfiles snippet makes them), plus harness files next to
/// it (the daemon's stdout and stderr). Removed on drop, after unmounting what was mounted
/// in it.
pub struct Scratch {
    pub root: PathBuf,
    pub conf: PathBuf,
    pub log_dir: PathBuf,
    pub attacks: PathBuf,
    pub downloads: PathBuf,
    pub run_dir: PathBuf,
    /// Harness files, outside `root`: the daemon's stdout (a copy of its log under `-D`) and
    /// stderr.
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    mounts: Mutex<Vec<PathBuf>>,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let base = format!("{PREFIX}{}-{tag}", std::process::id());
        let root = std::env::temp_dir().join(&base);
        let _ = std::fs::remove_dir_all(&root);
        let s = Scratch {
            conf: root.join("etc/honeytrap/honeytrap.conf"),
            log_dir: root.join("var/log/honeytrap"),
            attacks: root.join("var/lib/honeytrap/attacks"),
            downloads: root.join("var/lib/honeytrap/downloads"),
            run_dir: root.join("run/honeytrap"),
            stdout: std::env::temp_dir().join(format!("{base}.stdout")),
            stderr: std::env::temp_dir().join(format!("{base}.stderr")),
            root,
            mounts: Mutex::new(Vec::new()),
        };
        std::fs::create_dir_all(s.root.join("etc/honeytrap/responses")).unwrap();
        for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/responses")).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with("_tcp") || name.ends_with("_udp") {
                std::fs::copy(e.path(), s.root.join("etc/honeytrap/responses").join(&name)).unwrap();
            }
        }
        std::fs::write(&s.conf, dist_config(&s.root)).unwrap();
        s.make_daemon_dirs();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&s.root, std::fs::Permissions::from_mode(0o755)).unwrap();
        s
    }

    /// The directories the daemon writes to, owned by the run user, mode 0750 (0755 for the
    /// pid directory), as honeytrap.tmpfiles makes them.
    pub fn make_daemon_dirs(&self) {
        use std::os::unix::fs::PermissionsExt;
        let (uid, gid) = run_ids();
        for (d, mode) in
            [(&self.log_dir, 0o750), (&self.attacks, 0o750), (&self.downloads, 0o750), (&self.run_dir, 0o755)]
        {
            std::fs::create_dir_all(d).unwrap();
            std::os::unix::fs::chown(d, Some(uid), Some(gid)).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let lib = self.root.join("var/lib/honeytrap");
        std::os::unix::fs::chown(&lib, Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o750)).unwrap();
    }

    /// Mounts a tmpfs of `size` bytes at `root/var` (log and data directories) and makes the
    /// daemon's directories on it again. Unmounted on drop.
    pub fn mount_tmpfs(&self, size: u64) {
        let at = self.root.join("var");
        std::fs::create_dir_all(&at).unwrap();
        run_ok("mount", &["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs", at.to_str().unwrap()]);
        self.mounts.lock().unwrap().push(at);
        self.make_daemon_dirs();
        std::fs::create_dir_all(self.harness_dir()).unwrap();
    }

    /// A directory of the harness on the tmpfs (the filler file), owned by root.
    pub fn harness_dir(&self) -> PathBuf {
        self.root.join("var/harness")
    }

    /// What the scratch snapshot leaves out: the daemon's directories and the harness's.
    pub fn unwatched(&self) -> Vec<PathBuf> {
        let mut v = self.writable_dirs();
        v.push(self.harness_dir());
        v
    }

    /// The configured directories the daemon may write to.
    pub fn writable_dirs(&self) -> Vec<PathBuf> {
        vec![self.log_dir.clone(), self.attacks.clone(), self.downloads.clone(), self.run_dir.clone()]
    }

    pub fn attacker_log(&self) -> PathBuf {
        self.log_dir.join("attacker.log")
    }
    pub fn attackers_json(&self) -> PathBuf {
        self.log_dir.join("attackers.json")
    }
    pub fn events_json(&self) -> PathBuf {
        self.log_dir.join("events.json")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for m in self.mounts.lock().unwrap_or_else(|e| e.into_inner()).drain(..).rev() {
            let ok = Command::new("umount").arg(&m).status().is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&m).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_file(&self.stdout);
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// UID and GID of the run user and group.
pub fn run_ids() -> (u32, u32) {
    let id = |db: &str, name: &str| -> u32 {
        let out = Command::new("getent").args([db, name]).output().expect("getent");
        String::from_utf8_lossy(&out.stdout)
            .split(':')
            .nth(2)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {db} entry for {name}"))
    };
    (id("passwd", RUN_USER), id("group", RUN_GROUP))
}

/// Every file below `root` outside `skip` (the daemon's directories), with its size and
/// modification time: the part of the scratch tree the daemon must leave alone.
pub fn snapshot(root: &Path, skip: &[PathBuf]) -> BTreeSet<(PathBuf, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    let mut budget = 100_000usize;
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return out;
            }
            let p = e.path();
            if skip.iter().any(|s| p.starts_with(s)) {
                continue;
            }
            let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
            out.insert((p.clone(), m.len(), m.mtime(), m.mtime_nsec()));
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The daemon

/// The daemon, started in the sensor namespace with `-D` on the scratch configuration;
/// killed by PID on drop.
pub struct Daemon {
    pub child: Child,
    pub stdout: PathBuf,
}

impl Daemon {
    /// `ip netns exec <srv> prlimit --nofile=<soft>:<hard> -- honeytrap -D -C <conf> -u nobody
    /// -g nogroup` (both `ip netns exec` and `prlimit` exec, so the child's PID is the
    /// daemon's). Waits (at most 20 s) for the start-up banner.
    pub fn start(net: &Net, s: &Scratch, nofile: (u64, u64)) -> Daemon {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&s.stdout).unwrap();
        let err = std::fs::OpenOptions::new().create(true).append(true).open(&s.stderr).unwrap();
        let before = std::fs::metadata(&s.stdout).map_or(0, |m| m.len());
        let limit = format!("--nofile={}:{}", nofile.0, nofile.1);
        let child = Command::new("ip")
            .args(["netns", "exec", &net.srv, "prlimit", &limit, "--", crate::common::BIN, "-D", "-C"])
            .arg(&s.conf)
            .args(["-u", RUN_USER, "-g", RUN_GROUP])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start honeytrap");
        let mut d = Daemon { child, stdout: s.stdout.clone() };
        let started = |d: &mut Daemon| {
            let text = std::fs::read(&d.stdout).unwrap_or_default();
            String::from_utf8_lossy(&text[(before as usize).min(text.len())..]).contains("---- Trapping attacks")
        };
        let ok = crate::common::wait_until(Duration::from_secs(20), || {
            started(&mut d) || !matches!(d.child.try_wait(), Ok(None))
        });
        if !ok || !started(&mut d) {
            panic!(
                "honeytrap did not start; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&std::fs::read(&s.stdout).unwrap_or_default()),
                String::from_utf8_lossy(&std::fs::read(&s.stderr).unwrap_or_default())
            );
        }
        d
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Still running (not exited, not a zombie).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the PID of our own child, which has not been reaped yet (the
        // guard reaps it only on drop or in `wait_exit`).
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits (bounded) for the exit; true when it exited.
    pub fn wait_exit(&mut self, max: Duration) -> bool {
        let end = Instant::now() + max;
        while Instant::now() < end {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// SIGTERM, bounded wait, then SIGKILL (by the guard).
    pub fn stop(mut self) {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(20));
    }

    /// A numeric field of /proc/<pid>/status in kB (VmRSS, VmHWM) or a count (Threads).
    pub fn status(&self, field: &str) -> u64 {
        proc_field(self.pid(), field)
    }

    /// The daemon's threads by name prefix (`conn `, `listen `, `attack`, ...).
    pub fn threads(&self, prefix: &str) -> usize {
        thread_names(self.pid()).iter().filter(|n| n.starts_with(prefix)).count()
    }

    /// Threads working on a connection or a record: `conn …`, `attack`, `download`,
    /// `resolve`.
    pub fn busy(&self) -> usize {
        thread_names(self.pid())
            .iter()
            .filter(|n| n.starts_with("conn ") || *n == "attack" || *n == "download" || *n == "resolve")
            .count()
    }

    /// A counter of the sensor namespace ([`crate::common::load::net_counter`]).
    pub fn net_counter(&self, file: &str, table: &str, key: &str) -> u64 {
        crate::common::load::net_counter(self.pid(), file, table, key)
    }

    /// Packets the kernel dropped at NFQUEUE 0 of the sensor namespace (queue full, or the
    /// netlink socket full).
    pub fn nfq_dropped(&self) -> u64 {
        let text =
            std::fs::read_to_string(format!("/proc/{}/net/netfilter/nfnetlink_queue", self.pid())).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let f: Vec<u64> = l.split_whitespace().filter_map(|v| v.parse().ok()).collect();
                (f.len() >= 7 && f[0] == 0).then(|| f[5] + f[6])
            })
            .sum()
    }

    /// Text the daemon wrote to stdout (its log, under `-D`) since byte `from`.
    pub fn stdout_since(&self, from: usize) -> String {
        let b = std::fs::read(&self.stdout).unwrap_or_default();
        String::from_utf8_lossy(&b[from.min(b.len())..]).into_owned()
    }

    pub fn stdout_len(&self) -> usize {
        std::fs::metadata(&self.stdout).map_or(0, |m| m.len() as usize)
    }

    /// Waits until no connection or record is being worked on and nothing was added to
    /// attackers.json for `quiet`, at most `max`. True when settled.
    pub fn settle(&self, s: &Scratch, quiet: Duration, max: Duration) -> bool {
        let end = Instant::now() + max;
        let mut last = (u64::MAX, usize::MAX);
        let mut since = Instant::now();
        loop {
            let now = (std::fs::metadata(s.attackers_json()).map_or(0, |m| m.len()), self.busy());
            if now != last {
                last = now;
                since = Instant::now();
            }
            if now.1 == 0 && since.elapsed() >= quiet {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(100));
        }
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

pub fn proc_field(pid: i32, field: &str) -> u64 {
    crate::common::proc_status(pid, field)
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

pub fn thread_names(pid: i32) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    rd.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|c| c.trim_end().to_string())
        .collect()
}

/// Problems with the daemon's credentials: every thread must run as the run user and group
/// with no supplementary groups and none of the capabilities that bypass file permissions
/// (so it can write only where the run user may).
pub fn credential_problems(pid: i32) -> Vec<String> {
    let (uid, gid) = run_ids();
    let mut bad = Vec::new();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return vec![format!("/proc/{pid}/task unreadable")];
    };
    // CAP_CHOWN 0, CAP_DAC_OVERRIDE 1, CAP_DAC_READ_SEARCH 2, CAP_FOWNER 3, CAP_FSETID 4,
    // CAP_SETUID 7, CAP_SETGID 6, CAP_SYS_ADMIN 21, CAP_LINUX_IMMUTABLE 9.
    let forbidden: u64 =
        (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 6) | (1 << 7) | (1 << 9) | (1 << 21);
    for e in rd.flatten() {
        let status = e.path().join("status");
        let p = status.to_string_lossy().into_owned();
        let ids = |f: &str| -> Vec<u32> {
            crate::common::proc_status_of(&p, f)
                .map(|v| v.split_whitespace().filter_map(|n| n.parse().ok()).collect())
                .unwrap_or_default()
        };
        let (u, g, groups) = (ids("Uid"), ids("Gid"), ids("Groups"));
        if u.is_empty() {
            continue; // the thread ended meanwhile
        }
        if u.iter().any(|x| *x != uid) || g.iter().any(|x| *x != gid) || groups.iter().any(|x| *x != gid) {
            bad.push(format!("task {}: Uid {u:?} Gid {g:?} Groups {groups:?}", e.file_name().to_string_lossy()));
        }
        for f in ["CapEff", "CapPrm", "CapAmb"] {
            let caps = crate::common::proc_status_of(&p, f).and_then(|v| u64::from_str_radix(&v, 16).ok()).unwrap_or(0);
            if caps & forbidden != 0 {
                bad.push(format!("task {}: {f} {caps:016x}", e.file_name().to_string_lossy()));
            }
        }
    }
    bad
}

/// Samples the daemon every 500 ms while it lives: open files (a descriptor opened for
/// writing on a file outside the configured directories is a violation; 0–2 are the
/// harness's), and the most connection threads seen at once.
pub struct Watch {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
    pub violations: Arc<Mutex<BTreeSet<String>>>,
    pub max_conns: Arc<AtomicU64>,
    pub max_listeners: Arc<AtomicU64>,
}

impl Watch {
    pub fn new(pid: i32, allowed: Vec<PathBuf>) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let violations = Arc::new(Mutex::new(BTreeSet::new()));
        let max_conns = Arc::new(AtomicU64::new(0));
        let max_listeners = Arc::new(AtomicU64::new(0));
        let (st, vi, mc, ml) =
            (Arc::clone(&stop), Arc::clone(&violations), Arc::clone(&max_conns), Arc::clone(&max_listeners));
        let handle = thread::spawn(move || {
            // Bounded: stops with the flag or when the daemon is gone, at most after 3 hours.
            let end = Instant::now() + Duration::from_secs(3 * 3600);
            while !st.load(Ordering::Relaxed) && pid_alive(pid) && Instant::now() < end {
                for v in open_for_writing(pid, &allowed) {
                    vi.lock().unwrap().insert(v);
                }
                let names = thread_names(pid);
                let conns = names.iter().filter(|n| n.starts_with("conn ")).count() as u64;
                let listeners = names.iter().filter(|n| n.starts_with("listen ")).count() as u64;
                mc.fetch_max(conns, Ordering::Relaxed);
                ml.fetch_max(listeners, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(500));
            }
        });
        Watch { stop, handle: Some(handle), violations, max_conns, max_listeners }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Regular files `pid` has open for writing outside `allowed`; descriptors 0–2 and others on
/// the same file as its stdout or stderr (the daemon's copy of stdout for `-D`) excepted.
pub fn open_for_writing(pid: i32, allowed: &[PathBuf]) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let file_of = |fd: u32| std::fs::metadata(format!("/proc/{pid}/fd/{fd}")).ok().map(|m| (m.dev(), m.ino()));
    let std_out_err: Vec<(u64, u64)> = [1, 2].into_iter().filter_map(file_of).collect();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return out };
    for e in rd.flatten() {
        let fd: u32 = match e.file_name().to_string_lossy().parse() {
            Ok(n) => n,
            Err(_) => continue,
        };
        if fd <= 2 || file_of(fd).is_some_and(|f| std_out_err.contains(&f)) {
            continue;
        }
        let Ok(target) = std::fs::read_link(e.path()) else { continue };
        if !target.is_absolute() || target.starts_with("/dev/null") {
            continue; // socket:[…], pipe:[…], anon_inode:…
        }
        let flags = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| l.strip_prefix("flags:").and_then(|v| u32::from_str_radix(v.trim(), 8).ok()))
            })
            .unwrap_or(0);
        let writing = flags & (libc::O_ACCMODE as u32) != libc::O_RDONLY as u32;
        let target = PathBuf::from(target.to_string_lossy().trim_end_matches(" (deleted)"));
        if writing && !allowed.iter().any(|a| target.starts_with(a)) {
            out.push(format!("fd {fd} open for writing on {}", target.display()));
        }
    }
    out
}
