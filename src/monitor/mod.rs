//! Connection monitors: how honeytrap learns that someone tried a port nobody serves. Two
//! kinds live in one binary: nfq (the held SYN / first datagram, via NFQUEUE queue 0) and
//! pcap (the kernel's RST / ICMP port unreachable). This module opens the chosen one, drives
//! it from the main loop and hands each request to the caller's callback ([`dispatch`]),
//! which the daemon wires to the engine: never one for port 0, and the lines about packets
//! that are no request are rate-limited, since an attacker can send those at will.

pub mod detect;
pub mod nfq;
pub mod pcap;

use crate::config::MonitorKind;
pub use crate::conn_request::ConnRequest;
use crate::log::{Level, Throttle};
use crate::sys::strerror;
use detect::DetectError;
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// Packets handled per wake-up at most, so that control requests are never starved.
const MAX_BATCH: usize = 256;

/// At most one line per this period about packets that are no request (malformed,
/// unsupported), with the count of those kept quiet.
const UNUSABLE_INTERVAL: Duration = Duration::from_secs(10);
static UNUSABLE: Throttle = Throttle::new(UNUSABLE_INTERVAL);

/// What the monitor needs from the command line and the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub kind: MonitorKind,
    /// pcap: `-i` (None: the first usable device).
    pub interface: Option<String>,
    /// pcap: `-a`.
    pub address: Option<String>,
    pub promisc: bool,
    /// pcap: trailing command-line expression.
    pub bpf: Option<String>,
    /// nfq: the queue number (`nfq_queue`; 0 was hard-coded in the C original).
    pub queue: u16,
}

/// Why a monitor cannot be opened or stopped working. The texts (the original's where it
/// had one) are without the `Error - ` prefix, which the daemon's error adds.
#[derive(Debug)]
pub enum MonitorError {
    /// No `-i` and libpcap knows no usable device.
    NoDevice,
    /// libpcap failed to look for a default device.
    DeviceLookup(::pcap::Error),
    /// libpcap failed to list the devices.
    ListDevices(::pcap::Error),
    /// `-i` names no device.
    NoSuchInterface(String),
    /// `-a` is neither an address nor a name that resolves.
    InvalidAddress,
    /// The capture could not be opened.
    Open {
        device: String,
        err: ::pcap::Error,
    },
    /// The device's link type is one we cannot decode.
    LinkType(String),
    NonBlocking {
        device: String,
        err: ::pcap::Error,
    },
    Filter {
        filter: String,
        err: ::pcap::Error,
    },
    /// Reading from the capture failed.
    Read {
        device: String,
        err: ::pcap::Error,
    },
    /// The NFQUEUE queue could not be bound.
    NfqBind {
        queue: u16,
        err: io::Error,
    },
    /// Reading from the NFQUEUE socket failed.
    NfqRead(io::Error),
    /// A held packet could not be given its verdict.
    Verdict,
}

impl fmt::Display for MonitorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorError::NoDevice => write!(f, "No suitable device found."),
            MonitorError::DeviceLookup(e) => write!(f, "Unable to find a default device: {e}."),
            MonitorError::ListDevices(e) => write!(f, "Unable to list devices: {e}."),
            MonitorError::NoSuchInterface(dev) => write!(f, "No such interface: {dev}."),
            MonitorError::InvalidAddress => write!(f, "Invalid hostname or ip address"),
            MonitorError::Open { device, err } => {
                write!(f, "Could not open {device} for sniffing: {err}. Do you have root privileges?")
            }
            MonitorError::LinkType(device) => write!(f, "Link type of {device} is currently not supported."),
            MonitorError::NonBlocking { device, err } => write!(f, "Could not set {device} non-blocking: {err}."),
            MonitorError::Filter { filter, err } => write!(f, "Unable to set packet filter '{filter}': {err}."),
            MonitorError::Read { device, err } => write!(f, "Error while reading from {device}: {err}."),
            MonitorError::NfqBind { queue, err } => write!(
                f,
                "Could not bind NFQ queue {}: {}. Do you have root privileges (CAP_NET_ADMIN), and is no other program using the queue?",
                queue,
                strerror(err)
            ),
            MonitorError::NfqRead(e) => write!(f, "Could not read from the NFQ queue: {}.", strerror(e)),
            MonitorError::Verdict => write!(f, "Could not set verdict on packet."),
        }
    }
}

impl std::error::Error for MonitorError {}

/// An open monitor.
pub enum Monitor {
    Pcap(pcap::PcapMonitor),
    Nfq(nfq::NfqQueue),
}

impl Monitor {
    /// Opens the monitor.
    pub fn open(s: &Settings) -> Result<Monitor, MonitorError> {
        match s.kind {
            MonitorKind::Pcap => {
                let dev = match &s.interface {
                    Some(d) => d.clone(),
                    None => pcap::default_device()?,
                };
                let address = match &s.address {
                    Some(a) => Some(pcap::resolve_address(a).ok_or(MonitorError::InvalidAddress)?),
                    None => None,
                };
                let addrs = if address.is_some() { Vec::new() } else { pcap::device_addresses(&dev)? };
                let filter = pcap::build_filter(address, &addrs, s.bpf.as_deref());
                crate::log_debug!("Packet filter: {}", filter);
                let p = pcap::PcapMonitor::open(&dev, &filter, s.promisc)?;
                crate::log_debug!("Refusals taken on {}: {}.", dev, p.outgoing().describe());
                if p.outgoing().blind(p.datalink()) {
                    crate::log_warn!(
                        "Warning - Cannot tell on {} whether a refusal was sent by this host: a spoofed one is taken too.",
                        dev
                    );
                }
                Ok(Monitor::Pcap(p))
            }
            MonitorKind::Nfq => match nfq::NfqQueue::open(s.queue) {
                Ok(q) => {
                    if !q.fail_open() {
                        crate::log_warn!("Warning - This kernel does not support fail-open queues; packets are dropped when the queue is full.");
                    }
                    Ok(Monitor::Nfq(q))
                }
                Err(err) => Err(MonitorError::NfqBind { queue: s.queue, err }),
            },
        }
    }

    /// The line logged once the monitor runs.
    pub fn ready_line(&self) -> String {
        match self {
            Monitor::Pcap(p) => format!("---- Trapping attacks on device '{}' via PCAP. ----", p.device),
            Monitor::Nfq(_) => "---- Trapping attacks via NFQ. ----".to_string(),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Monitor::Pcap(p) => p.fd(),
            Monitor::Nfq(q) => q.fd(),
        }
    }

    /// Handles what is pending on the monitor's descriptor: every connection attempt is
    /// handed to `on_request` (the daemon passes it to the engine, which ignores it or makes
    /// sure a listener serves the port). With nfq the held packet is accepted only after
    /// `on_request` has returned, so the first attempt reaches the listener; packets for
    /// ignored or served ports are accepted at once.
    pub fn service(&mut self, on_request: &mut dyn FnMut(&ConnRequest)) -> Result<(), MonitorError> {
        match self {
            Monitor::Pcap(p) => {
                let dlt = p.datalink();
                p.drain(MAX_BATCH, |frame| dispatch(on_request, detect::from_frame(dlt, frame)))?;
            }
            Monitor::Nfq(q) => {
                let before = q.stats().overruns;
                let packets = q.recv(Some(Duration::ZERO)).map_err(MonitorError::NfqRead)?;
                let lost = q.stats().overruns - before;
                if lost > 0 {
                    crate::log_warn!(
                        "Warning - NFQ queue overrun ({} times): the kernel dropped queued packets.",
                        lost
                    );
                }
                for p in packets {
                    dispatch(on_request, detect::from_queued(&p.payload));
                    q.verdict(p.id, true).map_err(|_| MonitorError::Verdict)?;
                }
            }
        }
        Ok(())
    }
}

/// Hands what a detector found on: a request is logged and given to `on_request`; anything
/// else is logged ([`report`]).
fn dispatch(on_request: &mut dyn FnMut(&ConnRequest), found: Result<Option<ConnRequest>, DetectError>) {
    crate::stats::STATS.monitor_packets.inc();
    if let Some(req) = request(found) {
        crate::log_noisy!("{}", detect::request_line(&req));
        on_request(&req);
    }
}

/// The request to serve, if `found` is one. Port 0 never is: the detectors refuse it
/// already, and this check keeps it so for every request that reaches the engine, which
/// would otherwise bind a random port.
fn request(found: Result<Option<ConnRequest>, DetectError>) -> Option<ConnRequest> {
    match found {
        Ok(Some(req)) if req.local.port() != 0 => Some(req),
        Ok(Some(req)) => {
            report(&DetectError::PortZero { proto: req.proto, remote: req.remote });
            None
        }
        Ok(None) => None,
        Err(e) => {
            report(&e);
            None
        }
    }
}

/// Logs why a packet is no request: an attempt on port 0 at debug level, one line each like
/// the request lines; a malformed or unsupported packet as an error, at most one line per
/// [`UNUSABLE_INTERVAL`].
fn report(e: &DetectError) {
    if let DetectError::PortZero { .. } = e {
        crate::log_debug!("{}", e);
    } else if let Some(more) = UNUSABLE.due() {
        crate::log::write(Level::Err, format_args!("{}", unusable_line(e, more)));
    }
}

/// The error line for a packet that is no request, after `more` kept quiet.
fn unusable_line(e: &DetectError, more: u64) -> String {
    let text = e.to_string();
    match more {
        0 => format!("Error - {text}"),
        n => format!("Error - {} ({n} more since the last message).", text.trim_end_matches('.')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Proto;
    use crate::wire::link;

    #[test]
    fn error_texts() {
        let e = MonitorError::NfqBind { queue: 3, err: io::Error::from_raw_os_error(libc::EPERM) };
        assert_eq!(
            e.to_string(),
            "Could not bind NFQ queue 3: Operation not permitted. Do you have root privileges (CAP_NET_ADMIN), and is no other program using the queue?"
        );
        assert_eq!(MonitorError::NoDevice.to_string(), "No suitable device found.");
        assert_eq!(MonitorError::NoSuchInterface("x0".into()).to_string(), "No such interface: x0.");
        assert_eq!(MonitorError::Verdict.to_string(), "Could not set verdict on packet.");
    }

    fn req(local: &str, remote: &str) -> ConnRequest {
        ConnRequest { proto: Proto::Tcp, local: local.parse().unwrap(), remote: remote.parse().unwrap() }
    }

    #[test]
    fn only_requests_for_real_ports_reach_the_engine() {
        let r = req("192.0.2.1:80", "198.51.100.7:4000");
        assert_eq!(request(Ok(Some(r))), Some(r));
        assert_eq!(request(Ok(Some(req("192.0.2.1:0", "198.51.100.7:4000")))), None);
        assert_eq!(request(Ok(Some(req("[2001:db8::1]:0", "[2001:db8::2]:4000")))), None);
        assert_eq!(request(Ok(None)), None);
        assert_eq!(request(Err(DetectError::Truncated)), None);
        let zero = DetectError::PortZero { proto: Proto::Udp, remote: r.remote };
        assert_eq!(request(Err(zero)), None);
    }

    #[test]
    fn unusable_lines_count_what_was_kept_quiet() {
        assert_eq!(unusable_line(&DetectError::Truncated, 0), "Error - ICMP message truncated.");
        assert_eq!(
            unusable_line(&DetectError::Link(link::Error::Truncated), 41),
            "Error - Unusable frame: frame shorter than its link-layer header (41 more since the last message)."
        );
    }
}
