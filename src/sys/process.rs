//! Process calls: fork and session for daemonizing, descriptors, liveness checks, `poll`,
//! `lockf`, pipes.

use super::cvt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd};

/// Result of [`fork`].
pub enum Fork {
    Parent(#[allow(dead_code)] i32),
    Child,
}

/// `fork()`, only while the process has a single thread: with more, it fails (`Other`)
/// without forking.
pub fn fork() -> io::Result<Fork> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads != 1 {
        return Err(io::Error::other(format!("fork refused: the process has {threads} threads")));
    }
    // SAFETY: the process has one thread (checked just above; only this thread could start
    // another), so the child is a complete copy: no lock or allocator state is left half
    // changed by a thread that does not exist in the child, and the child may run any code.
    let pid = cvt(unsafe { libc::fork() })?;
    Ok(if pid == 0 { Fork::Child } else { Fork::Parent(pid) })
}

/// `setsid()`: new session, no controlling terminal.
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments and reads or writes no memory of this process.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// Sets the file mode creation mask and returns the old one.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask takes an integer, reads or writes no memory of this process and always
    // succeeds.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

pub fn getpid() -> i32 {
    // SAFETY: getpid takes no arguments, reads or writes no memory and always succeeds.
    unsafe { libc::getpid() }
}

/// The host name (`gethostname`), lossily decoded; empty if it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the kernel writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether a process with this pid exists (signal 0; EPERM also means it exists).
pub fn process_exists(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: integer arguments only; signal 0 sends nothing, it only checks for existence
    // and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Points descriptors 0, 1 and 2 at /dev/null.
pub fn stdio_to_devnull() -> io::Result<()> {
    let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
    for fd in 0..=2 {
        // SAFETY: `null` is open for the call. `fd` is 0, 1 or 2, the standard streams that
        // std's stdin/stdout/stderr use by number and never close; dup2 replaces it
        // atomically, so it stays open (on /dev/null) for every user of it.
        cvt(unsafe { libc::dup2(null.as_raw_fd(), fd) })?;
    }
    Ok(())
}

/// Whether `fd` is an open descriptor of this process.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags; an unused number gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// The descriptors above 2 that are open now. Listed from /proc/self/fd (or, without /proc,
/// probed below 1024); the listing's own directory descriptor is not among them.
pub fn open_fds() -> Vec<RawFd> {
    let listed: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter(|fd| *fd > 2).collect(),
        Err(_) => (3..1024).collect(),
    };
    // The directory is closed now: its descriptor fails this check.
    listed.into_iter().filter(|&fd| is_open(fd)).collect()
}

/// Closes descriptors that no object of this process owns (those it inherited at start).
pub fn close_unowned(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: the caller names descriptors that no `File`, socket or other owner in this
        // process holds, so no object is left with a closed (or later reused) number.
        unsafe { libc::close(fd) };
    }
}

/// A pipe with both ends close-on-exec: (read end, write end).
pub fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// Sets `O_NONBLOCK` on a descriptor.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `fd` is borrowed, so it stays open for the call; F_GETFL passes no memory.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above; F_SETFL takes an integer and changes only the file status flags.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// `lockf(F_TLOCK)`: an exclusive, non-blocking record lock on the whole file (the lock the
/// C original takes on its pid file, so both programs see each other's lock).
pub fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: `file` is borrowed, so its descriptor stays open for the call; no memory is
    // passed.
    let rc = unsafe { libc::lockf(file.as_raw_fd(), libc::F_TLOCK, 0) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EAGAIN) => Ok(false),
        _ => Err(err),
    }
}

/// Whether the calling process could write into `dir` with its real ids (`access(W_OK|X_OK)`).
pub fn can_write_dir(dir: &std::path::Path) -> bool {
    let Ok(c) = super::cstring(&dir.to_string_lossy()) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated string that lives across the call, which only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// `PR_SET_NO_NEW_PRIVS`: exec can never grant privileges again.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// `chdir`.
pub fn chdir(dir: &std::path::Path) -> io::Result<()> {
    std::env::set_current_dir(dir)
}

/// Sets a signal's disposition to "ignore".
pub fn ignore_signal(sig: i32) -> io::Result<()> {
    // SAFETY: SIG_IGN is a valid disposition; no handler code runs.
    if unsafe { libc::signal(sig, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
