//! Fuzz target for download command extraction: arbitrary bytes must give bounded,
//! well-formed requests and never a panic (the decoders and the URL parser have targets of
//! their own). Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz extract`.
#![no_main]

use honeytrap::pipeline::extract::{extract, MAX_REQUESTS};
use honeytrap::pipeline::request::Scheme;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let found = extract(data);
    assert!(found.len() <= MAX_REQUESTS);
    for r in &found {
        if r.scheme == Scheme::Inline {
            assert!(!r.data.is_empty() && !r.filename.is_empty() && r.host.is_empty());
        } else {
            assert!(!r.host.is_empty() && (!r.path.is_empty() || r.scheme == Scheme::Tcp) && !r.filename.is_empty());
            assert!(r.data.is_empty());
            assert_ne!(r.port, Some(0));
            if matches!(r.scheme, Scheme::Http | Scheme::Https) {
                assert!(r.path.starts_with('/'));
            }
        }
        let _ = r.uri();
    }
    // No two requests ask for the same thing.
    for (i, a) in found.iter().enumerate() {
        for b in &found[i + 1..] {
            assert!(a != b);
        }
    }
});
