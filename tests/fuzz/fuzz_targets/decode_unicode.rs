//! Fuzz target for the UTF-16 decoder of the pre-processing stage (deUnicode): arbitrary
//! bytes must never panic; output is only produced when more than a third of the bytes are
//! zero and is at most half the input (rounded up); any bytes written as UTF-16LE (each
//! followed by a zero byte) decode back to themselves. Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz decode_unicode`.
#![no_main]

use honeytrap::pipeline::decode::de_unicode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(u) = de_unicode(data) {
        assert!(!u.is_empty() && u.len() <= data.len().div_ceil(2));
        assert!(data.iter().filter(|&&b| b == 0).count() * 3 > data.len());
    }
    if !data.is_empty() {
        let wide: Vec<u8> = data.iter().flat_map(|&b| [b, 0]).collect();
        assert_eq!(de_unicode(&wide).as_deref(), Some(data));
    }
});
