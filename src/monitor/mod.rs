//! Connection monitors (SPEC §5): how honeytrap learns that someone tried a port nobody
//! serves. Two kinds live in one binary: nfq (the held SYN / first datagram, via NFQUEUE
//! queue 0) and pcap (the kernel's RST / ICMP port unreachable). This module opens the chosen
//! one and drives it from the main loop.

pub mod detect;
pub mod nfq;
pub mod pcap;

use crate::config::MonitorKind;
use crate::server::engine::Engine;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

/// Packets handled per wake-up at most, so that control requests are never starved.
const MAX_BATCH: usize = 256;

/// A connection attempt to a port nobody serves, as seen by a monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnRequest {
    pub proto: crate::config::Proto,
    /// The attacked address and port (ours).
    pub local: std::net::SocketAddr,
    /// The attacker's address and port.
    pub remote: std::net::SocketAddr,
}

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

/// An open monitor.
pub enum Monitor {
    Pcap(pcap::PcapMonitor),
    Nfq(nfq::NfqQueue),
}

impl Monitor {
    /// Opens the monitor. Errors are the texts to log.
    pub fn open(s: &Settings) -> Result<Monitor, String> {
        match s.kind {
            MonitorKind::Pcap => {
                let dev = match &s.interface {
                    Some(d) => d.clone(),
                    None => pcap::default_device()?,
                };
                let address = match &s.address {
                    Some(a) => Some(
                        pcap::resolve_address(a).ok_or_else(|| "Error - Invalid hostname or ip address".to_string())?,
                    ),
                    None => None,
                };
                let addrs = if address.is_some() { Vec::new() } else { pcap::device_addresses(&dev)? };
                let filter = pcap::build_filter(address, &addrs, s.bpf.as_deref());
                crate::log_debug!("Packet filter: {}", filter);
                Ok(Monitor::Pcap(pcap::PcapMonitor::open(&dev, &filter, s.promisc)?))
            }
            MonitorKind::Nfq => match nfq::NfqQueue::open(s.queue) {
                Ok(q) => {
                    if !q.fail_open() {
                        crate::log_warn!("Warning - This kernel does not support fail-open queues; packets are dropped when the queue is full.");
                    }
                    Ok(Monitor::Nfq(q))
                }
                Err(e) => Err(format!(
                    "Could not bind NFQ queue {}: {}. Do you have root privileges (CAP_NET_ADMIN), and is no other program using the queue?",
                    s.queue,
                    crate::sys::strerror(&e)
                )),
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
    /// handed to the engine, which ignores it or makes sure a listener serves the port. With
    /// nfq the held packet is accepted only after that, so the first attempt reaches the
    /// listener; packets for ignored or served ports are accepted at once.
    pub fn service(&mut self, engine: &Arc<Engine>) -> Result<(), String> {
        match self {
            Monitor::Pcap(p) => {
                let dlt = p.datalink();
                p.drain(MAX_BATCH, |frame| match detect::from_frame(dlt, frame) {
                    Ok(Some(req)) => {
                        crate::log_noisy!("{}", detect::request_line(&req));
                        engine.request(&req);
                    }
                    Ok(None) => {}
                    Err(e) => crate::log_err!("Error - {}", e),
                })?;
            }
            Monitor::Nfq(q) => {
                let before = q.stats().overruns;
                let packets = q
                    .recv(Some(Duration::ZERO))
                    .map_err(|e| format!("Could not read from the NFQ queue: {}.", crate::sys::strerror(&e)))?;
                let lost = q.stats().overruns - before;
                if lost > 0 {
                    crate::log_warn!(
                        "Warning - NFQ queue overrun ({} times): the kernel dropped queued packets.",
                        lost
                    );
                }
                for p in packets {
                    match detect::from_queued(&p.payload) {
                        Ok(Some(req)) => {
                            crate::log_noisy!("{}", detect::request_line(&req));
                            engine.request(&req);
                        }
                        Ok(None) => {}
                        Err(e) => crate::log_err!("Error - {}", e),
                    }
                    q.verdict(p.id, true).map_err(|_| "Could not set verdict on packet.".to_string())?;
                }
            }
        }
        Ok(())
    }
}
