//! Fuzz target for the parsers of download-server replies: FTP reply lines (the reply
//! assembler, PASV and EPSV), TFTP packets fed to the block receiver, HTTP replies and
//! redirect locations. Arbitrary bytes must
//! never panic; a TFTP packet that parses must survive an emit → parse round trip; the
//! receiver never holds more than its cap. Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz download_replies`.
#![no_main]

use honeytrap::pipeline::download::{ftp, http, tftp, Limits};
use honeytrap::pipeline::request::{Request, Scheme};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parser = ftp::ReplyParser::default();
    for line in data.split(|&b| b == b'\n') {
        match parser.feed(line) {
            Ok(Some(reply)) => {
                assert!((100..1000).contains(&reply.code));
                let _ = ftp::parse_pasv(&reply.line);
                let _ = ftp::parse_epsv(&reply.line);
            }
            Ok(None) => {}
            Err(_) => parser = ftp::ReplyParser::default(),
        }
    }
    let mut rx = tftp::Receiver::new(4096);
    for chunk in data.chunks(517) {
        if let Some(p) = tftp::Packet::parse(chunk) {
            let again = p.emit();
            assert_eq!(tftp::Packet::parse(&again).map(|q| q.emit()), Some(again.clone()));
            if let tftp::Packet::Data { block, data } = p {
                let _ = rx.receive(block, data);
                assert!(rx.data().len() <= 4096);
            }
        }
    }
    let limits = Limits { max_size: 4096, ..Limits::default() };
    if let Ok((_, _, body)) = http::parse_reply(data, &limits) {
        assert!(body.len() <= 4096);
    }
    let base = Request { filename: "b".into(), ..Request::new(Scheme::Http, "192.0.2.1", None, "/a/b") };
    // Locations reach `redirect` with their controls refused (the reply parser does that);
    // from a clean one no control may come out. The request line percent-encodes anyway.
    let location = String::from_utf8_lossy(data);
    if let Ok(r) = http::redirect(&base, &location) {
        if !location.chars().any(char::is_control) {
            assert!(!r.path.chars().any(char::is_control), "{:?} -> {:?}", location, r.path);
        }
    }
});
