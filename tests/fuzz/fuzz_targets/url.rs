//! Fuzz target for the URL parser (`Request::parse`) as the command extractor uses it: the
//! input is what follows `wget ` in an attack string (seeds are URLs of every scheme). Every
//! request found must name a usable server and path; one written back as a URI
//! (`Request::uri`) from plain characters must be read again as the same request (the
//! emit → parse round trip). Run with `cargo fuzz run --fuzz-dir tests/fuzz url`.
#![no_main]

use honeytrap::pipeline::extract::extract;
use honeytrap::pipeline::request::{Request, Scheme};
use libfuzzer_sys::fuzz_target;

/// Characters a URI carries through the extractor unchanged: no separators, no escapes.
fn plain(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

fn same(a: &Request, b: &Request) -> bool {
    (a.scheme, &a.host, a.port_or_default(), &a.user, &a.pass, &a.path)
        == (b.scheme, &b.host, b.port_or_default(), &b.user, &b.pass, &b.path)
}

fuzz_target!(|data: &[u8]| {
    let mut line = b"wget ".to_vec();
    line.extend_from_slice(data);
    for r in extract(&line) {
        if r.scheme == Scheme::Inline {
            continue;
        }
        assert!(!r.host.is_empty() && !r.filename.is_empty(), "{r:?}");
        assert!(
            !r.host.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"/@".contains(&b)),
            "{r:?}"
        );
        assert_ne!(r.port, Some(0), "{r:?}");
        if matches!(r.scheme, Scheme::Http | Scheme::Https) {
            assert!(r.path.starts_with('/'), "{r:?}");
        }
        let uri = r.uri();
        let parts = [Some(&r.host), r.user.as_ref(), r.pass.as_ref(), Some(&r.path)];
        // Trailing punctuation ends a URL in running text: not part of a plain one.
        if parts.iter().flatten().all(|p| plain(p)) && !uri.ends_with(['.', '/']) {
            let again = extract(format!("wget {uri}").as_bytes());
            assert!(again.iter().any(|a| same(a, &r)), "{uri}: {r:?} -> {again:?}");
        }
    }
});
