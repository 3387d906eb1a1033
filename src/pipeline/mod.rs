//! The attack pipeline (SPEC §7.2, §7.3, §8): what happens to an attack record once its
//! connection has ended. Replaces the C original's plugin hook lists (plughook.c) and the
//! plugins themselves, as built-in modules selected by the `plugin-<Name>` keys, run in the
//! fixed order of the C hook priorities: decoders (PREPROC: `decode`), download commands and
//! clients (ANALYZE: `extract`, `download`, orchestrated by `analyze`), outputs (SAVEDATA:
//! `output`).

pub mod analyze;
pub mod decode;
pub mod download;
pub mod extract;
pub mod output;
pub mod request;

use crate::attack::Attack;
use crate::config::{Config, Plugin};
use analyze::{Decoders, Downloader};
use output::savefile::SaveFile;
use std::path::Path;

/// The configured stages.
#[derive(Debug, Default)]
pub struct Pipeline {
    pub decoders: Decoders,
    pub downloader: Option<Downloader>,
    pub savefile: Option<SaveFile>,
}

impl Pipeline {
    /// The stages `cfg` configures. Relative directories in plugin options are taken from
    /// `base_dir` (the start-up directory), like the core paths.
    pub fn from_config(cfg: &Config, base_dir: &Path) -> Result<Pipeline, String> {
        let has = |p: Plugin| cfg.plugins.iter().any(|c| c.plugin == p);
        let mut savefile = None;
        for p in cfg.plugins.iter().filter(|p| p.plugin == Plugin::SaveFile) {
            savefile = Some(SaveFile::from_config(&resolve_dirs(p, base_dir))?);
        }
        Ok(Pipeline {
            decoders: Decoders {
                b64: has(Plugin::B64Decode),
                unicode: has(Plugin::DeUnicode),
                vnc: has(Plugin::VncDownload),
            },
            downloader: Downloader::from_config(cfg)?,
            savefile,
        })
    }

    /// Runs a finished attack through the stages: decoders, downloads, outputs.
    pub fn process(&self, attack: &mut Attack) {
        if let Some(d) = &self.downloader {
            if !attack.payload.data.is_empty() && d.max_per_attack > 0 {
                let derived = self.decoders.derive(&attack.payload.data);
                let requests = analyze::requests_of(&attack.payload.data, &derived);
                d.run(attack, requests);
            }
        }
        if let Some(sf) = &self.savefile {
            sf.save(attack);
        }
    }
}

/// A copy of a plugin's options with relative `*_dir` values made absolute.
fn resolve_dirs(p: &crate::config::PluginConfig, base_dir: &Path) -> crate::config::PluginConfig {
    let mut p = p.clone();
    for (k, v) in p.options.iter_mut() {
        if k.ends_with("_dir") && !v.is_empty() && !Path::new(v.as_str()).is_absolute() {
            *v = base_dir.join(v.as_str()).to_string_lossy().into_owned();
        }
    }
    p
}
