//! Dropping privileges once, for the whole process, before any thread starts (as in C,
//! everything touching attacker data runs as the configured user and group).
//!
//! The C original switched ids in every forked server and kept the master as root; a failed
//! switch was only a warning and supplementary groups were kept. Here the one process switches
//! to the configured user and group, resets the supplementary groups to that group, and keeps
//! exactly the capabilities it still needs: CAP_NET_BIND_SERVICE (bind ports < 1024 on
//! demand) and the monitor's capability (CAP_NET_ADMIN for nfq, CAP_NET_RAW for pcap). The
//! bounding and ambient sets are trimmed too, and no_new_privs is set. A process that already
//! runs as the target user (T-Pot: non-root with the file capability cap_net_admin) only trims
//! its capabilities. Any failure is fatal.

use crate::sys::creds::{self, Cap, CapSets};
use crate::sys::strerror;
use std::fmt;
use std::io;

/// Which step of the privilege drop failed.
#[derive(Debug)]
pub enum PrivilegeError {
    ReadCaps(io::Error),
    Bounding(io::Error),
    KeepCaps(io::Error),
    Switch {
        uid: u32,
        gid: u32,
        err: io::Error,
    },
    /// The switch returned success but the ids are not the ones asked for.
    Unchanged {
        uid: u32,
        gid: u32,
    },
    SetCaps(io::Error),
    NoNewPrivs(io::Error),
    /// The capability sets after the change are not the ones asked for.
    Mismatch {
        permitted: u64,
        wanted: u64,
    },
}

impl fmt::Display for PrivilegeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivilegeError::ReadCaps(e) => write!(f, "Unable to read capabilities: {}.", strerror(e)),
            PrivilegeError::Bounding(e) => {
                write!(f, "Unable to drop capabilities from the bounding set: {}.", strerror(e))
            }
            PrivilegeError::KeepCaps(e) => write!(f, "Unable to keep capabilities: {}.", strerror(e)),
            PrivilegeError::Switch { uid, gid, err } => {
                write!(f, "Unable to switch to user id {} and group id {}: {}.", uid, gid, strerror(err))
            }
            PrivilegeError::Unchanged { uid, gid } => {
                write!(f, "Unable to switch to user id {uid} and group id {gid}: ids did not change.")
            }
            PrivilegeError::SetCaps(e) => write!(f, "Unable to set capabilities: {}.", strerror(e)),
            PrivilegeError::NoNewPrivs(e) => write!(f, "Unable to set no_new_privs: {}.", strerror(e)),
            PrivilegeError::Mismatch { permitted, wanted } => {
                write!(f, "Capabilities not as requested: permitted {permitted:#x}, wanted {wanted:#x}.")
            }
        }
    }
}

impl std::error::Error for PrivilegeError {}

/// What the drop did, for the log.
#[derive(Debug, PartialEq, Eq)]
pub struct Dropped {
    pub uid: u32,
    pub gid: u32,
    /// Capabilities left in the permitted and effective sets.
    pub caps: u64,
    /// Whether the ids were switched (false: already running as the target).
    pub switched: bool,
}

/// Switches to `ids` (uid, gid) if given and keeps only `keep` (those of them the process
/// holds at all). With `ids == None` a root process stays root with all its capabilities, as
/// the C original did when no user was configured.
pub fn drop_privileges(ids: Option<(u32, u32)>, keep: &[Cap]) -> Result<Dropped, PrivilegeError> {
    let (ruid, euid, suid) = creds::getresuid();
    let (rgid, egid, sgid) = creds::getresgid();
    let before = creds::capget().map_err(PrivilegeError::ReadCaps)?;
    let keep_mask = creds::mask(keep) & before.permitted;

    let Some((uid, gid)) = ids else {
        if euid == 0 {
            return Ok(Dropped { uid: 0, gid: egid, caps: before.permitted, switched: false });
        }
        trim(keep_mask)?;
        return Ok(Dropped { uid: euid, gid: egid, caps: keep_mask, switched: false });
    };

    let already = (ruid, euid, suid) == (uid, uid, uid) && (rgid, egid, sgid) == (gid, gid, gid);
    if already {
        if before.has_permitted(6) {
            // CAP_SETGID: reset supplementary groups as well.
            let _ = creds::switch_ids(uid, gid);
        }
        trim(keep_mask)?;
        return Ok(Dropped { uid, gid, caps: keep_mask, switched: false });
    }

    // Trim the bounding set while CAP_SETPCAP is still there; a container without it keeps
    // its bounding set, which is harmless once the permitted set is reduced.
    if before.has_permitted(creds::CAP_SETPCAP) {
        creds::drop_bounding_except(keep_mask).map_err(PrivilegeError::Bounding)?;
    }
    creds::set_keepcaps(true).map_err(PrivilegeError::KeepCaps)?;
    creds::switch_ids(uid, gid).map_err(|err| PrivilegeError::Switch { uid, gid, err })?;
    let _ = creds::set_keepcaps(false);
    trim(keep_mask)?;
    if creds::getresuid() != (uid, uid, uid) || creds::getresgid() != (gid, gid, gid) {
        return Err(PrivilegeError::Unchanged { uid, gid });
    }
    Ok(Dropped { uid, gid, caps: keep_mask, switched: true })
}

/// Leaves exactly `keep` in the effective and permitted sets, nothing inheritable or
/// ambient, and forbids gaining privileges through exec.
fn trim(keep: u64) -> Result<(), PrivilegeError> {
    creds::capset(CapSets { effective: keep, permitted: keep, inheritable: 0 }).map_err(PrivilegeError::SetCaps)?;
    creds::clear_ambient();
    crate::sys::process::set_no_new_privs().map_err(PrivilegeError::NoNewPrivs)?;
    let now = creds::capget().map_err(PrivilegeError::ReadCaps)?;
    if now.permitted != keep || now.effective != keep {
        return Err(PrivilegeError::Mismatch { permitted: now.permitted, wanted: keep });
    }
    Ok(())
}

/// Names of the capabilities in a mask, for the log.
pub fn cap_names(mask: u64) -> String {
    let names: Vec<String> = (0..64u32)
        .filter(|c| mask & (1u64 << c) != 0)
        .map(|c| match c {
            creds::CAP_NET_BIND_SERVICE => "cap_net_bind_service".to_string(),
            creds::CAP_NET_ADMIN => "cap_net_admin".to_string(),
            creds::CAP_NET_RAW => "cap_net_raw".to_string(),
            other => format!("cap_{other}"),
        })
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts() {
        let eperm = || io::Error::from_raw_os_error(libc::EPERM);
        let e = PrivilegeError::Switch { uid: 7, gid: 8, err: eperm() };
        assert_eq!(e.to_string(), "Unable to switch to user id 7 and group id 8: Operation not permitted.");
        assert_eq!(
            PrivilegeError::SetCaps(eperm()).to_string(),
            "Unable to set capabilities: Operation not permitted."
        );
        let e = PrivilegeError::Mismatch { permitted: 0x1400, wanted: 0x400 };
        assert_eq!(e.to_string(), "Capabilities not as requested: permitted 0x1400, wanted 0x400.");
    }
}
