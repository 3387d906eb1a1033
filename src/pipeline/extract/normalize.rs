//! Extraction, pass 1: normalising the attack text before it is read (`%xx`/`+` in HTTP
//! request lines and form bodies, `${IFS}`, JSON and HTML escapes). Part of what the C
//! download plugins did with `strstr` on the raw attack string.

use super::*;

const METHODS: &[&[u8]] =
    &[b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"TRACE ", b"CONNECT ", b"PROPFIND "];

fn url_decode_into(out: &mut Vec<u8>, s: &[u8]) {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(h), Some(l)) = (s.get(i + 1).and_then(|&c| hex(c)), s.get(i + 2).and_then(|&c| hex(c))) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            c => out.push(c),
        }
        i += 1;
    }
}

/// Pass 1: `%xx` and `+` decoding of HTTP request lines and of form bodies (declared
/// `x-www-form-urlencoded`, or body lines shaped like `a=b&c=d` without spaces).
fn url_decode_http(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let (mut in_http, mut headers, mut form) = (false, false, false);
    let mut start = 0;
    while start < raw.len() {
        let nl = raw[start..].iter().position(|&c| c == b'\n').map_or(raw.len(), |k| start + k + 1);
        let line = &raw[start..nl];
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        if METHODS.iter().any(|m| bare.starts_with(m)) {
            (in_http, headers, form) = (true, true, false);
            url_decode_into(&mut out, line);
        } else if in_http && headers {
            if bare.is_empty() {
                headers = false;
            } else if starts_ci(bare, 0, b"content-type:") && contains_ci(bare, b"x-www-form-urlencoded") {
                form = true;
            }
            out.extend_from_slice(line);
        } else if in_http && (form || (!bare.contains(&b' ') && bare.contains(&b'='))) {
            url_decode_into(&mut out, line);
        } else {
            out.extend_from_slice(line);
        }
        start = nl;
    }
    out
}

/// Pass 2, everywhere: `${IFS}`, `$IFS$9`, `$IFS` → space; JSON `\/` → `/` and `\u00XX`
/// (printable ASCII); HTML entities `&amp; &lt; &gt; &quot; &apos; &#NN; &#xHH;`.
fn unescape_common(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'$' {
            if s[i..].starts_with(b"${IFS") {
                if let Some(k) = s[i..].iter().take(16).position(|&c| c == b'}') {
                    out.push(b' ');
                    i += k + 1;
                    continue;
                }
            } else if s[i..].starts_with(b"$IFS")
                && !s.get(i + 4).is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
            {
                i += 4;
                if s.get(i) == Some(&b'$') && s.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i += 2;
                }
                out.push(b' ');
                continue;
            }
        } else if c == b'\\' {
            if s.get(i + 1) == Some(&b'/') {
                out.push(b'/');
                i += 2;
                continue;
            }
            if matches!(s.get(i + 1), Some(b'u' | b'U')) {
                let h: Option<Vec<u8>> = s.get(i + 2..i + 6).map(|d| d.iter().filter_map(|&c| hex(c)).collect());
                if let Some(h) = h.filter(|h| h.len() == 4) {
                    let v = (u32::from(h[0]) << 12) | (u32::from(h[1]) << 8) | (u32::from(h[2]) << 4) | u32::from(h[3]);
                    if (0x20..0x7f).contains(&v) {
                        out.push(v as u8);
                        i += 6;
                        continue;
                    }
                }
            }
        } else if c == b'&' {
            if let Some((b, n)) = html_entity(&s[i..]) {
                out.push(b);
                i += n;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn html_entity(s: &[u8]) -> Option<(u8, usize)> {
    for (name, b) in [(&b"&amp;"[..], b'&'), (b"&lt;", b'<'), (b"&gt;", b'>'), (b"&quot;", b'"'), (b"&apos;", b'\'')] {
        if starts_ci(s, 0, name) {
            return Some((b, name.len()));
        }
    }
    let body = s.strip_prefix(b"&#")?;
    let semi = body.iter().take(6).position(|&c| c == b';')?;
    let num = &body[..semi];
    let v = match num {
        [b'x' | b'X', h @ ..] => u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?,
        d => std::str::from_utf8(d).ok()?.parse::<u32>().ok()?,
    };
    (0x20..0x7f).contains(&v).then_some((v as u8, semi + 3))
}

pub(super) fn normalize(raw: &[u8]) -> Vec<u8> {
    unescape_common(&url_decode_http(raw))
}
