//! Offline replay (`honeytrap --replay FILE`): the conversations of a pcap or pcapng capture
//! become the attack records a live sensor would have written, and go through the configured
//! pipeline (decoders, extraction, downloads when asked for, every output). New in this
//! program; the C original had no such mode.
//!
//! The file is read with libpcap (pcap and pcapng; every link type [`crate::wire::link`]
//! decodes: Ethernet with VLAN tags, Linux SLL and SLL2, raw IP, ...); the packets go to
//! [`conversations`], which reassembles TCP and groups UDP flows with the sensor's own
//! timeouts and bounds; each finished conversation is recorded as the live sensor records a
//! connection: the port's mode from the configuration (ignored ports are skipped), the
//! capture's times, the client's bytes up to `read_limit`. Log lines go to standard output,
//! progress and the summary to standard error.

pub mod conversations;

use crate::attack::{Attack, Payload};
use crate::cli::Options;
use crate::config::{self, Config, Mode, Proto};
use crate::pipeline::output::Outputs;
use crate::pipeline::Pipeline;
use crate::server::engine::{self, Settings};
use crate::server::responses::Responses;
use crate::wire::ip::{IpPacket, Upper, PROTO_TCP, PROTO_UDP};
use crate::wire::{link, tcp, udp};
use crate::{log_notice, log_warn};
use conversations::{Conversations, Finished, Limits, Transport};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the progress line is written.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// Bytes kept per conversation when `read_limit` is 0 (unlimited for a live connection).
const KEEP_UNLIMITED: usize = 1 << 30;
/// Bytes all open conversations hold at most when `max_buffered_bytes` is not set.
const TOTAL_DEFAULT: usize = 512 << 20;

/// What `--replay` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayOptions {
    pub file: PathBuf,
    /// `-a`: the sensor's address; else each conversation's server is found from its packets.
    pub sensor: Option<IpAddr>,
    /// `--download`: fetch what the attacks name (off by default: the capture may be old).
    pub download: bool,
}

/// Why a replay could not run.
#[derive(Debug)]
pub enum ReplayError {
    Config(config::LoadError),
    Settings(crate::pipeline::PipelineError),
    Outputs(crate::pipeline::output::OutputError),
    /// The file cannot be opened or is not a capture libpcap reads.
    NotACapture {
        file: PathBuf,
        why: String,
    },
    /// The capture's link type is one this program does not decode.
    LinkType {
        file: PathBuf,
        dlt: i32,
    },
    /// `-a` is not an address.
    Sensor(String),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Error - ")?;
        match self {
            ReplayError::Config(e) => write!(f, "{e}"),
            ReplayError::Settings(e) => write!(f, "{e}"),
            ReplayError::Outputs(e) => write!(f, "{e}"),
            ReplayError::NotACapture { file, why } => {
                write!(f, "{} is not a capture file that can be replayed: {}.", file.display(), why)
            }
            ReplayError::LinkType { file, dlt } => {
                write!(f, "{}: link type {} is not supported.", file.display(), dlt)
            }
            ReplayError::Sensor(a) => write!(f, "Invalid sensor address '{a}' (-a takes an IP address)."),
        }
    }
}

impl std::error::Error for ReplayError {}

/// Counts of a replay, for the progress line and the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub packets: u64,
    pub bytes: u64,
    /// Frames that are not TCP or UDP over IP (ARP, ICMP, ...).
    pub other: u64,
    /// Frames that claim to be IP, TCP or UDP but are not well formed.
    pub malformed: u64,
    /// IP fragments after the first (their transport header is in the first).
    pub fragments: u64,
    pub conversations: u64,
    pub records: u64,
    /// Conversations on ports configured `ignore`.
    pub ignored: u64,
    pub gaps: u64,
    pub repeated: u64,
}

/// Runs `--replay` and returns the exit status: 0 when the file was read, 1 when it could not
/// be (a message on standard error).
pub fn run(opts: &Options, replay: &ReplayOptions, base_dir: &Path) -> i32 {
    match replay_file(opts, replay, base_dir) {
        Ok(s) => {
            eprintln!("{}", summary_line(&replay.file, &s));
            0
        }
        Err(e) => {
            eprintln!("  {e}");
            1
        }
    }
}

fn replay_file(opts: &Options, replay: &ReplayOptions, base_dir: &Path) -> Result<Summary, ReplayError> {
    let cfg = config::load_config(&opts.overrides(), base_dir).map_err(ReplayError::Config)?;
    crate::log::set_stdout(true);
    for w in &cfg.warnings {
        log_warn!("Warning - {}", w);
    }
    let mut cap = pcap::Capture::from_file(&replay.file)
        .map_err(|e| ReplayError::NotACapture { file: replay.file.clone(), why: e.to_string() })?;
    let dlt = cap.get_datalink().0;
    if !link::supported(dlt) {
        return Err(ReplayError::LinkType { file: replay.file.clone(), dlt });
    }
    let settings = settings(cfg, opts, base_dir, replay.download)?;
    let limits = limits(&settings.cfg, settings.read_timeout);
    let mut cv = Conversations::new(limits, replay.sensor);
    let mut s = Summary::default();
    let file_len = std::fs::metadata(&replay.file).map_or(0, |m| m.len());
    let started = Instant::now();
    let mut progress = started;
    let mut expired_at: Option<SystemTime> = None;
    let mut done = Vec::new();
    loop {
        let ts = match cap.next_packet() {
            Ok(p) => {
                let ts = timestamp(p.header.ts.tv_sec, p.header.ts.tv_usec);
                s.packets += 1;
                s.bytes += u64::from(p.header.caplen);
                decode(dlt, ts, p.data, &mut cv, &mut s, &mut done);
                ts
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                // A file cut short (a capture still being written, a copy interrupted):
                // what was read counts.
                log_warn!("Warning - {}: reading stopped after {} packets: {}.", replay.file.display(), s.packets, e);
                break;
            }
        };
        // Idle conversations are ended once per second of capture time.
        if expired_at.is_none_or(|t| ts.duration_since(t).is_ok_and(|d| d >= Duration::from_secs(1))) {
            cv.expire(ts, &mut done);
            expired_at = Some(ts);
        }
        record_all(&settings, &mut done, &mut s);
        if progress.elapsed() >= PROGRESS_EVERY {
            progress = Instant::now();
            eprintln!("{}", progress_line(&s, cv.open(), file_len, started.elapsed()));
        }
    }
    cv.finish_all(&mut done);
    record_all(&settings, &mut done, &mut s);
    let k = cv.skipped;
    if k.tcp_orphans + k.unanswered + k.not_sensor > 0 {
        log_notice!(
            "Replay: {} TCP segments outside any conversation seen from its start, {} SYNs never answered, {} packets not to or from the sensor address.",
            k.tcp_orphans,
            k.unanswered,
            k.not_sensor
        );
    }
    Ok(s)
}

/// The pipeline of `cfg`, its outputs opened, downloads only when asked for.
fn settings(cfg: Config, opts: &Options, base_dir: &Path, download: bool) -> Result<Settings, ReplayError> {
    let mut pipeline = Pipeline::from_config(&cfg, base_dir).map_err(ReplayError::Settings)?;
    if !download {
        pipeline.downloader = None;
    }
    let mut outputs = Outputs::open_files(&cfg, base_dir).map_err(ReplayError::Outputs)?;
    outputs.start_remote(&cfg).map_err(ReplayError::Outputs)?;
    pipeline.outputs = Arc::new(outputs);
    let read_timeout = if opts.read_timeout == 0 {
        crate::server::conn::DEFAULT_READ_TIMEOUT
    } else {
        Duration::from_secs(opts.read_timeout.into())
    };
    Ok(Settings { cfg, responses: Responses::default(), pipeline, read_timeout, listen_timeout: None })
}

/// The bounds of the replay from the sensor's own: `read_limit` per conversation,
/// `max_buffered_bytes` in all, the UDP flows' idle limit and `session_limit`.
fn limits(cfg: &Config, read_timeout: Duration) -> Limits {
    let keep = if cfg.read_limit == 0 { KEEP_UNLIMITED } else { cfg.read_limit as usize };
    Limits {
        keep,
        total: cfg.max_buffered_bytes.map_or(TOTAL_DEFAULT, |b| usize::try_from(b).unwrap_or(usize::MAX)),
        udp_idle: read_timeout * (crate::server::conn::IDLE_LIMIT + 1),
        session_limit: Duration::from_secs(cfg.session_limit.into()),
        ..Limits::default()
    }
}

fn timestamp(sec: libc::time_t, usec: libc::suseconds_t) -> SystemTime {
    let (sec, usec) = (u64::try_from(sec).unwrap_or(0), u64::try_from(usec).unwrap_or(0).min(999_999));
    UNIX_EPOCH + Duration::from_secs(sec) + Duration::from_micros(usec)
}

/// One captured frame into the conversations (the replay fuzz target feeds it too).
pub fn decode(
    dlt: i32,
    ts: SystemTime,
    frame: &[u8],
    cv: &mut Conversations,
    s: &mut Summary,
    done: &mut Vec<Finished>,
) {
    let Ok(ip) = link::ip_payload(dlt, frame) else {
        s.other += 1;
        return;
    };
    let Ok(packet) = IpPacket::new_checked(ip) else {
        s.malformed += 1;
        return;
    };
    let (src, dst) = (packet.src_addr(), packet.dst_addr());
    match packet.upper() {
        Ok(Upper::Header { protocol: PROTO_TCP, payload }) => match tcp::TcpPacket::new_checked(payload) {
            Ok(t) => cv.tcp(
                ts,
                SocketAddr::new(src, t.src_port()),
                SocketAddr::new(dst, t.dst_port()),
                t.seq_number(),
                t.flags(),
                t.payload(),
                done,
            ),
            Err(_) => s.malformed += 1,
        },
        Ok(Upper::Header { protocol: PROTO_UDP, payload }) => match udp::UdpPacket::new_checked(payload) {
            Ok(u) => {
                cv.udp(ts, SocketAddr::new(src, u.src_port()), SocketAddr::new(dst, u.dst_port()), u.payload(), done)
            }
            Err(_) => s.malformed += 1,
        },
        Ok(Upper::LaterFragment { .. }) => s.fragments += 1,
        Ok(Upper::Header { .. }) => s.other += 1,
        Err(_) => s.malformed += 1,
    }
}

/// Records the finished conversations, in the order they ended.
fn record_all(settings: &Settings, done: &mut Vec<Finished>, s: &mut Summary) {
    for f in done.drain(..) {
        s.conversations += 1;
        s.gaps += f.gaps.len() as u64;
        s.repeated += f.repeated;
        let proto = match f.transport {
            Transport::Tcp => Proto::Tcp,
            Transport::Udp => Proto::Udp,
        };
        let cfg = &settings.cfg;
        let mode = cfg.ports.mode_for(cfg.portconf_default, proto, f.server.port());
        if mode == Mode::Ignore {
            s.ignored += 1;
            continue;
        }
        for (off, len) in &f.gaps {
            log_warn!(
                "Warning - Replay: {} -> {}/{}: {} bytes missing at offset {} (not in the capture).",
                f.client,
                f.server,
                proto.name(),
                len,
                off
            );
        }
        if f.cut > 0 {
            log_notice!(
                "Replay: {} -> {}/{}: {} bytes beyond read_limit not kept.",
                f.client,
                f.server,
                proto.name(),
                f.cut
            );
        }
        let mut attack = Attack::new(proto, f.server, f.client, mode, f.start);
        attack.end = f.end;
        attack.bytes_out = f.bytes_out;
        attack.payload = Payload::new(f.data);
        engine::process(settings, &mut attack);
        s.records += 1;
    }
}

/// The progress line (standard error, every [`PROGRESS_EVERY`]).
fn progress_line(s: &Summary, open: usize, file_len: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let pct = if file_len > 0 {
        format!(" ({:.0}%)", (s.bytes as f64 / file_len as f64 * 100.0).min(100.0))
    } else {
        String::new()
    };
    format!(
        "replay: {} packets{}, {} conversations open, {} records, {:.0} packets/s",
        s.packets,
        pct,
        open,
        s.records,
        s.packets as f64 / secs
    )
}

/// The summary at the end (standard error).
fn summary_line(file: &Path, s: &Summary) -> String {
    format!(
        "replay: {}: {} packets ({} not TCP or UDP, {} malformed, {} later fragments), {} conversations, {} records, {} on ignored ports, {} gaps, {} bytes repeated",
        file.display(),
        s.packets,
        s.other,
        s.malformed,
        s.fragments,
        s.conversations,
        s.records,
        s.ignored,
        s.gaps,
        s.repeated
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_and_summary_lines() {
        let s = Summary {
            packets: 3000,
            bytes: 250,
            records: 7,
            gaps: 1,
            repeated: 9,
            conversations: 8,
            ignored: 1,
            ..Summary::default()
        };
        assert_eq!(
            progress_line(&s, 12, 1000, Duration::from_secs(2)),
            "replay: 3000 packets (25%), 12 conversations open, 7 records, 1500 packets/s"
        );
        assert_eq!(
            summary_line(Path::new("c.pcap"), &s),
            "replay: c.pcap: 3000 packets (0 not TCP or UDP, 0 malformed, 0 later fragments), 8 conversations, 7 records, 1 on ignored ports, 1 gaps, 9 bytes repeated"
        );
    }

    #[test]
    fn limits_follow_the_configuration() {
        let mut cfg =
            Config { read_limit: 0, session_limit: 60, max_buffered_bytes: Some(1 << 20), ..Config::default() };
        let l = limits(&cfg, Duration::from_secs(2));
        assert_eq!(
            (l.keep, l.total, l.udp_idle, l.session_limit),
            (KEEP_UNLIMITED, 1 << 20, Duration::from_secs(22), Duration::from_secs(60))
        );
        cfg.read_limit = 100;
        cfg.max_buffered_bytes = None;
        assert_eq!(
            (limits(&cfg, Duration::from_secs(1)).keep, limits(&cfg, Duration::from_secs(1)).total),
            (100, TOTAL_DEFAULT)
        );
    }
}
