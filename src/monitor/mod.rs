//! Connection monitors (SPEC §5): how honeytrap learns that someone tried a port nobody
//! serves. Two kinds live in one binary: nfq (the held SYN / first datagram, via NFQUEUE
//! queue 0) and pcap (the kernel's RST / ICMP port unreachable). This module opens the chosen
//! one and drives it from the main loop.

pub mod pcap;

use crate::config::MonitorKind;
use std::os::fd::BorrowedFd;

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
}

/// An open monitor.
pub enum Monitor {
    Pcap(pcap::PcapMonitor),
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
                        pcap::resolve_address(a)
                            .ok_or_else(|| "Error - Invalid hostname or ip address".to_string())?
                            .to_string(),
                    ),
                    None => None,
                };
                let addrs = if address.is_some() { Vec::new() } else { pcap::device_addresses(&dev)? };
                let filter = pcap::build_filter(address.as_deref(), &addrs, s.bpf.as_deref());
                crate::log_debug!("Packet filter: {}", filter);
                Ok(Monitor::Pcap(pcap::PcapMonitor::open(&dev, &filter, s.promisc)?))
            }
            MonitorKind::Nfq => Err("The nfq monitor is not available in this build.".into()),
        }
    }

    /// The line logged once the monitor runs.
    pub fn ready_line(&self) -> String {
        match self {
            Monitor::Pcap(p) => format!("---- Trapping attacks on device '{}' via PCAP. ----", p.device),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Monitor::Pcap(p) => p.fd(),
        }
    }

    /// Handles what is pending on the monitor's descriptor.
    pub fn service(&mut self) -> Result<(), String> {
        match self {
            Monitor::Pcap(p) => {
                p.drain(256, |pkt| crate::log_debug!("pcap: {} bytes captured.", pkt.len()))?;
            }
        }
        Ok(())
    }
}
