//! `http_program`: the configured download program run with an argument vector, no shell,
//! its output bounded in size and time. Replaces the `popen` of
//! `<http_program> <http_options> <url>` in htm_httpDownload.c.

use super::*;
use crate::pipeline::download::{Context, Error, Fetched};
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs `<program> <options…> <url>` (options split on ASCII white space) without a shell, as
/// the C plugin's `http_program`/`http_options` did through `popen`, and returns what the
/// program wrote to its standard output. Standard input and error are `/dev/null`; the program
/// is killed when the deadline passes, when it is silent for `io_timeout`, or when its output
/// exceeds `max_size`. `remote` is `0.0.0.0:0` as in the C record.
pub fn fetch_with_program(program: &str, options: &str, url: &str, ctx: &Context) -> Result<Fetched, Error> {
    let result = run_program(program, options, url, ctx);
    if let Err(e) = &result {
        crate::log_noisy!("HTTP download - {} failed: {}.", Printable(url), Printable(&e.to_string()));
    }
    result
}

fn run_program(program: &str, options: &str, url: &str, ctx: &Context) -> Result<Fetched, Error> {
    if url.is_empty() || url.starts_with('-') || !url.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Error::Refused(format!("URL {:?} starts with '-' or has bytes outside printable ASCII", url)));
    }
    if program.is_empty() {
        return Err(Error::Unsupported("no http_program".into()));
    }
    // The program follows redirects on its own, but a literal address can be checked now.
    if let Some(Ok(r)) = parse_url(url) {
        if let Ok(ip) = r.host.parse::<IpAddr>() {
            ctx.policy.check(ip)?;
        }
    }
    let mut child = Command::new(program)
        .args(options.split_ascii_whitespace())
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Io(io::Error::new(e.kind(), format!("{}: {}", program, crate::sys::strerror(&e)))))?;
    crate::log_debug!("HTTP download - started {} (pid {}) for {}.", Printable(program), child.id(), url);
    let result = collect(&mut child, ctx);
    if !matches!(child.try_wait(), Ok(Some(_))) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (data, status) = result?;
    if data.is_empty() && !status.success() {
        return Err(Error::Protocol(format!("{} exited with {}", program, status)));
    }
    Ok(Fetched { data, remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), uri: url.to_string() })
}

/// Reads the child's output (bounded by size and time) and waits for its exit until the
/// deadline.
pub(super) fn collect(child: &mut Child, ctx: &Context) -> Result<(Vec<u8>, std::process::ExitStatus), Error> {
    let max = ctx.limits.max_size;
    let mut data = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        let mut buf = vec![0; BUF_SIZE];
        loop {
            let ready = crate::sys::poll::poll_readable(&[out.as_fd()], Some(ctx.wait()?))?;
            if !ready.first().copied().unwrap_or(false) {
                return Err(Error::Timeout);
            }
            let n = match out.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Io(e)),
            };
            if n == 0 {
                break;
            }
            if data.len() + n > max {
                return Err(Error::TooLarge(max));
            }
            data.extend_from_slice(&buf[..n]);
        }
    }
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((data, status));
        }
        ctx.wait()?;
        std::thread::sleep(Duration::from_millis(10));
    }
}
