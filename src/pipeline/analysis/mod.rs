//! The analysis stage: what was caught, after the downloads and before SaveFile and the
//! outputs. Replaces the C original's ANALYZE and POSTPROC plugins that are implemented
//! here: magicPE (htm_magicPE.c) and SpamSum (htm_SpamSum.c).
//!
//! * magicPE: the file type of the attack string and of every download ([`filetype`]); an
//!   attack string that is an executable (PE, ELF, Mach-O, MS-DOS) is attached to the record
//!   as a download of type `raw` (the C plugin did so for MS-DOS executables only, which
//!   modern libmagic no longer names).
//! * SpamSum: the fuzzy hash ([`spamsum`]) of the attack string and of every download, and
//!   for the attack string the C plugin's signature files: `md5sum_sigfile` (an MD5 seen
//!   before stops there; else it is appended) and `spamsum_sigfile` (the best match score
//!   against the signatures in it is logged and recorded; the new signature is appended
//!   unless it is there already — the C plugin's duplicate check never matched).
//!
//! * cpuEmu: where x86 shellcode starts in the attack string ([`getpc`]), logged and
//!   recorded; detection only, nothing is emulated or run.
//! * ClamAV: every download streamed to clamd ([`clamav`]); the verdict (`clean` or the
//!   signature name) is logged and recorded.
//!
//! The signature files are read once when the stage is set up (at most [`SIG_MAX`] lines
//! each) and appended to with one write per line, never through a symbolic link.

pub mod clamav;
pub mod filetype;
pub mod getpc;
pub mod spamsum;

use super::output::append::AppendLog;
use crate::attack::{Attack, Download, Findings, Payload};
use crate::config::{Config, Plugin};
use crate::{log_err, log_info, log_notice, log_warn};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Signature lines kept in memory from each file at most; older ones beyond are not compared.
pub const SIG_MAX: usize = 1_000_000;
/// A spamsum comparison stops at this score, as the C plugin's did.
const GOOD_ENOUGH: u32 = 90;
/// Time the comparisons of one attack may take; the best score so far counts after it.
const COMPARE_TIME: Duration = Duration::from_secs(2);

/// The SpamSum signature files and what they hold.
struct Signatures {
    md5_path: PathBuf,
    spamsum_path: PathBuf,
    md5: HashSet<String>,
    spamsum: Vec<String>,
    spamsum_set: HashSet<String>,
}

/// The configured analyses.
#[derive(Default)]
pub struct Analyzer {
    magic: bool,
    spamsum: bool,
    signatures: Option<Mutex<Signatures>>,
    clamd: Option<clamav::Clamd>,
    cpuemu: bool,
}

impl Analyzer {
    /// The analyses `cfg` enables, `None` when none is; an error names a `clamd_socket`
    /// that is not a socket's name.
    pub fn from_config(cfg: &Config, base_dir: &Path) -> Result<Option<Analyzer>, super::PipelineError> {
        let magic = cfg.plugins.iter().any(|p| p.plugin == Plugin::MagicPe);
        let spam = cfg.plugins.iter().find(|p| p.plugin == Plugin::SpamSum);
        let clam = cfg.plugins.iter().find(|p| p.plugin == Plugin::ClamAv);
        let cpu = cfg.plugins.iter().find(|p| p.plugin == Plugin::CpuEmu);
        if !magic && spam.is_none() && clam.is_none() && cpu.is_none() {
            return Ok(None);
        }
        if let Some(p) = cpu {
            log_notice!("cpuEmu - No x86 emulator in this version: shellcode is located (GetPC), not run.");
            if p.option("execute_shellcode") == Some("yes") {
                log_warn!("cpuEmu - Warning - execute_shellcode is not supported and is ignored.");
            }
        }
        let clamd = match clam {
            None => None,
            Some(p) => {
                let value = p.option("clamd_socket").unwrap_or(clamav::DEFAULT_SOCKET);
                let target = clamav::parse_target(value, base_dir).ok_or_else(|| {
                    super::PipelineError::ClamdSocket { span: p.span.clone(), value: value.to_string() }
                })?;
                Some(clamav::Clamd::new(target))
            }
        };
        let signatures = spam.and_then(|p| {
            let path = |k: &str| p.option(k).filter(|v| !v.is_empty()).map(|v| base_dir.join(v));
            let (Some(md5_path), Some(spamsum_path)) = (path("md5sum_sigfile"), path("spamsum_sigfile")) else {
                return None;
            };
            match (read_lines(&md5_path), read_lines(&spamsum_path)) {
                (Ok(md5), Ok(spamsum)) => {
                    let spamsum_set = spamsum.iter().cloned().collect();
                    Some(Mutex::new(Signatures {
                        md5_path,
                        spamsum_path,
                        md5: md5.into_iter().collect(),
                        spamsum,
                        spamsum_set,
                    }))
                }
                (Err((p, e)), _) | (_, Err((p, e))) => {
                    log_err!(
                        "SpamSum - Error - Unable to read signature file {}: {}.",
                        p.display(),
                        crate::sys::strerror(&e)
                    );
                    None
                }
            }
        });
        Ok(Some(Analyzer { magic, spamsum: spam.is_some(), signatures, clamd, cpuemu: cpu.is_some() }))
    }

    /// Analyses `attack`: its string and every download.
    pub fn run(&self, attack: &mut Attack) {
        if attack.payload.data.is_empty() && attack.downloads.is_empty() {
            return;
        }
        let mut found = self.examine(&attack.payload);
        if self.cpuemu {
            if let Some((offset, kind)) = getpc::find(&attack.payload.data) {
                log_notice!(
                    "cpuEmu - Possible shellcode at offset {} of the attack string (GetPC: {}).",
                    offset,
                    kind.name()
                );
                found.getpc_offset = Some(offset);
            }
        }
        if self.magic && found.filetype.is_some() && filetype::is_executable(&attack.payload.data) {
            let mut d = Download::new("raw", attack.payload.data.clone());
            d.remote = Some(attack.remote);
            d.findings = self.examine(&d.payload);
            attack.downloads.push(d);
            log_notice!("magicPE - Attack string attached as download to attack record.");
        }
        if let Some(t) = &found.filetype {
            log_info!("magicPE - Attack string is {}.", t);
        }
        if let Some(sigs) = &self.signatures {
            if let Some(h) = &found.ssdeep {
                let mut s = sigs.lock().unwrap_or_else(|e| e.into_inner());
                found.md5_known = s.known_md5(&attack.payload.md5);
                if found.md5_known {
                    log_info!("SpamSum - Found an exact MD5 hash match.");
                } else {
                    let score = s.best_match(h);
                    log_info!("SpamSum - Spamsum match score is {}.", score);
                    found.ssdeep_score = Some(score);
                    s.add_spamsum(h);
                }
            }
        }
        for d in attack.downloads.iter_mut() {
            if d.findings == Findings::default() {
                d.findings = self.examine(&d.payload);
            }
            if let Some(c) = &self.clamd {
                if !d.payload.data.is_empty() {
                    d.findings.clamav = c.verdict(&d.payload.md5, &d.payload.data).and_then(|v| match v {
                        clamav::Verdict::Clean => Some("clean".to_string()),
                        clamav::Verdict::Infected(name) => Some(name),
                        clamav::Verdict::Error(_) => None,
                    });
                }
            }
        }
        attack.findings = found;
    }

    /// The file type and fuzzy hash of `p` (each when its plugin is on).
    fn examine(&self, p: &Payload) -> Findings {
        if p.data.is_empty() {
            return Findings::default();
        }
        Findings {
            filetype: self.magic.then(|| filetype::describe(&p.data)).flatten(),
            ssdeep: self.spamsum.then(|| spamsum::hash(&p.data)),
            ..Findings::default()
        }
    }
}

impl Signatures {
    /// Whether `md5` is in `md5sum_sigfile`; if not, it is added (file and memory).
    fn known_md5(&mut self, md5: &str) -> bool {
        if self.md5.contains(md5) {
            return true;
        }
        if self.md5.len() < SIG_MAX {
            self.md5.insert(md5.to_string());
        }
        append(&self.md5_path, md5);
        false
    }

    /// The best score of `h` against the signatures, stopping at [`GOOD_ENOUGH`] or after
    /// [`COMPARE_TIME`].
    fn best_match(&self, h: &str) -> u32 {
        let end = Instant::now() + COMPARE_TIME;
        let mut best = 0;
        for (i, s) in self.spamsum.iter().enumerate() {
            best = best.max(spamsum::compare(h, s).unwrap_or(0));
            if best >= GOOD_ENOUGH || (i % 1024 == 1023 && Instant::now() >= end) {
                break;
            }
        }
        best
    }

    /// Appends `h` to `spamsum_sigfile` unless it is there already.
    fn add_spamsum(&mut self, h: &str) {
        if self.spamsum_set.contains(h) {
            return;
        }
        if self.spamsum.len() < SIG_MAX {
            self.spamsum.push(h.to_string());
            self.spamsum_set.insert(h.to_string());
        }
        append(&self.spamsum_path, h);
    }
}

/// The lines of a signature file (at most [`SIG_MAX`], empty ones skipped).
fn read_lines(p: &Path) -> Result<Vec<String>, (PathBuf, std::io::Error)> {
    let text = std::fs::read_to_string(p).map_err(|e| (p.to_path_buf(), e))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).take(SIG_MAX).map(str::to_string).collect())
}

/// Appends one line to a signature file (one write, never through a symbolic link).
fn append(p: &Path, line: &str) {
    match AppendLog::open("SpamSum", p) {
        Ok(f) => {
            let _ = f.write_line(format!("{line}\n").as_bytes());
        }
        Err(e) => {
            log_err!("SpamSum - Error - Unable to open signature file {}: {}.", p.display(), crate::sys::strerror(&e))
        }
    }
}
