//! The optional Prometheus endpoint (`metrics_listen`): a plain HTTP/1.0 server that answers
//! `GET /metrics` with [`crate::stats::prometheus`]. Nothing listens unless the key is set.
//! One named thread accepts; each client is served on a thread of its own, at most
//! [`MAX_CLIENTS`] at once (more are closed at once), each with a short deadline and a capped
//! request head, so an idle client cannot hold the endpoint and a hostile one cannot grow
//! memory. The C original had no such endpoint.

use crate::stats::{self, Gauges};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The longest request head read; more is a 431.
const MAX_HEAD: usize = 8 * 1024;
/// How long one client may take to send its request and read the answer.
const CLIENT_DEADLINE: Duration = Duration::from_secs(5);

/// The most clients served at once.
const MAX_CLIENTS: usize = 4;

/// Reads the gauges when a scrape comes in.
pub type GaugeSource = Arc<dyn Fn() -> Gauges + Send + Sync>;

/// Binds `addr` and serves scrapes on a thread named `metrics` until the process ends.
pub fn start(addr: SocketAddr, gauges: GaugeSource) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let busy = Arc::new(AtomicUsize::new(0));
    thread::Builder::new().name("metrics".into()).spawn(move || {
        for conn in listener.incoming() {
            match conn {
                Ok(c) => {
                    if busy.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
                        busy.fetch_sub(1, Ordering::AcqRel);
                        continue;
                    }
                    let (held, gauges) = (Arc::clone(&busy), Arc::clone(&gauges));
                    let spawned = thread::Builder::new().name("metrics-client".into()).spawn(move || {
                        let _ = serve(c, &gauges);
                        held.fetch_sub(1, Ordering::AcqRel);
                    });
                    if spawned.is_err() {
                        busy.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                // A client gone before accept, or descriptors short for a moment: the next
                // scrape is taken after a pause instead of spinning.
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    })?;
    Ok(bound)
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Ask {
    Metrics { head_only: bool },
    NotFound,
    Method,
    TooLarge,
    Bad,
}

/// Reads the request head (to the blank line) within the deadline and the cap.
fn read_head(c: &mut TcpStream, deadline: Instant) -> io::Result<Result<Vec<u8>, Ask>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        c.set_read_timeout(Some(left))?;
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Ok(Err(Ask::Bad));
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(Ok(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(Err(Ask::TooLarge));
        }
    }
}

/// What the request line asks for.
fn parse_request_line(head: &[u8]) -> Ask {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next()) else {
        return Ask::Bad;
    };
    if words.next().is_some() || !version.starts_with(b"HTTP/1.") {
        return Ask::Bad;
    }
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Ask::Method,
    };
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match path {
        b"/metrics" | b"/" => Ask::Metrics { head_only },
        _ => Ask::NotFound,
    }
}

fn serve(mut c: TcpStream, gauges: &GaugeSource) -> io::Result<()> {
    let deadline = Instant::now() + CLIENT_DEADLINE;
    let ask = match read_head(&mut c, deadline)? {
        Ok(head) => parse_request_line(&head),
        Err(ask) => ask,
    };
    let (status, body, head_only) = match ask {
        Ask::Metrics { head_only } => {
            let uptime = stats::started().elapsed().as_secs();
            ("200 OK", stats::prometheus(&stats::STATS, &gauges(), uptime), head_only)
        }
        Ask::NotFound => ("404 Not Found", "Not found: the counters are at /metrics.\n".to_string(), false),
        Ask::Method => ("405 Method Not Allowed", "Only GET and HEAD.\n".to_string(), false),
        Ask::TooLarge => ("431 Request Header Fields Too Large", String::new(), false),
        Ask::Bad => ("400 Bad Request", String::new(), false),
    };
    let mut reply = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        reply.extend_from_slice(body.as_bytes());
    }
    c.set_write_timeout(Some(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))))?;
    c.write_all(&reply)?;
    let _ = c.shutdown(std::net::Shutdown::Write);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(parse_request_line(b"GET /metrics HTTP/1.1\r\n\r\n"), Ask::Metrics { head_only: false });
        assert_eq!(parse_request_line(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"), Ask::Metrics { head_only: true });
        assert_eq!(parse_request_line(b"GET / HTTP/1.1\n\n"), Ask::Metrics { head_only: false });
        assert_eq!(parse_request_line(b"GET /other HTTP/1.1\r\n\r\n"), Ask::NotFound);
        assert_eq!(parse_request_line(b"POST /metrics HTTP/1.1\r\n\r\n"), Ask::Method);
        assert_eq!(parse_request_line(b"GET /metrics\r\n\r\n"), Ask::Bad);
        assert_eq!(parse_request_line(b"GET /metrics SSH-2.0\r\n\r\n"), Ask::Bad);
        assert_eq!(parse_request_line(b"\xff\xfe"), Ask::Bad);
    }

    fn exchange(addr: SocketAddr, req: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // A client closed unserved may see a reset: what was read until then is the answer.
        let _ = c.write_all(req);
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn serves_the_counters_and_refuses_the_rest() {
        let addr = start("127.0.0.1:0".parse().unwrap(), Arc::new(|| Gauges::read(2))).unwrap();
        let r = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
        assert!(r.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "{r}");
        assert!(r.contains("\nhoneytrap_open_connections 2\n"), "{r}");
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())), "{head}");

        let r = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.0 200 OK\r\n") && r.ends_with("\r\n\r\n"), "{r}");
        assert!(exchange(addr, b"GET /x HTTP/1.1\r\n\r\n").starts_with("HTTP/1.0 404 "));
        assert!(exchange(addr, b"DELETE / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.0 405 "));
        let big = [b"GET /metrics HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD + 10]].concat();
        assert!(exchange(addr, &big).starts_with("HTTP/1.0 431 "));
        // Clients that send nothing do not hold the endpoint: they are dropped at their
        // deadline, and beyond MAX_CLIENTS closed at once.
        // (A client of the exchanges above may still hold its place for a moment: idle
        // clients turned away then are replaced until MAX_CLIENTS are held.)
        let open = |c: &TcpStream| {
            c.set_nonblocking(true).unwrap();
            let held = matches!(c.peek(&mut [0u8; 1]), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock);
            c.set_nonblocking(false).unwrap();
            held
        };
        let mut idle: Vec<TcpStream> = Vec::new();
        for _ in 0..50 {
            idle.retain(|c| open(c));
            if idle.len() == MAX_CLIENTS {
                break;
            }
            while idle.len() < MAX_CLIENTS {
                idle.push(TcpStream::connect(addr).unwrap());
            }
            thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(idle.len(), MAX_CLIENTS);
        let t = Instant::now();
        let mut extra = TcpStream::connect(addr).unwrap();
        extra.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = extra.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
        let mut out = Vec::new();
        let _ = extra.read_to_end(&mut out);
        assert!(out.is_empty() && t.elapsed() < CLIENT_DEADLINE, "{:?}", t.elapsed());
        let mut late = None;
        for _ in 0..100 {
            thread::sleep(Duration::from_millis(100));
            let r = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
            if !r.is_empty() {
                late = Some(r);
                break;
            }
        }
        assert!(late.is_some_and(|r| r.starts_with("HTTP/1.0 200 OK")));
        assert!(t.elapsed() < CLIENT_DEADLINE + Duration::from_secs(5), "{:?}", t.elapsed());
        drop(idle);
    }
}
