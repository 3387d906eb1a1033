//! Detaching from the terminal (unless `-D`) with a readiness report: the process that the
//! shell started waits until the daemon has written its pid file, dropped privileges and
//! opened its monitor, and exits with the daemon's start-up status (the C original's parent
//! always exited 0, before the daemon had even started). Start-up errors that happen after
//! detaching reach the terminal through the same pipe.
//!
//! Descriptors: every descriptor the daemon opens has one owner (the log, an output, the
//! control pipe, a socket) that alone closes it. Detaching closes only what no part of the
//! daemon owns: the descriptors the process inherited from whoever started it, recorded by
//! [`Inherited::record`] before anything of ours is opened. The C original closed every
//! descriptor but the log file and its signal pipe, which worked because its plugins opened
//! their files only afterwards; here the outputs are opened before detaching (so that an
//! unusable path is reported on the terminal), and closing them would leave their owners
//! writing to closed or reused descriptor numbers.

use crate::sys::process::{self, Fork};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::RawFd;

/// The daemon's end of the readiness pipe.
pub struct Notifier {
    pipe: Option<File>,
}

impl Notifier {
    /// For a foreground process: reports nothing.
    pub fn none() -> Notifier {
        Notifier { pipe: None }
    }

    /// Start-up complete: the waiting parent exits 0.
    pub fn ready(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(&[0]);
        }
    }

    /// Start-up failed: the waiting parent prints `msg` to stderr and exits `status`.
    pub fn failed(&mut self, status: u8, msg: &str) {
        if let Some(mut p) = self.pipe.take() {
            let mut buf = vec![status.max(1)];
            buf.extend_from_slice(msg.as_bytes());
            let _ = p.write_all(&buf);
        }
    }
}

/// The descriptors above 2 the process was started with (a launching shell's, an init
/// system's): not ours, so a detaching daemon closes them and does not pass them on.
pub struct Inherited(Vec<RawFd>);

impl Inherited {
    /// Lists them; call before the process opens any descriptor of its own.
    pub fn record() -> Inherited {
        Inherited(process::open_fds())
    }
}

/// What the caller of [`detach`] is.
pub enum Detached {
    /// The original process: exit with this status.
    Parent(i32),
    /// The daemon.
    Daemon(Notifier),
}

/// Double fork, new session, `/` as working directory, standard descriptors on /dev/null,
/// the `inherited` descriptors closed; every descriptor the process opened itself stays
/// with its owner. The intermediate process prints `banner`. Must be called while the
/// process has one thread.
pub fn detach(banner: &str, inherited: Inherited) -> io::Result<Detached> {
    let (mut r, w) = process::pipe()?;
    match process::fork()? {
        Fork::Parent(_) => {
            drop(w);
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            return Ok(Detached::Parent(match buf.split_first() {
                Some((0, _)) => 0,
                Some((&status, msg)) => {
                    eprint!("{}", String::from_utf8_lossy(msg));
                    status as i32
                }
                // The daemon died before reporting.
                None => {
                    eprintln!("  Error - The daemon exited during start-up; see the log file.");
                    1
                }
            }));
        }
        Fork::Child => drop(r),
    }
    process::setsid()?;
    if let Fork::Parent(_) = process::fork()? {
        print!("{banner}");
        let _ = io::stdout().flush();
        std::process::exit(0);
    }
    process::umask(0o022);
    process::chdir(std::path::Path::new("/"))?;
    process::stdio_to_devnull()?;
    process::close_unowned(&inherited.0);
    Ok(Detached::Daemon(Notifier { pipe: Some(w) }))
}
