//! Sockets the dynamic servers need that std cannot make: listeners with `SO_REUSEADDR`,
//! `IPV6_V6ONLY` (so that an IPv6 listener never takes the IPv4 port) and a large backlog;
//! TCP keep-alive; the file-descriptor limit.

use super::cvt;
use std::io;
use std::mem;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn setsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` lives for the call and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A `sockaddr_storage` holding `addr`, and its length.
fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// A socket of `kind` for `addr`'s family with SO_REUSEADDR (and IPV6_V6ONLY for IPv6),
/// bound to `addr`.
fn bound_socket(addr: &SocketAddr, kind: libc::c_int) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket creation.
    let fd = cvt(unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if addr.is_ipv6() {
        setsockopt_int(fd.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    let (ss, len) = sockaddr(addr);
    // SAFETY: `ss` holds a valid address of length `len`.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), &ss as *const _ as *const libc::sockaddr, len) })?;
    Ok(fd)
}

/// A listening TCP socket on `addr` with the given backlog (the kernel caps it at somaxconn).
pub fn tcp_listener(addr: &SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let fd = bound_socket(addr, libc::SOCK_STREAM)?;
    // SAFETY: listen on a bound stream socket.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(TcpListener::from(fd))
}

/// A bound UDP socket on `addr`.
pub fn udp_socket(addr: &SocketAddr) -> io::Result<UdpSocket> {
    Ok(UdpSocket::from(bound_socket(addr, libc::SOCK_DGRAM)?))
}

/// Turns TCP keep-alive on (as the C original did for every accepted connection).
pub fn set_keepalive(s: &TcpStream) -> io::Result<()> {
    setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)
}

/// Sets the kernel's send and/or receive buffer size of a socket (`SO_SNDBUF`/`SO_RCVBUF`;
/// Linux doubles the value and enforces a minimum). Bounds what one connection may queue.
pub fn set_buffer_sizes(s: &impl AsRawFd, send: Option<u32>, recv: Option<u32>) -> io::Result<()> {
    let int = |n: u32| libc::c_int::try_from(n).unwrap_or(libc::c_int::MAX);
    if let Some(n) = send {
        setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, int(n))?;
    }
    if let Some(n) = recv {
        setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, int(n))?;
    }
    Ok(())
}

/// Raises the soft limit of open files to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it.
    let mut rl: libc::rlimit = unsafe { mem::zeroed() };
    // SAFETY: `rl` is a valid out-pointer.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) })?;
    if rl.rlim_cur < rl.rlim_max {
        rl.rlim_cur = rl.rlim_max;
        // SAFETY: `rl` is a valid in-pointer.
        cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) })?;
    }
    Ok(rl.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn v4_and_v6_listeners_share_a_port_number() {
        let l4 = tcp_listener(&"127.0.0.1:0".parse().unwrap(), 128).unwrap();
        let port = l4.local_addr().unwrap().port();
        // Same port on IPv6: allowed because of IPV6_V6ONLY.
        if let Ok(l6) = tcp_listener(&format!("[::1]:{port}").parse().unwrap(), 128) {
            assert_eq!(l6.local_addr().unwrap().port(), port);
        }
        // A second IPv4 listener on the same port fails (one server per port).
        let e = tcp_listener(&format!("127.0.0.1:{port}").parse().unwrap(), 128).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE));
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut s, _) = l4.accept().unwrap();
        set_keepalive(&s).unwrap();
        c.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"x");
    }

    #[test]
    fn udp_and_nofile() {
        let u = udp_socket(&"127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(u.local_addr().unwrap().port(), 0);
        assert!(raise_nofile_limit().unwrap() >= 1024);
    }
}
