//! Waiting for descriptors to become readable (`poll(2)`), with a bounded timeout.
//!
//! Replaces the `select()` calls of the C original's monitor loops (SPEC §5.2, §5.3).

use super::cvt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

/// Waits until at least one of `fds` is readable or `timeout` passes (`None`: forever).
/// Returns one flag per descriptor, in order: readable, or in an error or hang-up state
/// (a read will then not block). All `false` means the timeout passed. Retries on `EINTR`
/// with the time that is left.
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pollfds: Vec<libc::pollfd> =
        fds.iter().map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let ms: i32 = match (timeout, deadline) {
            (None, _) => -1,
            // A timeout too large for an Instant: wait as long as poll allows.
            (Some(_), None) => i32::MAX,
            (Some(_), Some(d)) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so a short positive wait does not become a busy 0.
                let ms = left.as_nanos().div_ceil(1_000_000);
                i32::try_from(ms).unwrap_or(i32::MAX)
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
    let ready = libc::POLLIN | libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
    Ok(pollfds.iter().map(|p| p.revents & ready != 0).collect())
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
}
