//! Sockets the dynamic servers need that std cannot make: listeners with `SO_REUSEADDR`,
//! `IPV6_V6ONLY` (so that an IPv6 listener never takes the IPv4 port) and a large backlog;
//! TCP keep-alive; the file-descriptor limit; UDP datagrams with their destination address
//! (`IP_PKTINFO` / `IPV6_RECVPKTINFO`) and replies sent from a chosen local address.

use super::cvt;
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn setsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` lives for the call and its size is passed; the kernel only reads it.
    // Every caller passes a descriptor it owns or borrows, so `fd` is open.
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
/// bound to `addr`; a datagram socket also reports each datagram's destination (pktinfo,
/// see [`recv_datagram`]), turned on before binding so that no datagram misses it.
fn bound_socket(addr: &SocketAddr, kind: libc::c_int) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: socket takes integers only; the descriptor it returns is owned right below.
    let fd = cvt(unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if addr.is_ipv6() {
        setsockopt_int(fd.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    if kind == libc::SOCK_DGRAM {
        set_pktinfo(fd.as_raw_fd(), addr.is_ipv4())?;
    }
    let (ss, len) = sockaddr(addr);
    // SAFETY: `ss` holds a valid address of length `len`.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), &ss as *const _ as *const libc::sockaddr, len) })?;
    Ok(fd)
}

/// A listening TCP socket on `addr` with the given backlog (the kernel caps it at somaxconn).
pub fn tcp_listener(addr: &SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let fd = bound_socket(addr, libc::SOCK_STREAM)?;
    // SAFETY: `fd` is owned here, so it is open for the call; listen passes no memory.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(TcpListener::from(fd))
}

/// A bound UDP socket on `addr`, reporting each datagram's destination (see
/// [`recv_datagram`]).
pub fn udp_socket(addr: &SocketAddr) -> io::Result<UdpSocket> {
    Ok(UdpSocket::from(bound_socket(addr, libc::SOCK_DGRAM)?))
}

/// Where a received datagram was sent to (from `IP_PKTINFO` / `IPV6_PKTINFO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PktInfo {
    /// The destination address of the datagram's IP header (may be a broadcast or multicast
    /// address).
    pub dst: IpAddr,
    /// The local address the kernel would answer from: IPv4 `ipi_spec_dst` (the receiving
    /// interface's address for a broadcast), IPv6 the header's destination again.
    pub spec_dst: IpAddr,
    /// The receiving interface.
    pub ifindex: u32,
}

/// One datagram received by [`recv_datagram`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Bytes stored in the buffer.
    pub len: usize,
    /// The sender.
    pub peer: SocketAddr,
    /// The destination, when the socket has [`set_recv_pktinfo`] on.
    pub pktinfo: Option<PktInfo>,
    /// The datagram was longer than the buffer and cut (`MSG_TRUNC`).
    pub truncated: bool,
}

/// Control-message buffer, aligned for `cmsghdr`; room for one pktinfo of either family.
#[repr(C, align(8))]
struct CmsgBuf([u8; 128]);

/// `size_of::<T>()` as the `c_uint` the CMSG_* macros take (pktinfo structs are tiny).
fn c_size<T>() -> libc::c_uint {
    mem::size_of::<T>() as libc::c_uint
}

/// Asks the kernel to report each datagram's destination address (`IP_PKTINFO` for an IPv4
/// socket, `IPV6_RECVPKTINFO` for an IPv6 one), for [`recv_datagram`].
///
/// Datagrams queued before the call carry only the header's destination address
/// ([`PktInfo::spec_dst`] unspecified, `ifindex` 0). [`udp_socket`] does this before binding.
pub fn set_recv_pktinfo(s: &UdpSocket) -> io::Result<()> {
    set_pktinfo(s.as_raw_fd(), s.local_addr()?.is_ipv4())
}

fn set_pktinfo(fd: RawFd, ipv4: bool) -> io::Result<()> {
    if ipv4 {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
    } else {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
    }
}

/// The address in `ss` (as filled by the kernel, `len` bytes), if it is IPv4 or IPv6.
fn socket_addr(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says `ss` holds a sockaddr_in, which fits in it; read_unaligned
            // makes no alignment assumption.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read_unaligned(ss as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read_unaligned(ss as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Receives one datagram without blocking (`MSG_DONTWAIT`: `WouldBlock` when none is
/// queued), with its sender and, if [`set_recv_pktinfo`] is on, its destination.
pub fn recv_datagram(s: &UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut name: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut cbuf = CmsgBuf([0; 128]);
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    // SAFETY: every pointer in `msg` refers to a live, writable buffer of the stated length
    // (`buf`, `name`, `cbuf`), all of which outlive the call.
    let n = cvt(unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) })?;
    let peer = socket_addr(&name, msg.msg_namelen)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram from an unknown address family"))?;
    let mut pktinfo = None;
    // SAFETY: `msg` was filled by recvmsg; its control fields describe `cbuf`.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR return null or a pointer to a complete, aligned
        // cmsghdr inside `cbuf`.
        let h = unsafe { &*cmsg };
        let data_len = (h.cmsg_len as usize).saturating_sub(
            // SAFETY: CMSG_LEN is pure arithmetic.
            unsafe { libc::CMSG_LEN(0) } as usize,
        );
        if h.cmsg_level == libc::IPPROTO_IP
            && h.cmsg_type == libc::IP_PKTINFO
            && data_len >= mem::size_of::<libc::in_pktinfo>()
        {
            // SAFETY: the header says an in_pktinfo follows it inside `cbuf`; read_unaligned
            // makes no alignment assumption.
            let pi: libc::in_pktinfo = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            pktinfo = Some(PktInfo {
                dst: IpAddr::V4(Ipv4Addr::from(pi.ipi_addr.s_addr.to_ne_bytes())),
                spec_dst: IpAddr::V4(Ipv4Addr::from(pi.ipi_spec_dst.s_addr.to_ne_bytes())),
                ifindex: u32::try_from(pi.ipi_ifindex).unwrap_or(0),
            });
        } else if h.cmsg_level == libc::IPPROTO_IPV6
            && h.cmsg_type == libc::IPV6_PKTINFO
            && data_len >= mem::size_of::<libc::in6_pktinfo>()
        {
            // SAFETY: as above, for in6_pktinfo.
            let pi: libc::in6_pktinfo = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            let dst = IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr));
            pktinfo = Some(PktInfo { dst, spec_dst: dst, ifindex: pi.ipi6_ifindex });
        }
        // SAFETY: `msg` and `cmsg` are valid as above; CMSG_NXTHDR checks the bounds.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(Datagram { len: (n as usize).min(buf.len()), peer, pktinfo, truncated: msg.msg_flags & libc::MSG_TRUNC != 0 })
}

/// Sends `data` as one datagram to `to` without blocking, from the local address `from` when
/// given (`IP_PKTINFO`/`IPV6_PKTINFO`; it must be an address of this host of `to`'s family),
/// else from the address the kernel picks for the socket. Returns the bytes sent.
pub fn send_datagram(s: &UdpSocket, data: &[u8], to: &SocketAddr, from: Option<IpAddr>) -> io::Result<usize> {
    let (ss, len) = sockaddr(to);
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    let mut cbuf = CmsgBuf([0; 128]);
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&ss as *const libc::sockaddr_storage as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = len;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    let (level, kind, size) = match (from, to) {
        (Some(IpAddr::V4(_)), SocketAddr::V4(_)) => (libc::IPPROTO_IP, libc::IP_PKTINFO, c_size::<libc::in_pktinfo>()),
        (Some(IpAddr::V6(_)), SocketAddr::V6(_)) => {
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, c_size::<libc::in6_pktinfo>())
        }
        _ => (0, 0, 0),
    };
    if size > 0 {
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE is pure arithmetic; the result (≤ 40) fits in `cbuf`.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(size) } as _;
        // SAFETY: msg_control points to `cbuf`, which is aligned for cmsghdr and at least
        // msg_controllen bytes long, so the first header and its data fit.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = level;
            (*c).cmsg_type = kind;
            (*c).cmsg_len = libc::CMSG_LEN(size) as _;
            match from {
                Some(IpAddr::V4(a)) => std::ptr::write_unaligned(
                    libc::CMSG_DATA(c).cast(),
                    libc::in_pktinfo {
                        ipi_ifindex: 0,
                        ipi_spec_dst: libc::in_addr { s_addr: u32::from_ne_bytes(a.octets()) },
                        ipi_addr: libc::in_addr { s_addr: 0 },
                    },
                ),
                Some(IpAddr::V6(a)) => std::ptr::write_unaligned(
                    libc::CMSG_DATA(c).cast(),
                    libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: a.octets() }, ipi6_ifindex: 0 },
                ),
                None => {}
            }
        }
    }
    // SAFETY: every pointer in `msg` refers to a live buffer of the stated length (`ss`,
    // `data`, `cbuf`); sendmsg only reads them.
    let n = cvt(unsafe { libc::sendmsg(s.as_raw_fd(), &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) })?;
    Ok(n as usize)
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

/// Stops a listening socket from accepting (`shutdown(SHUT_RDWR)`): the kernel resets its
/// pending connections and wakes every thread polling it; the port can be bound again at
/// once by a socket with SO_REUSEADDR, although the descriptor stays open until closed.
pub fn shutdown_listener(l: &TcpListener) -> io::Result<()> {
    // SAFETY: shutdown on a descriptor `l` owns; no memory is passed.
    cvt(unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) }).map(drop)
}

/// Every IPv4 and IPv6 address configured on the host's interfaces (`getifaddrs`), in the
/// network namespace of the calling thread.
pub fn interface_addrs() -> io::Result<Vec<IpAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head that we free below with freeifaddrs.
    cvt(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, valid until freeifaddrs.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose sa_family tells its real type.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: family AF_INET: the address is a whole sockaddr_in, which getifaddrs
                // stores suitably aligned.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
            } else if family == libc::AF_INET6 {
                // SAFETY: as above, family AF_INET6 and sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// A TCP connection to `remote` within `timeout`, from `local` (ephemeral port) when given:
/// download clients connect from the attacked address, so that the server sees (and
/// answers) the address the attacker talked to. A timeout is `ErrorKind::TimedOut`.
pub fn tcp_connect_from(
    local: Option<IpAddr>,
    remote: &SocketAddr,
    timeout: std::time::Duration,
) -> io::Result<TcpStream> {
    let family = if remote.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: socket takes integers only; the descriptor it returns is owned right below.
    let fd = cvt(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if let Some(ip) = local {
        let (ss, len) = sockaddr(&SocketAddr::new(ip, 0));
        // SAFETY: `ss` holds a valid address of length `len`.
        cvt(unsafe { libc::bind(fd.as_raw_fd(), &ss as *const _ as *const libc::sockaddr, len) })?;
    }
    let (ss, len) = sockaddr(remote);
    // SAFETY: `ss` holds a valid address of length `len`.
    if unsafe { libc::connect(fd.as_raw_fd(), &ss as *const _ as *const libc::sockaddr, len) } == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let want = super::poll::PollFd { fd: std::os::fd::AsFd::as_fd(&fd), read: false, write: true };
        if !super::poll::poll_fds(&[want], Some(timeout))?[0].write {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "connection timed out"));
        }
        let mut err: libc::c_int = 0;
        let mut elen = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `err` and `elen` are valid out-pointers of the stated size.
        cvt(unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                &mut err as *mut libc::c_int as *mut libc::c_void,
                &mut elen,
            )
        })?;
        if err != 0 {
            return Err(io::Error::from_raw_os_error(err));
        }
    }
    let s = TcpStream::from(fd);
    s.set_nonblocking(false)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn interface_addrs_include_loopback() {
        let addrs = interface_addrs().unwrap();
        assert!(addrs.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{:?}", addrs);
    }

    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn v4_and_v6_listeners_share_a_port_number() {
        let l4 = tcp_listener(&"127.0.0.1:0".parse().unwrap(), 128).unwrap();
        let port = l4.local_addr().unwrap().port();
        // Same port on IPv6: allowed because of IPV6_V6ONLY.
        let l6 = tcp_listener(&format!("[::1]:{port}").parse().unwrap(), 128).expect("IPv6 loopback");
        assert_eq!(l6.local_addr().unwrap().port(), port);
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

    #[test]
    fn datagram_destination_and_reply_source() {
        let u = udp_socket(&"0.0.0.0:0".parse().unwrap()).unwrap();
        set_recv_pktinfo(&u).unwrap();
        let port = u.local_addr().unwrap().port();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        // 127.0.0.2 is a loopback address too: only pktinfo can tell it apart.
        c.send_to(b"hello", ("127.0.0.2", port)).unwrap();
        let mut buf = [0u8; 3];
        let d = loop {
            match recv_datagram(&u, &mut buf) {
                Ok(d) => break d,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(d.peer, c.local_addr().unwrap());
        assert_eq!((d.len, d.truncated, &buf), (3, true, b"hel"));
        let pi = d.pktinfo.unwrap();
        assert_eq!(pi.dst, "127.0.0.2".parse::<IpAddr>().unwrap());
        assert_ne!(pi.ifindex, 0);
        assert_eq!(send_datagram(&u, b"re", &d.peer, Some(pi.spec_dst)).unwrap(), 2);
        let mut r = [0u8; 8];
        let (n, from) = c.recv_from(&mut r).unwrap();
        assert_eq!((&r[..n], from), (&b"re"[..], SocketAddr::new(pi.dst, port)));
        // Without pktinfo nothing is reported; no source address lets the kernel choose.
        let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.send_to(b"x", plain.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let d = recv_datagram(&plain, &mut r).unwrap();
        assert_eq!((d.len, d.pktinfo, d.truncated), (1, None, false));
        assert_eq!(send_datagram(&plain, b"", &d.peer, None).unwrap(), 0);
        assert_eq!(c.recv_from(&mut r).unwrap(), (0, plain.local_addr().unwrap()));
        assert_eq!(recv_datagram(&plain, &mut r).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn v6_datagram_destination() {
        let u = udp_socket(&"[::]:0".parse().unwrap()).expect("IPv6 socket");
        let c = UdpSocket::bind("[::1]:0").expect("IPv6 loopback");
        set_recv_pktinfo(&u).unwrap();
        let port = u.local_addr().unwrap().port();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        c.send_to(b"v6", ("::1", port)).unwrap();
        let mut buf = [0u8; 16];
        let poll =
            crate::sys::poll::poll_readable(&[std::os::fd::AsFd::as_fd(&u)], Some(std::time::Duration::from_secs(5)));
        assert_eq!(poll.unwrap(), [true]);
        let d = recv_datagram(&u, &mut buf).unwrap();
        let pi = d.pktinfo.unwrap();
        assert_eq!(pi.dst, "::1".parse::<IpAddr>().unwrap());
        send_datagram(&u, b"ok", &d.peer, Some(pi.spec_dst)).unwrap();
        let mut r = [0u8; 8];
        assert_eq!(c.recv_from(&mut r).unwrap(), (2, SocketAddr::new(pi.dst, port)));
    }

    #[test]
    fn connect_from_a_chosen_address() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = l.local_addr().unwrap();
        let t = std::time::Duration::from_secs(5);
        let s = tcp_connect_from(Some("127.0.0.3".parse().unwrap()), &to, t).unwrap();
        let (_, peer) = l.accept().unwrap();
        assert_eq!((peer, s.peer_addr().unwrap()), (s.local_addr().unwrap(), to));
        assert_eq!(peer.ip(), "127.0.0.3".parse::<IpAddr>().unwrap());
        assert!(tcp_connect_from(None, &to, t).is_ok());
        drop(l);
        let e = tcp_connect_from(None, &to, t).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        // An address this host does not have cannot be bound.
        assert!(tcp_connect_from(Some("192.0.2.1".parse().unwrap()), &to, t).is_err());
    }
}
