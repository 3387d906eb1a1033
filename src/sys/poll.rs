//! Waiting for descriptors to become readable (`poll(2)`), with a bounded timeout.
//!
//! Replaces the `select()` calls of the C original's monitor loops (pcap and nfq).

use super::cvt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

/// Waits until at least one of `fds` is readable or `timeout` passes (`None`: forever).
/// Returns one flag per descriptor, in order: readable, or in an error or hang-up state
/// (a read will then not block). All `false` means the timeout passed. Retries on `EINTR`
/// with the time that is left.
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let set: Vec<PollFd<'_>> = fds.iter().map(|&fd| PollFd { fd, read: true, write: false }).collect();
    Ok(poll_fds(&set, timeout)?.into_iter().map(|r| r.read).collect())
}

/// Interest in one descriptor for [`poll_fds`].
#[derive(Clone, Copy, Debug)]
pub struct PollFd<'a> {
    pub fd: BorrowedFd<'a>,
    pub read: bool,
    pub write: bool,
}

/// What [`poll_fds`] found for one descriptor. An error or hang-up state counts as ready for
/// each direction asked for (the next call will not block and reports the condition).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    pub read: bool,
    pub write: bool,
}

/// Waits until one of `fds` is ready for what was asked or `timeout` passes (`None`:
/// forever); returns one [`Ready`] per descriptor, in order, all `false` on timeout. Leave
/// out descriptors with no interest: the kernel reports errors and hang-ups even then, which
/// would end the wait at once every time. Retries on `EINTR` with the time that is left.
pub fn poll_fds(fds: &[PollFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<Ready>> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|p| {
            let mut events = 0;
            if p.read {
                events |= libc::POLLIN;
            }
            if p.write {
                events |= libc::POLLOUT;
            }
            libc::pollfd { fd: p.fd.as_raw_fd(), events, revents: 0 }
        })
        .collect();
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let ms: i32 = match (timeout, deadline) {
            (None, _) => -1,
            (Some(_), None) => i32::MAX,
            (Some(_), Some(d)) => {
                let left = d.saturating_duration_since(Instant::now());
                i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
            }
        };
        let nfds = libc::nfds_t::try_from(pollfds.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors"))?;
        // SAFETY: `pollfds` is a valid, writable array of `nfds` pollfd structures; the
        // descriptors are borrowed for the duration of the call.
        match cvt(unsafe { libc::poll(pollfds.as_mut_ptr(), nfds, ms) }) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let bad = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
    Ok(fds
        .iter()
        .zip(&pollfds)
        .map(|(want, p)| Ready {
            read: want.read && p.revents & (libc::POLLIN | bad) != 0,
            write: want.write && p.revents & (libc::POLLOUT | bad) != 0,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn readable_after_write_and_timeout_otherwise() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let start = Instant::now();
        let r = poll_readable(&[b.as_fd()], Some(Duration::from_millis(30))).unwrap();
        assert_eq!(r, [false]);
        assert!(start.elapsed() >= Duration::from_millis(25));
        a.write_all(b"x").unwrap();
        let r = poll_readable(&[a.as_fd(), b.as_fd()], Some(Duration::ZERO)).unwrap();
        assert_eq!(r, [false, true]);
        let r = poll_readable(&[b.as_fd()], None).unwrap();
        assert_eq!(r, [true]);
    }

    #[test]
    fn poll_fds_reports_read_and_write_interest() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let both = |a: &UnixStream, b: &UnixStream, t| {
            poll_fds(
                &[
                    PollFd { fd: a.as_fd(), read: true, write: false },
                    PollFd { fd: b.as_fd(), read: true, write: true },
                ],
                Some(t),
            )
            .unwrap()
        };
        // Nothing to read; `b` can be written at once.
        let r = both(&a, &b, Duration::from_millis(30));
        assert_eq!(r, [Ready::default(), Ready { read: false, write: true }]);
        a.write_all(b"x").unwrap();
        let r = both(&a, &b, Duration::ZERO);
        assert_eq!(r, [Ready::default(), Ready { read: true, write: true }]);
        // Only read interest on an empty socket: a timeout.
        let start = Instant::now();
        let r = poll_fds(&[PollFd { fd: a.as_fd(), read: true, write: false }], Some(Duration::from_millis(30)));
        assert_eq!(r.unwrap(), [Ready::default()]);
        assert!(start.elapsed() >= Duration::from_millis(25));
    }
}
