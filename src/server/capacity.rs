//! The daemon's capacity: how much room it has for connections, UDP flows and the records
//! they leave, computed at start-up from what the system gives it instead of a fixed number.
//! The C original forked a process per connection and never counted them; this part has no
//! counterpart there.
//!
//! What each holds (counted by [`super::limits`]):
//! * a TCP connection: a thread, its socket (and the socket to the target when its port is
//!   mirrored or proxied) and [`MEMORY_PER_CONNECTION`];
//! * a UDP flow: [`MEMORY_PER_FLOW`] and, when relayed, a socket to its target; no thread
//!   and no descriptor of its own otherwise (one thread per UDP socket serves all its flows);
//! * a record, until the pipeline has processed it: a thread (the connection's own, or one
//!   started for a flow's record) and [`MEMORY_PER_CONNECTION`], and a descriptor while
//!   SaveFile writes it (taken from the spare).
//!
//! The room of each resource ([`Room`]):
//! * descriptors: the open-file limit (its soft limit, raised to the hard one at start-up),
//!   less the descriptors open at start-up (log, outputs, monitor, pid file), a spare for
//!   downloads and files being written, and the listeners (two descriptors each): those open
//!   now and room for up to [`LISTENER_MARGIN`] more, so that new ports can still be bound
//!   while connections fill the rest;
//! * memory: half of it (the machine's, or the control group's limit when lower); buffered
//!   attack data has a budget of its own;
//! * threads: what kernel.threads-max and kernel.pid_max leave beside the tasks running at
//!   start-up, vm.max_map_count (two mappings per thread stack), RLIMIT_NPROC of a run user
//!   other than root, the control group's pids.max and RLIMIT_AS; less a spare for the
//!   daemon's own threads and downloads, and one thread per listener as above.
//!
//! The capacity logged at start-up is the number of TCP connections that room allows, with
//! two descriptors each when some port is mirrored or proxied.
//!
//! [`Resources::probe`] reads the limits (the only I/O here); [`Capacity`] is the arithmetic.

use crate::config::{Config, Mode};
use crate::sys::resource::{self, Resource};
use std::fmt::Write as _;

/// Memory one connection (or unprocessed record) is counted for: its thread's stack pages
/// and the kernel's task, socket and buffers, with room to spare (about 18 KiB of the
/// daemon's resident memory and as much again in the kernel were measured per idle
/// connection).
pub const MEMORY_PER_CONNECTION: u64 = 64 << 10;
/// Memory one UDP flow is counted for: its state in its socket's table of flows, with room
/// to spare (about 1.5 KiB of resident memory were measured per flow); what it reads is
/// charged to the budget for attack data.
pub const MEMORY_PER_FLOW: u64 = 4 << 10;
/// Listeners that can still be bound beside a full load of connections (at most
/// `max_listeners`, at most an eighth of the room).
pub const LISTENER_MARGIN: u64 = 256;
/// Descriptors kept for the daemon itself beside connections and listeners (log reopening,
/// name lookups, outputs reconnecting), plus three for each download in flight (socket,
/// FTP data connection, file).
const FD_SPARE: u64 = 64;
/// Threads kept for the daemon itself (main, signal, output threads) beside connections
/// and listeners, plus one per download in flight.
const THREAD_SPARE: u64 = 64;
/// Address space one thread reserves: the default stack of 2 MiB and its guard.
const THREAD_ADDRESS_SPACE: u64 = (2 << 20) + (64 << 10);
/// The largest capacity (as the `max_connections` key).
pub const MAX_CAPACITY: u32 = 1_000_000;

/// One limit and what it leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// Its name in the log (`kernel.pid_max`, `MemTotal`, ...).
    pub what: &'static str,
    pub value: u64,
}

/// What the system gives the daemon, read once at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// The soft open-file limit (`None`: unlimited).
    pub files: Option<u64>,
    /// Descriptors open when it was read.
    pub files_open: u64,
    /// Bytes of memory: the machine's and its control group's limit, when known.
    pub memory: Vec<Bound>,
    /// Threads that can still be created under each limit that applies.
    pub threads: Vec<Bound>,
}

/// What the configuration adds to the cost of connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Demand {
    /// Descriptors one connection may hold: 2 when some port is mirrored or proxied.
    pub fds_per_connection: u64,
    pub max_listeners: u64,
    pub downloads_in_flight: u64,
}

impl Demand {
    pub fn of(cfg: &Config) -> Demand {
        let relays = |m: Mode| matches!(m, Mode::Mirror | Mode::Proxy);
        let relayed = relays(cfg.portconf_default) || cfg.ports.iter().any(|(_, _, p)| relays(p.mode));
        Demand {
            fds_per_connection: if relayed { 2 } else { 1 },
            max_listeners: cfg.max_listeners.into(),
            downloads_in_flight: cfg.downloads_in_flight.into(),
        }
    }
}

/// What the system leaves for connections, flows and records while some listeners are open
/// ([`Capacity::room`]); `None`: no limit known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Room {
    /// Descriptors.
    pub fds: Option<u64>,
    /// Threads.
    pub threads: Option<u64>,
    /// Bytes of memory.
    pub memory: Option<u64>,
}

impl Room {
    /// No limit on anything.
    pub const UNLIMITED: Room = Room { fds: None, threads: None, memory: None };
}

/// The room the system gives, and from what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// The open-file limit, if any, and the descriptors connections and listeners may use.
    files: Option<(u64, u64)>,
    fds_per_connection: u64,
    /// Bytes of memory for connections, flows and records, and the smallest memory bound.
    memory: Option<(u64, Bound)>,
    /// Threads connections and listeners may use, and the tightest thread bound.
    threads: Option<(u64, Bound)>,
    max_listeners: u64,
}

impl Capacity {
    pub fn new(r: &Resources, d: Demand) -> Capacity {
        let files = r.files.map(|limit| {
            let free = limit.saturating_sub(r.files_open);
            let spare = (FD_SPARE + 3 * d.downloads_in_flight).min(free / 2);
            (limit, free - spare)
        });
        let memory = r.memory.iter().min_by_key(|b| b.value).map(|b| (b.value / 2, *b));
        let threads = r.threads.iter().min_by_key(|b| b.value).map(|b| {
            let spare = (THREAD_SPARE + d.downloads_in_flight).min(b.value / 2);
            (b.value - spare, *b)
        });
        Capacity {
            files,
            fds_per_connection: d.fds_per_connection.max(1),
            memory,
            threads,
            max_listeners: d.max_listeners,
        }
    }

    /// Listeners beyond the `listeners` open now that are kept room for, out of `room` units.
    fn margin(&self, listeners: u64, room: u64) -> u64 {
        LISTENER_MARGIN.min(self.max_listeners.saturating_sub(listeners)).min(room / 8)
    }

    /// The room of each resource while `listeners` listeners are open; never less than one
    /// connection needs, so that the refusals say what is missing.
    pub fn room(&self, listeners: usize) -> Room {
        let listeners = listeners as u64;
        let fds = self.files.map(|(_, avail)| {
            let keep = 2 * (listeners + self.margin(listeners, avail / 2));
            avail.saturating_sub(keep).max(self.fds_per_connection)
        });
        let threads =
            self.threads.map(|(avail, _)| avail.saturating_sub(listeners + self.margin(listeners, avail)).max(1));
        let memory = self.memory.map(|(bytes, _)| bytes.max(MEMORY_PER_CONNECTION));
        Room { fds, threads, memory }
    }

    /// The TCP connections (with their records) each resource allows while `listeners`
    /// listeners are open: descriptors, memory, threads.
    fn by_resource(&self, listeners: u64) -> [Option<u64>; 3] {
        let room = self.room(listeners as usize);
        [room.fds.map(|n| n / self.fds_per_connection), room.memory.map(|n| n / MEMORY_PER_CONNECTION), room.threads]
    }

    /// The TCP connections the system allows while `listeners` listeners are open: at least
    /// 1, at most [`MAX_CAPACITY`].
    pub fn connections(&self, listeners: usize) -> u32 {
        let n = self.by_resource(listeners as u64).into_iter().flatten().min().unwrap_or(MAX_CAPACITY.into());
        n.clamp(1, MAX_CAPACITY.into()) as u32
    }

    /// The start-up line's text: the capacity, what sets it and what each resource allows.
    pub fn describe(&self, max_connections: Option<u32>) -> String {
        let [fds, mem, threads] = self.by_resource(0);
        let room = self.connections(0);
        let mut s = String::new();
        let _ = match max_connections {
            Some(n) => {
                write!(s, "Capacity: {n} connections at a time, set by max_connections; the system allows {room}")
            }
            None => {
                let set_by = if fds.is_some_and(|n| n <= u64::from(room)) {
                    "the open file limit"
                } else if mem.is_some_and(|n| n <= u64::from(room)) {
                    "memory"
                } else if threads.is_some_and(|n| n <= u64::from(room)) {
                    "the thread limits"
                } else {
                    "the largest capacity"
                };
                write!(s, "Capacity: {room} connections at a time, set by {set_by}")
            }
        };
        let mut parts = Vec::new();
        match (self.files, fds) {
            (Some((limit, _)), Some(n)) => parts.push(format!("{limit} open files allow {n}")),
            _ => parts.push("no open file limit".into()),
        }
        if let (Some((_, b)), Some(n)) = (self.memory, mem) {
            parts.push(format!("{:.1} GiB of memory ({}) {n}", b.value as f64 / (1u64 << 30) as f64, b.what));
        }
        if let (Some((_, b)), Some(n)) = (self.threads, threads) {
            parts.push(format!("{} more threads ({}) {n}", b.value, b.what));
        }
        let _ = write!(s, " ({}).", parts.join(", "));
        s
    }
}

impl Resources {
    /// Reads the limits of the running process. Call it after the open-file limit is raised
    /// and the privileges are dropped (RLIMIT_NPROC counts for the run user).
    pub fn probe() -> Resources {
        let files = resource::soft_limit(Resource::Files).unwrap_or(Some(1024));
        let files_open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
        let mut memory = Vec::new();
        if let Some(kib) = meminfo("MemTotal:") {
            memory.push(Bound { what: "MemTotal", value: kib << 10 });
        }
        let cg_mem = cgroup_value("memory.max", "memory", "memory.limit_in_bytes");
        if let Some(bytes) = cg_mem {
            memory.push(Bound { what: "control group limit", value: bytes });
        }
        let mut threads = Vec::new();
        // Threads (tasks) on the machine now: the fourth field of /proc/loadavg, "running/total".
        let tasks = read_text("/proc/loadavg")
            .and_then(|t| t.split_whitespace().nth(3)?.split('/').nth(1)?.parse::<u64>().ok())
            .unwrap_or(0);
        for (what, path) in
            [("kernel.threads-max", "/proc/sys/kernel/threads-max"), ("kernel.pid_max", "/proc/sys/kernel/pid_max")]
        {
            if let Some(max) = read_number(path) {
                threads.push(Bound { what, value: max.saturating_sub(tasks) });
            }
        }
        if let Some(max) = read_number("/proc/sys/vm/max_map_count") {
            let maps = read_text("/proc/self/maps").map_or(0, |t| t.lines().count() as u64);
            threads.push(Bound { what: "vm.max_map_count", value: max.saturating_sub(maps) / 2 });
        }
        let own_threads = status_number("Threads:").unwrap_or(1);
        // Not enforced for root.
        if resource::real_uid() != 0 {
            if let Ok(Some(max)) = resource::soft_limit(Resource::Threads) {
                threads.push(Bound { what: "RLIMIT_NPROC", value: max.saturating_sub(own_threads) });
            }
        }
        if let Some(max) = cgroup_value("pids.max", "pids", "pids.max") {
            let current = cgroup_value("pids.current", "pids", "pids.current").unwrap_or(own_threads);
            threads.push(Bound { what: "control group pids.max", value: max.saturating_sub(current) });
        }
        if let Ok(Some(max)) = resource::soft_limit(Resource::AddressSpace) {
            let used = status_number("VmSize:").unwrap_or(0) << 10;
            threads.push(Bound { what: "RLIMIT_AS", value: max.saturating_sub(used) / THREAD_ADDRESS_SPACE });
        }
        Resources { files, files_open, memory, threads }
    }
}

fn read_text(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn read_number(path: &str) -> Option<u64> {
    read_text(path)?.trim().parse().ok()
}

/// A `/proc/meminfo` field in KiB.
fn meminfo(field: &str) -> Option<u64> {
    read_text("/proc/meminfo")?.lines().find_map(|l| l.strip_prefix(field)?.split_whitespace().next()?.parse().ok())
}

/// A `/proc/self/status` number (the first word after `field`).
fn status_number(field: &str) -> Option<u64> {
    read_text("/proc/self/status")?.lines().find_map(|l| l.strip_prefix(field)?.split_whitespace().next()?.parse().ok())
}

/// A limit of the process's control group: `v2_file` in its cgroup v2 directory, else
/// `v1_file` in its directory of the v1 hierarchy of `controller`. Each is looked for in the
/// group's own directory and, inside a cgroup namespace, at the root of the mount. `None`
/// when there is no such file or it says `max` (or a v1 "unlimited", near 2^63).
fn cgroup_value(v2_file: &str, controller: &str, v1_file: &str) -> Option<u64> {
    let groups = read_text("/proc/self/cgroup")?;
    let mut candidates = Vec::new();
    for line in groups.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else { continue };
        let path = path.trim_end_matches('/');
        if ctrls.is_empty() {
            candidates.push(format!("/sys/fs/cgroup{path}/{v2_file}"));
            candidates.push(format!("/sys/fs/cgroup/{v2_file}"));
        } else if ctrls.split(',').any(|c| c == controller) {
            candidates.push(format!("/sys/fs/cgroup/{controller}{path}/{v1_file}"));
            candidates.push(format!("/sys/fs/cgroup/{controller}/{v1_file}"));
        }
    }
    let text = candidates.iter().find_map(|p| read_text(p))?;
    let n: u64 = text.trim().parse().ok()?;
    (n < 1 << 62).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(files: u64, mem_gib: u64, threads: u64) -> Resources {
        Resources {
            files: Some(files),
            files_open: 20,
            memory: vec![Bound { what: "MemTotal", value: mem_gib << 30 }],
            threads: vec![
                Bound { what: "kernel.pid_max", value: threads },
                Bound { what: "kernel.threads-max", value: 2 * threads },
            ],
        }
    }

    const NORMAL: Demand = Demand { fds_per_connection: 1, max_listeners: 4096, downloads_in_flight: 16 };

    #[test]
    fn descriptors_less_spare_and_listeners() {
        let c = Capacity::new(&res(20_000, 24, 32_000), NORMAL);
        // 20000 - 20 open - (64 + 48) spare = 19868; 256 listeners kept room for (512 fds).
        assert_eq!(c.connections(0), 19_868 - 512);
        // Each listener open takes its two descriptors; the margin stays while max_listeners
        // allows it, then shrinks.
        assert_eq!(c.connections(100), 19_868 - 2 * (100 + 256));
        assert_eq!(c.connections(4000), 19_868 - 2 * 4096);
        assert_eq!(c.connections(4096), 19_868 - 2 * 4096);
        assert!(c.describe(None).starts_with("Capacity: 19356 connections at a time, set by the open file limit ("));
        // Mirrored or proxied ports: two descriptors per connection.
        let c = Capacity::new(&res(20_000, 24, 32_000), Demand { fds_per_connection: 2, ..NORMAL });
        assert_eq!(c.connections(0), (19_868 - 512) / 2);
    }

    #[test]
    fn memory_and_threads() {
        // 1 GiB: half of it at 64 KiB each.
        let c = Capacity::new(&res(1 << 20, 1, 1 << 20), NORMAL);
        assert_eq!(c.connections(0), 8192);
        assert!(c.describe(None).contains("set by memory"), "{}", c.describe(None));
        assert!(c.describe(None).contains("1.0 GiB of memory (MemTotal) 8192"), "{}", c.describe(None));
        // The tightest thread bound, less the spare and the listeners.
        let c = Capacity::new(&res(1 << 20, 64, 10_000), NORMAL);
        assert_eq!(c.connections(0), 10_000 - 80 - 256);
        assert_eq!(c.connections(10), 10_000 - 80 - 266);
        let d = c.describe(None);
        assert!(
            d.contains("set by the thread limits") && d.contains("10000 more threads (kernel.pid_max) 9664"),
            "{d}"
        );
        // An explicit max_connections is named as what sets it.
        assert!(c
            .describe(Some(50))
            .starts_with("Capacity: 50 connections at a time, set by max_connections; the system allows 9664 ("));
    }

    #[test]
    fn small_and_missing_limits() {
        // `ulimit -n 256`: the spare and the listener margin shrink with the room.
        let c = Capacity::new(&res(256, 24, 32_000), NORMAL);
        let avail = 236 - 112;
        assert_eq!(c.connections(0), avail - 2 * (avail / 2 / 8));
        assert!(c.connections(0) > 80);
        // Nearly nothing left: never 0, so that the refusals say what is missing.
        assert_eq!(Capacity::new(&res(20, 24, 32_000), NORMAL).connections(0), 1);
        // Nothing known: the largest capacity.
        let c = Capacity::new(&Resources::default(), NORMAL);
        assert_eq!(c.connections(0), MAX_CAPACITY);
        assert!(c.describe(None).contains("set by the largest capacity (no open file limit)"), "{}", c.describe(None));
    }

    /// The room of each resource in its own unit, for connections, flows and records alike.
    #[test]
    fn room_by_resource() {
        let c = Capacity::new(&res(20_000, 24, 32_000), Demand { fds_per_connection: 2, ..NORMAL });
        let room = c.room(100);
        assert_eq!(room.fds, Some(19_868 - 2 * (100 + 256)));
        assert_eq!(room.threads, Some(32_000 - 80 - 356));
        assert_eq!(room.memory, Some(12 << 30));
        // Never less than one connection needs; nothing known, no limit.
        let room = Capacity::new(&res(20, 24, 32_000), Demand { fds_per_connection: 2, ..NORMAL }).room(0);
        assert_eq!(room.fds, Some(2));
        assert_eq!(Capacity::new(&Resources::default(), NORMAL).room(0), Room::UNLIMITED);
    }

    #[test]
    fn relayed_ports_double_the_descriptors() {
        let cfg = |text: &str| crate::config::load_str(text, "t.conf".as_ref(), "/".as_ref()).unwrap();
        assert_eq!(Demand::of(&cfg("portconf_default = \"normal\"")).fds_per_connection, 1);
        assert_eq!(Demand::of(&cfg("portconf_default = \"mirror\"")).fds_per_connection, 2);
        let proxied = "portconf = { proxy = { w = { protocol = \"tcp\" port = \"80\" target_host = \"192.0.2.1\" target_port = \"80\" } } }";
        assert_eq!(Demand::of(&cfg(proxied)).fds_per_connection, 2);
    }

    /// The probe reads this machine's limits; whatever they are, they are positive.
    #[test]
    fn probe_reads_the_limits() {
        let r = Resources::probe();
        assert!(r.files.is_none_or(|n| n > r.files_open));
        assert!(r.memory.iter().any(|b| b.what == "MemTotal" && b.value > 0), "{r:?}");
        assert!(r.threads.iter().any(|b| b.what == "kernel.pid_max"), "{r:?}");
        assert!(Capacity::new(&r, NORMAL).connections(0) >= 1);
    }
}
