//! Fuzz target for the pure FTP reply parser (`download::ftp::reply`): lines fed to the reply
//! assembler, every completed reply's line through the PASV and EPSV parsers, and the whole
//! input as one line.
//! Arbitrary bytes must never panic; a completed reply has a code of 100–599 and a line
//! without control characters; a parsed PASV address written as the client writes `PORT`
//! arguments, and a parsed EPSV port in the canonical `(|||port|)` form, parse back to the
//! same (the emit → parse round trip). Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz ftp_replies`.
#![no_main]

use honeytrap::pipeline::download::ftp::port_argument;
use honeytrap::pipeline::download::ftp::reply::{self, ReplyParser};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

fn check_reply_line(line: &str) {
    if let Some(addr) = reply::parse_pasv(line) {
        let IpAddr::V4(ip) = addr.ip() else { panic!("PASV gave {addr}") };
        let again = reply::parse_pasv(&format!("227 Entering Passive Mode ({}).", port_argument(ip, addr.port())));
        assert_eq!(again, Some(addr), "{line:?}");
    }
    if let Some(port) = reply::parse_epsv(line) {
        assert_ne!(port, 0);
        let canonical = format!("229 Entering Extended Passive Mode (|||{port}|)");
        assert_eq!(reply::parse_epsv(&canonical), Some(port), "{line:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parser = ReplyParser::default();
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match parser.feed(line) {
            Ok(Some(reply)) => {
                assert!((100..600).contains(&reply.code), "{reply:?}");
                assert!(!reply.line.chars().any(char::is_control), "{reply:?}");
                assert!(reply.line.len() <= 4 * line.len() + 3, "{reply:?}");
                check_reply_line(&reply.line);
            }
            Ok(None) => {}
            Err(_) => parser = ReplyParser::default(),
        }
    }
    check_reply_line(&String::from_utf8_lossy(data));
    assert!(!reply::printable(data).chars().any(char::is_control));
});
