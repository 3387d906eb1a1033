//! The pcap monitor (SPEC §5.2): watches the local kernel's refusals — outgoing TCP RSTs with
//! sequence number 0 and ICMP port-unreachable messages — which mean "someone tried a port
//! nobody serves". This module opens the capture with the original's filter; turning packets
//! into connection requests is detect.rs's job.

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};

/// The original's capture filter, before the address and user clauses.
pub const BASE_FILTER: &str = "((tcp[13] & 0x04 != 0 and tcp[4:4] == 0) or (icmp[0] == 3 and icmp[1] == 3))";

/// Snap length and read timeout of the original.
pub const SNAPLEN: i32 = 8192;
pub const READ_TIMEOUT_MS: i32 = 10;

/// Builds the capture filter (exact text of the original): the base filter, then
/// ` and (src host <A>)` for `-a`, else ` and (src host (<ip1> or <ip2> …))` for the
/// interface's IPv4 addresses (none: no clause), then ` and (<expr>)` for the command-line
/// expression.
pub fn build_filter(address: Option<&str>, if_addrs: &[Ipv4Addr], expr: Option<&str>) -> String {
    let mut f = BASE_FILTER.to_string();
    if let Some(a) = address {
        f.push_str(&format!(" and (src host {a})"));
    } else if !if_addrs.is_empty() {
        let list: Vec<String> = if_addrs.iter().map(|a| a.to_string()).collect();
        f.push_str(&format!(" and (src host ({}))", list.join(" or ")));
    }
    if let Some(e) = expr.filter(|e| !e.is_empty()) {
        f.push_str(&format!(" and ({e})"));
    }
    f
}

/// Resolves `-a`: an IPv4 literal, or a host name looked up once.
pub fn resolve_address(a: &str) -> Option<Ipv4Addr> {
    if let Ok(ip) = a.parse::<Ipv4Addr>() {
        return Some(ip);
    }
    (a, 0).to_socket_addrs().ok()?.find_map(|s| match s.ip() {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    })
}

/// The first usable capture device (`pcap_lookupdev` of the original).
pub fn default_device() -> Result<String, String> {
    match pcap::Device::lookup() {
        Ok(Some(d)) => Ok(d.name),
        Ok(None) => Err("No suitable device found.".into()),
        Err(e) => Err(format!("Unable to find a default device: {e}.")),
    }
}

/// IPv4 addresses of `dev` (`any`: of every device). Unknown device: error.
pub fn device_addresses(dev: &str) -> Result<Vec<Ipv4Addr>, String> {
    let devs = pcap::Device::list().map_err(|e| format!("Unable to list devices: {e}."))?;
    let v4 = |d: &pcap::Device| -> Vec<Ipv4Addr> {
        d.addresses
            .iter()
            .filter_map(|a| match a.addr {
                IpAddr::V4(v) => Some(v),
                IpAddr::V6(_) => None,
            })
            .collect()
    };
    if dev == "any" {
        return Ok(devs.iter().flat_map(v4).collect());
    }
    devs.iter().find(|d| d.name == dev).map(v4).ok_or_else(|| format!("No such interface: {dev}."))
}

/// An open capture.
pub struct PcapMonitor {
    pub device: String,
    pub filter: String,
    cap: pcap::Capture<pcap::Active>,
}

impl PcapMonitor {
    /// Opens `device` with the filter. Errors carry the original's message texts.
    pub fn open(device: &str, filter: &str, promisc: bool) -> Result<PcapMonitor, String> {
        let cap = pcap::Capture::from_device(device)
            .and_then(|c| c.promisc(promisc).snaplen(SNAPLEN).timeout(READ_TIMEOUT_MS).immediate_mode(true).open())
            .map_err(|e| format!("Could not open {device} for sniffing: {e}. Do you have root privileges?"))?;
        let mut cap = cap.setnonblock().map_err(|e| format!("Could not set {device} non-blocking: {e}."))?;
        cap.filter(filter, true).map_err(|e| format!("Unable to set packet filter '{filter}': {e}."))?;
        Ok(PcapMonitor { device: device.to_string(), filter: filter.to_string(), cap })
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsRawFd;
        crate::sys::borrow_fd(self.cap.as_raw_fd(), self)
    }

    /// Reads what is pending (at most `max` packets) and hands each to `f`.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize, String> {
        let mut n = 0;
        while n < max {
            match self.cap.next_packet() {
                Ok(p) => {
                    f(p.data);
                    n += 1;
                }
                Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => break,
                Err(e) => return Err(format!("Error while reading from {}: {e}.", self.device)),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_text_matches_the_original() {
        assert_eq!(
            build_filter(None, &[Ipv4Addr::LOCALHOST], None),
            "((tcp[13] & 0x04 != 0 and tcp[4:4] == 0) or (icmp[0] == 3 and icmp[1] == 3)) and (src host (127.0.0.1))"
        );
        assert_eq!(
            build_filter(None, &[Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 168, 1, 2)], Some("not port 22")),
            format!("{BASE_FILTER} and (src host (10.0.0.1 or 192.168.1.2)) and (not port 22)")
        );
        assert_eq!(
            build_filter(Some("1.2.3.4"), &[Ipv4Addr::LOCALHOST], None),
            format!("{BASE_FILTER} and (src host 1.2.3.4)")
        );
        assert_eq!(build_filter(None, &[], None), BASE_FILTER);
    }

    #[test]
    fn address_resolution() {
        assert_eq!(resolve_address("127.0.0.1"), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(resolve_address("localhost"), Some(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn loopback_has_an_address() {
        assert!(device_addresses("lo").unwrap().contains(&Ipv4Addr::LOCALHOST));
        assert!(device_addresses("no-such-if0").unwrap_err().contains("No such interface: no-such-if0."));
    }
}
