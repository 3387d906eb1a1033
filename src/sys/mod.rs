//! The only place with `unsafe`: thin wrappers around libc calls (users and groups,
//! process and credential calls, capabilities, sockets). Each unsafe block carries a
//! `// SAFETY:` comment; [`cvt`] turns the C convention of returning -1 into `io::Error`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;

pub(crate) mod netlink;
pub(crate) mod poll;
pub mod user;

/// Turns a libc return value of -1 into the current `errno` as an `io::Error`.
pub fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

pub trait IsMinusOne {
    fn is_minus_one(&self) -> bool;
}

macro_rules! impl_is_minus_one {
    ($($t:ty)*) => ($(impl IsMinusOne for $t {
        fn is_minus_one(&self) -> bool { *self == -1 }
    })*)
}
impl_is_minus_one! { i32 i64 isize }

/// A C string from Rust text; interior NUL bytes are an `InvalidInput` error.
pub fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "embedded NUL byte"))
}

pub(crate) mod creds;
pub(crate) mod fs;
pub(crate) mod mem;
pub mod net;
pub(crate) mod process;
pub(crate) mod resource;
pub mod time;

/// The C library's text for an error (`strerror`), without Rust's " (os error N)" suffix.
pub fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match (e.raw_os_error(), s.rfind(" (os error ")) {
        (Some(_), Some(i)) => s[..i].to_string(),
        _ => s,
    }
}
