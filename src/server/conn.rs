//! The normal-mode connection loop: read what the attacker sends, answer idle intervals with
//! the port's default response, end the session on EOF, error, idle timeout, read limit,
//! session limit or shutdown. Replaces `handle_connection_normal` and `send_default_response`
//! of the C original (dynsrv.c). Accepting, the attack record and the pipeline are the caller's
//! business; this module only talks to one connected stream and returns what it read and why it
//! stopped.
//!
//! The log lines at levels ≤ 5 are the C texts. Deliberate differences:
//! * The response policy is selectable ([`ResponsePolicy`], `response_policy` in
//!   honeytrap.conf(5)); the default is T-Pot's (once per connection). The armedpot fork's
//!   spurious `Error - Sending response failed` line is never written.
//! * `read_limit` is exact: at most `read_limit` bytes are kept (the C program kept up to one
//!   extra read of 8191 bytes beyond it).
//! * What is read goes into the caller's buffer ([`Intake`]), which also charges it to the
//!   daemon's memory budget for attack data: when the budget has no room for more, the
//!   session ends as at the read limit ([`EndReason::MemoryBudget`], with a warning at most
//!   once a second), and what was read survives a panic of the loop.
//! * An absolute session limit (new; the C program had none, so a slow sender could hold a
//!   handler forever).
//! * A zero `read_timeout` (`-r 0`) is taken as 1 s: the C `select()` with a zero timeout
//!   returned at once, so the peer got ten responses in a burst and was dropped within
//!   microseconds, which no one wants from a honeypot.
//! * A failed or short response write ends the session ([`EndReason::WriteError`], logged at
//!   NOISY); writes are bounded by [`WRITE_TIMEOUT`]. An empty response file sends nothing
//!   and keeps the session (upstream closed at the first idle interval).
//! * The shutdown flag is checked at least once per second, so a stopping daemon never
//!   waits for a session; the caller decides whether to process what was read.

use crate::budget::{self, Charge, Full, Intake};
use crate::log_debug;
use crate::log_info;
use crate::log_noisy;
use crate::log_warn;
use crate::sys::strerror;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes read per `read()` (the C buffer size).
pub const READ_CHUNK: usize = 8192;
/// More than this many consecutive idle intervals close the connection (11 × `read_timeout`).
pub const IDLE_LIMIT: u32 = 10;
/// Longest time spent writing one response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest single blocking wait, so that the shutdown flag is seen at least once a second.
const STEP: Duration = Duration::from_secs(1);
/// Idle interval used when `read_timeout` is zero.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(1);

pub use crate::config::ResponsePolicy;

/// What a session needs to know: everything the normal-mode loop needs about its
/// connection, and the part of [`super::udp::UdpParams`] every UDP flow shares with it.
#[derive(Clone, Debug)]
pub struct SessionParams {
    /// The idle interval (`-r`, default 1 s); zero is taken as [`DEFAULT_READ_TIMEOUT`].
    pub read_timeout: Duration,
    /// Most bytes kept from the attacker, for the log line (the caller's [`Intake`] enforces
    /// it); 0 = unlimited.
    pub read_limit: u32,
    /// Longest session (a connection from the call on, a UDP flow from its first datagram
    /// on); zero = no limit.
    pub session_limit: Duration,
    pub policy: ResponsePolicy,
    /// The port's response file; `None` sends a single `\n`.
    pub response: Option<Arc<[u8]>>,
    /// Log prefix `%5u/%s` (see [`crate::attack::portstr`]).
    pub portstr: String,
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The peer closed its side (EOF).
    PeerClosed,
    /// More than [`IDLE_LIMIT`] idle intervals in a row.
    IdleTimeout,
    /// `read_limit` bytes were read.
    ReadLimit,
    /// `session_limit` passed.
    SessionLimit,
    /// Reading failed (the text is the C library's `strerror`).
    ReadError(String),
    /// Sending the response failed or timed out.
    WriteError(String),
    /// The daemon's memory budget for attack data had no room for more.
    MemoryBudget,
    /// The handler panicked (the message); what was read before is kept.
    Panic(String),
    /// The daemon is stopping.
    Shutdown,
}

/// What one session produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Every byte read from the peer, in order (at most `read_limit` when one is set).
    pub data: Vec<u8>,
    pub end: EndReason,
    /// Bytes of responses written to the peer.
    pub sent: u64,
}

/// The idle interval actually used for `read_timeout`.
pub fn effective_interval(read_timeout: Duration) -> Duration {
    if read_timeout.is_zero() {
        DEFAULT_READ_TIMEOUT
    } else {
        read_timeout
    }
}

/// Serves one connection in normal mode until it ends; the stream is shut down (both
/// directions) on return. Never panics on what the peer does. What was read is kept in a
/// buffer of its own without budget; [`serve_normal_into`] reads into the caller's.
pub fn serve_normal(stream: &mut TcpStream, p: &SessionParams, stop: &AtomicBool) -> Session {
    let mut data = Intake::new(Charge::none(), p.read_limit);
    let mut sent = 0;
    let end = serve_normal_into(stream, p, stop, &mut data, &mut sent);
    Session { data: data.into_parts().0, end, sent }
}

/// [`serve_normal`] into buffers the caller owns, so that what was read (`data`, which also
/// enforces `read_limit` and the memory budget) and the bytes of responses written (`sent`)
/// survive a panic of the loop. Returns why the session ended.
pub fn serve_normal_into(
    stream: &mut TcpStream,
    p: &SessionParams,
    stop: &AtomicBool,
    data: &mut Intake,
    sent_bytes: &mut u64,
) -> EndReason {
    let start = Instant::now();
    let interval = effective_interval(p.read_timeout);
    let secs = interval.as_secs();
    let session_deadline = if p.session_limit.is_zero() { None } else { start.checked_add(p.session_limit) };
    let ps = &p.portstr;

    let mut buf = [0u8; READ_CHUNK];
    let mut idle = 0u32;
    let mut sent = false;
    let mut interval_start = start;
    let read_limit_hit = || {
        log_warn!("   {}  Warning - Read limit ({} bytes) hit. Closing connection.", ps, p.read_limit);
        EndReason::ReadLimit
    };
    // The receive timeout in force: set again only when it changes (after data it is the
    // whole interval again), a system call saved on most reads.
    let mut timeout_set = None;

    let end = match stream.set_nonblocking(false) {
        Err(e) => read_failed(ps, &e),
        Ok(()) => loop {
            if stop.load(Ordering::Relaxed) {
                log_debug!("   {}  Shutting down, closing connection.", ps);
                break EndReason::Shutdown;
            }
            let now = Instant::now();
            if session_deadline.is_some_and(|d| now >= d) {
                log_info!(
                    "   {}  Session limit ({} seconds) reached, closing connection.",
                    ps,
                    p.session_limit.as_secs()
                );
                break EndReason::SessionLimit;
            }
            // `None`: an interval too long to represent, i.e. never idle.
            let due = interval_start.checked_add(interval);
            if due.is_some_and(|d| now >= d) {
                idle += 1;
                if idle > IDLE_LIMIT {
                    log_info!("   {}  Timeout expired, closing connection.", ps);
                    break EndReason::IdleTimeout;
                }
                if p.policy == ResponsePolicy::Repeat || !sent {
                    sent = true;
                    let response: &[u8] = match &p.response {
                        Some(r) => {
                            log_noisy!("   {}  No data for {} second(s), sending default response.", ps, secs);
                            r
                        }
                        None => {
                            log_noisy!("   {}  No data for {} second(s), sending '\\n'.", ps, secs);
                            b"\n"
                        }
                    };
                    if let Err(e) = write_bounded(stream, response, stop) {
                        if stop.load(Ordering::Relaxed) {
                            log_debug!("   {}  Shutting down, closing connection.", ps);
                            break EndReason::Shutdown;
                        }
                        let s = strerror(&e);
                        log_noisy!("   {}  Could not send response: {}.", ps, s);
                        break EndReason::WriteError(s);
                    }
                    *sent_bytes += response.len() as u64;
                }
                interval_start = Instant::now();
                continue;
            }

            let mut wait = due.map_or(STEP, |d| d.saturating_duration_since(now)).min(STEP);
            if let Some(d) = session_deadline {
                wait = wait.min(d.saturating_duration_since(now));
            }
            // In whole milliseconds, rounded up (a zero read timeout is an error for
            // set_read_timeout), so that it is the same from one read to the next.
            let wait = Some(Duration::from_millis((wait.as_micros().div_ceil(1000) as u64).max(1)));
            if timeout_set != wait {
                if let Err(e) = stream.set_read_timeout(wait) {
                    break read_failed(ps, &e);
                }
                timeout_set = wait;
            }
            let want = READ_CHUNK.min(data.left());
            if want == 0 {
                break read_limit_hit();
            }
            match stream.read(&mut buf[..want]) {
                Ok(0) => {
                    let _ = stream.shutdown(Shutdown::Both);
                    log_info!("   {}  Connection closed by foreign host.", ps);
                    break EndReason::PeerClosed;
                }
                Ok(n) => {
                    log_info!("   {}* {} bytes read.", ps, n);
                    if data.push(&buf[..n]).1 == Some(Full::Budget) {
                        budget::warn_exhausted("  ", ps, data.budget_cap(), "connection");
                        break EndReason::MemoryBudget;
                    }
                    crate::fault::inject("connection");
                    idle = 0;
                    interval_start = Instant::now();
                    if data.at_limit() {
                        break read_limit_hit();
                    }
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => break read_failed(ps, &e),
            }
        },
    };
    if end != EndReason::PeerClosed {
        let _ = stream.shutdown(Shutdown::Both);
    }
    end
}

/// The message of a caught panic (`panic!` with a literal or a formatted text).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".to_string(),
    }
}

fn read_failed(ps: &str, e: &io::Error) -> EndReason {
    let s = strerror(e);
    log_noisy!("   {}  Could not read data: {}.", ps, s);
    EndReason::ReadError(s)
}

/// A timed-out or interrupted call: try again.
fn is_transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

/// Writes all of `data` within [`WRITE_TIMEOUT`], looking at `stop` at least once a second.
fn write_bounded(stream: &mut TcpStream, mut data: &[u8], stop: &AtomicBool) -> io::Result<()> {
    let deadline = Instant::now() + WRITE_TIMEOUT;
    while !data.is_empty() {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::from_raw_os_error(libc::ECANCELED));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
        }
        stream.set_write_timeout(Some(left.min(STEP).max(Duration::from_millis(1))))?;
        match stream.write(data) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (s, c)
    }

    fn params() -> SessionParams {
        SessionParams {
            read_timeout: Duration::from_secs(5),
            read_limit: 0,
            session_limit: Duration::ZERO,
            policy: ResponsePolicy::Once,
            response: None,
            portstr: crate::attack::portstr(1, crate::config::Proto::Tcp),
        }
    }

    #[test]
    fn zero_interval_is_one_second() {
        assert_eq!(effective_interval(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(effective_interval(Duration::from_millis(100)), Duration::from_millis(100));
        assert_eq!(ResponsePolicy::default(), ResponsePolicy::Once);
    }

    #[test]
    fn stop_flag_ends_within_a_second() {
        let (mut s, _c) = pair();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let h = thread::spawn(move || {
            let t = Instant::now();
            let r = serve_normal(&mut s, &params(), &st);
            (r, t.elapsed())
        });
        thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let (r, took) = h.join().unwrap();
        assert_eq!(r.end, EndReason::Shutdown);
        assert!(took < Duration::from_millis(200 + 1500), "{took:?}");
    }

    #[test]
    fn already_stopped_reads_nothing() {
        let (mut s, mut c) = pair();
        c.write_all(b"data").unwrap();
        let r = serve_normal(&mut s, &params(), &AtomicBool::new(true));
        assert_eq!((r.data, r.end), (Vec::new(), EndReason::Shutdown));
        // The stream was shut down: the client sees EOF.
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        assert!(matches!(c.read(&mut b), Ok(0) | Err(_)));
    }

    #[test]
    fn memory_budget_ends_the_session_with_what_was_read() {
        let (mut s, mut c) = pair();
        c.write_all(&[5u8; 40 << 10]).unwrap();
        // 16 KiB of the budget are left: two reads, the third one's bytes find no room.
        let budget = crate::budget::Budget::new(32 << 10);
        let mut other = budget.charge();
        assert!(other.try_grow(16 << 10));
        let mut data = Intake::new(budget.charge(), 0);
        let mut sent = 0;
        let end = serve_normal_into(&mut s, &params(), &AtomicBool::new(false), &mut data, &mut sent);
        assert_eq!(end, EndReason::MemoryBudget);
        assert_eq!(data.data(), &[5u8; 16 << 10][..]);
        assert_eq!(budget.used(), 32 << 10);
        drop((data, other));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn exact_read_limit_with_small_limit() {
        let (mut s, mut c) = pair();
        c.write_all(&[7u8; 100]).unwrap();
        let p = SessionParams { read_limit: 10, ..params() };
        let r = serve_normal(&mut s, &p, &AtomicBool::new(false));
        assert_eq!((r.data, r.end), (vec![7u8; 10], EndReason::ReadLimit));
    }
}
