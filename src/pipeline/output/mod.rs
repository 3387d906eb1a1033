//! The configured outputs of the daemon as one object (the C logging and submission plugins and
//! the outputs of our own): logAttacker, logJSON, the event stream (logEvents), syslog, hpfeeds
//! and PostgreSQL (submitPostgres). Replaces the C original's per-plugin init functions.
//!
//! Files are opened by [`Outputs::open_files`] with the start-up identity, before the daemon
//! detaches and drops privileges (as the C plugins did in the master); the network outputs,
//! which run threads of their own, are started by [`Outputs::start_remote`] afterwards. The
//! object outlives configuration reloads when the output entries did not change (SIGHUP then
//! only reopens the files); otherwise a new one replaces it. Each output takes a record
//! contained ([`super::contained`]): one that panics does not cost the others the record.

pub(crate) mod append;
pub mod events;
pub mod hpfeeds;
pub mod json;
pub mod logattacker;
pub mod logjson;
#[cfg(feature = "postgres")]
pub mod postgres;
pub(crate) mod savefile;
pub(crate) mod sender;
pub mod syslog;

use super::{contained, Stage};
use crate::attack::Attack;
use crate::config::{Config, Plugin, Span};
use crate::sys::strerror;
use crate::{log, log_err, log_warn};
use append::AppendLog;
use events::{Event, EventLog, Session};
use hpfeeds::Hpfeeds;
use logattacker::LogAttacker;
use logjson::LogJson;
#[cfg(feature = "postgres")]
use postgres::SubmitPostgres;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use syslog::Syslog;

/// Why an output could not be set up, or could not reopen its file. The texts are the C
/// plugins' where they had one, else in their style; none carries the `Error - ` prefix of
/// the daemon's start-up lines except the submitPostgres texts, which always had it inside.
#[derive(Debug)]
pub enum OutputError {
    /// An entry of another plugin was handed to this output (a mistake of the caller).
    WrongPlugin { got: Plugin, expect: Plugin },
    /// A file output without `logfile`.
    NoLogfile(Plugin),
    /// The output's file could not be opened.
    Open { plugin: Plugin, path: PathBuf, err: io::Error },
    /// SIGHUP: the output's file could not be reopened (the old one stays in use).
    Reopen { plugin: Plugin, path: PathBuf, err: io::Error },
    /// An option that is missing or whose value cannot be used; `why` completes the text
    /// `<plugin> - <why>` in the output's own words.
    BadOption { plugin: Plugin, key: &'static str, why: String },
    /// The output's thread could not be started.
    Thread { plugin: Plugin, err: io::Error },
    /// A network output's entry failed; `span` is where it is in the configuration.
    At { span: Span, err: Box<OutputError> },
}

impl OutputError {
    /// The plugin whose entry failed.
    pub fn plugin(&self) -> Plugin {
        match self {
            OutputError::WrongPlugin { expect: plugin, .. }
            | OutputError::NoLogfile(plugin)
            | OutputError::Open { plugin, .. }
            | OutputError::Reopen { plugin, .. }
            | OutputError::BadOption { plugin, .. }
            | OutputError::Thread { plugin, .. } => *plugin,
            OutputError::At { err, .. } => err.plugin(),
        }
    }

    /// Whether the text carries its own marker instead of the daemon's `Error - ` prefix:
    /// logJSON's, which prints `ERROR: ...` as the fork did.
    pub fn has_own_marker(&self) -> bool {
        self.plugin() == Plugin::LogJson
    }
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::WrongPlugin { got, expect } => {
                let article = if *expect == Plugin::Hpfeeds { "an" } else { "a" };
                write!(f, "{} is not {} {} configuration", got.key_name(), article, expect.key_name())
            }
            OutputError::NoLogfile(p) => write!(f, "{} - no logfile configured", p.key_name()),
            OutputError::Open { plugin: Plugin::LogAttacker, path, err } => {
                write!(f, "Unable to open attacker log file {}: {}.", path.display(), strerror(err))
            }
            OutputError::Open { plugin: Plugin::LogJson, path, err } => {
                write!(f, "ERROR: unable to open attacker log file {}. {}.", path.display(), strerror(err))
            }
            OutputError::Open { plugin: Plugin::LogEvents, path, err } => {
                write!(f, "logEvents - Unable to open event log file {}: {}.", path.display(), strerror(err))
            }
            OutputError::Open { plugin, path, err } => {
                write!(f, "{} - Unable to open {}: {}.", plugin.key_name(), path.display(), strerror(err))
            }
            OutputError::Reopen { plugin: Plugin::LogAttacker, path, err } => {
                write!(f, "Unable to reopen attacker log file {}: {}.", path.display(), strerror(err))
            }
            OutputError::Reopen { plugin: Plugin::LogJson, path, err } => {
                write!(f, "ERROR: unable to reopen attacker log file {}. {}.", path.display(), strerror(err))
            }
            OutputError::Reopen { plugin: Plugin::LogEvents, path, err } => {
                write!(f, "logEvents - Unable to reopen event log file {}: {}.", path.display(), strerror(err))
            }
            OutputError::Reopen { plugin, path, err } => {
                write!(f, "{} - Unable to reopen {}: {}.", plugin.key_name(), path.display(), strerror(err))
            }
            OutputError::BadOption { plugin, why, .. } => write!(f, "{} - {}", plugin.key_name(), why),
            OutputError::Thread { plugin: Plugin::SubmitPostgres, err } => {
                write!(f, "submitPostgres - Unable to start worker thread: {err}")
            }
            OutputError::Thread { plugin, err } => {
                write!(f, "cannot start the {} thread: {}", plugin.key_name(), strerror(err))
            }
            OutputError::At { span, err } => write!(f, "{span}: {err}"),
        }
    }
}

impl std::error::Error for OutputError {}

/// The plugins whose entries make up the outputs.
const OUTPUT_PLUGINS: [Plugin; 6] =
    [Plugin::LogAttacker, Plugin::LogJson, Plugin::LogEvents, Plugin::Syslog, Plugin::Hpfeeds, Plugin::SubmitPostgres];

/// Every output the configuration asks for.
#[derive(Default)]
pub struct Outputs {
    sensor: String,
    /// The entries these outputs were made from (and the sensor name), to tell on reload
    /// whether they changed.
    entries: Vec<(Plugin, Vec<(String, String)>)>,
    log_attacker: Option<LogAttacker>,
    log_json: Option<LogJson>,
    events: Option<EventLog>,
    syslog: Option<Syslog>,
    hpfeeds: Option<Hpfeeds>,
    #[cfg(feature = "postgres")]
    postgres: Option<SubmitPostgres>,
}

/// The output entries of `cfg`, options without position, in order.
fn entries(cfg: &Config) -> Vec<(Plugin, Vec<(String, String)>)> {
    cfg.plugins.iter().filter(|p| OUTPUT_PLUGINS.contains(&p.plugin)).map(|p| (p.plugin, p.options.clone())).collect()
}

impl Outputs {
    /// The file outputs of `cfg` (logAttacker, logJSON, logEvents), opened now. Relative
    /// `logfile` paths are taken from `base_dir`.
    pub fn open_files(cfg: &Config, base_dir: &Path) -> Result<Outputs, OutputError> {
        let mut out = Outputs { sensor: cfg.sensor(), entries: entries(cfg), ..Outputs::default() };
        for p in &cfg.plugins {
            let p = &super::absolute_paths(p, base_dir);
            match p.plugin {
                Plugin::LogAttacker => out.log_attacker = Some(LogAttacker::open(p)?),
                Plugin::LogJson => out.log_json = Some(LogJson::open(p)?),
                Plugin::LogEvents => out.events = Some(EventLog::open(p)?),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Starts the network outputs of `cfg` (syslog, hpfeeds, submitPostgres): after
    /// detaching and dropping privileges, because they run threads. A collector that cannot
    /// be reached is not an error (they queue and retry); a bad entry is.
    pub fn start_remote(&mut self, cfg: &Config) -> Result<(), OutputError> {
        for p in &cfg.plugins {
            let at = |e| OutputError::At { span: p.span.clone(), err: Box::new(e) };
            match p.plugin {
                Plugin::Syslog => self.syslog = Some(Syslog::open(p, &self.sensor).map_err(at)?),
                Plugin::Hpfeeds => self.hpfeeds = Some(Hpfeeds::start(p).map_err(at)?),
                #[cfg(feature = "postgres")]
                Plugin::SubmitPostgres => self.postgres = Some(SubmitPostgres::start(p, &self.sensor).map_err(at)?),
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether `cfg` asks for exactly these outputs (then a reload keeps them).
    pub fn same_config(&self, cfg: &Config) -> bool {
        self.sensor == cfg.sensor() && self.entries == entries(cfg)
    }

    /// SIGHUP: reopens the files by name (log rotation). A file that cannot be reopened is
    /// logged and the old descriptor kept.
    pub fn reopen(&self) {
        let results = [
            self.log_attacker.as_ref().map(|o| ("logAttacker", o.reopen())),
            self.log_json.as_ref().map(|o| ("logJSON", o.reopen())),
            self.events.as_ref().map(|o| ("logEvents", o.reopen())),
        ];
        for (name, r) in results.into_iter().flatten() {
            if let Err(e) = r {
                log_err!("Error - {} keeps writing to its old file: {}", name, e);
            }
        }
    }

    /// Mirrors the daemon log to this object's syslog output, if it asks for the log.
    pub fn install_log_mirror(&self) {
        if let Some(s) = self.syslog.as_ref().filter(|s| s.wants_log()) {
            log::set_mirror(Some(s.log_mirror()));
        }
    }

    /// The files the outputs write.
    pub fn files(&self) -> Vec<&Path> {
        self.append_logs().into_iter().map(AppendLog::path).collect()
    }

    fn append_logs(&self) -> Vec<&AppendLog> {
        let mut v = Vec::new();
        v.extend(self.log_attacker.as_ref().map(LogAttacker::file));
        v.extend(self.log_json.as_ref().map(LogJson::file));
        v.extend(self.events.as_ref().map(EventLog::file));
        v
    }

    /// Gives the open files to the run user (started as root), so that it can reopen them
    /// after rotation: by descriptor, and only regular files with one link
    /// ([`crate::sys::fs::give_to`]). A file left as it was gets a warning.
    pub fn give_files_to(&self, uid: u32, gid: u32) {
        for f in self.append_logs() {
            match f.give_to(uid, gid) {
                Ok(true) => {}
                Ok(false) => log_warn!(
                    "Warning - {} is not a regular file with a single link; its owner is left unchanged.",
                    f.path().display()
                ),
                Err(e) => {
                    log_warn!("Warning - Unable to give {} to the run user: {}.", f.path().display(), strerror(&e))
                }
            }
        }
    }

    /// Stops mirroring the daemon log to this object's syslog output (before it is
    /// replaced or dropped).
    pub fn release_log_mirror(&self) {
        if self.syslog.as_ref().is_some_and(Syslog::wants_log) {
            log::set_mirror(None);
        }
    }

    /// Whether any output takes events.
    pub fn wants_events(&self) -> bool {
        self.events.is_some() || self.hpfeeds.is_some() || self.syslog.as_ref().is_some_and(Syslog::wants_events)
    }

    /// Most attack bytes carried in an input event.
    pub fn data_limit(&self) -> usize {
        self.events.as_ref().map_or(events::DEFAULT_DATA_LIMIT, EventLog::data_limit)
    }

    /// The event session of `attack`.
    pub fn session(&self, attack: &Attack) -> Session {
        Session {
            id: attack.session.clone(),
            sensor: self.sensor.clone(),
            protocol: attack.proto,
            src: attack.remote,
            dst: attack.local,
        }
    }

    /// Sends an event to every output that takes events.
    pub fn emit(&self, ev: &Event) {
        if !self.wants_events() {
            return;
        }
        if let Some(e) = &self.events {
            contained(Stage::LogEvents, || e.write(ev));
        }
        let json = ev.to_json();
        if let Some(s) = self.syslog.as_ref().filter(|s| s.wants_events()) {
            contained(Stage::Syslog, || s.send(syslog::SEV_INFO, ev.eventid, &json));
        }
        if let Some(h) = &self.hpfeeds {
            contained(Stage::Hpfeeds, || h.publish_event(&json));
        }
    }

    /// A downloaded sample, for the outputs that take files (hpfeeds).
    pub fn sample(&self, data: &[u8]) {
        if let Some(h) = &self.hpfeeds {
            contained(Stage::Hpfeeds, || h.publish_file(data.to_vec()));
        }
    }

    /// A finished attack, after downloads and SaveFile: logAttacker, logJSON, PostgreSQL,
    /// each contained, so that one failing output does not cost the others the record.
    pub fn attack(&self, attack: &Attack) {
        if let Some(o) = &self.log_attacker {
            contained(Stage::LogAttacker, || o.log(attack));
        }
        if let Some(o) = &self.log_json {
            contained(Stage::LogJson, || o.log(attack));
        }
        #[cfg(feature = "postgres")]
        if let Some(o) = &self.postgres {
            contained(Stage::Postgres, || o.submit(attack));
        }
    }
}

/// Warns about output entries this build cannot serve.
pub fn warn_unbuilt(cfg: &Config) {
    if !cfg!(feature = "postgres") && cfg.plugins.iter().any(|p| p.plugin == Plugin::SubmitPostgres) {
        log_warn!("Warning - plugin submitPostgres is not built into this binary (make FEATURES=postgres); ignored.");
    }
}
