//! User and group database look-ups (`getpwnam_r`, `getgrnam_r`, `getpwuid_r`, `getgrgid_r`).

use super::cstring;
use std::ffi::CStr;
use std::io;

/// A user entry: name, uid and primary gid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passwd {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Looks a user up by name. `Ok(None)` when no such user exists.
pub fn user_by_name(name: &str) -> io::Result<Option<Passwd>> {
    let cname = cstring(name)?;
    with_growing_buffer(|buf| {
        // SAFETY: an all-zero passwd is a valid value (pointers null, ids 0).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` is writable for its length.
        let rc = unsafe { libc::getpwnam_r(cname.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc != 0 || result.is_null() {
            return (rc, None);
        }
        // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`.
        let pname = unsafe { CStr::from_ptr(pwd.pw_name) }.to_string_lossy().into_owned();
        (0, Some(Passwd { name: pname, uid: pwd.pw_uid, gid: pwd.pw_gid }))
    })
}

/// Looks a group up by name and returns its gid. `Ok(None)` when no such group exists.
pub fn group_by_name(name: &str) -> io::Result<Option<u32>> {
    let cname = cstring(name)?;
    with_growing_buffer(|buf| {
        // SAFETY: an all-zero group is a valid value.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` is writable for its length.
        let rc = unsafe { libc::getgrnam_r(cname.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc != 0 || result.is_null() {
            return (rc, None);
        }
        (0, Some(grp.gr_gid))
    })
}

/// Runs a reentrant database look-up (`getpwnam_r`, `getgrnam_r`) with a 16 KiB buffer that
/// grows fourfold, up to 1 MiB, while the call answers `ERANGE`. `call` returns the call's
/// error number and, when it found an entry, what it took from it.
fn with_growing_buffer<T>(
    mut call: impl FnMut(&mut [libc::c_char]) -> (libc::c_int, Option<T>),
) -> io::Result<Option<T>> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    loop {
        let (rc, found) = call(&mut buf);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        return Ok(found);
    }
}

/// The name of a user id, if it has one.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` is writable for its length.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`.
    Some(unsafe { CStr::from_ptr(pwd.pw_name) }.to_string_lossy().into_owned())
}

/// The name of a group id, if it has one.
pub fn group_name(gid: u32) -> Option<String> {
    with_growing_buffer(|buf| {
        // SAFETY: an all-zero group is a valid value.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` is writable for its length.
        let rc = unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc != 0 || result.is_null() {
            return (rc, None);
        }
        // SAFETY: on success gr_name points to a NUL-terminated string inside `buf`.
        (0, Some(unsafe { CStr::from_ptr(grp.gr_name) }.to_string_lossy().into_owned()))
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_missing_user() {
        let root = user_by_name("root").unwrap().expect("root exists");
        assert_eq!(root.uid, 0);
        assert_eq!(user_by_name("no-such-user-honeytrap-test").unwrap(), None);
        assert_eq!(group_by_name("root").unwrap(), Some(0));
        assert_eq!(group_by_name("no-such-group-honeytrap-test").unwrap(), None);
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(group_name(0).as_deref(), Some("root"));
    }
}
