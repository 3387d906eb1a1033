//! Fuzz target for cspm: the input up to its first NUL as a signature file (parsed, and
//! compiled when it parses), the rest as an attack string scanned with the shipped
//! signatures and with the fuzzed ones. Whatever is found holds together: a host comes with
//! a port, at most `MAX_ROUNDS` decoders ran, a URL is printable ASCII. Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz shellcode`.
#![no_main]

use honeytrap::pipeline::analysis::cspm::{sigfile, Cspm, MAX_ROUNDS};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn shipped() -> &'static Cspm {
    static C: OnceLock<Cspm> = OnceLock::new();
    C.get_or_init(|| {
        let text = include_bytes!("../../../contrib/shellcode-signatures.sc");
        Cspm::compile(sigfile::parse(text).unwrap(), false).unwrap()
    })
}

fn check(c: &Cspm, data: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    if let Some(s) = c.scan_unbudgeted(data, deadline) {
        assert!(!s.signature.is_empty() && s.signature.starts_with(&s.kind));
        assert!(s.host.is_none() || s.port.is_some());
        assert!(s.decoders.len() <= MAX_ROUNDS);
        if let Some(u) = &s.url {
            assert!(u.bytes().all(|c| c.is_ascii_graphic()));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.iter().position(|&b| b == 0).unwrap_or(data.len()));
    let rest = rest.get(1..).unwrap_or_default();
    check(shipped(), rest);
    if let Ok(sigs) = sigfile::parse(head) {
        if let Ok(c) = Cspm::compile(sigs, false) {
            check(&c, rest);
        }
    }
});
