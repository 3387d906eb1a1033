//! The daemon's life cycle (docs/COMPATIBILITY.md, Start-up and console; Signals and
//! lifecycle): start-up console output, log file, detaching, pid file, privilege drop, monitor,
//! signal thread, the main loop with SIGHUP reload, and a clean stop. Replaces the C original's
//! main(), configure() re-runs, daemonize(), create_pid_file() and clean_exit().
//!
//! Order of start-up (each step fatal with a non-zero status when it fails): descriptors
//! inherited from the caller recorded → configuration → the directories the daemon writes
//! in, checked for the run user (checks.rs) → console lines → output files and
//! log file → panic hook → banner → detach (unless `-D`; closes the inherited descriptors
//! and nothing else) → signals registered → pid file → privileges dropped → monitor opened →
//! signal thread → ready line.
//!
//! A panic of the signal thread or of the monitor loop (this, the main thread) stops the
//! daemon the clean way (connections drained, pid file removed, "stopped" line) with exit
//! status [`EXIT_PANIC`].

pub mod bootstrap;
pub mod checks;
pub mod control;
pub mod detach;
pub mod error;
pub mod panics;
pub mod pidfile;
pub mod privileges;

use crate::cli::Options;
use crate::config::{self, Config, ConfigSource, MonitorKind};
use crate::monitor::{self, Monitor};
use crate::pipeline::output::{self as outputs, Outputs};
use crate::server::engine::{Engine, Settings};
use crate::stats;
use crate::sys::{creds, net, process, strerror};
use crate::{log, log_debug, log_err, log_notice, log_warn};
use control::Control;
use detach::{Detached, Inherited, Notifier};
pub use error::Error;
use pidfile::PidFile;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the main loop sleeps at most between checks.
const TICK: Duration = Duration::from_secs(1);
/// How long a stop waits for open connections to finish and save their attacks.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long an nfq monitor may see no packet before a warning says which rule it needs.
const NFQ_QUIET: Duration = Duration::from_secs(60);

/// Everything a start-up failure needs to clean up and report.
struct Startup {
    foreground: bool,
    notifier: Notifier,
    pidfile: Option<PidFile>,
}

impl Startup {
    /// Logs `e`, tells whoever waits for us, removes the pid file, returns 1.
    fn fail(&mut self, e: impl Into<Error>) -> i32 {
        let e = e.into();
        log_err!("{}", e);
        if self.foreground {
            eprintln!("  {e}");
        }
        self.notifier.failed(1, &format!("  {e}\n"));
        if let Some(p) = self.pidfile.take() {
            p.remove();
        }
        1
    }
}

/// Prints `e` on the console (before the log file is open) and returns the exit status 1.
fn fail_early(e: impl Into<Error>) -> i32 {
    eprintln!("  {}", e.into());
    1
}

/// `--check-config`: load, validate, report; never touches the network. Returns the exit
/// status.
pub fn check_config(opts: &Options, base_dir: &Path) -> i32 {
    let source = opts.overrides().config_source();
    let cfg = match config::load_config(&opts.overrides(), base_dir) {
        Ok(c) => c,
        Err(e) => return fail_early(e),
    };
    for w in &cfg.warnings {
        eprintln!("  Warning - {w}");
    }
    // What the built-in configuration creates at its first start need not exist yet.
    let created = match source {
        ConfigSource::Embedded => bootstrap::embedded_dirs(&cfg, base_dir),
        ConfigSource::File(_) => Vec::new(),
    };
    if !created.contains(&cfg.response_dir) || cfg.response_dir.exists() {
        if let Err(e) = config::check_environment(&cfg) {
            return fail_early(e);
        }
    }
    let found = checks::directories(&cfg, base_dir, &created);
    for f in &found {
        eprintln!("  {f}");
    }
    if found.iter().any(checks::Finding::is_error) {
        return 1;
    }
    if let Err(e) = crate::pipeline::check_files(&cfg, base_dir) {
        return fail_early(crate::server::engine::SettingsError::Pipeline(e));
    }
    match source {
        ConfigSource::File(p) => println!("{}: configuration OK", p.display()),
        ConfigSource::Embedded => println!("<built-in default>: configuration OK"),
    }
    0
}

/// The settings of a configuration that need privileges or a restart to change.
fn fixed_settings(cfg: &Config) -> (Option<(u32, u32)>, PathBuf, Option<MonitorKind>, u16) {
    (config::run_ids(cfg), cfg.pidfile.clone(), cfg.monitor, cfg.nfq_queue)
}

/// Prints the console lines of the original's start-up for `cfg`: the user and group the
/// servers run as and the mode in force (the C original printed `(null)` for an unset name
/// and "none" for an unset `portconf_default`, which behaves as normal).
fn console_report(cfg: &Config) {
    let who = config::run_as(cfg);
    println!("  Servers will run as user {} ({}).", who.user, who.uid);
    println!("  Servers will run as group {} ({}).", who.group, who.gid);
    let in_force = |m: config::Mode| if m == config::Mode::None { config::Mode::Normal } else { m };
    println!("  Connections will be handled in {} mode by default.", in_force(cfg.portconf_default));
    for (proto, port, p) in cfg.ports.iter() {
        match &p.proxy {
            Some(t) => println!(
                "  Port {}/{} is configured to be handled in proxy mode with target {}:{}/{}.",
                port,
                proto,
                t.host,
                t.port,
                t.protocol.map_or("tcp", |p| p.name())
            ),
            None => println!("  Port {}/{} is configured to be handled in {} mode.", port, proto, in_force(p.mode)),
        }
    }
    if cfg.promisc {
        println!("  Promiscuous mode enabled.");
    }
}

/// Exit status of a daemon that stopped because a thread it cannot run without panicked
/// (the signal thread, the monitor loop).
pub const EXIT_PANIC: i32 = 2;

/// Runs the daemon; returns the exit status.
pub fn run(opts: Options, base_dir: PathBuf) -> i32 {
    // Before anything of ours is opened: what is open now belongs to whoever started us.
    let inherited = Inherited::record();
    // Before any other thread starts.
    crate::sys::mem::configure();
    println!("\n{} v{} - Initializing.", crate::PACKAGE, crate::VERSION);
    // Until the log file is open, warnings go to the console at once and to the log later.
    log::hold_early();
    let source = opts.overrides().config_source();
    let mut cfg = match config::load_config(&opts.overrides(), &base_dir) {
        Ok(c) => c,
        Err(e) => return fail_early(e),
    };
    if source == ConfigSource::Embedded {
        println!(
            "  No configuration file {} found, using the built-in default configuration.",
            crate::config::DEFAULT_CONFIG_FILE
        );
        if let Err(e) = bootstrap::embedded(&cfg, &base_dir) {
            return fail_early(Error::DataDirs(e));
        }
    }
    for w in &cfg.warnings {
        log_warn!("Warning - {}", w);
    }
    if let Err(e) = config::check_environment(&cfg) {
        return fail_early(e);
    }
    let mut cannot_start = false;
    for f in checks::directories(&cfg, &base_dir, &[]) {
        match f {
            checks::Finding::Error(_) => {
                eprintln!("  {f}");
                cannot_start = true;
            }
            checks::Finding::Warning(w) => log_warn!("{}", w),
        }
    }
    if cannot_start {
        return 1;
    }
    console_report(&cfg);
    println!("  Loading default responses.");
    let mut engine_settings = match Settings::new(cfg.clone(), &base_dir, opts.read_timeout, opts.listen_timeout) {
        Ok(s) => s,
        Err(e) => return fail_early(e),
    };
    // Output files, opened with the start-up identity (as the C plugins did in the master).
    let mut outputs = match Outputs::open_files(&cfg, &base_dir) {
        Ok(o) => o,
        Err(e) => return fail_early(e),
    };
    let kind = opts.monitor(&cfg);
    let mut settings = monitor::Settings {
        kind,
        interface: opts.interface.clone(),
        address: opts.address.clone(),
        promisc: cfg.promisc,
        bpf: opts.bpf.clone(),
        queue: cfg.nfq_queue,
    };
    if kind == MonitorKind::Pcap && settings.interface.is_none() {
        match monitor::pcap::default_device() {
            Ok(d) => {
                println!("  Default device is {d}.");
                settings.interface = Some(d);
            }
            Err(e) => return fail_early(e),
        }
    }
    if kind == MonitorKind::Nfq && opts.bpf.is_some() {
        log_warn!("Warning - A filter expression only applies to the pcap monitor; ignored.");
    }

    // Log file, opened with the start-up identity.
    let logfile = match log::open_file(&cfg.logfile) {
        Ok(f) => f,
        Err(err) => return fail_early(Error::LogFile { path: cfg.logfile.clone(), err }),
    };
    if let Some((uid, gid)) = config::run_ids(&cfg) {
        // Let the run user reopen its log after rotation; only for a file we may give away.
        if creds::getresuid().1 == 0 {
            let _ = crate::sys::fs::give_to(&logfile, uid, gid);
        }
    }
    log::set_file(&cfg.logfile, logfile);
    if let Some((uid, gid)) = config::run_ids(&cfg) {
        // As for the log file: the run user reopens them after rotation.
        if creds::getresuid().1 == 0 {
            outputs.give_files_to(uid, gid);
        }
    }
    println!("  Logging to {}.", cfg.logfile.display());
    println!("  Core module initialized.");
    log::set_stdout(opts.foreground);
    panics::install();
    log::write_banner();
    stats::started();
    // The warnings given before the log file was open.
    log::release_early();

    let notifier = if opts.foreground {
        Notifier::none()
    } else {
        match detach::detach(&log::banner(), inherited) {
            Ok(Detached::Parent(status)) => return status,
            Ok(Detached::Daemon(n)) => n,
            Err(e) => return fail_early(Error::Daemonize(e)),
        }
    };
    let mut st = Startup { foreground: opts.foreground, notifier, pidfile: None };

    let ctl = match Control::new() {
        Ok(c) => Arc::new(c),
        Err(e) => return st.fail(Error::ControlPipe(e)),
    };
    let signals = match control::register() {
        Ok(s) => s,
        Err(e) => return st.fail(Error::Signals(e)),
    };

    let pf = match PidFile::create(&cfg.pidfile, process::getpid()) {
        Ok(p) => p,
        Err(e) => return st.fail(e),
    };
    let ids = config::run_ids(&cfg);
    if let Some((uid, gid)) = ids {
        let _ = pf.chown(uid, gid);
    }
    st.pidfile = Some(pf);

    let keep_caps = match kind {
        MonitorKind::Nfq => [creds::CAP_NET_BIND_SERVICE, creds::CAP_NET_ADMIN],
        MonitorKind::Pcap => [creds::CAP_NET_BIND_SERVICE, creds::CAP_NET_RAW],
    };
    match privileges::drop_privileges(ids, &keep_caps) {
        Ok(d) => {
            if ids.is_none() && d.uid == 0 {
                log_warn!("Warning - No user and group configured: honeytrap keeps running as root.");
            } else {
                log_notice!(
                    "Running as uid {} gid {} with capabilities: {}.",
                    d.uid,
                    d.gid,
                    privileges::cap_names(d.caps)
                );
            }
        }
        Err(e) => return st.fail(e),
    }

    let mut mon = match Monitor::open(&settings) {
        Ok(m) => m,
        Err(e) => return st.fail(e),
    };

    match net::raise_nofile_limit() {
        Ok(n) => log_debug!("Open file limit is {}.", n),
        Err(e) => log_warn!("Warning - Unable to raise the open file limit: {}.", strerror(&e)),
    }
    // The network outputs run threads: started only now, after detaching.
    if let Err(e) = outputs.start_remote(&cfg) {
        return st.fail(e);
    }
    outputs.install_log_mirror();
    outputs::warn_unbuilt(&cfg);
    engine_settings.pipeline.outputs = Arc::new(outputs);
    // Temporary files of a killed run go, removed as the run user, who must be able to
    // write the directories.
    crate::pipeline::output::savefile::remove_stale(engine_settings.pipeline.savefile.as_ref());
    let engine = Engine::new(engine_settings);
    if let Some(addr) = cfg.metrics_listen {
        let e = Arc::clone(&engine);
        match crate::metrics::start(addr, Arc::new(move || stats::Gauges::read(e.open_connections()))) {
            Ok(bound) => log_notice!("Serving metrics on http://{}/metrics.", bound),
            Err(err) => return st.fail(Error::Metrics { addr, err }),
        }
    }

    log_notice!("Initializing plugins.");
    log_plugins(&cfg);

    if let Err(e) = control::spawn(signals, Arc::clone(&ctl)) {
        return st.fail(Error::SignalThread(e));
    }
    log_notice!("{}", mon.ready_line());
    st.notifier.ready();

    let nfq_queue = matches!(mon, Monitor::Nfq(_)).then_some(settings.queue);
    let looped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        main_loop(&opts, &base_dir, &mut cfg, &mut mon, &ctl, &engine, nfq_queue)
    }));
    let status = looped.unwrap_or_else(|_| {
        log_err!("Error - The monitor loop failed, stopping.");
        EXIT_PANIC
    });
    // Connections in progress end now and still save their attacks.
    engine.stop();
    engine.drain(SHUTDOWN_GRACE);
    log_statistics(&engine);
    log_notice!("---- honeytrap stopped ----");
    if let Some(msg) = st.pidfile.take().and_then(PidFile::remove) {
        log_warn!("{}", msg);
    }
    status
}

/// The outputs after a reload to `new`: the current ones with their files reopened when the
/// output entries did not change, else new ones (opened as the run user); on failure the
/// current ones are kept.
fn reload_outputs(current: &Arc<Outputs>, new: &Config, base_dir: &Path) -> Arc<Outputs> {
    if current.same_config(new) {
        current.reopen();
        return Arc::clone(current);
    }
    let fresh = Outputs::open_files(new, base_dir).and_then(|mut o| o.start_remote(new).map(|()| o));
    match fresh {
        Ok(o) => {
            current.release_log_mirror();
            o.install_log_mirror();
            outputs::warn_unbuilt(new);
            Arc::new(o)
        }
        Err(e) => {
            log_err!("Error - The outputs of the new configuration failed, keeping the current ones: {}", e);
            current.reopen();
            Arc::clone(current)
        }
    }
}

/// Logs the plugins that run (those not implemented yet were warned about by the loader).
fn log_plugins(cfg: &Config) {
    for p in cfg.plugins.iter().filter(|p| p.plugin.implemented()) {
        log_notice!("Loading plugin {} v{}", p.plugin.module_name(), p.plugin.version());
    }
}

/// [`NFQ_QUIET`]; debug builds (the tests) may shorten it with `HONEYTRAP_NFQ_QUIET_SECS`.
fn nfq_quiet() -> Duration {
    #[cfg(debug_assertions)]
    if let Some(secs) = std::env::var("HONEYTRAP_NFQ_QUIET_SECS").ok().and_then(|v| v.parse().ok()) {
        return Duration::from_secs(secs);
    }
    NFQ_QUIET
}

/// The `Statistics` line: SIGUSR1 and stop.
fn log_statistics(engine: &Engine) {
    let gauges = stats::Gauges::read(engine.open_connections());
    log_notice!("{}", stats::log_line(&stats::STATS, &gauges, stats::started().elapsed().as_secs()));
}

/// Waits for monitor events and control requests until shutdown. `nfq_queue`: the queue an
/// nfq monitor reads, for the warning when no packet comes.
fn main_loop(
    opts: &Options,
    base_dir: &Path,
    cfg: &mut Config,
    mon: &mut Monitor,
    ctl: &Control,
    engine: &Arc<Engine>,
    nfq_queue: Option<u16>,
) -> i32 {
    let mut tended = Instant::now();
    let quiet = nfq_quiet();
    let mut quiet_check = nfq_queue.map(|q| (q, Instant::now() + quiet));
    loop {
        if ctl.take_stats() {
            log_statistics(engine);
        }
        if let Some((queue, at)) = quiet_check {
            if Instant::now() >= at {
                if stats::STATS.monitor_packets.get() == 0 {
                    log_warn!(
                        "Warning - No packet on NFQUEUE {} in the {} seconds since start: the firewall must queue new inbound connection attempts to it, e.g. iptables -A INPUT -p tcp --syn -m state --state NEW -j NFQUEUE --queue-num {} --queue-bypass",
                        queue,
                        quiet.as_secs(),
                        queue
                    );
                }
                quiet_check = None;
            }
        }
        if ctl.is_shutdown() {
            return if ctl.failed() { EXIT_PANIC } else { 0 };
        }
        if tended.elapsed() >= TICK {
            engine.tend();
            tended = Instant::now();
        }
        if ctl.take_reload() {
            reload(opts, base_dir, cfg, engine);
        }
        let ready = match crate::sys::poll::poll_readable(&[mon.fd(), ctl.wake_fd()], Some(TICK)) {
            Ok(r) => r,
            Err(e) => {
                log_err!("Error - Waiting for events failed: {}.", strerror(&e));
                return 1;
            }
        };
        if ready[1] {
            ctl.drain();
        }
        if ready[0] {
            crate::fault::inject("monitor");
            if let Err(e) = mon.service(&mut |req| {
                engine.request(req);
            }) {
                log_err!("{}", Error::from(e));
                return 1;
            }
        }
    }
}

/// SIGHUP: re-read the configuration (same file, same command line on top), reopen the log
/// file by name. A configuration that fails to load is reported and the old one kept (the
/// original exited). Settings that need privileges keep their start-up values.
fn reload(opts: &Options, base_dir: &Path, cfg: &mut Config, engine: &Engine) {
    log_notice!("---- Reloading configuration ----");
    match config::load_config(&opts.overrides(), base_dir).and_then(|c| config::check_environment(&c).map(|_| c)) {
        Ok(mut new) => {
            for w in &new.warnings {
                log_warn!("Warning - {}", w);
            }
            if fixed_settings(&new) != fixed_settings(cfg) {
                log_warn!(
                    "Warning - user, group, pidfile, monitor and nfq_queue changes take effect only after a restart."
                );
                new.user = cfg.user.clone();
                new.group = cfg.group.clone();
                new.pidfile = cfg.pidfile.clone();
                new.monitor = cfg.monitor;
                new.nfq_queue = cfg.nfq_queue;
            }
            match Settings::new(new.clone(), base_dir, opts.read_timeout, opts.listen_timeout) {
                Ok(mut settings) => {
                    settings.pipeline.outputs = reload_outputs(&engine.settings().pipeline.outputs, &new, base_dir);
                    if let Some(sf) = settings.pipeline.savefile.as_ref() {
                        sf.warn_unwritable(&config::run_as(&new));
                    }
                    engine.replace_settings(settings);
                    *cfg = new;
                    log_plugins(cfg);
                }
                Err(e) => {
                    engine.settings().pipeline.outputs.reopen();
                    log_err!("Error - Reloading the configuration failed, keeping the current one: {}", e)
                }
            }
        }
        Err(e) => {
            engine.settings().pipeline.outputs.reopen();
            log_err!("Error - Reloading the configuration failed, keeping the current one: {}", e)
        }
    }
    if let Err(e) = log::reopen(&cfg.logfile) {
        log_err!(
            "Error - Unable to reopen logfile {}: {}. Logging continues to the old file.",
            cfg.logfile.display(),
            strerror(&e)
        );
    }
    log_notice!("---- honeytrap reconfigured ----");
}
