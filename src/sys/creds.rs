//! Credentials and Linux capabilities: switching user and group once, keeping a chosen set of
//! capabilities across the switch (`PR_SET_KEEPCAPS` + `capset`), trimming the bounding and
//! ambient sets. Replaces the C original's `setgid`/`setuid` in each dynamic server, which kept
//! supplementary groups and ignored failures.

use super::cvt;
use std::io;

/// A capability number (`CAP_*` of linux/capability.h).
pub type Cap = u32;
pub const CAP_NET_BIND_SERVICE: Cap = 10;
pub const CAP_NET_ADMIN: Cap = 12;
pub const CAP_NET_RAW: Cap = 13;
pub const CAP_SETPCAP: Cap = 8;

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The three capability sets of the calling thread, as 64-bit masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

impl CapSets {
    pub fn has_permitted(&self, cap: Cap) -> bool {
        self.permitted & (1u64 << cap) != 0
    }
}

/// Bit mask of a list of capabilities.
pub fn mask(caps: &[Cap]) -> u64 {
    caps.iter().fold(0u64, |m, &c| m | (1u64 << c))
}

/// `capget` for the calling thread.
pub fn capget() -> io::Result<CapSets> {
    let mut hdr = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: `hdr` is a version-3 header and `data` the two-element array that version
    // reads and writes, both #[repr(C)] as linux/capability.h and live across the call.
    cvt(unsafe { libc::syscall(libc::SYS_capget, &mut hdr as *mut CapHeader, data.as_mut_ptr()) })?;
    let join = |lo: u32, hi: u32| (lo as u64) | ((hi as u64) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// `capset` for the calling thread.
pub fn capset(sets: CapSets) -> io::Result<()> {
    let mut hdr = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let split = |m: u64| (m as u32, (m >> 32) as u32);
    let (e0, e1) = split(sets.effective);
    let (p0, p1) = split(sets.permitted);
    let (i0, i1) = split(sets.inheritable);
    let data = [
        CapData { effective: e0, permitted: p0, inheritable: i0 },
        CapData { effective: e1, permitted: p1, inheritable: i1 },
    ];
    // SAFETY: as in `capget`; capset only reads `data` (and may write the header's version).
    cvt(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) }).map(drop)
}

/// Highest capability number the kernel knows (from /proc, else 40).
pub fn last_cap() -> Cap {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40)
}

/// Removes every capability not in `keep` from the bounding set (needs CAP_SETPCAP).
pub fn drop_bounding_except(keep: u64) -> io::Result<()> {
    for cap in 0..=last_cap() {
        if keep & (1u64 << cap) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc == -1 {
            let err = io::Error::last_os_error();
            // EINVAL: capability unknown to this kernel.
            if err.raw_os_error() != Some(libc::EINVAL) {
                return Err(err);
            }
        }
    }
    Ok(())
}

/// Clears the ambient capability set (no-op on kernels without ambient capabilities).
pub fn clear_ambient() {
    // SAFETY: prctl with integer arguments only; failure (EINVAL on old kernels) is harmless.
    unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
}

/// `PR_SET_KEEPCAPS`: keep permitted capabilities across the switch away from uid 0.
pub fn set_keepcaps(on: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// Real, effective and saved user ids.
pub fn getresuid() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three out-pointers to live, writable integers of the right type; with valid
    // pointers the call cannot fail.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

/// Real, effective and saved group ids.
pub fn getresgid() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: as in `getresuid`.
    unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

/// Sets all three group ids and the supplementary groups to exactly `gid`, then all three
/// user ids to `uid`. glibc applies set*id calls to every thread of the process.
pub fn switch_ids(uid: u32, gid: u32) -> io::Result<()> {
    let groups = [gid as libc::gid_t];
    // SAFETY: `groups` is a live one-element array and the count passed is 1; it is only read.
    cvt(unsafe { libc::setgroups(1, groups.as_ptr()) })?;
    // SAFETY: integer arguments only; no memory of this process is read or written.
    cvt(unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: as for setresgid.
    cvt(unsafe { libc::setresuid(uid, uid, uid) })?;
    Ok(())
}
