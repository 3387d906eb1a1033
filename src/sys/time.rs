//! Wall-clock helpers: broken-down local time (`localtime_r`) for log time stamps, UTC
//! (computed here, `gmtime_r` only for dates more than 30,000 years away), and the kernel
//! thread id shown in the pid column at log level 6.

use std::sync::RwLock;
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

/// The last second [`local`] looked up, and its local time.
static LAST_LOCAL: RwLock<(i64, Tm)> =
    RwLock::new((i64::MIN, Tm { year: 1970, month: 1, day: 1, hour: 0, min: 0, sec: 0 }));

/// Local time of `secs` (uses the TZ environment / /etc/localtime like the C original).
/// Looked up once per second asked for, not for every log line and attack file of that
/// second: glibc reads the time zone once, so a second's local time never changes.
pub fn local(secs: i64) -> Tm {
    {
        let last = LAST_LOCAL.read().unwrap_or_else(|e| e.into_inner());
        if last.0 == secs {
            return last.1;
        }
    }
    let t = convert(secs, false);
    *LAST_LOCAL.write().unwrap_or_else(|e| e.into_inner()) = (secs, t);
    t
}

/// Seconds from the epoch within which [`utc`] computes the date itself.
const CIVIL_RANGE: i64 = 1 << 40;

/// UTC time of `secs`: the proleptic Gregorian calendar, as `gmtime_r` (which the outputs
/// ask for several times per attack, at many times the cost) gives it.
pub fn utc(secs: i64) -> Tm {
    if !(-CIVIL_RANGE..CIVIL_RANGE).contains(&secs) {
        return convert(secs, true);
    }
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    // Days to year, month and day (H. Hinnant's `civil_from_days`): eras of 400 years,
    // years starting on 1 March so that the leap day comes last.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    Tm { year, month, day, hour: rem / 3600, min: rem / 60 % 60, sec: rem % 60 }
}

/// UTC time of `t` and its microseconds, what the outputs' time stamps are made of (times
/// before 1970 are taken as the epoch).
pub fn utc_micros(t: SystemTime) -> (Tm, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (utc(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)), d.subsec_micros())
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

    #[test]
    fn local_as_localtime_r() {
        for secs in [0, 1_795_626_758, 1_795_626_758, 1_795_626_759, 0, -1, 1_711_846_800, 1_711_846_800] {
            assert_eq!(local(secs), convert(secs, false), "{secs}");
        }
    }

    #[test]
    fn utc_as_gmtime_r() {
        let mut samples: Vec<i64> = vec![
            -1,
            -86_400,
            -CIVIL_RANGE,
            CIVIL_RANGE - 1,
            CIVIL_RANGE,
            951_782_400,     // 2000-02-29
            4_107_456_000,   // 2100-02-28 (no leap day)
            253_402_300_799, // 9999-12-31 23:59:59
            -62_135_596_800, // 0001-01-01
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Near the epoch, this century, and anywhere within the range.
            let span = [1i64 << 20, 1 << 32, CIVIL_RANGE][i % 3];
            samples.push((x as i64).rem_euclid(2 * span) - span);
        }
        for s in samples {
            assert_eq!(utc(s), convert(s, true), "{s}");
        }
    }
}
