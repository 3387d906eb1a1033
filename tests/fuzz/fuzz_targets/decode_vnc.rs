//! Fuzz target for the VNC keystroke decoder of the pre-processing stage: arbitrary bytes,
//! alone and after the RFB greeting, must never panic; output comes only after the greeting,
//! is printable, shorter than the input, and neither starts with `r` nor ends with `Q`; text
//! typed as key-down/key-up pairs is read back as typed. Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz decode_vnc`.
#![no_main]

use honeytrap::pipeline::decode::vnc_keystrokes;
use libfuzzer_sys::fuzz_target;

const GREETING: &[u8] = b"RFB 003.008";

fuzz_target!(|data: &[u8]| {
    if vnc_keystrokes(data).is_some() {
        assert!(data.starts_with(GREETING));
    }
    let session = [GREETING, data].concat();
    if let Some(k) = vnc_keystrokes(&session) {
        assert!(!k.is_empty() && k.len() <= data.len() && k.len() < session.len());
        assert!(k.iter().all(|c| (0x20..=0x7e).contains(c)));
        assert!(k[0] != b'r' && k[k.len() - 1] != b'Q');
    }
    // Typed text: each printable key seen twice (down, up).
    let typed: Vec<u8> = data.iter().copied().filter(|c| (0x20..=0x7e).contains(c)).collect();
    if typed.first().is_some_and(|&c| c != b'r') && typed.last().is_some_and(|&c| c != b'Q') {
        let keys: Vec<u8> = typed.iter().flat_map(|&c| [c, c]).collect();
        assert_eq!(vnc_keystrokes(&[GREETING, &keys].concat()), Some(typed));
    }
});
