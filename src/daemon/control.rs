//! One model for signals and shutdown (docs/COMPATIBILITY.md, Signals and lifecycle): the
//! signals are registered before any thread starts; one named thread turns them into requests
//! on a shared [`Control`], which wakes the monitor loop through a pipe. SIGTERM, SIGINT and
//! SIGQUIT request a clean stop, SIGHUP a reload, SIGUSR1 the `Statistics` line (the original
//! died of it). SIGPIPE is ignored (the original died of it mid-connection).
//!
//! A panic of the signal thread would leave a daemon deaf to SIGTERM and SIGHUP: the thread
//! turns it into a failed stop instead ([`Control::fail`]), which drains the connections,
//! removes the pid file and exits with a non-zero status.

use crate::sys::process;
use signal_hook::consts::{SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

/// The shutdown token and reload request shared by every loop.
pub struct Control {
    shutdown: AtomicBool,
    /// The stop was asked for because a thread the daemon needs failed.
    failed: AtomicBool,
    reload: AtomicBool,
    stats: AtomicBool,
    wake_r: File,
    wake_w: File,
}

impl Control {
    pub fn new() -> io::Result<Control> {
        let (r, w) = process::pipe()?;
        process::set_nonblocking(r.as_fd())?;
        process::set_nonblocking(w.as_fd())?;
        Ok(Control {
            shutdown: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            reload: AtomicBool::new(false),
            stats: AtomicBool::new(false),
            wake_r: r,
            wake_w: w,
        })
    }

    fn wake(&self) {
        // A full pipe already guarantees a wake-up; ignore EAGAIN.
        let _ = (&self.wake_w).write(&[1]);
    }

    /// Asks every loop to stop.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Asks every loop to stop because a part the daemon cannot run without failed.
    pub fn fail(&self) {
        self.failed.store(true, Ordering::SeqCst);
        self.shutdown();
    }

    /// Whether the stop comes from [`Control::fail`].
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    pub fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    pub fn request_reload(&self) {
        self.reload.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Returns whether a reload was requested, and clears the request.
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::SeqCst)
    }

    pub fn request_stats(&self) {
        self.stats.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Returns whether the `Statistics` line was asked for, and clears the request.
    pub fn take_stats(&self) -> bool {
        self.stats.swap(false, Ordering::SeqCst)
    }

    /// The descriptor to poll for wake-ups.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_r.as_fd()
    }

    /// Empties the wake-up pipe after a wake-up.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        for _ in 0..64 {
            match (&self.wake_r).read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                _ => break,
            }
        }
    }
}

/// Registers the handled signals (call before any thread is spawned) and ignores SIGPIPE.
pub fn register() -> io::Result<Signals> {
    process::ignore_signal(SIGPIPE)?;
    Signals::new([SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1])
}

/// Stops the daemon when the signal thread unwinds from a panic (the hook has logged it).
struct FailOnPanic(Arc<Control>);

impl Drop for FailOnPanic {
    fn drop(&mut self) {
        if thread::panicking() {
            crate::log_err!("Error - The signal thread failed, stopping.");
            self.0.fail();
        }
    }
}

/// Starts the signal thread.
pub fn spawn(mut signals: Signals, ctl: Arc<Control>) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new().name("signals".into()).spawn(move || {
        let _guard = FailOnPanic(Arc::clone(&ctl));
        for sig in signals.forever() {
            crate::fault::inject("signal-thread");
            match sig {
                SIGHUP => ctl.request_reload(),
                SIGUSR1 => ctl.request_stats(),
                _ => {
                    crate::log_debug!("Signal {} received, stopping.", sig);
                    ctl.shutdown();
                }
            }
        }
    })
}
