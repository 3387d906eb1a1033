//! Shared helpers of the integration tests: scratch directories, network namespaces the test
//! creates and deletes itself, the real `honeytrap` binary started in them, bounded waits.
//! Every process started here is killed by PID when its guard is dropped.
#![allow(dead_code)]

pub mod json;
pub mod load;

use honeytrap::pipeline::output::json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_honeytrap");

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!("{}-{}-{}", prefix, std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The environment variable under which no test may skip: set to `1` (anything but empty or
/// `0`), a test that cannot run here fails with its reason. `.ci/run` sets it, so that CI
/// runs every test or fails.
pub const REQUIRE_ALL_TESTS: &str = "HONEYTRAP_REQUIRE_ALL_TESTS";

/// Says that `test` (or the part of it that `test` names) cannot run here, and why. Under
/// [`REQUIRE_ALL_TESTS`] it panics with the reason, so the test fails. Otherwise it writes
/// `SKIP <test>: <reason>` straight to the stderr of the test binary, past the harness's
/// capture of passing tests, so that `make test` shows every skip; the caller then returns
/// (or leaves the part out) and the test passes. Every test that can skip goes through here.
pub fn skip(test: &str, reason: &str) {
    let forbidden = std::env::var_os(REQUIRE_ALL_TESTS).is_some_and(|v| !v.is_empty() && v != "0");
    assert!(!forbidden, "{test} cannot run here: {reason} ({REQUIRE_ALL_TESTS} is set: no test may skip)");
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIP {test}: {reason}");
}

/// The name of the running test (the harness names each test's thread after it), for skip
/// sites in helpers that several tests share.
pub fn this_test() -> String {
    std::thread::current().name().unwrap_or("this test").to_string()
}

/// Returns false (after [`skip`]: a failure under [`REQUIRE_ALL_TESTS`]) when a root-only
/// test cannot run here: not root, or one of `tools` is not in PATH.
pub fn root_or_skip(test: &str, tools: &[&str]) -> bool {
    if !is_root() {
        skip(test, "needs root (CI runs it as root)");
        return false;
    }
    for t in tools {
        if !have(t) {
            skip(test, &format!("needs the `{t}` command"));
            return false;
        }
    }
    true
}

/// A scratch directory, removed on drop. Mode 0777 so a de-privileged daemon can use it.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(unique(&format!("ht-{name}")));
        std::fs::create_dir_all(&p).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A network namespace with `lo` up, deleted on drop.
pub struct NetNs(pub String);

impl NetNs {
    pub fn new() -> NetNs {
        let name = unique("htns");
        run_ok("ip", &["netns", "add", &name]);
        let ns = NetNs(name);
        run_ok("ip", &["netns", "exec", &ns.0, "ip", "link", "set", "lo", "up"]);
        ns
    }
    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "delete", &self.0]).status();
    }
}

pub fn run_ok(program: &str, args: &[&str]) {
    let st = Command::new(program).args(args).status().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(st.success(), "{program} {args:?} failed: {st}");
}

/// What a process writes to one of its standard streams, read as it comes, so that a process
/// that writes much (a daemon copying every log line to stdout with `-D`) never blocks on a
/// full pipe nobody reads.
#[derive(Clone, Default)]
pub struct Captured {
    text: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Captured {
    fn spawn(mut r: impl Read + Send + 'static) -> Captured {
        let c = Captured::default();
        let c2 = c.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                c2.text.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            c2.ended.store(true, Ordering::SeqCst);
        });
        c
    }
    /// Everything read so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).into_owned()
    }
    /// Whether the stream was closed (the process and everything it started are done with it).
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }
}

/// A started daemon (killed by PID on drop if still running); its standard output and error
/// are read as they come ([`Captured`]).
pub struct Daemon {
    pub child: Child,
    pub stdout: Captured,
    pub stderr: Captured,
}

impl Daemon {
    pub fn spawn(mut cmd: Command) -> Daemon {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start honeytrap");
        let stdout = child.stdout.take().map(Captured::spawn).unwrap_or_default();
        let stderr = child.stderr.take().map(Captured::spawn).unwrap_or_default();
        Daemon { child, stdout, stderr }
    }
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    pub fn signal(&self, sig: &str) {
        run_ok("kill", &[&format!("-{sig}"), &self.pid().to_string()]);
    }
    /// Waits (bounded) for the exit status.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
    /// Standard output and error: once the process has exited, all of it (waiting, bounded,
    /// for the streams to close); while it runs, what it wrote so far.
    pub fn output(&mut self) -> (String, String) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            wait_until(Duration::from_secs(5), || self.stdout.ended() && self.stderr.ended());
        }
        (self.stdout.text(), self.stderr.text())
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

/// Runs test `name` of this test binary again inside a fresh network namespace, after
/// `setup` has prepared the namespace (it has `lo` up), with `env` set so that the test
/// knows it is the inner run. Waits at most `limit` (killing the run after), prints its
/// output and asserts that it succeeded and printed `ok_line` (so that it really ran the
/// test). The namespace is deleted however this ends.
pub fn rerun_in_netns(name: &str, env: &str, ok_line: &str, limit: Duration, setup: impl FnOnce(&NetNs)) {
    let ns = NetNs::new();
    setup(&ns);
    let exe = std::env::current_exe().unwrap();
    let mut cmd = ns.command(exe.to_str().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]).env(env, "1");
    let mut run = Daemon::spawn(cmd);
    let status = run.wait(limit);
    if status.is_none() {
        let _ = run.child.kill();
        let _ = run.child.wait();
    }
    let (out, err) = run.output();
    eprintln!("---- inner run ----\n{out}{err}---- end of inner run ----");
    assert!(status.is_some_and(|s| s.success()), "inner run failed or timed out: {status:?}");
    assert!(out.contains(ok_line) || err.contains(ok_line), "inner run did not run the test");
}

/// Kills a process by PID (for daemons that detached) and waits until it is gone.
pub struct PidGuard(pub i32);

impl Drop for PidGuard {
    fn drop(&mut self) {
        if Path::new(&format!("/proc/{}", self.0)).exists() {
            let _ = Command::new("kill").args(["-KILL", &self.0.to_string()]).status();
        }
    }
}

/// Waits (bounded) until `cond` holds.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits (bounded) until `file` contains `needle`.
pub fn wait_for_text(file: &Path, needle: &str, timeout: Duration) -> bool {
    wait_until(timeout, || std::fs::read_to_string(file).is_ok_and(|s| s.contains(needle)))
}

pub fn read(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_default()
}

/// A field of /proc/<pid>/status (e.g. "Uid", "CapEff").
pub fn proc_status(pid: i32, field: &str) -> Option<String> {
    proc_status_of(&format!("/proc/{pid}/status"), field)
}

pub fn proc_status_of(path: &str, field: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

/// A minimal configuration whose files all live in `dir`.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("responses")).unwrap();
    let conf = dir.join("honeytrap.conf");
    std::fs::write(
        &conf,
        format!(
            "logfile = \"{d}/honeytrap.log\"\npidfile = \"{d}/honeytrap.pid\"\nresponse_dir = \"{d}/responses\"\n\
             portconf_default = \"normal\"\n{extra}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    conf
}

/// Runs `f` on a thread that has joined network namespace `ns` (setns affects the calling
/// thread only), and returns its result.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: `file` is open for the call and no memory is passed; setns changes only
        // this thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("netns thread")
}

/// Two namespaces joined by a veth pair: the sensor side (`srv`, device `ht-s`) and the
/// attacker side (`cli`, device `ht-c`), with IPv4 10.77.0.1/.2 and IPv6 fd77::1/::2.
pub struct Pair {
    pub srv: NetNs,
    pub cli: NetNs,
}

pub const SRV4: &str = "10.77.0.1";
pub const CLI4: &str = "10.77.0.2";
pub const SRV6: &str = "fd77::1";
pub const CLI6: &str = "fd77::2";

impl Pair {
    pub fn new() -> Pair {
        let srv = NetNs::new();
        let cli = NetNs::new();
        run_ok(
            "ip",
            &["link", "add", "ht-s", "netns", &srv.0, "type", "veth", "peer", "name", "ht-c", "netns", &cli.0],
        );
        for (ns, dev, v4, v6) in [(&srv, "ht-s", SRV4, SRV6), (&cli, "ht-c", CLI4, CLI6)] {
            run_ok("ip", &["-n", &ns.0, "addr", "add", &format!("{v4}/24"), "dev", dev]);
            run_ok("ip", &["-n", &ns.0, "-6", "addr", "add", &format!("{v6}/64"), "dev", dev, "nodad"]);
            run_ok("ip", &["-n", &ns.0, "link", "set", dev, "up"]);
        }
        Pair { srv, cli }
    }

    /// Sends new TCP connections (SYNs) and all UDP arriving on the sensor's veth to
    /// NFQUEUE 0, IPv4 and IPv6, as the nfq monitor expects.
    pub fn queue_to_nfq(&self) {
        for ipt in ["iptables", "ip6tables"] {
            for rule in [&["-p", "tcp", "--syn"][..], &["-p", "udp"][..]] {
                let mut args = vec!["netns", "exec", &self.srv.0, ipt, "-A", "INPUT", "-i", "ht-s"];
                args.extend_from_slice(rule);
                args.extend_from_slice(&["-j", "NFQUEUE", "--queue-num", "0"]);
                run_ok("ip", &args);
            }
        }
    }
}

/// The newest PostgreSQL server binaries of the Debian package, if installed.
pub fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("postgres").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// The venv with the hpfeeds reference broker and client (.ci/run makes it), if present.
pub fn hpfeeds_venv() -> Option<PathBuf> {
    let v = PathBuf::from(std::env::var("HT_HPFEEDS_VENV").unwrap_or_else(|_| "/opt/ht-hpfeeds".into()));
    v.join("bin/hpfeeds-broker").exists().then_some(v)
}

/// How a test starts the daemon: in the foreground (`-D`, as T-Pot and service managers of
/// type simple run it) or detached (no `-D`, as the init script does: the launching process
/// returns once the daemon is ready).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    Foreground,
    Detached,
}

/// A daemon started either way. Stopped by PID when dropped, if still running.
pub struct Running {
    pub launch: Launch,
    /// The foreground process (its exit status and output can be had).
    pub child: Option<Daemon>,
    pid: i32,
    _guard: Option<PidGuard>,
}

impl Running {
    /// Runs `cmd` (the binary and its arguments, without `-D`) the `launch` way and waits
    /// until `log` has one more ready line (`---- Trapping attacks`) and `pidfile` names the
    /// daemon. Panics with the log and the output when it does not start.
    pub fn start(launch: Launch, mut cmd: Command, log: &Path, pidfile: &Path) -> Running {
        const READY: &str = "---- Trapping attacks";
        const START: Duration = Duration::from_secs(20);
        let before = read(log).matches(READY).count();
        match launch {
            Launch::Foreground => {
                cmd.arg("-D");
                let mut daemon = Daemon::spawn(cmd);
                let pid = daemon.pid();
                let ready =
                    wait_until(START, || read(log).matches(READY).count() > before && read(pidfile) == pid.to_string());
                if !ready {
                    let _ = daemon.child.kill();
                    let (out, err) = daemon.output();
                    panic!("no ready line; log:\n{}\nstdout:\n{out}\nstderr:\n{err}", read(log));
                }
                Running { launch, child: Some(daemon), pid, _guard: None }
            }
            Launch::Detached => {
                let out = cmd.stdin(Stdio::null()).output().expect("start honeytrap");
                let pid: i32 = read(pidfile).parse().unwrap_or(0);
                let guard = (pid > 0).then_some(PidGuard(pid));
                assert!(
                    out.status.success() && pid > 0 && read(log).matches(READY).count() > before,
                    "detached start failed ({}); log:\n{}\nstdout:\n{}\nstderr:\n{}",
                    out.status,
                    read(log),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                Running { launch, child: None, pid, _guard: guard }
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn signal(&self, sig: &str) {
        run_ok("kill", &[&format!("-{sig}"), &self.pid.to_string()]);
    }

    /// Waits (bounded) until the daemon is gone; the exit status when it was a child of ours.
    pub fn wait(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, String> {
        match self.child.as_mut() {
            Some(d) => d.wait(timeout).map(Some).ok_or_else(|| format!("pid {} still running", self.pid)),
            None => {
                let gone = wait_until(timeout, || !Path::new(&format!("/proc/{}", self.pid)).exists());
                gone.then_some(None).ok_or_else(|| format!("pid {} still running", self.pid))
            }
        }
    }

    /// SIGTERM, then waits (bounded) until the daemon is gone.
    pub fn stop(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, String> {
        self.signal("TERM");
        self.wait(timeout)
    }
}

/// A connection from namespace `ns` to `to`, retried until one is accepted (with pcap the
/// first attempt to a port is refused): `None` after 20 s.
pub fn connect_served(ns: &NetNs, to: std::net::SocketAddr) -> Option<std::net::TcpStream> {
    in_netns(&ns.0, move || {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            match std::net::TcpStream::connect_timeout(&to, Duration::from_secs(1)) {
                Ok(s) => return Some(s),
                Err(_) => std::thread::sleep(Duration::from_millis(25)),
            }
        }
        None
    })
}

/// One attack: a connection from `ns` to `to` ([`connect_served`]) sends `data`, closes its
/// side and reads until the daemon closes (bounded). False when no connection was accepted.
pub fn attack(ns: &NetNs, to: std::net::SocketAddr, data: &[u8]) -> bool {
    use std::io::Write;
    let Some(mut s) = connect_served(ns, to) else { return false };
    s.write_all(data).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.read_to_end(&mut Vec::new());
    true
}

/// A daemon with the three file outputs (attacker.log, attackers.json, events.json) and
/// `extra` in its configuration, watching `lo` of a namespace of its own with pcap.
pub struct Sensor {
    pub ns: NetNs,
    pub dir: TempDir,
}

impl Sensor {
    pub fn new(name: &str, extra: &str) -> Sensor {
        let dir = TempDir::new(name);
        let d = dir.path().display().to_string();
        write_config(
            dir.path(),
            &format!(
                "plugin-logAttacker = {{ logfile = \"{d}/attacker.log\" }}\n\
                 plugin-logJSON = {{ logfile = \"{d}/attackers.json\" }}\n\
                 plugin-logEvents = {{ logfile = \"{d}/events.json\" }}\n{extra}"
            ),
        );
        Sensor { ns: NetNs::new(), dir }
    }

    /// The daemon's arguments (without `-D`).
    pub fn args(&self) -> Vec<String> {
        let conf = self.dir.join("honeytrap.conf").to_string_lossy().into_owned();
        ["-C", &conf, "-i", "lo", "-t", "4"].map(String::from).to_vec()
    }

    /// Starts the daemon the `launch` way, with `env` added to its environment.
    pub fn start(&self, launch: Launch, env: &[(&str, &str)]) -> Running {
        let mut cmd = self.ns.command(BIN);
        cmd.args(self.args()).envs(env.iter().copied());
        Running::start(launch, cmd, &self.path("honeytrap.log"), &self.path("honeytrap.pid"))
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn log(&self) -> String {
        read(&self.path("honeytrap.log"))
    }

    /// The lines of `file` in the scratch directory.
    pub fn lines(&self, file: &str) -> Vec<String> {
        read(&self.path(file)).lines().map(str::to_string).collect()
    }
}

/// Every datagram that arrives on `sock` (a syslog target the test binds) within `wait`.
pub fn datagrams(sock: &std::os::unix::net::UnixDatagram, wait: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let end = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    out
}

/// An ELF executable header (64-bit when `wide`, little-endian, for `machine`) followed by
/// `len` bytes that depend on `seed`: a sample of the kind IoT droppers fetch.
pub fn elf_sample(wide: bool, machine: u8, seed: u32, len: u32) -> Vec<u8> {
    let mut d = vec![0u8; 64];
    d[..4].copy_from_slice(b"\x7fELF");
    d[4] = if wide { 2 } else { 1 };
    d[5] = 1;
    d[6] = 1;
    d[16] = 2;
    d[18] = machine;
    d.extend((0..len).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 9) as u8));
    d
}

/// A server process (nginx, pyftpdlib, vsftpd, a test script) in the client namespace of a
/// [`Pair`], its output in a file; killed by PID on drop.
pub struct PeerServer {
    pub child: Child,
    pub out: PathBuf,
}

impl PeerServer {
    /// Starts `program` with `args` in `pair`'s client namespace, its output going to `out`.
    pub fn spawn(pair: &Pair, out: PathBuf, program: &str, args: &[&str]) -> PeerServer {
        let f = std::fs::File::create(&out).unwrap();
        let child = pair
            .cli
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        PeerServer { child, out }
    }

    /// Waits (bounded, 10 s) until `addr` accepts connections from the sensor namespace; panics
    /// with the server's output when it does not. (The probe counts as a peer in the output.)
    pub fn wait_ready(&mut self, pair: &Pair, addr: std::net::SocketAddr) {
        let ok = in_netns(&pair.srv.0, move || {
            wait_until(Duration::from_secs(10), || {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            })
        });
        if !ok {
            let _ = self.child.kill();
            panic!("server on {addr} did not start: {}", self.output());
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An nginx configuration that keeps every file in `dir` (`dir/www` served) with `server`
/// as its server block's directives (listen lines, root, locations).
pub fn nginx_conf(dir: &Path, server: &str) -> String {
    format!(
        "daemon off;\nmaster_process off;\nuser root;\nworker_processes 1;\npid DIR/nginx.pid;\n\
         error_log DIR/nginx.err;\nevents {{ worker_connections 64; }}\nhttp {{\n    access_log DIR/nginx.access;\n\
         client_body_temp_path DIR/tmp;\n    proxy_temp_path DIR/tmp;\n    fastcgi_temp_path DIR/tmp;\n\
         uwsgi_temp_path DIR/tmp;\n    scgi_temp_path DIR/tmp;\n    types {{ }}\n\
         default_type application/octet-stream;\n    server {{\n{server}\n    }}\n}}\n"
    )
    .replace("DIR", &dir.display().to_string())
}
