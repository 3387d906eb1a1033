//! The start-up checks of the directories the daemon writes in, made before anything is
//! started (and by `--check-config`), for the user and group it will run as: the pid file's
//! and the log file's directory, where a problem stops the start, and SaveFile's
//! `attacks_dir` and `downloads_dir`, where it is a warning (the daemon runs on and saves
//! nothing there until the directory is fixed). The C original found out when it first
//! failed to write, with a message that named no path, or never.

use crate::config::{self, dir_problem, Config, DirProblem, Plugin, RunAs};
use crate::pipeline::output::savefile;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found.
#[derive(Debug)]
pub enum Finding {
    /// The daemon cannot start: the text, without the `Error - ` prefix.
    Error(String),
    /// The daemon can start: the whole line, prefix included.
    Warning(String),
}

impl Finding {
    pub fn is_error(&self) -> bool {
        matches!(self, Finding::Error(_))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Error(t) => write!(f, "Error - {t}"),
            Finding::Warning(t) => f.write_str(t),
        }
    }
}

/// Checks the directories of `cfg` (paths already absolute, plugin paths relative to
/// `base_dir`). `created`: directories the built-in configuration creates itself, fine when
/// missing.
pub fn directories(cfg: &Config, base_dir: &Path, created: &[PathBuf]) -> Vec<Finding> {
    let mut found = Vec::new();
    let starter = RunAs::current();
    let runner = config::run_as(cfg);
    let run_ids = Some(runner.ids()).filter(|&ids| ids != starter.ids());
    let will_exist = |dir: &Path| created.iter().any(|c| c == dir) && !dir.exists();

    // The pid file is created before the privilege drop and removed after it.
    let pid_dir = cfg.pidfile.parent().unwrap_or(Path::new("/"));
    if !will_exist(pid_dir) {
        let usable = |p: &DirProblem| matches!(p, DirProblem::NotWritable) && cfg.pidfile.is_file();
        if let Some(p) = dir_problem(pid_dir, None).filter(|p| !usable(p)) {
            found.push(Finding::Error(format!(
                "Unable to open pid file {}: directory {} {}.",
                cfg.pidfile.display(),
                pid_dir.display(),
                p.of(&starter)
            )));
        } else if let Some(p @ DirProblem::NotWritable) = run_ids.and_then(|ids| dir_problem(pid_dir, Some(ids))) {
            found.push(Finding::Warning(format!(
                "Warning - The pid file directory {} {}; the pid file will be emptied, not removed, at exit.",
                pid_dir.display(),
                p.of(&runner)
            )));
        }
    }

    // The log file is opened before the privilege drop and given to the run user.
    let log_dir = cfg.logfile.parent().unwrap_or(Path::new("/"));
    if !will_exist(log_dir) && !cfg.logfile.is_file() {
        if let Some(p) = dir_problem(log_dir, None) {
            found.push(Finding::Error(format!(
                "Unable to open logfile {}: directory {} {}.",
                cfg.logfile.display(),
                log_dir.display(),
                p.of(&starter)
            )));
        }
    }

    // SaveFile writes as the run user.
    for p in cfg.plugins.iter().filter(|p| p.plugin == Plugin::SaveFile) {
        let p = crate::pipeline::absolute_paths(p, base_dir);
        for (key, what) in savefile::DIRS {
            let Some(dir) = p.option(key).filter(|v| !v.is_empty()).map(PathBuf::from) else { continue };
            if will_exist(&dir) {
                continue;
            }
            if let Some(problem) = dir_problem(&dir, run_ids) {
                found.push(Finding::Warning(savefile::dir_warning(key, &dir, what, &problem, &runner)));
            }
        }
    }
    found
}
