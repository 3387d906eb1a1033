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
use crate::config::{Config, Plugin, Proto};
use analyze::{Decoders, Downloader, Note};
use output::events::Event;
use output::savefile::{FileOutcome, SaveFile};
use outputs::Outputs;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// The configured stages.
#[derive(Default)]
pub struct Pipeline {
    pub decoders: Decoders,
    pub downloader: Option<Downloader>,
    pub savefile: Option<SaveFile>,
    /// Logs, event stream, collectors: set by the daemon, which keeps them across reloads.
    pub outputs: Arc<Outputs>,
}

impl Pipeline {
    /// The stages `cfg` configures. Relative directories in plugin options are taken from
    /// `base_dir` (the start-up directory), like the core paths.
    pub fn from_config(cfg: &Config, base_dir: &Path) -> Result<Pipeline, String> {
        let has = |p: Plugin| cfg.plugins.iter().any(|c| c.plugin == p);
        let mut savefile = None;
        for p in cfg.plugins.iter().filter(|p| p.plugin == Plugin::SaveFile) {
            savefile = Some(SaveFile::from_config(&absolute_paths(p, base_dir))?);
        }
        Ok(Pipeline {
            decoders: Decoders {
                b64: has(Plugin::B64Decode),
                unicode: has(Plugin::DeUnicode),
                vnc: has(Plugin::VncDownload),
            },
            downloader: Downloader::from_config(cfg)?,
            savefile,
            outputs: Arc::default(),
        })
    }

    /// Runs a finished attack through the stages: decoders, downloads, SaveFile, then the
    /// logs and collectors (SPEC §15.3 decision 2: after the downloads), with the events of
    /// the connection.
    pub fn process(&self, attack: &mut Attack) {
        let out = &self.outputs;
        let events = out.wants_events();
        let session = out.session(attack);
        if events && attack.proto == Proto::Udp {
            // A UDP flow is known only once it has ended.
            out.emit(&Event::connect(&session, attack.start));
        }
        if events && !attack.payload.data.is_empty() {
            out.emit(&Event::input(&session, attack.end, &attack.payload, out.data_limit()));
        }
        if let Some(d) = &self.downloader {
            if !attack.payload.data.is_empty() && d.max_per_attack > 0 {
                // The derived strings (charged to the memory budget) are dropped before the
                // downloads start.
                let requests = {
                    let mut charge = attack.charge.sibling();
                    let derived = self.decoders.derive(&attack.payload.data, &mut charge);
                    analyze::requests_of(&attack.payload.data, &derived)
                };
                d.run(attack, requests, &|note| {
                    if events {
                        out.emit(&match note {
                            Note::Started(url) => Event::download_started(&session, SystemTime::now(), url),
                            Note::Failed(url, why) => Event::download_failed(&session, SystemTime::now(), url, why),
                        });
                    }
                });
            }
        }
        let saved = self.savefile.as_ref().map(|sf| sf.save(attack));
        for (i, dl) in attack.downloads.iter().enumerate() {
            out.sample(&dl.payload.data);
            if events {
                let stored = saved.as_ref().and_then(|s| s.downloads.get(i));
                let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
                let (outfile, duplicate) = match stored {
                    Some(FileOutcome::Saved(p)) => (name(p), false),
                    Some(FileOutcome::Known(p)) => (name(p), true),
                    _ => (None, false),
                };
                let url = dl.uri.as_deref().unwrap_or("");
                out.emit(&Event::download(
                    &session,
                    SystemTime::now(),
                    url,
                    &dl.payload,
                    outfile.as_deref(),
                    duplicate,
                ));
            }
        }
        if events {
            let duration = attack.end.duration_since(attack.start).unwrap_or_default();
            let bytes_in = attack.payload.data.len() as u64;
            out.emit(&Event::closed(&session, attack.end, duration, bytes_in, attack.bytes_out));
        }
        out.attack(attack);
    }
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
pub mod outputs;
