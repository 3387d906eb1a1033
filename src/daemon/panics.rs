//! The daemon's panic hook: every panic, in any thread, becomes a log line with the thread's
//! name, the message and the place in the source, in the log file (and so in syslog when the
//! syslog output mirrors the log), also when the daemon is detached and stderr is /dev/null.
//! New in this program: the C original had no such report (a crashing handler process simply
//! vanished).
//!
//! What happens after the line is the business of the thread's owner: a connection or a
//! pipeline stage ends alone, a listener frees its port, the signal thread and the monitor
//! loop stop the daemon with [`super::EXIT_PANIC`].
//!
//! The hook must not panic (that aborts the process) and must not wait for a lock the
//! panicking thread may hold: it writes through [`log::write_unblocked`], counts its rate
//! with atomics only, and reads the thread's name with `thread::current`, which the standard
//! library keeps usable even in its thread-local destructors (this program registers no
//! foreign ones).

use crate::log::{self, Level};
use crate::sys::time;
use std::any::Any;
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Most panic lines written per minute; the panics beyond are counted and the count is given
/// with the next line (a bug hit by every attack must not fill the disk).
const LINES_PER_MINUTE: u64 = 10;

/// Installs the hook in place of Rust's, which writes to stderr (/dev/null when detached; a
/// pipe that may block under a service manager) and may spend seconds on a backtrace. With
/// `-D` the log line is copied to stdout like every other.
pub fn install() {
    std::panic::set_hook(Box::new(report));
}

fn report(info: &PanicHookInfo<'_>) {
    let Some(quiet) = RATE.admit(time::now_secs()) else { return };
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("unnamed");
    let place = info
        .location()
        .map_or_else(|| "an unknown place".to_string(), |l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
    let more = if quiet > 0 { format!(" ({quiet} more panics since the last line)") } else { String::new() };
    log::write_unblocked(
        Level::Err,
        format_args!("Error - Thread '{}' panicked at {}: {}{}", name, place, message(info.payload()), more),
    );
}

/// The text of a panic's payload (`panic!` makes a `&str` or a `String`).
fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// A lock-free limit of [`LINES_PER_MINUTE`] (approximate under races, never blocking).
struct Rate {
    minute: AtomicI64,
    lines: AtomicU64,
    quiet: AtomicU64,
}

static RATE: Rate = Rate { minute: AtomicI64::new(i64::MIN), lines: AtomicU64::new(0), quiet: AtomicU64::new(0) };

impl Rate {
    /// `Some(n)` when a line may be written at `now` (`n` panics were kept quiet before it),
    /// `None` when this one is to be counted only.
    fn admit(&self, now: i64) -> Option<u64> {
        let minute = now.div_euclid(60);
        if self.minute.swap(minute, Ordering::Relaxed) != minute {
            self.lines.store(0, Ordering::Relaxed);
        }
        if self.lines.fetch_add(1, Ordering::Relaxed) < LINES_PER_MINUTE {
            Some(self.quiet.swap(0, Ordering::Relaxed))
        } else {
            self.quiet.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_lets_ten_lines_a_minute_through_and_counts_the_rest() {
        let r = Rate { minute: AtomicI64::new(i64::MIN), lines: AtomicU64::new(0), quiet: AtomicU64::new(0) };
        let t = 6_000_000;
        for _ in 0..LINES_PER_MINUTE {
            assert_eq!(r.admit(t), Some(0));
        }
        assert_eq!(r.admit(t + 59), None);
        assert_eq!(r.admit(t + 30), None);
        assert_eq!(r.admit(t + 60), Some(2), "the next minute tells how many were kept quiet");
        assert_eq!(r.admit(t + 61), Some(0));
    }

    #[test]
    fn payload_text() {
        assert_eq!(message(&"static"), "static");
        assert_eq!(message(&String::from("formatted 7")), "formatted 7");
        assert_eq!(message(&42u32), "(no message)");
    }
}
