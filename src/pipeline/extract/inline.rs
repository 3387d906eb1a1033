//! Extraction: inline writers, the bytes `echo -e`/`echo -ne`/`printf` write to a file
//! (reported as one inline file per target) or pipe into a shell. The C download plugins
//! did not read them.

use super::*;

// echo / printf.

/// Backslash escapes of `echo -e` (octal as `\0NNN`) and `printf` (octal as `\NNN`).
/// Returns the bytes and whether `\c` stopped the output.
fn unescape(s: &[u8], printf: bool, out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' || i + 1 >= s.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = s[i + 1];
        i += 2;
        let simple = match e {
            b'\\' => Some(b'\\'),
            b'a' => Some(7),
            b'b' => Some(8),
            b'e' | b'E' => Some(27),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'"' => Some(b'"'),
            b'\'' => Some(b'\''),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        match e {
            b'c' if !printf => return true,
            b'x' => {
                let mut v = 0u8;
                let mut n = 0;
                while n < 2 {
                    match s.get(i).and_then(|&c| hex(c)) {
                        Some(h) => {
                            v = v << 4 | h;
                            i += 1;
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    out.extend_from_slice(b"\\x");
                } else {
                    out.push(v);
                }
            }
            b'0'..=b'7' => {
                let mut v: u32 = if !printf && e == b'0' { 0 } else { u32::from(e - b'0') };
                let max = if !printf && e == b'0' { 3 } else { 2 };
                let mut n = 0;
                while n < max && s.get(i).is_some_and(|c| (b'0'..=b'7').contains(c)) {
                    v = v * 8 + u32::from(s[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            _ => out.extend_from_slice(&[b'\\', e]),
        }
    }
    false
}

/// What an `echo` prints: (bytes, escapes interpreted).
pub(super) fn render_echo(args: &[&[u8]]) -> (Vec<u8>, bool) {
    let (mut newline, mut esc) = (true, false);
    let mut k = 0;
    while let Some(a) = args.get(k) {
        if a.len() >= 2 && a[0] == b'-' && a[1..].iter().all(|c| matches!(c, b'n' | b'e' | b'E')) {
            for &c in &a[1..] {
                match c {
                    b'n' => newline = false,
                    b'e' => esc = true,
                    _ => esc = false,
                }
            }
            k += 1;
        } else {
            break;
        }
    }
    let mut out = Vec::new();
    for (n, a) in args[k..].iter().enumerate() {
        if n > 0 {
            out.push(b' ');
        }
        if esc {
            if unescape(a, false, &mut out) {
                return (out, true);
            }
        } else {
            out.extend_from_slice(a);
        }
    }
    if newline {
        out.push(b'\n');
    }
    (out, esc)
}

/// What a `printf FORMAT ARGS…` prints (`%s`, `%b`, `%%`; other conversions print their
/// argument).
pub(super) fn render_printf(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(fmt) = args.first() else { return out };
    let mut rest = args[1..].iter();
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' {
            let j = fmt[i..].iter().position(|&c| c == b'%').map_or(fmt.len(), |k| i + k);
            unescape(&fmt[i..j], true, &mut out);
            i = j;
            continue;
        }
        match fmt.get(i + 1) {
            Some(b'%') => out.push(b'%'),
            Some(b'b') => {
                if let Some(a) = rest.next() {
                    unescape(a, false, &mut out);
                }
            }
            Some(_) => {
                if let Some(a) = rest.next() {
                    out.extend_from_slice(a);
                }
            }
            None => out.push(b'%'),
        }
        i += 2;
    }
    out
}

pub(super) fn dev_target(t: &[u8]) -> bool {
    t.starts_with(b"/dev/") || t.starts_with(b"/proc/") || t.starts_with(b"/sys/") || t.eq_ignore_ascii_case(b"nul")
}

pub(super) struct InlineFile {
    pub(super) target: Vec<u8>,
    pub(super) data: Vec<u8>,
    pub(super) pos: usize,
    pub(super) escaped: bool,
}

impl Scan<'_> {
    pub(super) fn inline_write(&mut self, target: &[u8], append: bool, data: Vec<u8>, escaped: bool, pos: usize) {
        if let Some(f) = self.inline.iter_mut().find(|f| f.target == target) {
            if !append {
                f.data.clear();
            }
            f.data.extend_from_slice(&data);
            f.escaped |= escaped;
            return;
        }
        if self.inline.len() < MAX_REQUESTS {
            self.inline.push(InlineFile { target: target.to_vec(), data, pos, escaped });
        }
    }
}
