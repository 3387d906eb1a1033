//! The log: levels 0–6, the C original's line format, the log file and the `-D` copy to stdout,
//! reopening by name on SIGHUP (docs/COMPATIBILITY.md, Outputs and log formats).
//!
//! Every line is formatted completely and written with one `write()` to a file opened
//! `O_APPEND`, so threads never interleave inside a line and copy-truncate rotation loses
//! nothing. The untimestamped start-up banner is the only line without a time stamp.
//!
//! Differences from the C original: a symbolic link at the log file's name is refused (the
//! file is opened `O_NOFOLLOW`, [`crate::sys::fs::open_append`]); and a file found ending
//! inside a line (at open and reopen, after a failed write) gets a newline before the next
//! line, so a line torn by a killed process or a full disk does not swallow the next one.
//! Plugin outputs (attacker.log, attackers.json) are not this module's business.
//!
//! Lines logged at start-up before the log file is open ([`hold_early`] to
//! [`release_early`]) are not lost: warnings and errors are printed on the console at once,
//! whatever the log level, and every line of an enabled level is written to the log file as
//! soon as it is open.

use crate::sys::{fs, time};
use crate::text;
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::RwLock;

/// Log levels; a message is written when its level is at most the configured one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Off = 0,
    Err = 1,
    Warn = 2,
    Notice = 3,
    Info = 4,
    Noisy = 5,
    Debug = 6,
}

impl Level {
    pub fn from_u8(n: u8) -> Option<Level> {
        Some(match n {
            0 => Level::Off,
            1 => Level::Err,
            2 => Level::Warn,
            3 => Level::Notice,
            4 => Level::Info,
            5 => Level::Noisy,
            6 => Level::Debug,
            _ => return None,
        })
    }
}

/// Default level (`LOG_NOTICE`).
pub const DEFAULT_LEVEL: Level = Level::Notice;

/// Longest line written (the original truncated at 4068 bytes); longer messages are cut and
/// still end with a newline.
pub const MAX_LINE: usize = 8192;

static LEVEL: AtomicU8 = AtomicU8::new(DEFAULT_LEVEL as u8);

struct Sink {
    file: Option<File>,
    path: Option<PathBuf>,
    /// Look at the end of the file before the next line: set when the file is opened and
    /// when a write fails, cleared by the next complete line written with no other writer.
    check_tail: AtomicBool,
    /// `-D`: every line is copied to standard output, through a descriptor of its own (a
    /// duplicate), so that a line is one `write()` without the standard library's lock on
    /// stdout. `None` inside: no duplicate could be made, the locked stdout is used.
    stdout: Option<Option<File>>,
}

/// Whether lines are held for the log file that is not open yet ([`hold_early`]).
static EARLY_ON: AtomicBool = AtomicBool::new(false);
/// The lines held, formatted, in order.
static EARLY: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// From now until [`release_early`], warnings and errors logged are printed on stderr (two
/// spaces, the message) and every enabled line is held for the log file.
pub fn hold_early() {
    EARLY.lock().unwrap_or_else(|e| e.into_inner()).clear();
    EARLY_ON.store(true, Ordering::SeqCst);
}

/// Writes the lines held since [`hold_early`] to the log file (not to the `-D` copy on
/// stdout: the console has had the warnings) and stops holding lines.
pub fn release_early() {
    EARLY_ON.store(false, Ordering::SeqCst);
    let lines = std::mem::take(&mut *EARLY.lock().unwrap_or_else(|e| e.into_inner()));
    let s = sink();
    for line in lines {
        emit_to(&s, &line, true, false);
    }
}

/// Whether lines are held for the log file that is not open yet (warnings and errors are
/// then printed whatever the level).
pub fn early() -> bool {
    EARLY_ON.load(Ordering::Relaxed)
}

/// Holds (and for warnings and errors prints) a line while [`hold_early`] is on; false when
/// it is off and the line must be written as usual.
fn hold(level: Level, msg: fmt::Arguments<'_>) -> bool {
    if !EARLY_ON.load(Ordering::Relaxed) {
        return false;
    }
    let mut held = EARLY.lock().unwrap_or_else(|e| e.into_inner());
    if !EARLY_ON.load(Ordering::Relaxed) {
        return false;
    }
    if level != Level::Off && level <= Level::Warn {
        let mut text = String::from("  ");
        let _ = write_escaped(&mut text, fmt::format(msg).trim_end_matches('\n'), false);
        let _ = writeln!(io::stderr(), "{text}");
    }
    if enabled(level) {
        held.push(format_line(time::now_secs(), None, msg));
    }
    true
}

/// Lines up to this long are written to stdout without exclusion: a pipe keeps a write of
/// at most `PIPE_BUF` bytes whole, as files and terminals keep any write. Longer ones are
/// written with no other writer (the sink's write lock), as every line was before.
const PIPE_BUF: usize = 4096;

/// Read-locked to write a line (`O_APPEND` writes of whole lines need no mutual exclusion, so
/// that connection threads never wait for each other's log writes), write-locked to change it
/// and to look at the file's tail.
static SINK: RwLock<Sink> =
    RwLock::new(Sink { file: None, path: None, check_tail: AtomicBool::new(false), stdout: None });

fn sink() -> std::sync::RwLockWriteGuard<'static, Sink> {
    // A panic while holding the lock cannot leave the sink inconsistent: keep logging.
    SINK.write().unwrap_or_else(|e| e.into_inner())
}

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn level() -> Level {
    Level::from_u8(LEVEL.load(Ordering::Relaxed)).unwrap_or(DEFAULT_LEVEL)
}

pub fn enabled(level: Level) -> bool {
    level != Level::Off && level <= self::level()
}

/// Whether every line is also copied to stdout (`-D`).
pub fn set_stdout(on: bool) {
    let copy = || io::stdout().as_fd().try_clone_to_owned().ok().map(File::from);
    sink().stdout = on.then(copy);
}

/// Opens a log file as the C original did (`O_CREAT|O_NOCTTY|O_APPEND`, mode 0644 minus the
/// umask), but never through a symbolic link at `path` ([`fs::open_append`]).
pub fn open_file(path: &Path) -> io::Result<File> {
    fs::open_append(path, 0)
}

/// Makes `file` (opened from `path`) the log file, replacing any previous one.
pub fn set_file(path: &Path, file: File) {
    let mut s = sink();
    s.file = Some(file);
    s.path = Some(path.to_path_buf());
    s.check_tail.store(true, Ordering::Release);
}

/// The current log file path, if any.
pub fn path() -> Option<PathBuf> {
    sink().path.clone()
}

/// Reopens the log file by name (SIGHUP), possibly under a new name. On failure the old
/// descriptor stays in use and the error is returned.
pub fn reopen(path: &Path) -> io::Result<()> {
    let file = open_file(path)?;
    set_file(path, file);
    Ok(())
}

/// Appends the time stamp of second `now`, `[YYYY-MM-DD HH:MM:SS] `, to `line`.
fn push_stamp(line: &mut String, now: i64) {
    let t = time::local(now);
    line.push('[');
    text::push_date(line, &t);
    line.push(' ');
    text::push_time(line, &t);
    line.push_str("] ");
}

/// Whether `text` may hold a control character other than tab (Unicode `Cc`: below 0x20,
/// 0x7f, and U+0080–U+009F, whose UTF-8 starts with 0xc2).
fn may_have_controls(text: &str) -> bool {
    text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f || b == 0xc2)
}

/// Formats one timestamped line: `[YYYY-MM-DD HH:MM:SS] ` + (level 6: `%5d  ` thread id) +
/// message + newline.
pub fn format_line(now: i64, tid: Option<i32>, msg: fmt::Arguments<'_>) -> Vec<u8> {
    // This runs for every line of every connection: the message is formatted in place and
    // looked at byte by byte; only a message with a control character is taken apart.
    let mut line = String::with_capacity(160);
    push_stamp(&mut line, now);
    if let Some(tid) = tid {
        let _ = write!(line, "{:5}  ", tid);
    }
    let start = line.len();
    let _ = fmt::write(&mut line, msg);
    let end = start + line[start..].trim_end_matches('\n').len();
    line.truncate(end);
    if may_have_controls(&line[start..]) {
        // Attacker data in a message (file names, URLs, reply lines) must not forge lines
        // or terminal escapes: control characters are written as `\xNN`.
        let text = line.split_off(start);
        let _ = write_escaped(&mut line, &text, false);
    }
    let mut line = line.into_bytes();
    line.truncate(MAX_LINE - 1);
    line.push(b'\n');
    line
}

/// Writes `text` to `out` with its control characters (Unicode `Cc`) as `\xNN`, the tab
/// kept unless `escape_tab`: attacker text (file names, URLs, reply lines) can then neither
/// end a log line, nor forge another, nor send terminal escapes. Every log line goes through
/// it with the tab kept; a caller that wants the tab escaped too uses it on its own text.
pub fn write_escaped(out: &mut impl fmt::Write, text: &str, escape_tab: bool) -> fmt::Result {
    let mut rest = text;
    while let Some((i, c)) = rest.char_indices().find(|&(_, c)| c.is_control() && (escape_tab || c != '\t')) {
        out.write_str(&rest[..i])?;
        write!(out, "\\x{:02x}", u32::from(c))?;
        rest = &rest[i + c.len_utf8()..];
    }
    out.write_str(rest)
}

fn emit(bytes: &[u8]) {
    let s = SINK.read().unwrap_or_else(|e| e.into_inner());
    if !s.check_tail.load(Ordering::Acquire) && (s.stdout.is_none() || bytes.len() <= PIPE_BUF) {
        return emit_to(&s, bytes, false, true);
    }
    // Rare (after an open, a reopen or a failed write; a line longer than PIPE_BUF with
    // -D): the tail is looked at, and the line written, with no other writer.
    drop(s);
    emit_to(&sink(), bytes, true, true);
}

/// Writes `bytes` to the sink `s` (and to its copy on stdout if `stdout`); `exclusive`: no
/// other thread writes meanwhile (the write lock is held), so the tail read is the tail
/// written to.
fn emit_to(s: &Sink, bytes: &[u8], exclusive: bool, stdout: bool) {
    if let Some(mut f) = s.file.as_ref() {
        let torn = exclusive && s.check_tail.load(Ordering::Acquire) && fs::ends_mid_line(f) == Some(true);
        let res = if torn { f.write_all(b"\n").and_then(|()| f.write_all(bytes)) } else { f.write_all(bytes) };
        if let Err(e) = &res {
            let path = s.path.as_deref().unwrap_or(Path::new("")).display();
            let _ = writeln!(io::stderr(), "Error while writing logfile {}: {}", path, e);
            s.check_tail.store(true, Ordering::Release);
        } else if exclusive {
            s.check_tail.store(false, Ordering::Release);
        }
    }
    match &s.stdout {
        _ if !stdout => {}
        None => {}
        Some(Some(copy)) => {
            let _ = (&*copy).write_all(bytes);
        }
        Some(None) => {
            let mut out = io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
        }
    }
}

/// Writes a message at `level` if enabled. Use the `log_*!` macros.
pub fn write(level: Level, msg: fmt::Arguments<'_>) {
    if hold(level, msg) {
        return;
    }
    if !enabled(level) {
        return;
    }
    let tid = (self::level() == Level::Debug).then(time::gettid);
    emit(&format_line(time::now_secs(), tid, msg));
    mirror(level, msg);
}

/// How often [`write_unblocked`] tries the log's lock, a millisecond apart.
const UNBLOCKED_TRIES: u32 = 50;

/// Writes a message like [`write`], but never waits long for the log's lock: for the panic
/// hook, which may run while this very thread holds the lock (a panic in the middle of a
/// write) or while another thread is stuck writing. When the lock cannot be had within
/// about [`UNBLOCKED_TRIES`] milliseconds the line goes to stderr instead; the mirror is
/// skipped when its own lock is busy or this thread is already inside it.
pub fn write_unblocked(level: Level, msg: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let tid = (self::level() == Level::Debug).then(time::gettid);
    let line = format_line(time::now_secs(), tid, msg);
    let mut written = false;
    for _ in 0..UNBLOCKED_TRIES {
        match SINK.try_read() {
            Ok(s) => emit_to(&s, &line, false, true),
            Err(std::sync::TryLockError::Poisoned(e)) => emit_to(&e.into_inner(), &line, false, true),
            Err(std::sync::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(1));
                continue;
            }
        }
        written = true;
        break;
    }
    if !written {
        let _ = io::stderr().write_all(&line);
    }
    mirror_with(level, msg, false);
}

/// A copy of every line written (level and message without time stamp), e.g. to syslog.
pub type Mirror = std::sync::Arc<dyn Fn(Level, &str) + Send + Sync>;

static MIRROR: std::sync::RwLock<Option<Mirror>> = std::sync::RwLock::new(None);
static MIRROR_SET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    /// Set while this thread runs the mirror: a line the mirror itself logs is not mirrored.
    static IN_MIRROR: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (or with `None` removes) the function that gets every line written.
pub fn set_mirror(f: Option<Mirror>) {
    let mut m = MIRROR.write().unwrap_or_else(|e| e.into_inner());
    MIRROR_SET.store(f.is_some(), Ordering::Relaxed);
    *m = f;
}

fn mirror(level: Level, msg: fmt::Arguments<'_>) {
    mirror_with(level, msg, true);
}

/// Hands the line to the mirror, if one is set and this thread is not inside it already;
/// without `wait`, not when the mirror's lock is busy.
fn mirror_with(level: Level, msg: fmt::Arguments<'_>, wait: bool) {
    if !MIRROR_SET.load(Ordering::Relaxed) || IN_MIRROR.with(|c| c.replace(true)) {
        return;
    }
    let f = match MIRROR.try_read() {
        Ok(m) => m.clone(),
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner().clone(),
        Err(std::sync::TryLockError::WouldBlock) if wait => MIRROR.read().unwrap_or_else(|e| e.into_inner()).clone(),
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    if let Some(f) = f {
        f(level, &fmt::format(msg));
    }
    IN_MIRROR.with(|c| c.set(false));
}

/// The start-up banner line (no time stamp), written at any level above 0.
pub fn banner() -> String {
    format!(
        "\n{} v{} (honeytrap-rs, a re-implementation of honeytrap by Tillmann Werner)\n",
        crate::PACKAGE,
        crate::VERSION
    )
}

/// Writes the banner to the log (and stdout with `-D`).
pub fn write_banner() {
    if level() != Level::Off {
        emit(banner().as_bytes());
    }
}

// The arguments are evaluated only when the level is enabled: a line below the log level
// costs a load and a compare, not the formatting of its arguments (addresses, requests).
#[macro_export]
macro_rules! log_err { ($($a:tt)*) => { if $crate::log::enabled($crate::log::Level::Err) || $crate::log::early() { $crate::log::write($crate::log::Level::Err, format_args!($($a)*)) } } }
#[macro_export]
macro_rules! log_warn { ($($a:tt)*) => { if $crate::log::enabled($crate::log::Level::Warn) || $crate::log::early() { $crate::log::write($crate::log::Level::Warn, format_args!($($a)*)) } } }
#[macro_export]
macro_rules! log_notice { ($($a:tt)*) => { if $crate::log::enabled($crate::log::Level::Notice) { $crate::log::write($crate::log::Level::Notice, format_args!($($a)*)) } } }
#[macro_export]
macro_rules! log_info { ($($a:tt)*) => { if $crate::log::enabled($crate::log::Level::Info) { $crate::log::write($crate::log::Level::Info, format_args!($($a)*)) } } }
#[macro_export]
macro_rules! log_noisy { ($($a:tt)*) => { if $crate::log::enabled($crate::log::Level::Noisy) { $crate::log::write($crate::log::Level::Noisy, format_args!($($a)*)) } } }
#[macro_export]
macro_rules! log_debug { ($($a:tt)*) => { if $crate::log::enabled($crate::log::Level::Debug) { $crate::log::write($crate::log::Level::Debug, format_args!($($a)*)) } } }

/// At most one log line per `interval` for a recurring condition (a full disk, an
/// unreachable collector, a limit hit under a flood): [`Throttle::due`] says whether to log
/// now and how many occurrences were kept quiet since the last line.
pub struct Throttle {
    interval: std::time::Duration,
    state: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

impl Throttle {
    pub const fn new(interval: std::time::Duration) -> Throttle {
        Throttle { interval, state: std::sync::Mutex::new((None, 0)) }
    }

    /// `Some(n)` when a line is due (`n` occurrences were suppressed since the last one),
    /// `None` when this occurrence is to be kept quiet (and counted).
    pub fn due(&self) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.0.is_some_and(|t| now.duration_since(t) < self.interval) {
            st.1 += 1;
            return None;
        }
        let suppressed = st.1;
        *st = (Some(now), 0);
        Some(suppressed)
    }

    /// The occurrences kept quiet since the last line.
    pub fn suppressed(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

/// The tail of a throttled line: ` (N more since the last message)`, or nothing when no
/// occurrence was kept quiet.
pub fn more_since(suppressed: u64) -> String {
    if suppressed == 0 {
        String::new()
    } else {
        format!(" ({suppressed} more since the last message)")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn throttle_lets_one_line_through_per_interval() {
        let t = super::Throttle::new(std::time::Duration::from_millis(200));
        assert_eq!(t.due(), Some(0));
        assert_eq!((t.due(), t.due()), (None, None));
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert_eq!(t.due(), Some(2));
        assert_eq!(t.due(), None);
    }

    use super::*;

    fn line(tid: Option<i32>, msg: &str) -> String {
        // Local time of the epoch depends on TZ; check the shape and the tail.
        String::from_utf8(format_line(0, tid, format_args!("{}", msg))).unwrap()
    }

    #[test]
    fn line_format() {
        let l = line(None, "---- Trapping attacks via NFQ. ----");
        assert_eq!(l.len(), 22 + 35 + 1);
        assert!(l.starts_with('[') && &l[20..22] == "] ", "{l:?}");
        assert!(l.ends_with("] ---- Trapping attacks via NFQ. ----\n"));
        let b = l.as_bytes();
        for i in [5, 8] {
            assert_eq!(b[i], b'-');
        }
        assert_eq!(b[11], b' ');
        assert_eq!((b[14], b[17]), (b':', b':'));
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        let l = line(None, "FTP download - Requesting 'a\r\n[2026-01-01 00:00:00] forged\x1b[2J\ttab' from x.\n");
        assert!(
            l.ends_with("] FTP download - Requesting 'a\\x0d\\x0a[2026-01-01 00:00:00] forged\\x1b[2J\ttab' from x.\n"),
            "{l:?}"
        );
        assert_eq!(l.matches('\n').count(), 1);
    }

    #[test]
    fn stamps_of_any_second_as_local_time_gives_them() {
        for now in [0, 1_795_626_758, 1_795_626_759, 0, 1_711_846_799, 1_711_846_800, -1, 253_402_300_799] {
            let t = time::local(now);
            let want =
                format!("[{:04}-{:02}-{:02} {:02}:{:02}:{:02}] x\n", t.year, t.month, t.day, t.hour, t.min, t.sec);
            assert_eq!(String::from_utf8(format_line(now, None, format_args!("x"))).unwrap(), want);
        }
    }

    #[test]
    fn controls_escaped_as_before() {
        // The message part of a line as it was made before control characters were looked
        // for byte by byte.
        fn escaped(msg: &str) -> String {
            let mut out = String::new();
            let mut rest = msg.trim_end_matches('\n');
            while let Some((i, c)) = rest.char_indices().find(|&(_, c)| c.is_control() && c != '\t') {
                out.push_str(&rest[..i]);
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
                rest = &rest[i + c.len_utf8()..];
            }
            out + rest
        }
        for msg in ["plain", "tab\tand \u{7f} del", "c1 \u{80}\u{9f} ©\u{a0}ü", "a\n\nb\n\n", "\u{1b}[2J", "", "\n"] {
            let l = line(None, msg);
            assert_eq!(&l[22..], escaped(msg) + "\n", "{msg:?}");
        }
    }

    #[test]
    fn pid_column_at_debug() {
        let l = line(Some(42), "x");
        assert_eq!(&l[22..], "   42  x\n");
        let l = line(Some(123456), "y");
        assert_eq!(&l[22..], "123456  y\n");
    }

    #[test]
    fn one_newline_and_cap() {
        assert!(line(None, "a\n").ends_with("] a\n"));
        let long = "z".repeat(MAX_LINE * 2);
        let l = line(None, &long);
        assert_eq!(l.len(), MAX_LINE);
        assert!(l.ends_with("z\n"));
    }

    #[test]
    fn mirror_gets_each_written_line_once_and_never_recursively() {
        use std::sync::{Arc, Mutex};
        let got: Arc<Mutex<Vec<(Level, String)>>> = Arc::default();
        let g = got.clone();
        set_mirror(Some(Arc::new(move |l: Level, m: &str| {
            // Only this test's lines: other tests of this binary log concurrently.
            if m.starts_with("mirror-test") {
                g.lock().unwrap().push((l, m.to_string()));
                crate::log_err!("mirror-test recursion");
            }
        })));
        crate::log_warn!("mirror-test {}", 1);
        let debug_on = enabled(Level::Debug); // another test may change the level
        crate::log_debug!("mirror-test below the level");
        set_mirror(None);
        crate::log_err!("mirror-test after removal");
        let got = got.lock().unwrap();
        assert_eq!(got[0], (Level::Warn, "mirror-test 1".to_string()));
        assert_eq!(got.len(), if debug_on { 2 } else { 1 }, "{got:?}");
    }

    #[test]
    fn levels() {
        assert_eq!(Level::from_u8(5), Some(Level::Noisy));
        assert_eq!(Level::from_u8(7), None);
        assert!(Level::Err < Level::Debug);
    }
}
