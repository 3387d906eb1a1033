//! What the sensor has done since it started: counters bumped where things happen (the
//! servers, the pipeline, the download clients, the outputs, the monitor), read by the
//! `Statistics` log line (SIGUSR1 and at stop) and by the optional Prometheus endpoint
//! (`metrics_listen`, [`crate::metrics`]). The C original kept no counters.
//!
//! The counters are process-wide atomics with relaxed ordering: each is exact on its own, a
//! snapshot of several is not one instant (a connection may be counted accepted before it is
//! counted open). Gauges — connections open, threads, resident memory — are read when a
//! snapshot is taken.

pub use crate::config::Proto;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// A monotonic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// The protocols of trapped connections and flows, in the order they are shown.
const PROTOS: [Proto; 2] = [Proto::Tcp, Proto::Udp];

/// Why a connection or flow was not served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// `max_connections` reached.
    Total,
    /// No descriptor left for connections.
    Descriptors,
    /// No thread left for connections and records.
    Threads,
    /// No memory left for connections, flows and records.
    Memory,
    /// The source's share while the daemon is busy (`max_connections_per_source`).
    Share,
    /// `max_listeners` reached: no server could be started on the port.
    Listeners,
    /// The port is configured `ignore`.
    Ignored,
    /// No server could be bound on the port (e.g. another program holds it).
    Bind,
}

impl Cause {
    pub const ALL: [Cause; 8] = [
        Cause::Total,
        Cause::Descriptors,
        Cause::Threads,
        Cause::Memory,
        Cause::Share,
        Cause::Listeners,
        Cause::Ignored,
        Cause::Bind,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cause::Total => "total",
            Cause::Descriptors => "descriptors",
            Cause::Threads => "threads",
            Cause::Memory => "memory",
            Cause::Share => "share",
            Cause::Listeners => "listeners",
            Cause::Ignored => "ignored",
            Cause::Bind => "bind",
        }
    }
}

/// The download families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Ftp,
    Tftp,
    Http,
    Https,
    /// Raw TCP streams (`nc HOST PORT > f`).
    Tcp,
}

impl Scheme {
    pub const ALL: [Scheme; 5] = [Scheme::Ftp, Scheme::Tftp, Scheme::Http, Scheme::Https, Scheme::Tcp];

    pub fn name(self) -> &'static str {
        match self {
            Scheme::Ftp => "ftp",
            Scheme::Tftp => "tftp",
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Tcp => "tcp",
        }
    }
}

/// The outputs that write records or lines, by their plugin name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    SaveFile,
    LogAttacker,
    LogJson,
    LogEvents,
    Syslog,
    Hpfeeds,
    Postgres,
}

impl Output {
    pub const ALL: [Output; 7] = [
        Output::SaveFile,
        Output::LogAttacker,
        Output::LogJson,
        Output::LogEvents,
        Output::Syslog,
        Output::Hpfeeds,
        Output::Postgres,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Output::SaveFile => "SaveFile",
            Output::LogAttacker => "logAttacker",
            Output::LogJson => "logJSON",
            Output::LogEvents => "logEvents",
            Output::Syslog => "syslog",
            Output::Hpfeeds => "hpfeeds",
            Output::Postgres => "submitPostgres",
        }
    }

    /// The output whose plugin name is `name`.
    pub fn by_name(name: &str) -> Option<Output> {
        Output::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// Counters of one protocol.
#[derive(Debug)]
pub struct ProtoCounters {
    pub accepted: Counter,
    refused: [Counter; Cause::ALL.len()],
}

impl ProtoCounters {
    const fn new() -> ProtoCounters {
        ProtoCounters { accepted: Counter::new(), refused: [const { Counter::new() }; Cause::ALL.len()] }
    }

    pub fn refused(&self, why: Cause) -> &Counter {
        &self.refused[why as usize]
    }
}

/// Done and failed.
#[derive(Debug)]
pub struct Outcomes {
    pub done: Counter,
    pub failed: Counter,
}

impl Outcomes {
    const fn new() -> Outcomes {
        Outcomes { done: Counter::new(), failed: Counter::new() }
    }
}

/// Written and dropped.
#[derive(Debug)]
pub struct Lines {
    pub written: Counter,
    pub dropped: Counter,
}

impl Lines {
    const fn new() -> Lines {
        Lines { written: Counter::new(), dropped: Counter::new() }
    }
}

/// Every counter of the process.
#[derive(Debug)]
pub struct Stats {
    protos: [ProtoCounters; PROTOS.len()],
    /// Attacks processed (records that went through the pipeline).
    pub attacks: Counter,
    downloads: [Outcomes; Scheme::ALL.len()],
    outputs: [Lines; Output::ALL.len()],
    /// Packets the monitor read (nfq: queued packets; pcap: captured frames).
    pub monitor_packets: Counter,
}

impl Stats {
    const fn new() -> Stats {
        Stats {
            protos: [const { ProtoCounters::new() }; PROTOS.len()],
            attacks: Counter::new(),
            downloads: [const { Outcomes::new() }; Scheme::ALL.len()],
            outputs: [const { Lines::new() }; Output::ALL.len()],
            monitor_packets: Counter::new(),
        }
    }

    pub fn proto(&self, p: Proto) -> &ProtoCounters {
        &self.protos[match p {
            Proto::Tcp => 0,
            Proto::Udp => 1,
        }]
    }

    pub fn download(&self, s: Scheme) -> &Outcomes {
        &self.downloads[s as usize]
    }

    pub fn output(&self, o: Output) -> &Lines {
        &self.outputs[o as usize]
    }
}

/// The counters of this process.
pub static STATS: Stats = Stats::new();

/// Values read when a snapshot is taken, from the parts that hold them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Connections and flows open now.
    pub open_connections: u64,
    /// Threads of the process.
    pub threads: u64,
    /// Resident memory in bytes.
    pub rss_bytes: u64,
}

impl Gauges {
    /// The process's threads and resident memory from /proc (0 where it cannot be read), with
    /// `open_connections` from the engine.
    pub fn read(open_connections: u64) -> Gauges {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)?.split_whitespace().next()?.parse::<u64>().ok())
        };
        Gauges {
            open_connections,
            threads: field("Threads:").unwrap_or(0),
            rss_bytes: field("VmRSS:").unwrap_or(0).saturating_mul(1024),
        }
    }
}

/// When the process started counting (the first call, made at start-up).
pub fn started() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// The one-line summary written on SIGUSR1 and at stop.
pub fn log_line(s: &Stats, g: &Gauges, uptime_secs: u64) -> String {
    let mut out = format!("Statistics after {uptime_secs} s:");
    for p in PROTOS {
        let c = s.proto(p);
        let _ = write!(out, " {} accepted {}, refused", p.name(), c.accepted.get());
        let mut any = false;
        for why in Cause::ALL {
            let n = c.refused(why).get();
            if n > 0 {
                let _ = write!(out, " {} {}", why.name(), n);
                any = true;
            }
        }
        out.push_str(if any { ";" } else { " 0;" });
    }
    let _ = write!(out, " attacks {};", s.attacks.get());
    out.push_str(" downloads");
    for (i, sc) in Scheme::ALL.into_iter().enumerate() {
        let d = s.download(sc);
        let _ = write!(out, "{} {} {}/{}", if i == 0 { "" } else { "," }, sc.name(), d.done.get(), d.failed.get());
    }
    out.push_str(" (done/failed); outputs");
    let mut any = false;
    for o in Output::ALL {
        let l = s.output(o);
        let (w, d) = (l.written.get(), l.dropped.get());
        if w > 0 || d > 0 {
            let _ = write!(out, "{} {} {}/{}", if any { "," } else { "" }, o.name(), w, d);
            any = true;
        }
    }
    out.push_str(if any { " (written/dropped);" } else { " none;" });
    let _ = write!(
        out,
        " monitor packets {}; open {}; threads {}; rss {} KiB.",
        s.monitor_packets.get(),
        g.open_connections,
        g.threads,
        g.rss_bytes / 1024
    );
    out
}

/// The counters and gauges in the Prometheus text exposition format (version 0.0.4).
pub fn prometheus(s: &Stats, g: &Gauges, uptime_secs: u64) -> String {
    let mut out = String::with_capacity(4096);
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP honeytrap_{name} {help}");
        let _ = writeln!(out, "# TYPE honeytrap_{name} {kind}");
    };
    family(&mut out, "connections_accepted_total", "counter", "Connections and UDP flows served.");
    for p in PROTOS {
        let _ = writeln!(
            out,
            "honeytrap_connections_accepted_total{{protocol=\"{}\"}} {}",
            p.name(),
            s.proto(p).accepted.get()
        );
    }
    family(&mut out, "connections_refused_total", "counter", "Connections and UDP flows not served, by cause.");
    for p in PROTOS {
        for why in Cause::ALL {
            let _ = writeln!(
                out,
                "honeytrap_connections_refused_total{{protocol=\"{}\",cause=\"{}\"}} {}",
                p.name(),
                why.name(),
                s.proto(p).refused(why).get()
            );
        }
    }
    family(&mut out, "attacks_total", "counter", "Attacks processed.");
    let _ = writeln!(out, "honeytrap_attacks_total {}", s.attacks.get());
    family(&mut out, "downloads_total", "counter", "Downloads by scheme and result.");
    for sc in Scheme::ALL {
        let d = s.download(sc);
        let _ = writeln!(out, "honeytrap_downloads_total{{scheme=\"{}\",result=\"done\"}} {}", sc.name(), d.done.get());
        let _ =
            writeln!(out, "honeytrap_downloads_total{{scheme=\"{}\",result=\"failed\"}} {}", sc.name(), d.failed.get());
    }
    family(&mut out, "output_lines_total", "counter", "Records and lines given to each output, by result.");
    for o in Output::ALL {
        let l = s.output(o);
        let _ = writeln!(
            out,
            "honeytrap_output_lines_total{{output=\"{}\",result=\"written\"}} {}",
            o.name(),
            l.written.get()
        );
        let _ = writeln!(
            out,
            "honeytrap_output_lines_total{{output=\"{}\",result=\"dropped\"}} {}",
            o.name(),
            l.dropped.get()
        );
    }
    family(&mut out, "monitor_packets_total", "counter", "Packets the connection monitor read.");
    let _ = writeln!(out, "honeytrap_monitor_packets_total {}", s.monitor_packets.get());
    family(&mut out, "open_connections", "gauge", "Connections and UDP flows open now.");
    let _ = writeln!(out, "honeytrap_open_connections {}", g.open_connections);
    family(&mut out, "threads", "gauge", "Threads of the process.");
    let _ = writeln!(out, "honeytrap_threads {}", g.threads);
    family(&mut out, "resident_memory_bytes", "gauge", "Resident memory of the process.");
    let _ = writeln!(out, "honeytrap_resident_memory_bytes {}", g.rss_bytes);
    family(&mut out, "uptime_seconds", "gauge", "Seconds since start.");
    let _ = writeln!(out, "honeytrap_uptime_seconds {uptime_secs}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_line_says_zero_and_none() {
        let s = Stats::new();
        let g = Gauges { open_connections: 0, threads: 3, rss_bytes: 4096 * 1024 };
        assert_eq!(
            log_line(&s, &g, 12),
            "Statistics after 12 s: tcp accepted 0, refused 0; udp accepted 0, refused 0; attacks 0; \
             downloads ftp 0/0, tftp 0/0, http 0/0, https 0/0, tcp 0/0 (done/failed); outputs none; monitor packets 0; \
             open 0; threads 3; rss 4096 KiB."
        );
    }

    #[test]
    fn the_line_names_causes_and_outputs_that_counted() {
        let s = Stats::new();
        s.proto(Proto::Tcp).accepted.add(5);
        s.proto(Proto::Tcp).refused(Cause::Share).add(2);
        s.proto(Proto::Tcp).refused(Cause::Ignored).inc();
        s.proto(Proto::Udp).refused(Cause::Memory).inc();
        s.attacks.add(4);
        s.download(Scheme::Http).done.inc();
        s.download(Scheme::Ftp).failed.inc();
        s.output(Output::LogJson).written.add(4);
        s.output(Output::Syslog).dropped.add(7);
        s.monitor_packets.add(99);
        let g = Gauges { open_connections: 1, threads: 9, rss_bytes: 10 << 20 };
        assert_eq!(
            log_line(&s, &g, 60),
            "Statistics after 60 s: tcp accepted 5, refused share 2 ignored 1; udp accepted 0, refused memory 1; \
             attacks 4; downloads ftp 0/1, tftp 0/0, http 1/0, https 0/0, tcp 0/0 (done/failed); outputs logJSON 4/0, syslog 0/7 \
             (written/dropped); monitor packets 99; open 1; threads 9; rss 10240 KiB."
        );
    }

    #[test]
    fn the_exposition_has_one_help_and_type_per_family_and_every_sample() {
        let s = Stats::new();
        s.proto(Proto::Udp).refused(Cause::Total).add(3);
        let text = prometheus(&s, &Gauges::default(), 5);
        assert!(text.contains("honeytrap_connections_refused_total{protocol=\"udp\",cause=\"total\"} 3\n"));
        assert!(text.ends_with("honeytrap_uptime_seconds 5\n"));
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!((types, helps), (10, 10));
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples, 2 + 2 * 8 + 1 + 5 * 2 + 7 * 2 + 1 + 4);
    }

    #[test]
    fn gauges_come_from_proc() {
        let g = Gauges::read(7);
        assert_eq!(g.open_connections, 7);
        assert!(g.threads >= 1 && g.rss_bytes > 0, "{g:?}");
    }
}
