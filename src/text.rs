//! Text of the lines written for every attack (the log, logAttacker, logJSON), digit by
//! digit: decimal numbers, IPv4 addresses, lowercase hex and dates, appended to a string.
//! The same text as the standard formatter (`{}`, `{:02}`, `{:04}`, `Ipv4Addr`'s `Display`)
//! at a fraction of its cost, which matters when a busy sensor writes these lines thousands
//! of times a second; the tests compare the two. No part of the C original (it used
//! `printf`).

use crate::sys::time::Tm;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `n` in decimal.
pub fn push_u64(out: &mut String, mut n: u64) {
    if n < 10 {
        out.push(char::from(b'0' + n as u8));
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// Appends `n` in decimal, with a `-` when negative.
pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Appends `n` with at least two digits (`{:02}`).
pub fn push_2(out: &mut String, n: u32) {
    if n < 100 {
        out.push(char::from(b'0' + (n / 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    } else {
        push_u64(out, n.into());
    }
}

/// Appends `n` with at least four digits (`{:04}`, a year).
pub fn push_4(out: &mut String, n: i32) {
    match u32::try_from(n) {
        Ok(n) if n < 10_000 => {
            push_2(out, n / 100);
            push_2(out, n % 100);
        }
        _ => {
            let _ = write!(out, "{n:04}");
        }
    }
}

/// Appends `ip` as a dotted quad.
pub fn push_ipv4(out: &mut String, ip: Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_u64(out, octet.into());
    }
}

/// Appends `bytes` with every byte that `keep` refuses as `%XX` (uppercase hex digits, as
/// RFC 3986 recommends); `keep` must accept ASCII only.
pub fn push_percent_encoded(out: &mut String, bytes: &[u8], keep: impl Fn(u8) -> bool) {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii() && keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(UPPER[usize::from(b >> 4)]));
            out.push(char::from(UPPER[usize::from(b & 0x0f)]));
        }
    }
}

/// Appends the lowercase hex digits of `bytes`.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    let mut digits = [0u8; 128];
    for chunk in bytes.chunks(digits.len() / 2) {
        for (pair, &b) in digits.chunks_exact_mut(2).zip(chunk) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0x0f)];
        }
        // Checked as text in one pass rather than pushed character by character (hex digits
        // are ASCII: the check always passes).
        out.push_str(std::str::from_utf8(&digits[..2 * chunk.len()]).unwrap_or_default());
    }
}

/// The lowercase hex digits of `bytes`.
/// Bytes from a peer (an FTP reply, a TFTP file name or error text) as text: printable ASCII
/// kept, every other byte (controls, the backslash, bytes that are not ASCII, invalid UTF-8)
/// as `\xNN`, so that each escape stands for one byte; at most `cap` bytes, then `...`.
pub fn printable(bytes: &[u8], cap: usize) -> String {
    let mut s = String::with_capacity(bytes.len().min(cap) + 3);
    for &c in bytes.iter().take(cap) {
        if (0x20..0x7f).contains(&c) && c != b'\\' {
            s.push(c as char);
        } else {
            s.push_str("\\x");
            s.push(char::from(HEX[usize::from(c >> 4)]));
            s.push(char::from(HEX[usize::from(c & 15)]));
        }
    }
    if bytes.len() > cap {
        s.push_str("...");
    }
    s
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::new();
    push_hex(&mut s, bytes);
    s
}

/// Appends the date of `t` as `YYYY-MM-DD`.
pub fn push_date(out: &mut String, t: &Tm) {
    push_4(out, t.year);
    out.push('-');
    push_2(out, t.month);
    out.push('-');
    push_2(out, t.day);
}

/// Appends the time of day of `t` as `HH:MM:SS`.
pub fn push_time(out: &mut String, t: &Tm) {
    push_2(out, t.hour);
    out.push(':');
    push_2(out, t.min);
    out.push(':');
    push_2(out, t.sec);
}

/// Appends `t` as `YYYY-MM-DDTHH:MM:SS` (RFC 3339 without fraction and zone).
pub fn push_datetime(out: &mut String, t: &Tm) {
    push_date(out, t);
    out.push('T');
    push_time(out, t);
}

/// Appends `n` with at least six digits (`{:06}`, microseconds).
pub fn push_6(out: &mut String, n: u32) {
    if n < 1_000_000 {
        push_2(out, n / 10_000);
        push_2(out, n / 100 % 100);
        push_2(out, n % 100);
    } else {
        push_u64(out, n.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_each_byte_and_caps() {
        assert_eq!(printable(b"File not found", 128), "File not found");
        assert_eq!(printable(b"a\nb\x1b[31m\\\xff", 128), "a\\x0ab\\x1b[31m\\x5c\\xff");
        assert_eq!(printable(&[b'x'; 200], 4), "xxxx...");
        assert_eq!(printable(b"", 4), "");
    }

    fn with(f: impl FnOnce(&mut String)) -> String {
        let mut s = String::from("x");
        f(&mut s);
        s.split_off(1)
    }

    #[test]
    fn numbers_as_the_formatter() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut samples = vec![0, 1, 9, 10, 99, 100, 255, 65535, u64::MAX, u64::MAX / 10, i64::MAX as u64];
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(x >> (x % 64));
        }
        for n in samples {
            assert_eq!(with(|s| push_u64(s, n)), n.to_string());
            let i = n as i64;
            assert_eq!(with(|s| push_i64(s, i)), i.to_string());
            let small = (n % 1000) as u32;
            assert_eq!(with(|s| push_2(s, small)), format!("{small:02}"));
            let year = (n % 40_000) as i32 - 20_000;
            assert_eq!(with(|s| push_4(s, year)), format!("{year:04}"));
            let micros = (n % 2_000_000) as u32;
            assert_eq!(with(|s| push_6(s, micros)), format!("{micros:06}"));
        }
        assert_eq!(with(|s| push_i64(s, i64::MIN)), i64::MIN.to_string());
        assert_eq!(with(|s| push_4(s, i32::MIN)), format!("{:04}", i32::MIN));
    }

    #[test]
    fn addresses_and_hex() {
        for ip in ["0.0.0.0", "10.77.0.2", "255.255.255.255", "1.20.100.9", "192.0.2.10"] {
            let ip: Ipv4Addr = ip.parse().unwrap();
            assert_eq!(with(|s| push_ipv4(s, ip)), ip.to_string());
        }
        assert_eq!(hex(b""), "");
        assert_eq!(hex(b"\x00\x0f\xf0\xff GET"), "000ff0ff20474554");
        let all: Vec<u8> = (0..=255).collect();
        let want: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), want);
    }

    #[test]
    fn dates() {
        let t = Tm { year: 2026, month: 1, day: 5, hour: 7, min: 0, sec: 59 };
        assert_eq!(with(|s| push_date(s, &t)), "2026-01-05");
        assert_eq!(with(|s| push_time(s, &t)), "07:00:59");
        assert_eq!(with(|s| push_datetime(s, &t)), "2026-01-05T07:00:59");
        let t = Tm { year: 12, month: 12, day: 31, hour: 23, min: 59, sec: 60 };
        assert_eq!(with(|s| push_date(s, &t)), "0012-12-31");
        assert_eq!(with(|s| push_time(s, &t)), "23:59:60");
    }
}
