//! Download command extraction (SPEC §8.2–§8.4, extended): a pure function from an attack
//! string to the downloads it asks for. Replaces the command parsers of htm_ftpDownload.c,
//! htm_tftpDownload.c and htm_httpDownload.c.
use super::request::Request;
pub const MAX_REQUESTS: usize = 32;
pub fn extract(_a: &[u8]) -> Vec<Request> {
    Vec::new()
}
