//! Fuzz target for the base64 decoders of the pre-processing stage: the plain decoder, the
//! `Negotiate`/`NTLM` credential blobs and the embedded runs. Arbitrary bytes must never
//! panic; decoded output is never longer than three quarters of the input (plus a partial
//! group), all blobs or runs together never longer than the input, the counts stay within
//! their caps; encoding and decoding round-trip, in both alphabets and inside a header. Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz decode_base64`.
#![no_main]

use honeytrap::pipeline::decode;
use libfuzzer_sys::fuzz_target;

/// The most bytes `n` base64 characters decode to.
fn bound(n: usize) -> usize {
    n / 4 * 3 + 2
}

fuzz_target!(|data: &[u8]| {
    if let Some(d) = decode::base64_decode(data) {
        assert!(!d.is_empty() && d.len() <= bound(data.len()));
        assert_eq!(decode::base64_decode(decode::base64_encode(&d).as_bytes()).as_ref(), Some(&d));
    }
    if !data.is_empty() {
        let e = decode::base64_encode(data);
        assert_eq!(e.len(), data.len().div_ceil(3) * 4);
        assert_eq!(decode::base64_decode(e.as_bytes()).as_deref(), Some(data));
        // The URL-safe alphabet decodes the same.
        let url_safe = e.replace('+', "-").replace('/', "_").replace('=', "");
        assert_eq!(decode::base64_decode(url_safe.as_bytes()).as_deref(), Some(data));
    }
    let blobs = decode::negotiate_blobs(data);
    assert!(blobs.len() <= decode::MAX_BLOBS);
    assert!(blobs.iter().map(Vec::len).sum::<usize>() <= data.len());
    let runs = decode::base64_runs(data);
    assert!(runs.len() <= decode::MAX_RUNS);
    assert!(runs.iter().all(|r| !r.is_empty()));
    assert!(runs.iter().map(Vec::len).sum::<usize>() <= data.len());
    // A credential built from the input is found again.
    if !data.is_empty() {
        let header = format!("Authorization: Negotiate {}\r\n", decode::base64_encode(data));
        assert_eq!(decode::negotiate_blobs(header.as_bytes()), vec![data.to_vec()]);
    }
});
