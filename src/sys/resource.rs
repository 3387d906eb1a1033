//! Resource limits of the process (`getrlimit`) and its real user id, which the connection
//! capacity is computed from (server/capacity.rs). Raising the open-file limit stays in
//! net.rs beside the sockets it is for.

use super::cvt;
use std::io;

/// A limit [`soft_limit`] reads.
#[derive(Clone, Copy, Debug)]
pub enum Resource {
    /// Open descriptors (`RLIMIT_NOFILE`).
    Files,
    /// Processes and threads of the real user id (`RLIMIT_NPROC`).
    Threads,
    /// Address space in bytes (`RLIMIT_AS`).
    AddressSpace,
}

/// The soft limit of `r`; `None` when it is unlimited.
pub fn soft_limit(r: Resource) -> io::Result<Option<u64>> {
    let res = match r {
        Resource::Files => libc::RLIMIT_NOFILE,
        Resource::Threads => libc::RLIMIT_NPROC,
        Resource::AddressSpace => libc::RLIMIT_AS,
    };
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `rl` is a valid out-pointer for the duration of the call.
    cvt(unsafe { libc::getrlimit(res, &mut rl) })?;
    Ok((rl.rlim_cur != libc::RLIM_INFINITY).then_some(rl.rlim_cur))
}

/// The real user id (`getuid`).
pub fn real_uid() -> u32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { libc::getuid() }
}
