//! Which addresses a download may connect to, and host name resolution with a deadline.
//!
//! Attack strings, PASV replies and redirects are attacker-controlled: without a check, an
//! attacker could make the sensor connect to its own loopback services, to link-local metadata
//! endpoints or to multicast groups. Private (RFC 1918, ULA) addresses are allowed: sensors and
//! the servers that feed them often share a private network, and the `replace_private_ips` key
//! decides what happens to them (honeytrap.conf(5)).

use super::Error;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

/// The address check every client applies before it connects or sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// `download_allow_local = yes`: loopback, link-local, multicast, unspecified and the
    /// sensor's own addresses are allowed too (lab set-ups).
    pub allow_local: bool,
    /// The sensor's own addresses (every interface), refused unless `allow_local`.
    pub sensor: Vec<IpAddr>,
}

impl Policy {
    /// `Ok` if a download may connect to `ip`, else `Err(Error::Refused)` saying why.
    pub fn check(&self, ip: IpAddr) -> Result<(), Error> {
        if self.allow_local {
            return Ok(());
        }
        let ip = canonical(ip);
        let why = if ip.is_loopback() {
            "loopback address"
        } else if ip.is_unspecified() {
            "unspecified address"
        } else if ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            "multicast or broadcast address"
        } else if is_link_local(ip) {
            "link-local address"
        } else if self.sensor.iter().any(|&s| canonical(s) == ip) {
            "the sensor's own address"
        } else {
            return Ok(());
        };
        Err(Error::Refused(format!("{} is a {}", ip, why)))
    }
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they stand for.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Whether `replace_private_ips` replaces `ip` by the attacker's address (with a correct test,
/// unlike the C original's): RFC 1918 and IPv6 unique-local addresses, and the "invalid" ones
/// of the C original (first or last octet 0, 255.255.255.255), plus loopback and link-local.
pub fn is_private_or_invalid(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || o[0] == 0 || o[3] == 0 || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00 || is_link_local(v6.into())
        }
    }
}

/// The addresses of `host` (a name or an address literal, IPv6 without brackets) with
/// `port`. Literals are parsed without a lookup; names go through the system resolver on a
/// helper thread, so that the wait ends at `deadline` even when the resolver hangs.
pub fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host.is_empty() || host.len() > 253 || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) {
        return Err(Error::Resolve(format!("{:?}: not a host name", host)));
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
        })
        .map_err(Error::Io)?;
    let wait = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(wait) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(Error::Resolve(format!("{}: no address", host))),
        Ok(Err(e)) => Err(Error::Resolve(format!("{}: {}", host, crate::sys::strerror(&e)))),
        Err(_) => Err(Error::Resolve(format!("{}: resolver timeout", host))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_local_addresses() {
        let p = Policy { allow_local: false, sensor: vec![ip("10.77.0.1"), ip("2001:db8::1")] };
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            "ff02::1",
            "169.254.169.254",
            "fe80::1",
            "10.77.0.1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.77.0.1",
        ] {
            assert!(matches!(p.check(ip(bad)), Err(Error::Refused(_))), "{}", bad);
        }
        for good in ["10.77.0.2", "192.168.1.5", "8.8.8.8", "2001:db8::2", "fd00::5", "::ffff:1.2.3.4"] {
            assert!(p.check(ip(good)).is_ok(), "{}", good);
        }
        let open = Policy { allow_local: true, sensor: p.sensor.clone() };
        assert!(open.check(ip("127.0.0.1")).is_ok() && open.check(ip("10.77.0.1")).is_ok());
    }

    #[test]
    fn private_test_is_rfc1918_not_the_c_masks() {
        for private in ["10.1.2.3", "172.16.0.9", "172.31.255.254", "192.168.0.7", "1.2.3.0", "0.1.2.3", "fd12::1"] {
            assert!(is_private_or_invalid(ip(private)), "{}", private);
        }
        // 8.8.8.8 and 64.0.x counted as private in the C original.
        for public in ["8.8.8.8", "64.0.1.2", "172.32.0.1", "192.169.0.1", "2001:db8::1"] {
            assert!(!is_private_or_invalid(ip(public)), "{}", public);
        }
    }

    #[test]
    fn resolve_literals_and_garbage() {
        let far = Instant::now() + Duration::from_secs(5);
        assert_eq!(resolve("1.2.3.4", 21, far).unwrap(), vec!["1.2.3.4:21".parse().unwrap()]);
        assert_eq!(resolve("2001:db8::7", 69, far).unwrap(), vec!["[2001:db8::7]:69".parse().unwrap()]);
        for bad in ["", "a b", "x;rm -rf /", "host:80", &"a".repeat(300)] {
            assert!(matches!(resolve(bad, 80, far), Err(Error::Resolve(_))), "{:?}", bad);
        }
        assert_eq!(resolve("localhost", 80, far).map(|a| a.iter().all(|s| s.ip().is_loopback())).ok(), Some(true));
    }
}
