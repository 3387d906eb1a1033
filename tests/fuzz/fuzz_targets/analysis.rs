//! Fuzz target for the pure analysis parsers: the file type of arbitrary bytes (every header
//! offset checked), the fuzzy hash of them (its form: block size, at most 64 and 32
//! characters of base64), and the comparison of two hash texts cut from the input (a score
//! of 0 to 100, 100 for a hash with itself). Run with `cargo fuzz run --fuzz-dir tests/fuzz
//! analysis`.
#![no_main]

use honeytrap::pipeline::analysis::{filetype, getpc, spamsum};
use honeytrap::pipeline::xmatch::Patterns;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line as a pattern file, the rest as data.
    let (head, rest) = data.split_at(data.iter().position(|&b| b == b'\n').unwrap_or(data.len()));
    if let Ok(p) = Patterns::parse(&String::from_utf8_lossy(head), std::path::Path::new("fuzz")) {
        if let Some((f, decoded)) = p.decode(rest) {
            assert!(!f.key.is_empty() && decoded.len() == rest.len());
        }
    }
    if let Some((offset, _)) = getpc::find(data) {
        assert!(offset < data.len());
    }
    if let Some(d) = filetype::describe(data) {
        assert!(!d.is_empty());
    }
    let h = spamsum::hash(data);
    let mut parts = h.splitn(3, ':');
    let bs: u64 = parts.next().unwrap().parse().unwrap();
    assert!(bs >= 3 && (bs / 3).is_power_of_two());
    let (a, b) = (parts.next().unwrap(), parts.next().unwrap());
    assert!(a.len() <= 64 && b.len() <= 32);
    assert_eq!(spamsum::compare(&h, &h), Some(100));
    let text = String::from_utf8_lossy(data);
    let (x, y) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
    if let Some(s) = spamsum::compare(x, y) {
        assert!(s <= 100);
    }
});
