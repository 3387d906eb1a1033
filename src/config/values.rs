//! Pure parsers for the values of configuration keys: IPv4 addresses in `inet_aton` syntax,
//! ports, protocols, the read limit and the bounded decimal numbers of our own keys.
//!
//! Replaces the conversions the C original's key handlers did inline (readconf.c):
//! `inet_aton()` for `bind_address`, `atol()` for `read_limit`, `atoi()` for ports and a prefix
//! match for `tcp`/`udp`. `inet_aton` keeps glibc's accepted syntax exactly; ports, protocols
//! and the read limit are stricter than the C original (decimal digits only, no truncation,
//! exact protocol names): no configuration relies on the lax forms (docs/COMPATIBILITY.md,
//! Differences from the C honeytrap).

use super::Proto;
use std::net::Ipv4Addr;

/// Parses an IPv4 address exactly as glibc's `inet_aton()` does: one to four parts separated
/// by dots, each part decimal, octal (leading `0`) or hexadecimal (leading `0x`/`0X`); the
/// last part fills the remaining bytes (`127.1` = 127.0.0.1, `10.65535` = 10.0.255.255,
/// `2130706433` = 127.0.0.1). Like glibc, anything after a whitespace character following
/// the address is ignored (`"1.2.3.4 junk"` is accepted).
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    // Largest value of the last part, by the number of parts before it.
    const MAX_LAST: [u64; 4] = [0xffff_ffff, 0x00ff_ffff, 0xffff, 0xff];
    let b = s.as_bytes();
    let mut i = 0;
    let mut parts: Vec<u64> = Vec::with_capacity(3);
    let last = loop {
        // Every part starts with a decimal digit (no sign, no leading space).
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let (val, used) = strtoul_base0(&b[i..])?;
        i += used;
        if b.get(i) == Some(&b'.') {
            if parts.len() >= 3 || val > 0xff {
                return None;
            }
            parts.push(val);
            i += 1;
        } else {
            break val;
        }
    };
    // Trailing characters: only the end or a whitespace character (C `isspace`).
    if let Some(&c) = b.get(i) {
        if !matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
            return None;
        }
    }
    if last > MAX_LAST[parts.len()] {
        return None;
    }
    let mut addr = last as u32;
    for (k, p) in parts.iter().enumerate() {
        addr |= (*p as u32) << (24 - 8 * k);
    }
    Some(Ipv4Addr::from(addr))
}

/// `strtoul(s, &end, 0)` for input starting with a digit: the value and the number of bytes
/// used, `None` on overflow of 32 bits (glibc rejects those parts too).
fn strtoul_base0(b: &[u8]) -> Option<(u64, usize)> {
    let (radix, mut i) = if b[0] == b'0' {
        if matches!(b.get(1), Some(b'x' | b'X')) && b.get(2).is_some_and(u8::is_ascii_hexdigit) {
            (16, 2)
        } else {
            (8, 0)
        }
    } else {
        (10, 0)
    };
    let mut val: u64 = 0;
    while let Some(d) = b.get(i).and_then(|&c| (c as char).to_digit(radix)) {
        val = val * u64::from(radix) + u64::from(d);
        if val > 0xffff_ffff {
            return None;
        }
        i += 1;
    }
    Some((val, i))
}

/// A port number: decimal digits only, 1..=65535.
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 5 {
        return None;
    }
    match digits.parse::<u32>() {
        Ok(p @ 1..=65535) => Some(p as u16),
        _ => None,
    }
}

/// `tcp` or `udp`, nothing else.
pub(crate) fn parse_proto(s: &str) -> Option<Proto> {
    match s {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        _ => None,
    }
}

/// The read limit: decimal digits only, 1..=2147483647 (the C original stored it in a
/// signed 32-bit integer).
pub(crate) fn parse_read_limit(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 10 {
        return None;
    }
    match digits.parse::<u64>() {
        Ok(v @ 1..=0x7fff_ffff) => Some(v as u32),
        _ => None,
    }
}

/// A decimal number within `min..=max`: ASCII digits only (leading zeros allowed), no sign,
/// no blanks, no radix prefix, no unit.
pub(crate) fn parse_decimal(s: &str, min: u64, max: u64) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Overflow of u64 is an error of `parse`, so any number of digits is safe.
    let v = s.parse::<u64>().ok()?;
    (min..=max).contains(&v).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_aton_accepts_glibc_syntax() {
        let cases: &[(&str, [u8; 4])] = &[
            ("0.0.0.0", [0, 0, 0, 0]),
            ("127.0.0.1", [127, 0, 0, 1]),
            ("255.255.255.255", [255, 255, 255, 255]),
            ("127.1", [127, 0, 0, 1]),
            ("10.1.2", [10, 1, 0, 2]),
            ("10.65535", [10, 0, 255, 255]),
            ("10.1.65535", [10, 1, 255, 255]),
            ("1.16777215", [1, 255, 255, 255]),
            ("0x7f.0.0.1", [127, 0, 0, 1]),
            ("0X7F.0.0.0x1", [127, 0, 0, 1]),
            ("0177.0.0.1", [127, 0, 0, 1]),
            ("0177.00.000.01", [127, 0, 0, 1]),
            ("2130706433", [127, 0, 0, 1]),
            ("0x7f000001", [127, 0, 0, 1]),
            ("017700000001", [127, 0, 0, 1]),
            ("4294967295", [255, 255, 255, 255]),
            ("0", [0, 0, 0, 0]),
            ("00", [0, 0, 0, 0]),
            ("1.2.3.4 ", [1, 2, 3, 4]),
            ("1.2.3.4\tjunk", [1, 2, 3, 4]),
            ("1.2.3.4\n", [1, 2, 3, 4]),
            ("0xff.0xFF.0Xff.0xfF", [255, 255, 255, 255]),
        ];
        for (s, want) in cases {
            assert_eq!(inet_aton(s), Some(Ipv4Addr::from(*want)), "input {:?}", s);
        }
    }

    #[test]
    fn inet_aton_rejects() {
        let cases = [
            "",
            " 1.2.3.4",
            "1.2.3.4.",
            "1.2.3.4.5",
            "1..2",
            ".1.2.3",
            "1.2.3.",
            "256.0.0.1",
            "1.256.0.1",
            "1.2.256.1",
            "1.2.3.256",
            "1.2.65536",
            "1.16777216",
            "4294967296",
            "99999999999999999999",
            "0x100000000",
            "08.0.0.1",
            "09",
            "0x",
            "0x.1.2.3",
            "0xg",
            "1.2.3.4junk",
            "1.2.3.4/24",
            "-1.2.3.4",
            "+1.2.3.4",
            "a.b.c.d",
            "localhost",
            "1.2.3.0x",
            "::1",
            "1.2.3.4\u{a0}",
        ];
        for s in cases {
            assert_eq!(inet_aton(s), None, "input {:?}", s);
        }
    }

    #[test]
    fn ports() {
        let cases: &[(&str, Option<u16>)] = &[
            ("1", Some(1)),
            ("22", Some(22)),
            ("65535", Some(65535)),
            ("0080", Some(80)),
            ("0000000000022", Some(22)),
            ("0", None),
            ("00000", None),
            ("65536", None),
            ("70000", None),
            ("99999999999999999999", None),
            ("", None),
            ("-1", None),
            ("+22", None),
            (" 22", None),
            ("22 ", None),
            ("0x16", None),
            ("2a", None),
            ("٣", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_port(s), *want, "input {:?}", s);
        }
    }

    #[test]
    fn protocols() {
        assert_eq!(parse_proto("tcp"), Some(Proto::Tcp));
        assert_eq!(parse_proto("udp"), Some(Proto::Udp));
        for s in ["", "t", "tc", "tcpx", "TCP", "Udp", " tcp", "icmp"] {
            assert_eq!(parse_proto(s), None, "input {:?}", s);
        }
    }

    #[test]
    fn read_limits() {
        let cases: &[(&str, Option<u32>)] = &[
            ("1", Some(1)),
            ("20971520", Some(20971520)),
            ("2147483647", Some(2147483647)),
            ("002147483647", Some(2147483647)),
            ("2147483648", None),
            ("4294967296", None),
            ("99999999999999999999999", None),
            ("0", None),
            ("000", None),
            ("", None),
            ("-5", None),
            ("+5", None),
            ("5 ", None),
            ("20MB", None),
            ("0x10", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_read_limit(s), *want, "input {:?}", s);
        }
    }

    #[test]
    fn bounded_decimals() {
        let cases: &[(&str, u64, u64, Option<u64>)] = &[
            ("0", 0, 65535, Some(0)),
            ("000", 0, 65535, Some(0)),
            ("65535", 0, 65535, Some(65535)),
            ("0065535", 0, 65535, Some(65535)),
            ("65536", 0, 65535, None),
            ("1", 1, 1_000_000, Some(1)),
            ("1000000", 1, 1_000_000, Some(1_000_000)),
            ("0", 1, 1_000_000, None),
            ("1000001", 1, 1_000_000, None),
            ("18446744073709551615", 0, u64::MAX, Some(u64::MAX)),
            ("18446744073709551616", 0, u64::MAX, None),
            ("0000000000000000000000000042", 0, 100, Some(42)),
            ("99999999999999999999999", 0, u64::MAX, None),
            ("", 0, 10, None),
            ("-1", 0, 10, None),
            ("+1", 0, 10, None),
            (" 1", 0, 10, None),
            ("1 ", 0, 10, None),
            ("0x1", 0, 10, None),
            ("1e3", 0, 10_000, None),
            ("5s", 0, 10, None),
            ("٣", 0, 10, None),
        ];
        for &(s, min, max, want) in cases {
            assert_eq!(parse_decimal(s, min, max), want, "input {:?} in {}..={}", s, min, max);
        }
    }
}
