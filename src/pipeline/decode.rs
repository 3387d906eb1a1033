//! Decoders of the pre-processing stage (SPEC §7.4, §8.5–§8.7): pure functions from an
//! attack string to derived attack strings. Replaces htm_b64Decode.c, htm_deUnicode.c and
//! the keystroke part of htm_vncDownload.c.
pub fn base64_decode(_i: &[u8]) -> Option<Vec<u8>> {
    None
}
pub fn negotiate_blobs(_a: &[u8]) -> Vec<Vec<u8>> {
    Vec::new()
}
pub fn base64_runs(_a: &[u8]) -> Vec<Vec<u8>> {
    Vec::new()
}
pub fn de_unicode(_a: &[u8]) -> Option<Vec<u8>> {
    None
}
pub fn vnc_keystrokes(_a: &[u8]) -> Option<Vec<u8>> {
    None
}
