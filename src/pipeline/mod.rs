//! The attack pipeline (docs/COMPATIBILITY.md, Attack records and the pipeline): what happens
//! to an attack record once its connection has ended. Replaces the C original's plugin hook
//! lists (plughook.c) and the plugins themselves, as built-in modules selected by the
//! `plugin-<Name>` keys, run in the fixed order of the C hook priorities: decoders (PREPROC:
//! `decode`), download commands and clients (ANALYZE: `extract`, `download`, orchestrated by
//! `fetch`), outputs (SAVEDATA: `output`).
//!
//! Each stage runs contained ([`contained`]): a panic in a decoder, the extraction, the
//! downloads, SaveFile or one output ends that stage for this attack only, with a log line
//! naming it, and the other stages and outputs still get the record.

pub mod analysis;
pub mod decode;
pub mod download;
pub mod extract;
pub(crate) mod fetch;
pub mod output;
pub mod request;
pub mod xmatch;

use crate::attack::Attack;
use crate::config::{Config, Plugin, Proto, Span};
use crate::log::Throttle;
use decode::Decoders;
use fetch::{Downloader, Note};
use output::events::Event;
use output::savefile::{FileOutcome, SaveFile};
use output::{OutputError, Outputs};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A part of an attack's processing that fails alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Stage {
    Decoders,
    Extraction,
    Downloads,
    Analysis,
    SaveFile,
    LogAttacker,
    LogJson,
    LogEvents,
    Syslog,
    Hpfeeds,
    Postgres,
}

impl Stage {
    const COUNT: usize = Stage::Postgres as usize + 1;

    /// The name in log lines (the plugin's, where the stage is one plugin).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Decoders => "decoders",
            Stage::Extraction => "download extraction",
            Stage::Downloads => "downloads",
            Stage::Analysis => "analysis",
            Stage::SaveFile => "SaveFile",
            Stage::LogAttacker => "logAttacker",
            Stage::LogJson => "logJSON",
            Stage::LogEvents => "logEvents",
            Stage::Syslog => "syslog",
            Stage::Hpfeeds => "hpfeeds",
            Stage::Postgres => "submitPostgres",
        }
    }

    /// The point of the test-only fault switch that makes this stage panic.
    fn fault_point(self) -> &'static str {
        match self {
            Stage::Decoders => "pipeline-decoders",
            Stage::Extraction => "pipeline-extraction",
            Stage::Downloads => "pipeline-downloads",
            Stage::Analysis => "pipeline-analysis",
            Stage::SaveFile => "pipeline-SaveFile",
            Stage::LogAttacker => "pipeline-logAttacker",
            Stage::LogJson => "pipeline-logJSON",
            Stage::LogEvents => "pipeline-logEvents",
            Stage::Syslog => "pipeline-syslog",
            Stage::Hpfeeds => "pipeline-hpfeeds",
            Stage::Postgres => "pipeline-submitPostgres",
        }
    }
}

/// Runs `f`, one stage of an attack's processing. A panic in it (logged by the panic hook
/// with its place) ends this stage only: `None`, and a line naming the stage, at most one a
/// minute for each stage, with the number kept quiet.
pub fn contained<T>(stage: Stage, f: impl FnOnce() -> T) -> Option<T> {
    let run = || {
        crate::fault::inject(stage.fault_point());
        f()
    };
    match panic::catch_unwind(AssertUnwindSafe(run)) {
        Ok(v) => Some(v),
        Err(_) => {
            static LINES: [Throttle; Stage::COUNT] = [const { Throttle::new(Duration::from_secs(60)) }; Stage::COUNT];
            if let Some(quiet) = LINES[stage as usize].due() {
                let more = if quiet > 0 { format!(" ({quiet} more since the last message)") } else { String::new() };
                crate::log_err!(
                    "Error - Stage {} failed on an attack; its other stages and outputs still run{}.",
                    stage.name(),
                    more
                );
            }
            None
        }
    }
}

/// The configured stages.
#[derive(Default)]
pub struct Pipeline {
    pub decoders: Decoders,
    pub downloader: Option<Downloader>,
    /// magicPE and SpamSum, when configured.
    pub analyzer: Option<analysis::Analyzer>,
    pub savefile: Option<SaveFile>,
    /// Logs, event stream, collectors: set by the daemon, which keeps them across reloads.
    pub outputs: Arc<Outputs>,
}

/// Why the stages of a configuration cannot be set up (without the `Error - ` prefix, which
/// the daemon's error adds).
#[derive(Debug)]
pub enum PipelineError {
    /// The SaveFile entry.
    SaveFile(OutputError),
    /// ftpDownload's `ftp_host` is not an address.
    FtpHost { span: Span, value: String },
    /// ClamAV's `clamd_socket` names no socket.
    ClamdSocket { span: Span, value: String },
    /// xmatch's `xpattern_file` cannot be used.
    Xmatch(xmatch::PatternError),
    /// cspm's settings or signature file cannot be used (the text names where).
    Cspm(String),
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PipelineError::SaveFile(e) => write!(f, "{e}"),
            PipelineError::FtpHost { span, value } => {
                write!(f, "{span}: ftp_host must be an IPv4 or IPv6 address, not '{value}'")
            }
            PipelineError::Xmatch(e) => write!(f, "{e}"),
            PipelineError::Cspm(e) => write!(f, "{e}"),
            PipelineError::ClamdSocket { span, value } => {
                write!(f, "{span}: clamd_socket must be a socket path or tcp://HOST:PORT, not '{value}'")
            }
        }
    }
}

impl std::error::Error for PipelineError {}

impl Pipeline {
    /// The stages `cfg` configures. Relative directories in plugin options are taken from
    /// `base_dir` (the start-up directory), like the core paths.
    pub fn from_config(cfg: &Config, base_dir: &Path) -> Result<Pipeline, PipelineError> {
        let has = |p: Plugin| cfg.plugins.iter().any(|c| c.plugin == p);
        let mut savefile = None;
        for p in cfg.plugins.iter().filter(|p| p.plugin == Plugin::SaveFile) {
            savefile = Some(SaveFile::from_config(&absolute_paths(p, base_dir)).map_err(PipelineError::SaveFile)?);
        }
        Ok(Pipeline {
            decoders: Decoders {
                b64: has(Plugin::B64Decode),
                unicode: has(Plugin::DeUnicode),
                vnc: has(Plugin::VncDownload),
                xmatch: match cfg.plugins.iter().find(|p| p.plugin == Plugin::Xmatch) {
                    None => None,
                    Some(p) => Some(Arc::new(load_xmatch(p, base_dir)?)),
                },
            },
            downloader: Downloader::from_config(cfg)?,
            analyzer: analysis::Analyzer::from_config(cfg, base_dir)?,
            savefile,
            outputs: Arc::default(),
        })
    }

    /// Runs a finished attack through the stages: decoders, downloads, analysis, SaveFile, then the logs
    /// and collectors (after the downloads, so that logJSON reports what the downloads really
    /// did), with the events of the connection.
    pub fn process(&self, attack: &mut Attack) {
        crate::stats::STATS.attacks.inc();
        let out = &self.outputs;
        // The events' session, when any output takes events.
        let session = out.wants_events().then(|| out.session(attack));
        if let Some(session) = &session {
            if attack.proto == Proto::Udp {
                // A UDP flow is known only once it has ended.
                out.emit(&Event::connect(session, attack.start));
            }
            if !attack.payload.data.is_empty() {
                out.emit(&Event::input(session, attack.end, &attack.payload, out.data_limit()));
            }
        }
        // The downloads' progress, as events.
        let notes = |note: Note| {
            if let Some(session) = &session {
                out.emit(&match note {
                    Note::Started(url) => Event::download_started(session, SystemTime::now(), url),
                    Note::Failed(url, why) => Event::download_failed(session, SystemTime::now(), url, why),
                });
            }
        };
        if let Some(d) = &self.downloader {
            if !attack.payload.data.is_empty() && d.max_per_attack > 0 {
                // The derived strings (charged to the memory budget) are dropped before the
                // downloads start.
                let found = {
                    let data = &attack.payload.data;
                    let mut charge = attack.charge.sibling();
                    let derived =
                        contained(Stage::Decoders, || self.decoders.derive(data, &mut charge)).unwrap_or_default();
                    contained(Stage::Extraction, || fetch::requests_of(data, &derived)).unwrap_or_default()
                };
                // Indicators are recorded, logged and sent as events, never contacted.
                for i in &found.indicators {
                    crate::log_notice!("JNDI lookup - Attack string names {i}, not contacted.");
                    if let Some(session) = &session {
                        out.emit(&Event::indicator(session, SystemTime::now(), "jndi", i));
                    }
                }
                attack.findings.indicators = found.indicators;
                let requests = found.requests;
                contained(Stage::Downloads, || d.run(attack, requests, &notes));
            }
        }
        if let Some(a) = &self.analyzer {
            contained(Stage::Analysis, || a.run(attack));
            if let Some(session) = &session {
                if let Some(e) = Event::analysis(session, SystemTime::now(), &attack.findings) {
                    out.emit(&e);
                }
                if let Some(sc) = &attack.findings.shellcode {
                    out.emit(&Event::shellcode(session, SystemTime::now(), sc));
                }
            }
            // What the analyses found to fetch (a URL in shellcode, a connect-back), and the
            // downloads a connect-back shell's commands ask for.
            let follow = contained(Stage::Analysis, || a.follow_ups(attack)).unwrap_or_default();
            if let (Some(d), false) = (&self.downloader, follow.is_empty()) {
                let first = attack.downloads.len();
                contained(Stage::Downloads, || d.run(attack, follow, &notes));
                let typed: Vec<Vec<u8>> = attack.downloads[first..]
                    .iter()
                    .filter(|dl| analysis::is_shell_session(dl))
                    .map(|dl| dl.payload.data.clone())
                    .collect();
                for session_text in typed {
                    let found =
                        contained(Stage::Extraction, || fetch::requests_of(&session_text, &[])).unwrap_or_default();
                    if !found.requests.is_empty() {
                        contained(Stage::Downloads, || d.run(attack, found.requests, &notes));
                    }
                }
                let deadline = std::time::Instant::now() + analysis::ANALYSIS_TIME;
                contained(Stage::Analysis, || a.examine_downloads(attack, first, deadline));
            }
        }
        let saved = self.savefile.as_ref().and_then(|sf| contained(Stage::SaveFile, || sf.save(attack)));
        for (i, dl) in attack.downloads.iter().enumerate() {
            out.sample(&dl.payload.data);
            if let Some(session) = &session {
                let stored = saved.as_ref().and_then(|s| s.downloads.get(i));
                let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
                let (outfile, duplicate) = match stored {
                    Some(FileOutcome::Saved(p)) => (name(p), false),
                    Some(FileOutcome::Known(p)) => (name(p), true),
                    _ => (None, false),
                };
                let url = dl.uri.as_deref().unwrap_or("");
                out.emit(&Event::download(
                    session,
                    SystemTime::now(),
                    url,
                    &dl.payload,
                    outfile.as_deref(),
                    duplicate,
                    &dl.findings,
                ));
            }
        }
        if let Some(session) = &session {
            let duration = attack.end.duration_since(attack.start).unwrap_or_default();
            let bytes_in = attack.payload.data.len() as u64;
            out.emit(&Event::closed(session, attack.end, duration, bytes_in, attack.bytes_out));
        }
        out.attack(attack);
    }
}

/// plugin-xmatch's `xpattern_file`, loaded (relative to `base_dir`).
fn load_xmatch(p: &crate::config::PluginConfig, base_dir: &Path) -> Result<xmatch::Patterns, PipelineError> {
    let file = p.option("xpattern_file").filter(|v| !v.is_empty());
    let path = file.map(|f| base_dir.join(f)).unwrap_or_default();
    xmatch::Patterns::load(&path).map_err(PipelineError::Xmatch)
}

/// Loads the pattern and signature files the configuration names (xmatch, cspm) without
/// setting anything up: what `--check-config` checks beyond the configuration itself.
pub fn check_files(cfg: &Config, base_dir: &Path) -> Result<(), PipelineError> {
    for p in &cfg.plugins {
        match p.plugin {
            Plugin::Xmatch => {
                load_xmatch(p, base_dir)?;
            }
            Plugin::Cspm => {
                analysis::load_cspm(p, base_dir)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a download plugin is configured (the download stage exists).
pub fn fetch_configured(cfg: &Config) -> bool {
    cfg.plugins.iter().any(|p| matches!(p.plugin, Plugin::FtpDownload | Plugin::TftpDownload | Plugin::HttpDownload))
}

/// A copy of a plugin's options with its relative paths (`*_dir` and `logfile` values)
/// taken from `base_dir`, the start-up directory, like the core paths.
pub fn absolute_paths(p: &crate::config::PluginConfig, base_dir: &Path) -> crate::config::PluginConfig {
    let mut p = p.clone();
    for (k, v) in p.options.iter_mut() {
        let is_path = k.ends_with("_dir") || k == "logfile";
        if is_path && !v.is_empty() && !Path::new(v.as_str()).is_absolute() {
            *v = base_dir.join(v.as_str()).to_string_lossy().into_owned();
        }
    }
    p
}
