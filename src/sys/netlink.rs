//! A netlink socket talking to the kernel: open, bind, buffer sizes, send and receive of
//! whole datagrams. It knows nothing about message contents (that is `wire::nfnetlink`)
//! nor about queues (that is `monitor::nfq`).
//!
//! Replaces the socket half of libnfnetlink that the C original used through libnetfilter_queue
//! (`nfq_open`, `nfq_fd`, `recv`, `nfnl_rcvbufsiz`).

use super::cvt;
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `NETLINK_NETFILTER`, the netlink protocol of nfnetlink (linux/netlink.h).
pub const NETLINK_NETFILTER: i32 = libc::NETLINK_NETFILTER;

/// A received datagram: its length and who sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes of the datagram written to the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer; the rest is lost.
    pub truncated: bool,
    /// The sender's port id: 0 for the kernel, anything else for another process.
    pub sender: u32,
}

/// A bound `AF_NETLINK` socket (`SOCK_RAW`, close-on-exec). The kernel assigns the port id.
#[derive(Debug)]
pub struct NetlinkSocket {
    fd: OwnedFd,
    /// Read by the tests only.
    #[cfg_attr(not(test), allow(dead_code))]
    portid: u32,
}

fn sockaddr_nl(pid: u32) -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value (AF_UNSPEC, pid 0).
    let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_pid = pid;
    addr.nl_groups = 0;
    addr
}

const SOCKADDR_NL_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;

impl NetlinkSocket {
    /// Opens a netlink socket for `protocol` (e.g. [`NETLINK_NETFILTER`]) and binds it to
    /// port id 0, so the kernel picks a unique one.
    pub fn open(protocol: i32) -> io::Result<NetlinkSocket> {
        // SAFETY: plain system call with constant arguments; no pointers.
        let raw = cvt(unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) })?;
        // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let addr = sockaddr_nl(0);
        // SAFETY: `addr` is a valid sockaddr_nl and the length passed is its size.
        cvt(unsafe { libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_nl).cast(), SOCKADDR_NL_LEN) })?;

        let mut bound = sockaddr_nl(0);
        let mut len = SOCKADDR_NL_LEN;
        // SAFETY: `bound` is writable for `len` bytes and `len` is a valid in/out pointer.
        cvt(unsafe { libc::getsockname(fd.as_raw_fd(), (&mut bound as *mut libc::sockaddr_nl).cast(), &mut len) })?;
        Ok(NetlinkSocket { fd, portid: bound.nl_pid })
    }

    /// The port id the kernel assigned at bind time.
    #[cfg(test)]
    pub fn portid(&self) -> u32 {
        self.portid
    }

    fn setsockopt_int(&self, level: i32, name: i32, value: i32) -> io::Result<()> {
        // SAFETY: `value` is a valid c_int for the duration of the call; length matches.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&value as *const i32).cast(),
                mem::size_of::<i32>() as libc::socklen_t,
            )
        })?;
        Ok(())
    }

    fn getsockopt_int(&self, level: i32, name: i32) -> io::Result<i32> {
        let mut value: i32 = 0;
        let mut len = mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: `value` is writable for `len` bytes and `len` is a valid in/out pointer.
        cvt(unsafe { libc::getsockopt(self.fd.as_raw_fd(), level, name, (&mut value as *mut i32).cast(), &mut len) })?;
        Ok(value)
    }

    /// Sets the receive buffer to `bytes`. Tries `SO_RCVBUFFORCE` first (needs
    /// CAP_NET_ADMIN, ignores `net.core.rmem_max`), then `SO_RCVBUF` (capped by rmem_max).
    /// Returns the size the kernel reports afterwards (it doubles the request for its
    /// bookkeeping).
    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<usize> {
        let value = i32::try_from(bytes).unwrap_or(i32::MAX);
        if self.setsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, value).is_err() {
            self.setsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUF, value)?;
        }
        let now = self.getsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUF)?;
        Ok(usize::try_from(now).unwrap_or(0))
    }

    /// With `on`, the kernel no longer reports receive-buffer overruns as `ENOBUFS` from
    /// `recv`; messages that do not fit are simply not delivered.
    pub fn set_no_enobufs(&self, on: bool) -> io::Result<()> {
        self.setsockopt_int(libc::SOL_NETLINK, libc::NETLINK_NO_ENOBUFS, i32::from(on))
    }

    /// Sends one datagram (one or more netlink messages) to the kernel (port id 0).
    /// Retries on `EINTR`; a short send is an error.
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        let addr = sockaddr_nl(0);
        loop {
            // SAFETY: `msg` is readable for its length; `addr` is a valid sockaddr_nl of
            // the length passed.
            let ret = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    msg.as_ptr().cast(),
                    msg.len(),
                    0,
                    (&addr as *const libc::sockaddr_nl).cast(),
                    SOCKADDR_NL_LEN,
                )
            };
            match cvt(ret) {
                Ok(n) if usize::try_from(n).ok() == Some(msg.len()) => return Ok(()),
                Ok(n) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("netlink send: {n} of {} bytes sent", msg.len()),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives one datagram into `buf`, blocking unless `nonblocking`. Retries on `EINTR`.
    /// A nonblocking call with nothing to read fails with `WouldBlock`.
    pub fn recv(&self, buf: &mut [u8], nonblocking: bool) -> io::Result<Received> {
        // MSG_TRUNC: return the datagram's real length so truncation can be detected.
        let flags = libc::MSG_TRUNC | if nonblocking { libc::MSG_DONTWAIT } else { 0 };
        loop {
            let mut from = sockaddr_nl(0);
            let mut from_len = SOCKADDR_NL_LEN;
            // SAFETY: `buf` is writable for its length; `from` is writable for `from_len`
            // bytes and `from_len` is a valid in/out pointer.
            let ret = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    flags,
                    (&mut from as *mut libc::sockaddr_nl).cast(),
                    &mut from_len,
                )
            };
            match cvt(ret) {
                Ok(n) => {
                    let full = usize::try_from(n).unwrap_or(0);
                    return Ok(Received { len: full.min(buf.len()), truncated: full > buf.len(), sender: from.nl_pid });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsRawFd for NetlinkSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::poll::poll_readable;
    use std::time::Duration;

    /// NETLINK_ROUTE needs no privileges: an RTM_GETLINK dump request must be answered,
    /// which exercises open, bind, send, poll and recv without root.
    #[test]
    fn route_socket_round_trip() {
        let sock = NetlinkSocket::open(libc::NETLINK_ROUTE).expect("netlink route socket");
        assert_ne!(sock.portid(), 0);
        assert!(sock.set_recv_buffer(1 << 16).unwrap() >= 1 << 16);
        sock.set_no_enobufs(true).unwrap();

        // nlmsghdr + struct rtgenmsg (1 byte, padded to 4).
        let mut req = Vec::new();
        req.extend_from_slice(&20u32.to_ne_bytes());
        req.extend_from_slice(&libc::RTM_GETLINK.to_ne_bytes());
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        req.extend_from_slice(&flags.to_ne_bytes());
        req.extend_from_slice(&77u32.to_ne_bytes());
        req.extend_from_slice(&0u32.to_ne_bytes());
        req.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
        sock.send(&req).unwrap();

        let ready = poll_readable(&[sock.as_fd()], Some(Duration::from_secs(5))).unwrap();
        assert_eq!(ready, [true]);
        let mut buf = vec![0u8; 1 << 16];
        let got = sock.recv(&mut buf, true).unwrap();
        assert_eq!(got.sender, 0);
        assert!(!got.truncated);
        assert!(got.len >= 16);
        let seq = u32::from_ne_bytes(buf[8..12].try_into().unwrap());
        assert_eq!(seq, 77);
    }

    #[test]
    fn nonblocking_recv_on_idle_socket_would_block() {
        let sock = NetlinkSocket::open(libc::NETLINK_ROUTE).unwrap();
        let mut buf = [0u8; 64];
        let err = sock.recv(&mut buf, true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let ready = poll_readable(&[sock.as_fd()], Some(Duration::from_millis(10))).unwrap();
        assert_eq!(ready, [false]);
    }
}
