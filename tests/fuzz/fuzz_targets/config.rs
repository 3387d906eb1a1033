//! Fuzz target for the configuration lexer and parser: arbitrary bytes must give a Config or
//! a positioned error, never a panic. `include` is not followed from fuzz input (paths are
//! resolved below a directory that does not exist). Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz config`.
#![no_main]

use honeytrap::config;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = config::lexer::tokenize(data, Path::new("fuzz.conf"));
    let _ = config::parser::parse(data, Path::new("fuzz.conf"));
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = config::load_str(text, Path::new("fuzz.conf"), Path::new("/nonexistent-fuzz-base"));
    }
});
