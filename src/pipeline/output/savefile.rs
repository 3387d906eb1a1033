//! The SaveFile output (`plugin-SaveFile`, SAVEDATA stage): the raw attack string as
//! `<attacks_dir>/from_port_<port>-<tcp|udp|raw>_<n>_<YYYY-MM-DD>` and every downloaded sample
//! as `<downloads_dir>/<md5>-<filename>` (or `<md5>`), mode 0644, contents only, no metadata.
//! Replaces the C original's htm_SaveFile.c.
//!
//! Deliberate differences (docs/COMPATIBILITY.md, Differences from the C honeytrap):
//! * `<n>` is no longer the handler's pid but a number that never repeats, by construction:
//!   numbers are handed out from blocks reserved in `<attacks_dir>/.honeytrap-counter`, a
//!   file holding one decimal number below which every number may have been used. A
//!   reservation writes the end of the new block to that file (written aside, synced,
//!   renamed into place) before any number of the block is used, so a daemon killed at any
//!   moment, restarted at once, continues above every number its predecessor could have
//!   taken. Without that file (first start, or lost), the first block starts above the
//!   highest number found in the directory and above the time in milliseconds. No file is
//!   ever overwritten: should a name be taken anyway (a file put there by someone else), the
//!   next number is used.
//! * Files appear complete or not at all: an attack file is written as an unnamed file of
//!   the directory (`O_TMPFILE`) and linked once written ([`crate::sys::fs::link_unnamed`]);
//!   where there are no unnamed files, and for downloads, under a hidden temporary name in
//!   the same directory (`.<name>.tmp`, `.<md5>.<pid>.<seq>.tmp`), then linked to the final
//!   name; never replacing anything ([`crate::sys::fs::publish_noreplace`]). Temporary files
//!   left by a killed daemon are removed at the next start ([`remove_stale`]): only regular
//!   files with exactly these name patterns, never through a symbolic link.
//! * A sample saved before (same md5, under any name) is reported as known at INFO and
//!   not stored again; the remaining downloads are still saved (the C plugin logged an
//!   error and stopped, and stored the same sample once per file name).
//! * Download file names are sanitised ([`sanitize_filename`]): `/`, NUL and control
//!   characters become `_`, names of dots only are dropped, length is capped at
//!   [`MAX_FILENAME`] bytes. The C plugin used the attacker's name verbatim (a `/` made the
//!   save fail).
//! * A missing `attacks_dir` / `downloads_dir` disables that kind of file with a warning at
//!   start (the C plugin wrote to `(null)/…` and failed on every attack). The attack file is
//!   announced at DEBUG (the C plugin logged nothing for it).
//! * A failing save (full disk, …) is logged at most once a minute for attack strings and
//!   once a minute for samples, with the number of failures since the last message (the C
//!   plugin logged every one).

use super::OutputError;
use crate::attack::{md5_hex, Attack, Download};
use crate::config::{DirProblem, Plugin, PluginConfig, RunAs};
use crate::log::{more_since, Throttle};
use crate::sys::fs::{create_unnamed, link_unnamed, publish_noreplace};
use crate::sys::{strerror, time};
use crate::text;
use crate::{log_debug, log_err, log_info, log_notice, log_warn};
use std::fs::{OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// SaveFile's directory keys, with what is saved there.
pub const DIRS: [(&str, &str); 2] = [("attacks_dir", "attack strings"), ("downloads_dir", "malware samples")];

/// The warning for SaveFile's directory `dir` (the value of `key`, where `what` is saved)
/// that `who` cannot use.
pub fn dir_warning(key: &str, dir: &Path, what: &str, problem: &DirProblem, who: &RunAs) -> String {
    let until = if matches!(problem, DirProblem::NotWritable) { "it is" } else { "it exists" };
    format!("SaveFile - Warning - {key} {} {}, {what} will not be saved until {until}.", dir.display(), problem.of(who))
}

/// Longest sanitised download file name, in bytes (keeps `<md5>-<name>` under NAME_MAX).
pub const MAX_FILENAME: usize = 200;
/// Numbers tried for one attack file before giving up.
const MAX_NAME_TRIES: u32 = 1000;
/// Mode of every file written (the C plugin's `chmod 0644`, independent of the umask).
const FILE_MODE: u32 = 0o644;

/// The SaveFile output, configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveFile {
    attacks_dir: Option<PathBuf>,
    downloads_dir: Option<PathBuf>,
}

/// What happened to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOutcome {
    /// Written under this name.
    Saved(PathBuf),
    /// A file of this name (the same sample) exists already; nothing written.
    Known(PathBuf),
    /// Not saved by design: no data, or the directory is not configured.
    Skipped,
    /// Saving failed (`strerror` text); nothing was left behind.
    Failed(String),
}

/// What [`SaveFile::save`] did with one attack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveOutcome {
    pub attack: FileOutcome,
    /// One entry per download of the attack, in order.
    pub downloads: Vec<FileOutcome>,
}

impl SaveFile {
    /// Reads `attacks_dir` and `downloads_dir` from a `plugin-SaveFile` entry. A missing key
    /// disables that kind of file (warning); an empty value is an error. Whether the
    /// directories exist and can be written is checked by the daemon before start-up and by
    /// [`SaveFile::warn_unwritable`] at a reload: saving fails until they are fixed.
    pub fn from_config(cfg: &PluginConfig) -> Result<SaveFile, OutputError> {
        if cfg.plugin != Plugin::SaveFile {
            return Err(OutputError::WrongPlugin { got: cfg.plugin, expect: Plugin::SaveFile });
        }
        let dir = |key: &'static str, what: &str| -> Result<Option<PathBuf>, OutputError> {
            match cfg.option(key) {
                None => {
                    log_warn!("SaveFile - Warning - No {} configured, {} will not be saved.", key, what);
                    Ok(None)
                }
                Some("") => Err(OutputError::BadOption {
                    plugin: Plugin::SaveFile,
                    key,
                    why: format!("{key} must not be empty"),
                }),
                Some(v) => Ok(Some(PathBuf::from(v))),
            }
        };
        Ok(SaveFile {
            attacks_dir: dir("attacks_dir", "attack strings")?,
            downloads_dir: dir("downloads_dir", "malware samples")?,
        })
    }

    /// Warns about each directory that is missing or that this process cannot create files
    /// in (checked with the real ids: after the privilege drop, the run user's, named by
    /// `who`). The daemon calls it on every reload; at start-up the same check is made
    /// before anything starts, for the run user.
    pub fn warn_unwritable(&self, who: &RunAs) {
        for ((key, what), dir) in DIRS.into_iter().zip([&self.attacks_dir, &self.downloads_dir]) {
            let Some(dir) = dir.as_deref() else { continue };
            if let Some(problem) = crate::config::dir_problem(dir, None) {
                log_warn!("{}", dir_warning(key, dir, what, &problem, who));
            }
        }
    }

    /// A SaveFile writing to the given directories (`None`: that kind is not saved).
    pub fn new(attacks_dir: Option<PathBuf>, downloads_dir: Option<PathBuf>) -> SaveFile {
        SaveFile { attacks_dir, downloads_dir }
    }

    pub fn attacks_dir(&self) -> Option<&Path> {
        self.attacks_dir.as_deref()
    }

    pub fn downloads_dir(&self) -> Option<&Path> {
        self.downloads_dir.as_deref()
    }

    /// Saves the attack string and every download. An attack without bytes saves nothing
    /// (as in the C original, which then also skipped its downloads).
    pub fn save(&self, attack: &Attack) -> SaveOutcome {
        if attack.payload.is_empty() {
            return SaveOutcome {
                attack: FileOutcome::Skipped,
                downloads: attack.downloads.iter().map(|_| FileOutcome::Skipped).collect(),
            };
        }
        let attack_outcome = match &self.attacks_dir {
            Some(dir) => save_attack(dir, attack),
            None => FileOutcome::Skipped,
        };
        let downloads = attack
            .downloads
            .iter()
            .map(|dl| match &self.downloads_dir {
                Some(dir) => save_download(dir, dl),
                None => FileOutcome::Skipped,
            })
            .collect();
        SaveOutcome { attack: attack_outcome, downloads }
    }
}

/// Numbers reserved at a time in the counter file (one synced write per this many attack
/// files).
const BLOCK: u64 = 4096;
/// The counter file in `attacks_dir`: the decimal number at which the next block starts.
const COUNTER_FILE: &str = ".honeytrap-counter";
/// How often a recurring save error is logged.
const ERROR_INTERVAL: Duration = Duration::from_secs(60);

/// The numbers of one directory: `next..end` is reserved and not used yet.
struct Numbers {
    dir: PathBuf,
    next: u64,
    end: u64,
}

/// The next attack file number for `dir`: from the block this process reserved, or from a
/// new block ([`reserve`]) when that is used up. Process-wide, so a SaveFile made by a
/// reload continues the same block.
fn next_number(dir: &Path) -> io::Result<u64> {
    static NUMBERS: Mutex<Vec<Numbers>> = Mutex::new(Vec::new());
    let mut all = NUMBERS.lock().unwrap_or_else(|e| e.into_inner());
    let i = match all.iter().position(|n| n.dir == dir) {
        Some(i) => i,
        None => {
            all.push(Numbers { dir: dir.to_path_buf(), next: 0, end: 0 });
            all.len() - 1
        }
    };
    let n = &mut all[i];
    if n.next >= n.end {
        n.next = reserve(dir, BLOCK)?;
        n.end = n.next + BLOCK;
    }
    n.next += 1;
    Ok(n.next - 1)
}

/// Reserves `count` numbers in `dir`: returns the first, after the counter file says that
/// they are taken. The caller holds the process-wide lock, so two reservations of this
/// process never overlap.
fn reserve(dir: &Path, count: u64) -> io::Result<u64> {
    let start = match read_counter(dir) {
        Some(n) => n,
        None => {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            highest_number(dir).map_or(0, |n| n.saturating_add(1)).max(now_ms)
        }
    };
    let end = start
        .checked_add(count)
        .ok_or_else(|| io::Error::other(format!("the attack file numbers of {} are used up", dir.display())))?;
    let tmp = dir.join(format!("{COUNTER_FILE}.tmp"));
    let write = || -> io::Result<()> {
        // Whatever has the temporary name (left by a killed run, or a link) goes first.
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(end.to_string().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(COUNTER_FILE))
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(start)
}

/// The number in the counter file of `dir`, if it holds one (read without following a
/// link).
fn read_counter(dir: &Path) -> Option<u64> {
    let mut text = String::new();
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(dir.join(COUNTER_FILE))
        .ok()?;
    (&mut f).take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The highest `<n>` of the attack file names in `dir` (read once, when the counter file is
/// missing).
fn highest_number(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir).ok()?.filter_map(Result::ok).filter_map(|e| attack_number(&e.file_name())).max()
}

/// The `<n>` of an attack file name `from_port_<port>-<proto>_<n>_<YYYY-MM-DD>`.
fn attack_number(name: &std::ffi::OsStr) -> Option<u64> {
    let rest = name.to_str()?.strip_prefix("from_port_")?;
    let (port, rest) = rest.split_once('-')?;
    let mut parts = rest.splitn(3, '_');
    let (proto, n, date) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let date_ok = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || b == b'-' && (i == 4 || i == 7));
    (digits(port) && matches!(proto, "tcp" | "udp" | "raw") && digits(n) && date_ok).then(|| n.parse().ok()).flatten()
}

/// Whether `name` is one of the temporary names SaveFile writes: `.<attack file>.tmp`,
/// `.<md5>.<pid>.<seq>.tmp`, or the counter file's `.honeytrap-counter.tmp`.
fn is_temporary_name(name: &std::ffi::OsStr) -> bool {
    let Some(inner) = name.to_str().and_then(|n| n.strip_prefix('.')).and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let download = || {
        let p: Vec<&str> = inner.split('.').collect();
        p.len() == 3 && p[0].len() == 32 && p[0].bytes().all(|b| b.is_ascii_hexdigit()) && digits(p[1]) && digits(p[2])
    };
    inner == &COUNTER_FILE[1..] || attack_number(std::ffi::OsStr::new(inner)).is_some() || download()
}

/// Removes the temporary files a killed daemon left in the directories of `savefile` (at
/// start, before any save): regular files with SaveFile's temporary names only; a symbolic
/// link or anything else of such a name is left alone, and nothing is followed (the
/// directory entry's own type decides, and `unlink(2)` removes a name, never a target).
pub fn remove_stale(savefile: Option<&SaveFile>) {
    let Some(sf) = savefile else { return };
    let mut dirs: Vec<&Path> = sf.attacks_dir.iter().chain(sf.downloads_dir.iter()).map(PathBuf::as_path).collect();
    dirs.dedup();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut removed = 0;
        for e in entries.filter_map(Result::ok) {
            if is_temporary_name(&e.file_name()) && e.file_type().is_ok_and(|t| t.is_file()) {
                match std::fs::remove_file(e.path()) {
                    Ok(()) => removed += 1,
                    Err(err) => log_warn!(
                        "SaveFile - Warning - Unable to remove stale temporary file {}: {}.",
                        e.path().display(),
                        strerror(&err)
                    ),
                }
            }
        }
        if removed > 0 {
            log_notice!("SaveFile - Removed {} temporary file(s) of an earlier run from {}.", removed, dir.display());
        }
    }
}

/// A unique suffix for temporary download names within this process.
fn next_tmp_seq() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// `from_port_<port>-<proto>_<n>_<date>`.
fn attack_name(attack: &Attack, n: u64, date: &str) -> String {
    let mut name = String::with_capacity(48);
    name.push_str("from_port_");
    text::push_u64(&mut name, attack.local.port().into());
    name.push('-');
    name.push_str(attack.proto_label());
    name.push('_');
    text::push_u64(&mut name, n);
    name.push('_');
    name.push_str(date);
    name
}

fn save_attack(dir: &Path, attack: &Attack) -> FileOutcome {
    static ERRORS: Throttle = Throttle::new(ERROR_INTERVAL);
    match write_attack(dir, attack) {
        Ok(dst) => {
            crate::stats::STATS.output(crate::stats::Output::SaveFile).written.inc();
            log_debug!("SaveFile - Attack string saved as {}.", dst.display());
            FileOutcome::Saved(dst)
        }
        Err(e) => {
            crate::stats::STATS.output(crate::stats::Output::SaveFile).dropped.inc();
            let s = strerror(&e);
            if let Some(n) = ERRORS.due() {
                log_err!(
                    "SaveFile error - Unable to save attack string in attacks directory {}: {}{}",
                    dir.display(),
                    s,
                    more_since(n)
                );
            }
            FileOutcome::Failed(s)
        }
    }
}

/// Writes the attack string as an unnamed file, or where there are none under a temporary
/// name, then publishes it under the first free name; on failure nothing is left behind.
fn write_attack(dir: &Path, attack: &Attack) -> io::Result<PathBuf> {
    let mut date = String::with_capacity(10);
    text::push_date(&mut date, &time::local(time::now_secs()));
    let data = &attack.payload.data;
    // An unnamed file where the file system has them: one directory entry made per attack
    // (a temporary name costs two more, which writers of one directory contend for) and
    // nothing left behind by a crash.
    if let Some(mut f) = create_unnamed(dir, FILE_MODE)? {
        f.set_permissions(Permissions::from_mode(FILE_MODE))?;
        f.write_all(data)?;
        match publish_attack(dir, attack, &date, |dst| link_unnamed(&f, dst)) {
            // Without /proc: a temporary name, below.
            Err(e) if e.kind() == io::ErrorKind::NotFound && dir.is_dir() => {}
            r => return r,
        }
    }
    let mut tries = 1;
    let tmp = loop {
        let tmp = dir.join(format!(".{}.tmp", attack_name(attack, next_number(dir)?, &date)));
        match write_new(&tmp, data) {
            Ok(()) => break tmp,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < MAX_NAME_TRIES => tries += 1,
            Err(e) => return Err(e),
        }
    };
    let published = publish_attack(dir, attack, &date, |dst| publish_noreplace(&tmp, dst));
    if published.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    published
}

/// Names the written attack file (`link`) `from_port_…` with the next number, moving on to
/// the following number while a name is taken (at most [`MAX_NAME_TRIES`] names).
fn publish_attack(
    dir: &Path,
    attack: &Attack,
    date: &str,
    mut link: impl FnMut(&Path) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let mut tries = 1;
    loop {
        let dst = dir.join(attack_name(attack, next_number(dir)?, date));
        match link(&dst) {
            Ok(()) => return Ok(dst),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < MAX_NAME_TRIES => {
                log_debug!("SaveFile - {} exists, trying the next number.", dst.display());
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn save_download(dir: &Path, dl: &Download) -> FileOutcome {
    // Hash again rather than trust the record (the C plugin did the same).
    let md5 = md5_hex(&dl.payload.data);
    let name = dl.filename.as_deref().and_then(sanitize_filename);
    let file_name = match &name {
        Some(n) => format!("{}-{}", md5, n),
        None => md5.clone(),
    };
    let dst = dir.join(&file_name);
    let known = || {
        log_info!("SaveFile - Malware sample dumpfile {} is known already, not saved again.", file_name);
        FileOutcome::Known(dst.clone())
    };
    static ERRORS: Throttle = Throttle::new(ERROR_INTERVAL);
    let fail = |e: &io::Error| {
        let s = strerror(e);
        if let Some(n) = ERRORS.due() {
            log_warn!(
                "SaveFile error - Unable to save malware sample dumpfile {}: {}.{}",
                dst.display(),
                s,
                more_since(n)
            );
        }
        FileOutcome::Failed(s)
    };
    // One download at a time decides between "known" and "saved", so that the same sample
    // fetched by two attacks at once is stored once.
    static SAVING: Mutex<()> = Mutex::new(());
    let _one = SAVING.lock().unwrap_or_else(|e| e.into_inner());
    if dst.symlink_metadata().is_ok() {
        return known();
    }
    if let Some(existing) = stored_as(dir, &md5) {
        log_info!(
            "SaveFile - Malware sample dumpfile {} is known already as {}, not saved again.",
            file_name,
            existing
        );
        return FileOutcome::Known(dir.join(existing));
    }
    let tmp = dir.join(format!(".{}.{}.{}.tmp", md5, std::process::id(), next_tmp_seq()));
    if let Err(e) = write_new(&tmp, &dl.payload.data) {
        return fail(&e);
    }
    match publish_noreplace(&tmp, &dst) {
        Ok(()) => {
            match &name {
                Some(n) => log_notice!("SaveFile - Malware sample dumpfile {} saved.", n),
                None => log_notice!("SaveFile - Malware sample dumpfile saved."),
            }
            FileOutcome::Saved(dst)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if e.kind() == io::ErrorKind::AlreadyExists {
                known()
            } else {
                fail(&e)
            }
        }
    }
}

/// The name under which the sample with digest `md5` is stored already (`<md5>` or
/// `<md5>-<name>`), if any.
fn stored_as(dir: &Path, md5: &str) -> Option<String> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.strip_prefix(md5).is_some_and(|rest| rest.is_empty() || rest.starts_with('-')))
}

/// Creates `path` (which must not exist), mode 0644 whatever the umask, and writes `data`.
/// On failure nothing is left behind.
fn write_new(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)?;
    let r = f.set_permissions(Permissions::from_mode(FILE_MODE)).and_then(|()| f.write_all(data));
    if r.is_err() {
        drop(f);
        let _ = std::fs::remove_file(path);
    }
    r
}

/// A download file name made safe for `<md5>-<name>`: `/`, NUL and control characters
/// become `_`, the result is cut to [`MAX_FILENAME`] bytes (at a character boundary), and a
/// name that is empty or consists of dots only gives `None` (the file is then saved as
/// `<md5>`).
pub fn sanitize_filename(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len().min(MAX_FILENAME));
    for c in name.chars() {
        let c = if c == '/' || c.is_control() { '_' } else { c };
        if out.len() + c.len_utf8() > MAX_FILENAME {
            break;
        }
        out.push(c);
    }
    if out.chars().all(|c| c == '.') {
        None
    } else {
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::Payload;
    use crate::config::{Mode, Proto, Span};
    use std::net::SocketAddr;
    use std::time::SystemTime;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "honeytrap-savefile-test-{}-{}-{}",
                std::process::id(),
                tag,
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(p.join("attacks")).unwrap();
            std::fs::create_dir_all(p.join("downloads")).unwrap();
            Dir(p)
        }
        fn attacks(&self) -> PathBuf {
            self.0.join("attacks")
        }
        fn downloads(&self) -> PathBuf {
            self.0.join("downloads")
        }
        fn save_file(&self) -> SaveFile {
            SaveFile::new(Some(self.attacks()), Some(self.downloads()))
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The names in `dir`, but for the counter file.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != COUNTER_FILE)
            .collect();
        v.sort();
        v
    }

    fn attack(port: u16, proto: Proto, data: &[u8]) -> Attack {
        let local: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let remote: SocketAddr = "[2001:db8::1]:40000".parse().unwrap();
        let mut a = Attack::new(proto, local, remote, Mode::Normal, SystemTime::now());
        a.payload = Payload::new(data.to_vec());
        a
    }

    fn today() -> String {
        let t = time::local(time::now_secs());
        format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
    }

    /// Splits `from_port_<port>-<proto>_<n>_<date>` into its parts.
    fn split_attack_name(name: &str) -> Option<(u16, String, u64, String)> {
        let rest = name.strip_prefix("from_port_")?;
        let (port, rest) = rest.split_once('-')?;
        let mut parts = rest.splitn(3, '_');
        let proto = parts.next()?.to_string();
        let n = parts.next()?.parse().ok()?;
        let date = parts.next()?.to_string();
        Some((port.parse().ok()?, proto, n, date))
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn attack_file_name_contents_and_mode() {
        let d = Dir::new("name");
        let sf = d.save_file();
        let out = sf.save(&attack(21, Proto::Tcp, b"USER foo\r\n"));
        let FileOutcome::Saved(p) = &out.attack else { panic!("{out:?}") };
        assert_eq!(p.parent(), Some(d.attacks().as_path()));
        let name = p.file_name().unwrap().to_str().unwrap();
        let (port, proto, _, date) = split_attack_name(name).unwrap();
        assert_eq!((port, proto.as_str()), (21, "tcp"));
        assert_eq!(date.len(), 10);
        assert!(date == today() || date.as_bytes()[4] == b'-', "{date}");
        assert_eq!(std::fs::read(p).unwrap(), b"USER foo\r\n");
        assert_eq!(mode_of(p), 0o644);
        assert!(out.downloads.is_empty());
        assert_eq!(names(&d.attacks()), [name]);
        assert!(names(&d.downloads()).is_empty());

        let mut a = attack(53, Proto::Udp, b"x");
        let FileOutcome::Saved(p) = sf.save(&a).attack else { panic!() };
        assert!(p.file_name().unwrap().to_str().unwrap().starts_with("from_port_53-udp_"));
        a.is_virtual = true;
        let FileOutcome::Saved(p) = sf.save(&a).attack else { panic!() };
        assert!(p.file_name().unwrap().to_str().unwrap().starts_with("from_port_53-raw_"));
    }

    #[test]
    fn numbers_never_repeat() {
        let d = Dir::new("unique");
        let sf = d.save_file();
        let a = attack(80, Proto::Tcp, b"GET / HTTP/1.0\r\n\r\n");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let FileOutcome::Saved(p) = sf.save(&a).attack else { panic!() };
            assert!(seen.insert(p));
        }
        assert_eq!(names(&d.attacks()).len(), 50);
    }

    #[test]
    fn existing_next_names_are_never_overwritten() {
        let d = Dir::new("clash");
        let sf = d.save_file();
        let a = attack(4444, Proto::Tcp, b"new attack");
        // Occupy the names the next numbers would get (other tests may take some numbers
        // meanwhile, which only makes a clash less likely, never an overwrite possible).
        let n0 = next_number(&d.attacks()).unwrap() + 1;
        let date = today();
        let taken: Vec<PathBuf> = (n0..n0 + 30).map(|n| d.attacks().join(attack_name(&a, n, &date))).collect();
        for p in &taken {
            std::fs::write(p, b"old").unwrap();
        }
        let FileOutcome::Saved(p) = sf.save(&a).attack else { panic!() };
        assert!(!taken.contains(&p), "{p:?}");
        assert_eq!(std::fs::read(&p).unwrap(), b"new attack");
        for t in &taken {
            assert_eq!(std::fs::read(t).unwrap(), b"old");
        }
        assert_eq!(names(&d.attacks()).len(), 31, "no temporary file left");
    }

    #[test]
    fn zero_byte_attacks_are_not_saved() {
        let d = Dir::new("empty");
        let mut a = attack(21, Proto::Tcp, b"");
        a.downloads.push(Download::new("ftp", b"MZ".to_vec()));
        let out = d.save_file().save(&a);
        assert_eq!(out, SaveOutcome { attack: FileOutcome::Skipped, downloads: vec![FileOutcome::Skipped] });
        assert!(names(&d.attacks()).is_empty() && names(&d.downloads()).is_empty());
    }

    #[test]
    fn downloads_named_by_md5_and_deduplicated() {
        let d = Dir::new("dl");
        let sf = d.save_file();
        let mut a = attack(4444, Proto::Tcp, b"echo open 127.0.0.1 2100 > o");
        let mut evil = Download::new("ftp", b"MZ evil".to_vec());
        evil.filename = Some("evil.exe".into());
        let md5 = md5_hex(b"MZ evil");
        let nameless = Download::new("raw", b"MZ raw".to_vec());
        let mut other = Download::new("tftp", b"MZ other".to_vec());
        other.filename = Some("other.exe".into());
        a.downloads = vec![evil.clone(), nameless, other];

        let out = sf.save(&a);
        let evil_path = d.downloads().join(format!("{md5}-evil.exe"));
        let raw_path = d.downloads().join(md5_hex(b"MZ raw"));
        let other_path = d.downloads().join(format!("{}-other.exe", md5_hex(b"MZ other")));
        assert_eq!(
            out.downloads,
            [
                FileOutcome::Saved(evil_path.clone()),
                FileOutcome::Saved(raw_path.clone()),
                FileOutcome::Saved(other_path.clone())
            ]
        );
        assert_eq!(std::fs::read(&evil_path).unwrap(), b"MZ evil");
        assert_eq!(std::fs::read(&raw_path).unwrap(), b"MZ raw");
        assert_eq!(mode_of(&evil_path), 0o644);

        // Same sample again, first in the list: known, and the one after it is still saved.
        let mut newer = Download::new("http", b"MZ newer".to_vec());
        newer.filename = Some("newer.exe".into());
        a.downloads = vec![evil, newer];
        let out = sf.save(&a);
        let newer_path = d.downloads().join(format!("{}-newer.exe", md5_hex(b"MZ newer")));
        assert_eq!(out.downloads, [FileOutcome::Known(evil_path.clone()), FileOutcome::Saved(newer_path)]);
        assert_eq!(std::fs::read(&evil_path).unwrap(), b"MZ evil");
        assert_eq!(names(&d.downloads()).len(), 4, "no temporary file left");
        assert_eq!(names(&d.attacks()).len(), 2);

        // The same bytes under another name: stored once, under the first name.
        let mut renamed = Download::new("http", b"MZ evil".to_vec());
        renamed.filename = Some("renamed.exe".into());
        a.downloads = vec![renamed];
        assert_eq!(sf.save(&a).downloads, [FileOutcome::Known(evil_path.clone())]);
        assert_eq!(names(&d.downloads()).len(), 4);
    }

    #[test]
    fn record_digest_is_not_trusted() {
        let d = Dir::new("md5");
        let mut a = attack(1, Proto::Tcp, b"x");
        let mut dl = Download::new("ftp", b"real".to_vec());
        dl.payload.md5 = "0".repeat(32);
        a.downloads.push(dl);
        let out = d.save_file().save(&a);
        assert_eq!(out.downloads, [FileOutcome::Saved(d.downloads().join(md5_hex(b"real")))]);
    }

    #[test]
    fn hostile_file_names_stay_inside() {
        let d = Dir::new("hostile");
        let mut a = attack(1, Proto::Tcp, b"x");
        for (i, name) in ["../../etc/passwd", "..", "a\0b\nc", &"x".repeat(1000), "/abs"].iter().enumerate() {
            let mut dl = Download::new("ftp", vec![b'0' + i as u8]);
            dl.filename = Some(name.to_string());
            a.downloads.push(dl);
        }
        let out = d.save_file().save(&a);
        for o in &out.downloads {
            let FileOutcome::Saved(p) = o else { panic!("{o:?}") };
            assert_eq!(p.parent(), Some(d.downloads().as_path()));
        }
        let m = |b: &[u8]| md5_hex(b);
        let mut want = vec![
            format!("{}-.._.._etc_passwd", m(b"0")),
            m(b"1"),
            format!("{}-a_b_c", m(b"2")),
            format!("{}-{}", m(b"3"), "x".repeat(MAX_FILENAME)),
            format!("{}-_abs", m(b"4")),
        ];
        want.sort();
        assert_eq!(names(&d.downloads()), want);
    }

    #[test]
    fn sanitizing() {
        assert_eq!(sanitize_filename("evil.exe").as_deref(), Some("evil.exe"));
        assert_eq!(sanitize_filename("a/b").as_deref(), Some("a_b"));
        assert_eq!(sanitize_filename("..").as_deref(), None);
        assert_eq!(sanitize_filename(".").as_deref(), None);
        assert_eq!(sanitize_filename("").as_deref(), None);
        assert_eq!(sanitize_filename("...x").as_deref(), Some("...x"));
        assert_eq!(sanitize_filename("nul\0\x7f\x1b").as_deref(), Some("nul___"));
        assert_eq!(sanitize_filename("C:\\WINDOWS\\x.exe").as_deref(), Some("C:\\WINDOWS\\x.exe"));
        let long = "é".repeat(150); // 300 bytes
        let s = sanitize_filename(&long).unwrap();
        assert_eq!(s.len(), MAX_FILENAME);
        assert!(s.chars().all(|c| c == 'é'));
        let odd = format!("{}{}", "a".repeat(MAX_FILENAME - 1), "é");
        assert_eq!(sanitize_filename(&odd).unwrap().len(), MAX_FILENAME - 1);
    }

    fn now_ms() -> u64 {
        SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
    }

    #[test]
    fn a_restart_continues_above_every_number_reserved_before() {
        let d = Dir::new("restart");
        let dir = d.attacks();
        // First start: no counter file, an empty directory: the block starts at the clock.
        let before = now_ms();
        let first = reserve(&dir, 10).unwrap();
        assert!(first >= before && first <= now_ms(), "{first}");
        assert_eq!(std::fs::read_to_string(dir.join(COUNTER_FILE)).unwrap(), (first + 10).to_string());
        // A daemon killed right after (whatever it used of its block) and started again at
        // once: the next block starts where the reserved one ended, clock or no clock.
        assert_eq!(reserve(&dir, 10).unwrap(), first + 10);
        // A clock set back changes nothing either: the counter file decides.
        std::fs::write(dir.join(COUNTER_FILE), (now_ms() + 3_600_000).to_string()).unwrap();
        let later = reserve(&dir, 1).unwrap();
        assert!(later > now_ms() + 3_000_000);
        assert_eq!(names(&dir), Vec::<String>::new(), "no temporary file left");
    }

    #[test]
    fn without_a_counter_file_numbers_start_above_the_files_present() {
        let d = Dir::new("nocounter");
        let dir = d.attacks();
        // Files of an earlier run that saved faster than one per millisecond: numbers ahead
        // of the clock (the case that exhausted the old counter's retries).
        let ahead = now_ms() + 5_000_000;
        std::fs::write(dir.join(format!("from_port_80-tcp_{ahead}_2026-01-01")), b"x").unwrap();
        std::fs::write(dir.join(format!("from_port_80-tcp_{}_2026-01-01x", ahead + 9)), b"x").unwrap(); // not ours
        assert_eq!(reserve(&dir, 5).unwrap(), ahead + 1);
        // An unreadable counter counts as missing.
        std::fs::write(dir.join(COUNTER_FILE), "garbage").unwrap();
        assert_eq!(reserve(&dir, 5).unwrap(), ahead + 1);
    }

    #[test]
    fn a_linked_counter_file_is_not_followed() {
        let d = Dir::new("counterlink");
        let dir = d.attacks();
        let outside = d.0.join("outside");
        std::fs::write(&outside, "7").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join(COUNTER_FILE)).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join(format!("{COUNTER_FILE}.tmp"))).unwrap();
        let n = reserve(&dir, 3).unwrap();
        assert!(n > 7, "the link's target was not read: {n}");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "7", "nor written");
        let m = std::fs::symlink_metadata(dir.join(COUNTER_FILE)).unwrap();
        assert!(m.is_file(), "the link was replaced by the counter file");
    }

    #[test]
    fn temporary_names() {
        let md5 = "0123456789abcdef0123456789abcdef";
        for yes in [
            ".from_port_21-tcp_1795627123000_2026-11-25.tmp".to_string(),
            ".from_port_53-udp_5_2026-01-01.tmp".to_string(),
            ".from_port_1-raw_0_1999-12-31.tmp".to_string(),
            format!(".{md5}.4242.0.tmp"),
            ".honeytrap-counter.tmp".to_string(),
        ] {
            assert!(is_temporary_name(std::ffi::OsStr::new(&yes)), "{yes}");
        }
        for no in [
            "from_port_21-tcp_1_2026-11-25".to_string(),
            "from_port_21-tcp_1_2026-11-25.tmp".to_string(),
            ".from_port_21-tcp_1_2026-11-25".to_string(),
            ".from_port_21-icmp_1_2026-11-25.tmp".to_string(),
            ".from_port_21-tcp_x_2026-11-25.tmp".to_string(),
            ".from_port_21-tcp_1_2026-11-25-x.tmp".to_string(),
            format!(".{md5}.tmp"),
            format!(".{md5}.1.2.3.tmp"),
            format!(".{}.1.2.tmp", &md5[1..]),
            ".honeytrap-counter".to_string(),
            ".bashrc.tmp".to_string(),
            ".tmp".to_string(),
            "..tmp".to_string(),
        ] {
            assert!(!is_temporary_name(std::ffi::OsStr::new(&no)), "{no}");
        }
    }

    #[test]
    fn stale_temporary_files_are_removed_and_nothing_else() {
        use std::os::unix::fs::symlink;
        let d = Dir::new("stale");
        let (a, dl) = (d.attacks(), d.downloads());
        let outside = d.0.join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        let md5 = "0123456789abcdef0123456789abcdef";
        let stale = [
            a.join(".from_port_21-tcp_77_2026-01-01.tmp"),
            a.join(".honeytrap-counter.tmp"),
            dl.join(format!(".{md5}.4242.0.tmp")),
        ];
        for p in &stale {
            std::fs::write(p, b"half").unwrap();
        }
        let kept = [
            a.join("from_port_21-tcp_76_2026-01-01"),
            a.join(COUNTER_FILE),
            a.join(".from_port_21-tcp_78_2026-01-01"),
            dl.join(md5),
            dl.join(".other.tmp"),
        ];
        for p in &kept {
            std::fs::write(p, b"data").unwrap();
        }
        // A link and a directory of our names are not ours: left alone, the target too.
        let link = a.join(".from_port_22-tcp_79_2026-01-01.tmp");
        symlink(&outside, &link).unwrap();
        let subdir = dl.join(format!(".{md5}.1.1.tmp"));
        std::fs::create_dir(&subdir).unwrap();

        remove_stale(Some(&d.save_file()));
        for p in &stale {
            assert!(!p.exists(), "{p:?} removed");
        }
        for p in &kept {
            assert_eq!(std::fs::read(p).unwrap(), b"data", "{p:?} kept");
        }
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        assert!(subdir.is_dir());
        // Missing or unconfigured directories are no error.
        remove_stale(Some(&SaveFile::new(Some(d.0.join("missing")), None)));
        remove_stale(None);
    }

    #[test]
    fn unwritable_directory_fails_cleanly() {
        let d = Dir::new("missing");
        let sf = SaveFile::new(Some(d.0.join("nope")), Some(d.0.join("nope2")));
        let mut a = attack(1, Proto::Tcp, b"x");
        a.downloads.push(Download::new("ftp", b"y".to_vec()));
        let out = sf.save(&a);
        assert!(matches!(&out.attack, FileOutcome::Failed(s) if s == "No such file or directory"), "{out:?}");
        assert!(matches!(&out.downloads[0], FileOutcome::Failed(_)));
    }

    #[test]
    fn unconfigured_kinds_are_skipped() {
        let d = Dir::new("partial");
        let mut a = attack(1, Proto::Tcp, b"x");
        a.downloads.push(Download::new("ftp", b"y".to_vec()));
        let out = SaveFile::new(None, Some(d.downloads())).save(&a);
        assert_eq!(out.attack, FileOutcome::Skipped);
        assert!(matches!(out.downloads[0], FileOutcome::Saved(_)));
        let out = SaveFile::new(Some(d.attacks()), None).save(&a);
        assert!(matches!(out.attack, FileOutcome::Saved(_)));
        assert_eq!(out.downloads, [FileOutcome::Skipped]);
    }

    #[test]
    fn from_config() {
        let cfg = |plugin, opts: &[(&str, &str)]| PluginConfig {
            plugin,
            options: opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            span: Span { file: PathBuf::from("t.conf"), line: 1, col: 1 },
        };
        let d = Dir::new("cfg");
        let a = d.attacks().to_string_lossy().into_owned();
        let dl = d.downloads().to_string_lossy().into_owned();
        let sf = SaveFile::from_config(&cfg(Plugin::SaveFile, &[("attacks_dir", &a), ("downloads_dir", &dl)])).unwrap();
        assert_eq!(sf, d.save_file());
        let sf = SaveFile::from_config(&cfg(Plugin::SaveFile, &[("downloads_dir", &dl)])).unwrap();
        assert_eq!((sf.attacks_dir(), sf.downloads_dir()), (None, Some(d.downloads().as_path())));
        // A directory that does not exist yet is accepted (with a warning).
        let sf = SaveFile::from_config(&cfg(Plugin::SaveFile, &[("attacks_dir", "/nonexistent/a")])).unwrap();
        assert_eq!(sf.attacks_dir(), Some(Path::new("/nonexistent/a")));
        assert!(SaveFile::from_config(&cfg(Plugin::SaveFile, &[("attacks_dir", "")])).is_err());
        assert!(SaveFile::from_config(&cfg(Plugin::LogJson, &[])).is_err());
    }
}
