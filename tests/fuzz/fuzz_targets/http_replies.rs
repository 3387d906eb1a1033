//! Fuzz target for the pure HTTP reply parser (`download::http::reply`) and the client's
//! redirect handling: arbitrary bytes as a whole server reply (head, then a plain, sized or
//! chunked body) and as a `Location` value must never panic; a body never exceeds the size
//! cap; a location the reply parser hands over carries no control characters; a redirect
//! from a clean location names a host and an absolute path, and keeps the original's
//! credentials only on the same server. Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz http_replies`.
#![no_main]

use honeytrap::pipeline::download::{http, Limits};
use honeytrap::pipeline::request::{Request, Scheme};
use libfuzzer_sys::fuzz_target;

const MAX_SIZE: usize = 4096;

fn check_redirect(base: &Request, location: &str) {
    let Ok(r) = http::redirect(base, location) else { return };
    assert!(matches!(r.scheme, Scheme::Http | Scheme::Https), "{location:?} -> {r:?}");
    assert!(!r.host.is_empty(), "{location:?} -> {r:?}");
    if !location.chars().any(char::is_control) {
        assert!(!r.path.chars().any(char::is_control), "{location:?} -> {r:?}");
        assert!(r.path.starts_with('/'), "{location:?} -> {r:?}");
    }
    if r.user.is_some() && r.user == base.user && r.host != base.host {
        // Credentials may only go to another server when the location names them itself.
        assert!(location.contains('@'), "{location:?} -> {r:?}");
    }
    let _ = r.uri();
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_size: MAX_SIZE, max_lines: 50, max_line: 1024, ..Limits::default() };
    if let Ok((code, location, body)) = http::reply::parse_reply(data, &limits) {
        assert!((200..600).contains(&code), "{code}");
        assert!(body.len() <= MAX_SIZE && body.len() <= data.len());
        if !(200..300).contains(&code) {
            assert!(body.is_empty());
        }
        if let Some(l) = location {
            assert!(!l.chars().any(char::is_control), "{l:?}");
            // Spaces and non-ASCII bytes are percent-encoded: at most three bytes each.
            assert!(l.len() <= 3 * data.len());
        }
    }
    let mut base = Request::new(Scheme::Http, "192.0.2.1", Some(8080), "/dir/file?q=1");
    base.user = Some("u".into());
    base.pass = Some("p".into());
    check_redirect(&base, &String::from_utf8_lossy(data));
});
