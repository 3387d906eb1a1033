//! Fuzz target for the JSON writer and its checking parser: arbitrary bytes written as a
//! string in both styles must give one line of valid UTF-8 JSON that the parser reads back
//! as the documented text (`bytes_as_text`); the logJSON line of an attack carrying the
//! bytes (attack string and download strings) must parse too; and the parser must never
//! panic on the raw input. Run with `cargo fuzz run --fuzz-dir tests/fuzz json`.
#![no_main]

use honeytrap::attack::{Attack, Download, Payload};
use honeytrap::config::{Mode, Proto};
use honeytrap::pipeline::output::json::{bytes_as_text, Style, Value};
use honeytrap::pipeline::output::logjson;
use libfuzzer_sys::fuzz_target;

// The checking parser of the tests (it reads `Value` from this scope).
#[path = "../../common/json.rs"]
mod json;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = json::parse(text);
    }
    let want = Value::Array(vec![Value::Str(bytes_as_text(data)), Value::Int(data.len() as i64)]);
    for style in [Style::Spaced, Style::Compact] {
        let v = Value::Array(vec![Value::Bytes(data.to_vec()), Value::Int(data.len() as i64)]);
        let s = v.to_string(style);
        assert!(!s.contains('\n') && !s.bytes().any(|b| b < 0x20));
        assert_eq!(json::parse(&s).as_ref(), Ok(&want), "{s}");
    }
    let mut a = Attack::new(
        Proto::Tcp,
        "[fd77::1]:80".parse().unwrap(),
        "10.0.0.2:4000".parse().unwrap(),
        Mode::Normal,
        std::time::UNIX_EPOCH,
    );
    a.payload = Payload::new(data.to_vec());
    let mut d = Download::new("ftp", data.to_vec());
    let lossy = String::from_utf8_lossy(data).into_owned();
    d.user = Some(lossy.clone());
    d.filename = Some(lossy);
    a.downloads.push(d);
    let line = logjson::format_line(&a, 64);
    assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
    assert!(json::parse(&line).is_ok(), "{line}");
});
