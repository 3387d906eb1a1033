//! honeytrap-rs: a memory-safe re-implementation of honeytrap, the low-interaction honeypot
//! by Tillmann Werner. The binary is a thin shell around [`run`].
//!
//! Data flows one way (see docs/ARCHITECTURE.md): command line and configuration file become one
//! typed [`config::Config`]; the daemon module detaches, writes the pid file, drops
//! privileges and starts the signal thread; the monitor loop then waits for connection
//! attempts. A connection is served by [`server`] and becomes an [`attack::Attack`] record,
//! which the [`pipeline`] processes.
#![deny(unsafe_code)]

pub mod attack;
pub(crate) mod budget;
pub mod cli;
pub mod config;
pub(crate) mod conn_request;
pub(crate) mod daemon;
pub(crate) mod fault;
pub mod log;
pub(crate) mod metrics;
pub mod monitor;
pub(crate) mod own_ports;
pub mod pipeline;
pub mod replay;
pub mod server;
pub(crate) mod stats;
pub mod sys;
pub(crate) mod text;
pub mod wire;

/// Name and version as printed by `-v` and in the start-up banner.
pub const PACKAGE: &str = "honeytrap";
/// Our version; `-v` prints `honeytrap <VERSION>` in the one-line format of the C original.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs the program with the process's arguments and returns the exit status.
pub fn run() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let opts = match cli::parse(&args) {
        cli::Parsed::Run(o) => o,
        cli::Parsed::Exit { status, stdout, stderr } => {
            print!("{stdout}");
            eprint!("{stderr}");
            return status;
        }
    };
    log::set_level(opts.log_level);
    let base_dir = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("/"));
    if let Some(file) = &opts.replay {
        let sensor = match opts.address.as_deref().map(str::parse::<std::net::IpAddr>) {
            None => None,
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => {
                eprintln!("  {}", replay::ReplayError::Sensor(opts.address.clone().unwrap_or_default()));
                return 1;
            }
        };
        let r = replay::ReplayOptions { file: file.clone(), sensor, download: opts.download };
        return replay::run(&opts, &r, &base_dir);
    }
    if opts.check_config {
        return daemon::check_config(&opts, &base_dir);
    }
    daemon::run(opts, base_dir)
}
