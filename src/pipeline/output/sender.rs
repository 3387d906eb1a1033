//! The sender the network outputs share (syslog, hpfeeds, submitPostgres): a bounded queue
//! between the threads that produce messages and one sender thread per output, which drains
//! it into a [`Transport`], (re)connecting with back-off (1 s doubling to 60 s); a full queue
//! drops and counts. What differs between the outputs is explicit: a [`Policy`] (how often an
//! item is tried, whether a broken connection waits the back-off, how shutdown drains), a
//! queue that may let one item of any size in when empty, and the log lines, which a
//! transport may word itself ([`Transport::report`]). Also the TCP helpers of the transports.
//! New in this version, like the outputs that use it.

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
/// How long a closing stream output keeps delivering what is queued, and how long `drop`
/// waits ([`Policy::STREAM`]).
const DRAIN_TIME: Duration = Duration::from_secs(1);
const JOIN_TIME: Duration = Duration::from_secs(3);

/// How one output's sender treats items, a failing collector and shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Sends of one item over live connections before it is given up and counted as dropped
    /// (`None`: tried until it is sent, or the output closes).
    pub(crate) tries: Option<u32>,
    /// Whether a broken send waits the back-off before the next connection attempt (else
    /// the item is tried again on a new connection at once).
    pub(crate) backoff_after_broken: bool,
    /// Connect once when the thread starts, before the first item (a wrong password or an
    /// unreachable collector shows in the log at start).
    pub(crate) connect_early: bool,
    /// How long a closing sender keeps delivering what is queued (`None`: until the queue is
    /// empty).
    pub(crate) drain: Option<Duration>,
    /// Whether a closing sender connects when it has no connection: one attempt each time,
    /// and a failed one ends the drain. Otherwise closing makes no connection attempt.
    pub(crate) drain_reconnect: bool,
    /// How long [`Sender::stop`] waits for the thread.
    pub(crate) join_wait: Duration,
}

impl Policy {
    /// Message streams (syslog, hpfeeds): an item is tried until sent, reconnecting with
    /// back-off; closing delivers for [`DRAIN_TIME`] over a live connection only.
    pub(crate) const STREAM: Policy = Policy {
        tries: None,
        backoff_after_broken: true,
        connect_early: false,
        drain: Some(DRAIN_TIME),
        drain_reconnect: false,
        join_wait: JOIN_TIME,
    };
}

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
    /// Let one item of any size into an empty queue (its bytes exist already).
    oversize_when_empty: bool,
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
            oversize_when_empty: false,
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            output: None,
        }
    }

    /// The same queue, letting one item of any size in when it is empty (the byte budget
    /// bounds what waits behind it).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // submitPostgres's
    pub(crate) fn oversize_when_empty(self) -> SendQueue<T> {
        SendQueue { oversize_when_empty: true, ..self }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` (`size` bytes); false when it was dropped (queue full or closed).
    pub(crate) fn push(&self, item: T, size: usize) -> bool {
        let mut st = self.lock();
        let too_big =
            st.bytes.saturating_add(size) > self.max_bytes && !(self.oversize_when_empty && st.items.is_empty());
        if st.closed || st.items.len() >= self.max_items || too_big {
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

    /// Drops everything still queued (counted); how many that were.
    pub(crate) fn discard_all(&self) -> u64 {
        let n = {
            let mut st = self.lock();
            st.bytes = 0;
            std::mem::take(&mut st.items).len() as u64
        };
        self.count_dropped(n);
        n
    }

    /// Bytes queued now.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
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
    /// Sends one item; on `Err` the item is tried again (after reconnecting when `Broken`)
    /// unless `Permanent` or the policy's tries are used up.
    fn send(&mut self, item: &Self::Item) -> Result<(), SendError>;
    fn disconnect(&mut self);
    /// Logs `event` in the output's own words and returns true; false (the default) leaves
    /// it to the sender's own lines.
    fn report(&mut self, _event: &Event<'_, Self::Item>) -> bool {
        false
    }
}

#[derive(Debug)]
pub(crate) enum SendError {
    /// The connection is broken: reconnect, then retry the item.
    Broken(String),
    /// The item failed for a passing reason (e.g. a deadlock): retry it on this connection.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // submitPostgres's
    Again(String),
    /// This item can never be sent (e.g. too big): drop it (counted), keep the connection.
    Permanent(String),
}

/// What the sender loop reports; [`Transport::report`] may word it, else the sender does.
#[derive(Debug)]
pub(crate) enum Event<'a, T> {
    /// A connection was made; `again` after failures.
    Connected { again: bool },
    /// A connection attempt failed (retried after the back-off).
    ConnectFailed(&'a LinkError),
    /// A send broke the connection; the item is tried again.
    Broken(&'a str),
    /// `item` was dropped (counted): it cannot be sent, or its tries are used up.
    GivenUp {
        #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // read by submitPostgres
        item: &'a T,
        why: &'a str,
    },
    /// The queue has dropped this many items so far.
    DroppedSoFar(u64),
    /// The sender ended with this many items not delivered (counted as dropped).
    Abandoned(#[cfg_attr(not(feature = "postgres"), allow(dead_code))] u64),
}

/// The sender's own log lines, each kind throttled.
struct SenderLog {
    unreachable: Throttle,
    drops: Throttle,
    reported_drops: u64,
}

impl SenderLog {
    fn new() -> SenderLog {
        SenderLog { unreachable: Throttle::new(WARN_INTERVAL), drops: Throttle::new(WARN_INTERVAL), reported_drops: 0 }
    }

    /// Lets `t` word `event`, else logs the sender's line for it.
    fn tell<X: Transport>(&mut self, t: &mut X, event: Event<'_, X::Item>) {
        if t.report(&event) {
            return;
        }
        match event {
            Event::Connected { again: true } => log_notice!("{}: connected again", t.describe()),
            Event::Connected { again: false } => log_info!("{}: connected", t.describe()),
            Event::ConnectFailed(e) => warn_unreachable(&self.unreachable, &t.describe(), e),
            Event::Broken(e) => warn_unreachable(&self.unreachable, &t.describe(), &e),
            Event::GivenUp { why, .. } => {
                if let Some(quiet) = self.drops.due() {
                    log_warn!("{}: message dropped: {}{}", t.describe(), why, crate::log::more_since(quiet));
                }
            }
            Event::DroppedSoFar(dropped) => {
                if let Some(_quiet) = self.drops.due() {
                    log_warn!("{}: {} messages dropped so far (queue full or unsendable)", t.describe(), dropped);
                    self.reported_drops = dropped;
                }
            }
            Event::Abandoned(_) => {}
        }
    }
}

/// The running sender thread: closes the queue and waits (bounded) for the thread on drop.
pub(crate) struct Sender {
    thread: Option<JoinHandle<()>>,
    /// In a mutex only to make the sender `Sync` (outputs are shared by every connection).
    done: std::sync::Mutex<mpsc::Receiver<()>>,
    join_wait: Duration,
}

impl Sender {
    /// Closes `queue`, lets the thread deliver what its policy allows and waits at most the
    /// policy's `join_wait` for it (a thread stuck in a write is left to finish on its own).
    /// Returns false when the thread was left running.
    pub(crate) fn stop<T>(&mut self, queue: &SendQueue<T>) -> bool {
        queue.close();
        let Some(t) = self.thread.take() else { return true };
        let done = self.done.get_mut().unwrap_or_else(|e| e.into_inner());
        if done.recv_timeout(self.join_wait).is_ok() {
            let _ = t.join();
            return true;
        }
        false
    }
}

thread_local! {
    /// Set on the syslog sender thread: its own log lines are not mirrored into syslog.
    pub(crate) static ON_SYSLOG_SENDER: Cell<bool> = const { Cell::new(false) };
}

/// Starts the sender thread of `plugin` (named after it) that drains `queue` into
/// `transport` as `policy` says.
pub(crate) fn spawn_sender<X: Transport>(
    plugin: Plugin,
    queue: Arc<SendQueue<X::Item>>,
    mut transport: X,
    policy: Policy,
    is_syslog: bool,
) -> Result<Sender, OutputError> {
    let (tx, done) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(plugin.key_name().to_string())
        .spawn(move || {
            ON_SYSLOG_SENDER.with(|c| c.set(is_syslog));
            run_sender(&queue, &mut transport, &policy);
            transport.disconnect();
            let _ = tx.send(());
        })
        .map_err(|err| OutputError::Thread { plugin, err })?;
    Ok(Sender { thread: Some(thread), done: std::sync::Mutex::new(done), join_wait: policy.join_wait })
}

fn run_sender<X: Transport>(queue: &SendQueue<X::Item>, t: &mut X, policy: &Policy) {
    let mut log = SenderLog::new();
    let mut backoff = Backoff::new();
    let mut pending: Option<X::Item> = None;
    // Sends of `pending` so far.
    let mut tries = 0;
    let mut failing = false;
    let mut closing = false;
    let mut drain_until: Option<Instant> = None;
    if policy.connect_early {
        match t.connect() {
            Ok(()) => log.tell(t, Event::Connected { again: false }),
            Err(e) => {
                failing = true;
                log.tell(t, Event::ConnectFailed(&e));
            }
        }
    }
    loop {
        let dropped = queue.stats().1;
        if dropped > log.reported_drops {
            log.tell(t, Event::DroppedSoFar(dropped));
        }
        if !closing && queue.is_closed() {
            closing = true;
            drain_until = policy.drain.map(|d| Instant::now() + d);
        }
        if drain_until.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if pending.is_none() {
            pending = queue.pop(Duration::from_millis(500));
            tries = 0;
            if pending.is_none() {
                if queue.is_closed() {
                    break;
                }
                continue;
            }
        }
        if !t.is_connected() {
            if closing && !policy.drain_reconnect {
                break; // closing: no new connection attempts
            }
            match t.connect() {
                Ok(()) => {
                    backoff.reset();
                    log.tell(t, Event::Connected { again: failing });
                    failing = false;
                }
                Err(e) => {
                    failing = true;
                    log.tell(t, Event::ConnectFailed(&e));
                    if closing {
                        break; // the one attempt of a closing sender
                    }
                    if queue.sleep_unless_closed(backoff.failed()) && !policy.drain_reconnect {
                        break;
                    }
                    continue;
                }
            }
        }
        let Some(item) = pending.as_ref() else { continue };
        tries += 1;
        let tries_left = policy.tries.is_none_or(|n| tries < n);
        match t.send(item) {
            Ok(()) => {
                queue.count_sent();
                pending = None;
            }
            Err(SendError::Again(_)) if tries_left => {}
            Err(SendError::Broken(e)) if tries_left => {
                t.disconnect();
                failing = true;
                log.tell(t, Event::Broken(&e));
                if policy.backoff_after_broken && queue.sleep_unless_closed(backoff.failed()) {
                    break;
                }
            }
            Err(e) => {
                let (why, broken) = match e {
                    SendError::Broken(e) => (e, true),
                    SendError::Again(e) | SendError::Permanent(e) => (e, false),
                };
                queue.count_dropped(1);
                log.tell(t, Event::GivenUp { item, why: &why });
                if broken {
                    t.disconnect();
                }
                pending = None;
            }
        }
    }
    let left = u64::from(pending.is_some());
    queue.count_dropped(left);
    let left = left + queue.discard_all();
    if left > 0 {
        log.tell(t, Event::Abandoned(left));
    }
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
    fn oversize_item_goes_into_an_empty_queue_only_when_allowed() {
        let strict: SendQueue<u32> = SendQueue::new(10, 10);
        assert!(!strict.push(1, 100));
        let q = SendQueue::new(10, 10).oversize_when_empty();
        assert!(q.push(1, 100), "empty: any size");
        assert!(!q.push(2, 1), "not empty: the byte budget holds");
        assert_eq!((q.bytes(), q.pop(Duration::ZERO)), (100, Some(1)));
        assert!(q.push(3, 50), "empty again");
        assert_eq!(q.pop(Duration::ZERO), Some(3));
        assert!(q.push(4, 5) && q.push(5, 5) && !q.push(6, 1), "within the budget as before");
        assert_eq!(q.stats(), (0, 2));
    }

    /// What the mock transport saw.
    #[derive(Default)]
    struct Seen {
        connects: u32,
        sends: Vec<u32>,
        events: Vec<String>,
    }

    /// Connects while `up`; each send takes the next scripted result (then succeeds).
    struct Mock {
        up: Arc<std::sync::atomic::AtomicBool>,
        connected: bool,
        script: VecDeque<SendError>,
        seen: Arc<Mutex<Seen>>,
    }

    impl Mock {
        fn new(up: bool, script: Vec<SendError>) -> (Mock, Arc<std::sync::atomic::AtomicBool>, Arc<Mutex<Seen>>) {
            let (up, seen) = (Arc::new(std::sync::atomic::AtomicBool::new(up)), Arc::default());
            let m = Mock { up: Arc::clone(&up), connected: false, script: script.into(), seen: Arc::clone(&seen) };
            (m, up, seen)
        }
    }

    impl Transport for Mock {
        type Item = u32;
        fn describe(&self) -> String {
            "mock".into()
        }
        fn is_connected(&self) -> bool {
            self.connected
        }
        fn connect(&mut self) -> Result<(), LinkError> {
            self.seen.lock().unwrap().connects += 1;
            self.connected = self.up.load(Ordering::SeqCst);
            if self.connected {
                Ok(())
            } else {
                Err(LinkError::Protocol("down".into()))
            }
        }
        fn send(&mut self, item: &u32) -> Result<(), SendError> {
            self.seen.lock().unwrap().sends.push(*item);
            self.script.pop_front().map_or(Ok(()), Err)
        }
        fn disconnect(&mut self) {
            self.connected = false;
        }
        fn report(&mut self, event: &Event<'_, u32>) -> bool {
            let text = match event {
                Event::GivenUp { item, why } => format!("gave up {item}: {why}"),
                Event::Abandoned(n) => format!("abandoned {n}"),
                _ => return true,
            };
            self.seen.lock().unwrap().events.push(text);
            true
        }
    }

    fn wait_for(what: impl Fn() -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if what() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        what()
    }

    /// Tries over live connections, a new connection at once after a broken one, no drain limit.
    const RECORDS: Policy = Policy {
        tries: Some(3),
        backoff_after_broken: false,
        connect_early: false,
        drain: None,
        drain_reconnect: true,
        join_wait: Duration::from_secs(10),
    };

    #[test]
    fn item_is_given_up_after_its_tries() {
        let q = Arc::new(SendQueue::new(10, 1000));
        assert!(q.push(1, 1) && q.push(2, 1));
        let b = |s: &str| SendError::Broken(s.into());
        let (mock, _, seen) = Mock::new(true, vec![b("reset"), SendError::Again("deadlock".into()), b("gone")]);
        let t = Instant::now();
        let mut sender = spawn_sender(Plugin::Syslog, Arc::clone(&q), mock, RECORDS, false).unwrap();
        assert!(wait_for(|| q.stats() == (1, 1)), "{:?}", q.stats());
        assert!(t.elapsed() < BACKOFF_MIN, "a broken send reconnects at once: {:?}", t.elapsed());
        assert!(sender.stop(&q));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.sends, [1, 1, 1, 2], "three tries of 1, then 2");
        assert_eq!(seen.connects, 3, "first, after the first break, after the give-up");
        assert_eq!(seen.events, ["gave up 1: gone"]);
    }

    #[test]
    fn closing_drains_with_one_more_connection_attempt_when_the_policy_says_so() {
        for (policy, up_at_close, delivered) in [(RECORDS, true, 3), (RECORDS, false, 0), (Policy::STREAM, true, 0)] {
            let q = Arc::new(SendQueue::new(10, 1000));
            assert!(q.push(1, 1) && q.push(2, 1) && q.push(3, 1));
            let (mock, up, seen) = Mock::new(false, vec![]);
            let mut sender = spawn_sender(Plugin::Syslog, Arc::clone(&q), mock, policy, false).unwrap();
            // The first attempt fails; the sender waits its back-off.
            assert!(wait_for(|| seen.lock().unwrap().connects == 1));
            up.store(up_at_close, Ordering::SeqCst);
            let t = Instant::now();
            assert!(sender.stop(&q));
            assert!(t.elapsed() < BACKOFF_MIN, "closing ends the back-off wait: {:?}", t.elapsed());
            let seen = seen.lock().unwrap();
            let again = u32::from(policy.drain_reconnect);
            assert_eq!(seen.connects, 1 + again, "{policy:?}");
            assert_eq!(q.stats(), (delivered, 3 - delivered), "{policy:?} up {up_at_close}");
            let abandoned = if delivered == 3 { vec![] } else { vec!["abandoned 3".to_string()] };
            assert_eq!(seen.events, abandoned, "{policy:?}");
        }
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
