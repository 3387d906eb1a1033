//! FTP client (SPEC §8.2): the Windows ftp.exe-like active-mode dialogue of
//! htm_ftpDownload.c, bounded, with PASV fallback.
use super::{Context, Error, Fetched};
use std::net::SocketAddr;
pub fn fetch(
    _server: SocketAddr,
    _user: Option<&str>,
    _pass: Option<&str>,
    _path: &str,
    _ctx: &Context,
) -> Result<Fetched, Error> {
    Err(Error::Unsupported("tmp".into()))
}
