//! The settings every new connection reads (configuration, responses, pipeline, the `-r` and
//! `-l` intervals), built from a loaded configuration and replaced as a whole on SIGHUP.

use super::responses::Responses;
use crate::config::Config;
use crate::pipeline::{Pipeline, PipelineError};
use crate::sys::strerror;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings every new connection reads; replaced as a whole on SIGHUP.
pub struct Settings {
    pub cfg: Config,
    pub responses: Responses,
    pub pipeline: Pipeline,
    /// `-r`: normal-mode idle interval.
    pub read_timeout: Duration,
    /// `-l`: a listener without connections for this long closes; `None`: never.
    pub listen_timeout: Option<Duration>,
}

/// Why the settings of a configuration cannot be built (without the `Error - ` prefix,
/// which the daemon's error adds).
#[derive(Debug)]
pub enum SettingsError {
    /// The response directory cannot be read.
    Responses { dir: PathBuf, err: io::Error },
    /// A plugin stage cannot be set up.
    Pipeline(PipelineError),
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Responses { dir, err } => {
                write!(f, "Unable to open response directory {}: {}", dir.display(), strerror(err))
            }
            SettingsError::Pipeline(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Builds the settings from a loaded configuration: loads the responses, sets up the
    /// plugins this program implements. Relative directories in plugin options are taken
    /// from `base_dir` (the start-up directory), like the core paths.
    pub fn new(cfg: Config, base_dir: &Path, read_timeout: u8, listen_timeout: u8) -> Result<Settings, SettingsError> {
        let responses = Responses::load(&cfg.response_dir)
            .map_err(|err| SettingsError::Responses { dir: cfg.response_dir.clone(), err })?;
        let pipeline = Pipeline::from_config(&cfg, base_dir).map_err(SettingsError::Pipeline)?;
        Ok(Settings {
            cfg,
            responses,
            pipeline,
            read_timeout: Duration::from_secs(read_timeout.into()),
            listen_timeout: (listen_timeout > 0).then(|| Duration::from_secs(listen_timeout.into())),
        })
    }
}
