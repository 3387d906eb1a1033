//! The error that stops the daemon: at start-up (configuration, outputs, monitor, pid file,
//! privileges, the system calls of detaching) or in the monitor loop. Each part returns an
//! error of its own, without any prefix; this type wraps them and is the one place that
//! puts the `Error - ` of the C original's messages in front.

use super::pidfile::PidFileError;
use super::privileges::PrivilegeError;
use crate::config::LoadError;
use crate::monitor::MonitorError;
use crate::pipeline::output::OutputError;
use crate::server::engine::SettingsError;
use crate::sys::strerror;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why the daemon cannot start, or stopped. Its text is the whole message: `Error - ` and
/// the part's text (printed after two spaces on the console, logged as it is).
#[derive(Debug)]
pub enum Error {
    Load(LoadError),
    /// The data directories of the built-in configuration could not be made.
    DataDirs(io::Error),
    Settings(SettingsError),
    Output(OutputError),
    Monitor(MonitorError),
    LogFile {
        path: PathBuf,
        err: io::Error,
    },
    Daemonize(io::Error),
    ControlPipe(io::Error),
    Signals(io::Error),
    PidFile(PidFileError),
    Privileges(PrivilegeError),
    SignalThread(io::Error),
    /// `metrics_listen` could not be bound.
    Metrics {
        addr: std::net::SocketAddr,
        err: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // logJSON's texts carry the fork's own `ERROR:` instead.
            Error::Output(e) if e.has_own_marker() => return write!(f, "{e}"),
            _ => f.write_str("Error - ")?,
        }
        match self {
            Error::Load(e) => write!(f, "{e}"),
            Error::DataDirs(e) => {
                write!(f, "Unable to create the data directories of the built-in configuration: {}.", strerror(e))
            }
            Error::Settings(e) => write!(f, "{e}"),
            Error::Output(e) => write!(f, "{e}"),
            Error::Monitor(e) => write!(f, "{e}"),
            Error::LogFile { path, err } => write!(f, "Unable to open logfile {}: {}.", path.display(), strerror(err)),
            Error::Daemonize(e) => write!(f, "Unable to daemonize: {}.", strerror(e)),
            Error::ControlPipe(e) => write!(f, "Unable to create the control pipe: {}.", strerror(e)),
            Error::Signals(e) => write!(f, "Unable to install signal handlers: {}.", strerror(e)),
            Error::PidFile(e) => write!(f, "{e}"),
            Error::Privileges(e) => write!(f, "{e}"),
            Error::SignalThread(e) => write!(f, "Unable to start the signal thread: {}.", strerror(e)),
            Error::Metrics { addr, err } => write!(f, "Unable to listen for metrics on {}: {}.", addr, strerror(err)),
        }
    }
}

impl std::error::Error for Error {}

macro_rules! from {
    ($($variant:ident($t:ty)),*) => {
        $(impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::$variant(e)
            }
        })*
    };
}

from!(
    Load(LoadError),
    Settings(SettingsError),
    Output(OutputError),
    Monitor(MonitorError),
    PidFile(PidFileError),
    Privileges(PrivilegeError)
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Plugin;

    fn enoent() -> io::Error {
        io::Error::from_raw_os_error(libc::ENOENT)
    }

    #[test]
    fn the_prefix_is_put_on_once() {
        let e = Error::from(MonitorError::InvalidAddress);
        assert_eq!(e.to_string(), "Error - Invalid hostname or ip address");
        let e = Error::from(LoadError::UnknownUser("nosuchuser".into()));
        assert_eq!(e.to_string(), "Error - User nosuchuser not found.");
        let e = Error::LogFile { path: "/x/honeytrap.log".into(), err: enoent() };
        assert_eq!(e.to_string(), "Error - Unable to open logfile /x/honeytrap.log: No such file or directory.");
        let e = Error::DataDirs(enoent());
        assert_eq!(
            e.to_string(),
            "Error - Unable to create the data directories of the built-in configuration: No such file or directory."
        );
        let e = Error::from(PrivilegeError::Unchanged { uid: 7, gid: 8 });
        assert_eq!(e.to_string(), "Error - Unable to switch to user id 7 and group id 8: ids did not change.");
        let e = Error::Metrics {
            addr: "127.0.0.1:9477".parse().unwrap(),
            err: io::Error::from_raw_os_error(libc::EADDRINUSE),
        };
        assert_eq!(e.to_string(), "Error - Unable to listen for metrics on 127.0.0.1:9477: Address already in use.");
    }

    #[test]
    fn output_texts_keep_the_plugins_words() {
        let open = |plugin| OutputError::Open { plugin, path: "/nonexistent/x.log".into(), err: enoent() };
        assert_eq!(
            Error::from(open(Plugin::LogAttacker)).to_string(),
            "Error - Unable to open attacker log file /nonexistent/x.log: No such file or directory."
        );
        assert_eq!(
            Error::from(open(Plugin::LogJson)).to_string(),
            "ERROR: unable to open attacker log file /nonexistent/x.log. No such file or directory."
        );
        assert_eq!(
            Error::from(open(Plugin::LogEvents)).to_string(),
            "Error - logEvents - Unable to open event log file /nonexistent/x.log: No such file or directory."
        );
        assert_eq!(Error::from(OutputError::NoLogfile(Plugin::LogJson)).to_string(), "logJSON - no logfile configured");
        let bad = OutputError::BadOption { plugin: Plugin::Syslog, key: "what", why: "what must be x".into() };
        assert_eq!(bad.to_string(), "syslog - what must be x");
    }
}
