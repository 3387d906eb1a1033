//! Wall-clock helpers: broken-down local time (`localtime_r`) for log time stamps, and the
//! kernel thread id shown in the pid column at log level 6.

use std::time::{SystemTime, UNIX_EPOCH};

/// Broken-down time, as `struct tm` fields (month 1–12, full year).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tm {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
}

fn convert(secs: i64, utc: bool) -> Tm {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: an all-zero tm is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live locals for the duration of the call, `tm` writable.
    // The _r variants keep no shared result; localtime_r also reads TZ, which this program
    // never changes while it runs (it calls no setenv), so no other thread writes it.
    let ok = unsafe {
        if utc {
            !libc::gmtime_r(&t, &mut tm).is_null()
        } else {
            !libc::localtime_r(&t, &mut tm).is_null()
        }
    };
    if !ok {
        return Tm { year: 1970, month: 1, day: 1, hour: 0, min: 0, sec: 0 };
    }
    Tm {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        min: tm.tm_min as u32,
        sec: tm.tm_sec as u32,
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Local time of `secs` (uses the TZ environment / /etc/localtime like the C original).
pub fn local(secs: i64) -> Tm {
    convert(secs, false)
}

/// UTC time of `secs`.
pub fn utc(secs: i64) -> Tm {
    convert(secs, true)
}

/// The calling thread's kernel thread id (equals the pid for the main thread).
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_epoch_and_known_date() {
        assert_eq!(utc(0), Tm { year: 1970, month: 1, day: 1, hour: 0, min: 0, sec: 0 });
        // 2026-11-25 17:12:38 UTC
        assert_eq!(utc(1_795_626_758), Tm { year: 2026, month: 11, day: 25, hour: 17, min: 12, sec: 38 });
    }
}
