//! What the load programs (`make bench`, tests/bench/capture.rs, and `make stress`,
//! tests/stress) share: the sensor and client network namespaces joined by a veth pair, set up
//! for many connections from one client address; connects that do not wait; the counters of
//! a namespace's network stack; the facts a results table starts with.

use super::run_ok;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::FromRawFd;
use std::process::Command;

/// Two network namespaces, `<prefix><pid>-<tag>-s` (the sensor) and `-c` (the client),
/// joined by a veth pair; deleted on drop, also when the setup fails half-way. The client
/// side makes many connections from one address: a wide ephemeral port range and TIME_WAIT
/// reuse.
pub struct NetPair {
    pub srv: String,
    pub cli: String,
}

impl NetPair {
    /// `devs` and `addrs`: the sensor's, then the client's (a /24 between them).
    pub fn new(prefix: &str, tag: &str, devs: [&str; 2], addrs: [Ipv4Addr; 2]) -> NetPair {
        let pid = std::process::id();
        let net = NetPair { srv: format!("{prefix}{pid}-{tag}-s"), cli: format!("{prefix}{pid}-{tag}-c") };
        for ns in [&net.srv, &net.cli] {
            run_ok("ip", &["netns", "add", ns]);
            run_ok("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        run_ok(
            "ip",
            &["link", "add", devs[0], "netns", &net.srv, "type", "veth", "peer", "name", devs[1], "netns", &net.cli],
        );
        for ((ns, dev), a) in [&net.srv, &net.cli].into_iter().zip(devs).zip(addrs) {
            run_ok("ip", &["-n", ns, "addr", "add", &format!("{a}/24"), "dev", dev]);
            run_ok("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        net.sysctl(&net.cli, "net.ipv4.ip_local_port_range", "1024 65000");
        net.sysctl(&net.cli, "net.ipv4.tcp_tw_reuse", "1");
        net
    }

    pub fn sysctl(&self, ns: &str, key: &str, value: &str) {
        run_ok("ip", &["netns", "exec", ns, "sysctl", "-q", "-w", &format!("{key}={value}")]);
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.srv, &self.cli] {
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
    }
}

pub fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

/// A non-blocking socket connecting to `to` (the connect is under way when this returns).
pub fn nb_connect(to: SocketAddrV4) -> std::io::Result<TcpStream> {
    // SAFETY: plain socket(2) call; the descriptor is owned by the TcpStream below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket nobody else owns.
    let sock = unsafe { TcpStream::from_raw_fd(fd) };
    let sa = sockaddr_in(to);
    // SAFETY: `sa` is a valid sockaddr_in of the given length.
    let rc = unsafe {
        libc::connect(fd, &sa as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_in>() as u32)
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(sock)
}

/// A counter of the network namespace of process `pid`: `/proc/<pid>/net/<file>` rows
/// `<table>:` (names, then values), e.g. ("netstat", "TcpExt", "ListenOverflows"), ("snmp",
/// "Udp", "InErrors"); 0 if unreadable.
pub fn net_counter(pid: i32, file: &str, table: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")).unwrap_or_default();
    let head = format!("{table}:");
    let mut rows = text.lines().filter(|l| l.starts_with(&head));
    let (Some(names), Some(values)) = (rows.next(), rows.next()) else { return 0 };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// When and where a run took place, for the line under a results table's title.
pub struct RunFacts {
    /// UTC, to the minute.
    pub date: String,
    /// The kernel release.
    pub kernel: String,
    pub cpus: usize,
}

pub fn run_facts() -> RunFacts {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    RunFacts { date, kernel, cpus }
}
