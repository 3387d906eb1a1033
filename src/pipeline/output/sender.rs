//! The sender the network outputs share (syslog, hpfeeds): a bounded queue between the
//! threads that produce messages and one sender thread per output, which drains it into a
//! [`Transport`], (re)connecting with back-off (1 s doubling to 60 s); a full queue drops and
//! counts. Also the TCP helpers of the transports. New in this version, like the syslog and
//! hpfeeds outputs that use it.

use super::OutputError;
use crate::config::Plugin;
use crate::log::Throttle;
use crate::stats;
use crate::sys::strerror;
use crate::{log_info, log_notice, log_warn};
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default number of queued messages (`queue_size`).
pub const DEFAULT_QUEUE: usize = 10_000;
/// Largest accepted `queue_size`.
pub const MAX_QUEUE: usize = 1_000_000;
/// Bytes a queue may hold at most, whatever its message count.
pub const QUEUE_BYTES: usize = 64 << 20;
/// First and longest wait between connection attempts.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Interval of the "collector unreachable" and "messages dropped" lines.
pub const WARN_INTERVAL: Duration = Duration::from_secs(60);
/// Limit of one connect or one write; keeps shutdown bounded.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing output keeps delivering what is queued, and how long `drop` waits.
const DRAIN_TIME: Duration = Duration::from_secs(1);
const JOIN_TIME: Duration = Duration::from_secs(3);

struct QueueState<T> {
    items: VecDeque<(T, usize)>,
    bytes: usize,
    closed: bool,
}

/// A bounded queue between the threads that produce messages and one sender thread. Pushing
/// never blocks: a message that does not fit is dropped and counted.
pub(crate) struct SendQueue<T> {
    state: Mutex<QueueState<T>>,
    cv: Condvar,
    max_items: usize,
    max_bytes: usize,
    sent: AtomicU64,
    dropped: AtomicU64,
    /// The process-wide counters this queue also counts into.
    output: Option<stats::Output>,
}

impl<T> SendQueue<T> {
    /// A queue whose sent and dropped messages also count as `output`'s (the `Statistics`
    /// line, the metrics endpoint).
    pub(crate) fn counted(max_items: usize, max_bytes: usize, output: stats::Output) -> SendQueue<T> {
        SendQueue { output: Some(output), ..SendQueue::new(max_items, max_bytes) }
    }

    pub(crate) fn new(max_items: usize, max_bytes: usize) -> SendQueue<T> {
        SendQueue {
            state: Mutex::new(QueueState { items: VecDeque::new(), bytes: 0, closed: false }),
            cv: Condvar::new(),
            max_items,
            max_bytes,
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            output: None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` (`size` bytes); false when it was dropped (queue full or closed).
    pub(crate) fn push(&self, item: T, size: usize) -> bool {
        let mut st = self.lock();
        if st.closed || st.items.len() >= self.max_items || st.bytes.saturating_add(size) > self.max_bytes {
            drop(st);
            self.count_dropped(1);
            return false;
        }
        st.bytes += size;
        st.items.push_back((item, size));
        drop(st);
        self.cv.notify_one();
        true
    }

    /// The oldest item, waiting up to `timeout`; `None` on time-out or when empty and closed.
    pub(crate) fn pop(&self, timeout: Duration) -> Option<T> {
        let end = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if let Some((item, size)) = st.items.pop_front() {
                st.bytes -= size;
                return Some(item);
            }
            let now = Instant::now();
            if st.closed || now >= end {
                return None;
            }
            st = self.cv.wait_timeout(st, end - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Sleeps for `d` unless (or until) the queue is closed; returns whether it is closed.
    pub(crate) fn sleep_unless_closed(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        let mut st = self.lock();
        loop {
            let now = Instant::now();
            if st.closed || now >= end {
                return st.closed;
            }
            st = self.cv.wait_timeout(st, end - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.cv.notify_all();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Drops everything still queued (counted).
    pub(crate) fn discard_all(&self) {
        let n = {
            let mut st = self.lock();
            st.bytes = 0;
            std::mem::take(&mut st.items).len()
        };
        self.count_dropped(n as u64);
    }

    pub(crate) fn count_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Some(o) = self.output {
            stats::STATS.output(o).written.inc();
        }
    }

    pub(crate) fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        if let Some(o) = self.output {
            stats::STATS.output(o).dropped.add(n);
        }
    }

    /// (sent, dropped) so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.dropped.load(Ordering::Relaxed))
    }
}

/// Waits between connection attempts: [`BACKOFF_MIN`] doubling up to [`BACKOFF_MAX`].
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { next: BACKOFF_MIN }
    }
    /// The wait before the next attempt (and doubles the one after).
    pub(crate) fn failed(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        d
    }
    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

/// Why a collector could not be reached; the sender loop logs it (throttled) and retries.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// A socket call failed; `at` is the peer (address or socket path) where the text names it.
    Io { at: Option<String>, err: io::Error },
    /// The collector's name did not resolve (`err: None`: to no address).
    Resolve { host: String, err: Option<io::Error> },
    /// No address of the collector accepted the connection; the last attempt's error.
    Connect { addr: SocketAddr, err: io::Error },
    /// A helper thread of the connection could not be started.
    Thread { name: &'static str, err: io::Error },
    /// The collector answered but the protocol's set-up failed; the text says which step
    /// and why, in the collector's words where it gave any.
    Protocol(String),
}

impl LinkError {
    pub(crate) fn io(err: io::Error) -> LinkError {
        LinkError::Io { at: None, err }
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Io { at: Some(at), err } => write!(f, "{}: {}", at, strerror(err)),
            LinkError::Io { at: None, err } => write!(f, "{}", strerror(err)),
            LinkError::Resolve { host, err: Some(err) } => write!(f, "cannot resolve {}: {}", host, strerror(err)),
            LinkError::Resolve { host, err: None } => write!(f, "cannot resolve {host}: no address"),
            LinkError::Connect { addr, err } => write!(f, "connect to {}: {}", addr, strerror(err)),
            LinkError::Thread { name, err } => write!(f, "cannot start the {} thread: {}", name, strerror(err)),
            LinkError::Protocol(text) => f.write_str(text),
        }
    }
}

/// A connection the sender loop drives: connect, send one item, disconnect.
pub(crate) trait Transport: Send + 'static {
    type Item: Send + 'static;
    /// For log lines, e.g. `syslog tcp://[fd77::2]:514`.
    fn describe(&self) -> String;
    fn is_connected(&self) -> bool;
    fn connect(&mut self) -> Result<(), LinkError>;
    /// Sends one item; on `Err` the connection is considered broken and the item is retried
    /// after reconnecting, unless `Permanent`.
    fn send(&mut self, item: &Self::Item) -> Result<(), SendError>;
    fn disconnect(&mut self);
}

#[derive(Debug)]
pub(crate) enum SendError {
    /// The connection is broken: reconnect, then retry the item.
    Broken(String),
    /// This item can never be sent (e.g. too big): drop it (counted), keep the connection.
    Permanent(String),
}

/// The running sender thread: closes the queue and waits (bounded) for the thread on drop.
pub(crate) struct Sender {
    thread: Option<JoinHandle<()>>,
    /// In a mutex only to make the sender `Sync` (outputs are shared by every connection).
    done: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl Sender {
    /// Closes `queue`, lets the thread deliver what it can within [`DRAIN_TIME`] and waits at
    /// most [`JOIN_TIME`] for it (a thread stuck in a write is left to finish on its own).
    pub(crate) fn stop<T>(&mut self, queue: &SendQueue<T>) {
        queue.close();
        if let Some(t) = self.thread.take() {
            let done = self.done.get_mut().unwrap_or_else(|e| e.into_inner());
            if done.recv_timeout(JOIN_TIME).is_ok() {
                let _ = t.join();
            }
        }
    }
}

thread_local! {
    /// Set on the syslog sender thread: its own log lines are not mirrored into syslog.
    pub(crate) static ON_SYSLOG_SENDER: Cell<bool> = const { Cell::new(false) };
}

/// Starts the sender thread of `plugin` (named after it) that drains `queue` into
/// `transport`.
pub(crate) fn spawn_sender<X: Transport>(
    plugin: Plugin,
    queue: Arc<SendQueue<X::Item>>,
    mut transport: X,
    is_syslog: bool,
) -> Result<Sender, OutputError> {
    let (tx, done) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(plugin.key_name().to_string())
        .spawn(move || {
            ON_SYSLOG_SENDER.with(|c| c.set(is_syslog));
            run_sender(&queue, &mut transport);
            transport.disconnect();
            let _ = tx.send(());
        })
        .map_err(|err| OutputError::Thread { plugin, err })?;
    Ok(Sender { thread: Some(thread), done: std::sync::Mutex::new(done) })
}

fn run_sender<X: Transport>(queue: &SendQueue<X::Item>, t: &mut X) {
    let unreachable = Throttle::new(WARN_INTERVAL);
    let drops = Throttle::new(WARN_INTERVAL);
    let mut backoff = Backoff::new();
    let mut pending: Option<X::Item> = None;
    let mut failing = false;
    let mut reported_drops = 0;
    let mut drain_until: Option<Instant> = None;
    loop {
        let dropped = queue.stats().1;
        if dropped > reported_drops {
            if let Some(_quiet) = drops.due() {
                log_warn!("{}: {} messages dropped so far (queue full or unsendable)", t.describe(), dropped);
                reported_drops = dropped;
            }
        }
        if drain_until.is_none() && queue.is_closed() {
            drain_until = Some(Instant::now() + DRAIN_TIME);
        }
        if drain_until.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if pending.is_none() {
            pending = queue.pop(Duration::from_millis(500));
            if pending.is_none() {
                if queue.is_closed() {
                    break;
                }
                continue;
            }
        }
        if !t.is_connected() {
            if drain_until.is_some() {
                break; // closing: no new connection attempts
            }
            match t.connect() {
                Ok(()) => {
                    backoff.reset();
                    if failing {
                        log_notice!("{}: connected again", t.describe());
                    } else {
                        log_info!("{}: connected", t.describe());
                    }
                    failing = false;
                }
                Err(e) => {
                    failing = true;
                    warn_unreachable(&unreachable, &t.describe(), &e);
                    if queue.sleep_unless_closed(backoff.failed()) {
                        break;
                    }
                    continue;
                }
            }
        }
        let Some(item) = pending.as_ref() else { continue };
        match t.send(item) {
            Ok(()) => {
                queue.count_sent();
                pending = None;
            }
            Err(SendError::Permanent(e)) => {
                queue.count_dropped(1);
                pending = None;
                if let Some(quiet) = drops.due() {
                    log_warn!("{}: message dropped: {}{}", t.describe(), e, crate::log::more_since(quiet));
                }
            }
            Err(SendError::Broken(e)) => {
                t.disconnect();
                failing = true;
                warn_unreachable(&unreachable, &t.describe(), &e);
                if queue.sleep_unless_closed(backoff.failed()) {
                    break;
                }
            }
        }
    }
    if pending.is_some() {
        queue.count_dropped(1);
    }
    queue.discard_all();
}

fn warn_unreachable(throttle: &Throttle, what: &str, e: &dyn fmt::Display) {
    if let Some(quiet) = throttle.due() {
        if quiet > 0 {
            log_warn!("{}: unreachable: {} ({} more failures since the last message)", what, e, quiet);
        } else {
            log_warn!("{}: unreachable: {} (messages are queued and dropped when the queue is full)", what, e);
        }
    }
}

/// Connects to the first address `host:port` resolves to that accepts.
pub(crate) fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, LinkError> {
    let resolve_err = |err| LinkError::Resolve { host: host.to_string(), err };
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|e| resolve_err(Some(e)))?.collect();
    if addrs.is_empty() {
        return Err(resolve_err(None));
    }
    Ok(addrs)
}

pub(crate) fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, LinkError> {
    let mut last = None;
    for a in resolve(host, port)? {
        match TcpStream::connect_timeout(&a, IO_TIMEOUT) {
            Ok(s) => {
                s.set_write_timeout(Some(IO_TIMEOUT)).map_err(LinkError::io)?;
                return Ok(s);
            }
            Err(err) => last = Some(LinkError::Connect { addr: a, err }),
        }
    }
    // resolve() returned at least one address, so there was an attempt.
    Err(last.unwrap_or(LinkError::Resolve { host: host.to_string(), err: None }))
}

/// Whether the peer has closed `s` (checked without blocking before each write, so that a
/// restarted collector is noticed before a message goes into a dead connection).
pub(crate) fn peer_closed(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let mut b = [0u8; 64];
    let closed = match s.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    closed || s.set_nonblocking(false).is_err()
}

/// `queue_size` of `plugin`'s entry: 1 to [`MAX_QUEUE`], default [`DEFAULT_QUEUE`].
pub(crate) fn parse_queue_size(plugin: Plugin, v: Option<&str>) -> Result<usize, OutputError> {
    match v {
        None => Ok(DEFAULT_QUEUE),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_QUEUE).contains(&n) => Ok(n),
            _ => Err(OutputError::BadOption {
                plugin,
                key: "queue_size",
                why: format!("queue_size must be a number from 1 to {MAX_QUEUE}, not {s:?}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_bounded_by_count_and_bytes() {
        let q = SendQueue::new(2, 10);
        assert!(q.push(1, 4) && q.push(2, 4));
        assert!(!q.push(3, 1), "count");
        assert_eq!(q.pop(Duration::ZERO), Some(1));
        assert!(!q.push(4, 7), "bytes");
        assert!(q.push(5, 6));
        assert_eq!(q.stats(), (0, 2));
        q.close();
        assert!(!q.push(6, 1));
        assert_eq!(
            (q.pop(Duration::ZERO), q.pop(Duration::ZERO), q.pop(Duration::from_secs(5))),
            (Some(2), Some(5), None)
        );
        assert!(q.sleep_unless_closed(Duration::from_secs(5)));
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let mut b = Backoff::new();
        let waits: Vec<u64> = (0..8).map(|_| b.failed().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        b.reset();
        assert_eq!(b.failed(), BACKOFF_MIN);
    }
}
