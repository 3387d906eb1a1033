//! Admission of connections and UDP flows: limits that protect the daemon's capacity
//! without rationing it. The C original forked without limit; here nothing is refused while
//! there is room, and a source's share applies only when the daemon is busy.
//!
//! Each admitted connection or flow holds a [`Slot`], which counts what it really holds
//! ([`Kind`], [`super::capacity`]): a TCP connection a thread, its descriptors (two when its
//! port is mirrored or proxied) and [`MEMORY_PER_CONNECTION`]; a UDP flow
//! [`MEMORY_PER_FLOW`] and, when relayed, one descriptor, but no thread (its socket's thread
//! serves it). When the socket is closed or the flow ends ([`Slot::closed`]) the descriptors
//! and the flow's memory are given back; the record keeps a thread and
//! [`MEMORY_PER_CONNECTION`] until the pipeline has processed it (a TCP connection's own
//! thread; a flow's record takes one through [`Slot::record_thread`] when there is room, else
//! it is processed on the socket's thread). The slot is dropped once the record is processed.
//!
//! A new connection or flow from `source` is admitted unless
//! * the connections and flows open reached `max_connections`, when configured
//!   ([`MAX_CAPACITY`] otherwise) — [`Refused::Total`];
//! * a resource it needs has no room left: descriptors, threads (taken by connections and
//!   records being processed, so that a backlog of records refuses new connections instead of
//!   growing without bound) or memory — [`Refused::Descriptors`], [`Refused::Threads`],
//!   [`Refused::Memory`];
//! * the daemon is busy — three quarters of `max_connections`, or of the room of a resource
//!   the newcomer needs, taken ([`BUSY_NUM`]/[`BUSY_DEN`]) — and `source` already holds
//!   `max_connections_per_source` slots (connections, flows and records) — [`Refused::Share`].
//!   While the daemon is not busy one source may hold as many as it likes; once it is, the
//!   sources holding the most are refused first, and the last quarter stays for the others,
//!   so one flood cannot starve them.
//!
//! The counts also tell when the load has fallen ([`Limits::load_fell`]), so that the memory
//! the allocator kept for it can be given back.

use super::capacity::{Room, MAX_CAPACITY, MEMORY_PER_CONNECTION, MEMORY_PER_FLOW};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The daemon is busy once this fraction of its room is taken.
pub const BUSY_NUM: u64 = 3;
pub const BUSY_DEN: u64 = 4;
/// The load has fallen once the slots held dropped by at least this many since their peak,
/// and to half of it or less.
const FALL: u32 = 64;
/// A map of sources at least this large is shrunk once it is three quarters empty.
const SHRINK_ABOVE: usize = 1024;

/// What an admitted connection or flow is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A TCP connection, `relayed` when its port is mirrored or proxied.
    Connection { relayed: bool },
    /// A UDP flow, `relayed` (a socket of its own to the target) when its port is mirrored or
    /// proxied.
    Flow { relayed: bool },
}

/// What a slot holds of each resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cost {
    fds: u64,
    threads: u64,
    memory: u64,
}

impl Cost {
    /// A record being processed on a thread of its own.
    const RECORD: Cost = Cost { fds: 0, threads: 1, memory: MEMORY_PER_CONNECTION };

    fn of(kind: Kind) -> Cost {
        match kind {
            Kind::Connection { relayed } => Cost { fds: 1 + u64::from(relayed), ..Cost::RECORD },
            Kind::Flow { relayed } => Cost { fds: u64::from(relayed), threads: 0, memory: MEMORY_PER_FLOW },
        }
    }
}

/// Why a connection or flow was refused, with the bound that was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// This many connections and flows are open (`max_connections`).
    Total(u32),
    /// The descriptors left for connections and flows are taken.
    Descriptors(u64),
    /// The threads left for connections and records being processed are taken.
    Threads(u64),
    /// The memory (bytes) left for connections, flows and records is taken.
    Memory(u64),
    /// The daemon is busy and the source holds this many slots (its share).
    Share(u32),
}

/// A refused connection or flow: the cause and the source it came from. The text completes
/// the WARN lines `... refused: limit of <text> reached` and `... dropped: limit of <text>
/// reached`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub cause: Refused,
    pub peer: IpAddr,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause {
            Refused::Total(n) => write!(f, "{n} connections in total"),
            Refused::Descriptors(n) => write!(f, "{n} descriptors for connections"),
            Refused::Threads(n) => write!(f, "{n} threads for connections and records being processed"),
            Refused::Memory(n) => write!(f, "{} MiB of memory for connections and flows", n >> 20),
            Refused::Share(n) => {
                write!(f, "{n} connections from {} while busy (max_connections_per_source)", self.peer)
            }
        }
    }
}

/// The admission rules in force; replaced on SIGHUP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `max_connections`, when configured.
    pub cap: Option<u32>,
    /// `max_connections_per_source`: a source's share when busy.
    pub share: u32,
}

#[derive(Default)]
struct Counts {
    /// Connections and flows open.
    open: u32,
    /// Slots held: open connections and flows, records not yet processed.
    held: u32,
    /// The most slots held since the load last fell.
    peak: u32,
    /// What the slots hold.
    used: Cost,
    /// Slots held per source address (only sources holding one are present).
    by_source: HashMap<IpAddr, u32>,
}

impl Counts {
    fn take(&mut self, c: Cost) {
        self.used.fds += c.fds;
        self.used.threads += c.threads;
        self.used.memory += c.memory;
    }

    fn give_back(&mut self, c: Cost) {
        self.used.fds = self.used.fds.saturating_sub(c.fds);
        self.used.threads = self.used.threads.saturating_sub(c.threads);
        self.used.memory = self.used.memory.saturating_sub(c.memory);
    }

    /// The resource `c` needs that has no room left in `room`, if any.
    fn lacking(&self, c: Cost, room: &Room) -> Option<Refused> {
        let short = |used: u64, need: u64, room: Option<u64>| need > 0 && room.is_some_and(|r| used + need > r);
        if short(self.used.fds, c.fds, room.fds) {
            return room.fds.map(Refused::Descriptors);
        }
        if short(self.used.threads, c.threads, room.threads) {
            return room.threads.map(Refused::Threads);
        }
        if short(self.used.memory, c.memory, room.memory) {
            return room.memory.map(Refused::Memory);
        }
        None
    }

    /// Whether three quarters of the room of a resource `c` needs are taken.
    fn busy(&self, c: Cost, room: &Room) -> bool {
        let busy = |used: u64, need: u64, room: Option<u64>| need > 0 && room.is_some_and(|r| fraction(used, r));
        busy(self.used.fds, c.fds, room.fds)
            || busy(self.used.threads, c.threads, room.threads)
            || busy(self.used.memory, c.memory, room.memory)
    }
}

struct State {
    policy: Policy,
    counts: Counts,
}

/// Shared connection counters.
#[derive(Clone)]
pub struct Limits {
    state: Arc<Mutex<State>>,
}

/// One admitted connection or flow; [`Slot::closed`] when its socket is closed or the flow
/// ends, dropped once its record is processed.
pub struct Slot {
    source: IpAddr,
    kind: Kind,
    open: bool,
    /// What it holds now.
    cost: Cost,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` has reached the busy fraction of `of`.
fn fraction(n: u64, of: u64) -> bool {
    n * BUSY_DEN >= of * BUSY_NUM
}

impl Limits {
    pub fn new(policy: Policy) -> Limits {
        Limits { state: Arc::new(Mutex::new(State { policy, counts: Counts::default() })) }
    }

    /// Changes the rules (SIGHUP); connections already admitted stay.
    pub fn set_policy(&self, policy: Policy) {
        lock(&self.state).policy = policy;
    }

    /// Admits a connection or flow of `kind` from `source` while the system has `room`
    /// ([`super::capacity::Capacity::room`]), or says why not.
    pub fn admit(&self, source: IpAddr, kind: Kind, room: &Room) -> Result<Slot, Refused> {
        let mut st = lock(&self.state);
        let State { policy, counts: c } = &mut *st;
        let cap = policy.cap.unwrap_or(MAX_CAPACITY);
        if c.open >= cap {
            return Err(Refused::Total(cap));
        }
        let cost = Cost::of(kind);
        if let Some(r) = c.lacking(cost, room) {
            return Err(r);
        }
        let held = c.by_source.get(&source).copied().unwrap_or(0);
        let busy = policy.cap.is_some_and(|n| fraction(c.open.into(), n.into())) || c.busy(cost, room);
        if held >= policy.share && busy {
            return Err(Refused::Share(policy.share));
        }
        c.open += 1;
        c.held += 1;
        c.peak = c.peak.max(c.held);
        c.take(cost);
        *c.by_source.entry(source).or_insert(0) += 1;
        Ok(Slot { source, kind, open: true, cost, state: Arc::clone(&self.state) })
    }

    /// Connections and flows open now.
    pub fn open(&self) -> u32 {
        lock(&self.state).counts.open
    }

    /// Connections and flows open and records not yet processed, now.
    pub fn taken(&self) -> u32 {
        lock(&self.state).counts.held
    }

    /// Whether the load has fallen since this last said so: the slots held dropped by
    /// [`FALL`] or more from their peak, and to half of it or less. Meant to be asked now
    /// and then (the daemon: once a second).
    pub fn load_fell(&self) -> bool {
        let c = &mut lock(&self.state).counts;
        let fell = c.peak.saturating_sub(c.held) >= FALL && c.held <= c.peak / 2;
        if fell {
            c.peak = c.held;
        }
        fell
    }
}

impl Slot {
    /// The connection's socket is closed, or the flow ended: its descriptors (and a flow's
    /// memory) are given back, and it no longer counts as open. A connection's record keeps
    /// the thread and its memory until the slot is dropped.
    pub fn closed(&mut self) {
        if !std::mem::replace(&mut self.open, false) {
            return;
        }
        let keep = match self.kind {
            Kind::Connection { .. } => Cost::RECORD,
            Kind::Flow { .. } => Cost::default(),
        };
        let mut st = lock(&self.state);
        let c = &mut st.counts;
        c.open = c.open.saturating_sub(1);
        c.give_back(self.cost);
        c.take(keep);
        self.cost = keep;
    }

    /// A thread for the record of this (closed) slot: `true` if it has one (a connection's
    /// own) or `room` has one left, which it then holds until dropped; `false`: the record
    /// must be processed without a thread of its own.
    pub fn record_thread(&mut self, room: &Room) -> bool {
        if self.cost.threads > 0 {
            return true;
        }
        let mut st = lock(&self.state);
        let c = &mut st.counts;
        if c.lacking(Cost::RECORD, room).is_some() {
            return false;
        }
        c.give_back(self.cost);
        c.take(Cost::RECORD);
        self.cost = Cost::RECORD;
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.closed();
        let mut st = lock(&self.state);
        let c = &mut st.counts;
        c.give_back(self.cost);
        c.held = c.held.saturating_sub(1);
        if let Some(n) = c.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                c.by_source.remove(&self.source);
                let (len, cap) = (c.by_source.len(), c.by_source.capacity());
                if cap >= SHRINK_ABOVE && len * 4 < cap {
                    c.by_source.shrink_to(len * 2);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(i: u32) -> IpAddr {
        IpAddr::from(i.to_be_bytes())
    }

    #[test]
    fn refusal_texts() {
        let peer: IpAddr = "192.0.2.7".parse().unwrap();
        let text = |cause| Refusal { cause, peer }.to_string();
        assert_eq!(text(Refused::Total(3)), "3 connections in total");
        assert_eq!(text(Refused::Descriptors(40)), "40 descriptors for connections");
        assert_eq!(text(Refused::Threads(10)), "10 threads for connections and records being processed");
        assert_eq!(text(Refused::Memory(5 << 20)), "5 MiB of memory for connections and flows");
        assert_eq!(text(Refused::Share(4)), "4 connections from 192.0.2.7 while busy (max_connections_per_source)");
    }

    fn limits(cap: Option<u32>, share: u32) -> Limits {
        Limits::new(Policy { cap, share })
    }

    const TCP: Kind = Kind::Connection { relayed: false };
    const UDP: Kind = Kind::Flow { relayed: false };

    /// Room for `n` plain TCP connections, whichever resource sets it.
    fn fds(n: u64) -> Room {
        Room { fds: Some(n), ..Room::UNLIMITED }
    }

    fn used(l: &Limits) -> (u64, u64, u64) {
        let c = &lock(&l.state).counts;
        (c.used.fds, c.used.threads, c.used.memory)
    }

    /// Far from the capacity one source takes as many places as it likes: the share does not
    /// apply.
    #[test]
    fn one_source_may_take_three_quarters() {
        let l = limits(None, 4);
        let room = fds(100);
        let slots: Vec<Slot> = (0..74).map(|_| l.admit(ip(1), TCP, &room).unwrap()).collect();
        assert_eq!((l.open(), l.taken()), (74, 74));
        // The 75th place makes the daemon busy: the source holding 74 gets no more, other
        // sources get their share each.
        let _s75 = l.admit(ip(1), TCP, &room).unwrap();
        assert_eq!(l.admit(ip(1), TCP, &room).err(), Some(Refused::Share(4)));
        let others: Vec<Slot> = (0..4).map(|_| l.admit(ip(2), TCP, &room).unwrap()).collect();
        assert_eq!(l.admit(ip(2), TCP, &room).err(), Some(Refused::Share(4)));
        assert_eq!(others.len() + slots.len() + 1, 79);
        // Below the busy line again, the big source is served again.
        drop(slots);
        assert!(l.admit(ip(1), TCP, &room).is_ok());
    }

    /// Busy, the sources holding the most are refused first and the last quarter is shared
    /// out until the room is taken.
    #[test]
    fn the_last_quarter_goes_to_the_small_sources() {
        let l = limits(None, 2);
        let room = fds(40);
        let mut held = Vec::new();
        while let Ok(s) = l.admit(ip(1), TCP, &room) {
            held.push(s);
        }
        assert_eq!(held.len(), 30);
        for src in 2..6 {
            for _ in 0..2 {
                held.push(l.admit(ip(src), TCP, &room).unwrap());
            }
            assert_eq!(l.admit(ip(src), TCP, &room).err(), Some(Refused::Share(2)));
        }
        held.push(l.admit(ip(7), TCP, &room).unwrap());
        held.push(l.admit(ip(8), TCP, &room).unwrap());
        assert_eq!(l.open(), 40);
        assert_eq!(l.admit(ip(9), TCP, &room).err(), Some(Refused::Descriptors(40)));
    }

    /// A closed connection gives its descriptors back at once; its record keeps its thread
    /// until processed, so a backlog of records stops new connections, and they only.
    #[test]
    fn records_in_processing_hold_threads() {
        let l = limits(None, 1_000);
        let room = Room { fds: Some(10), threads: Some(10), memory: None };
        let mut records = Vec::new();
        for i in 0..10 {
            let mut s = l.admit(ip(i), TCP, &room).unwrap();
            s.closed();
            s.closed();
            records.push(s);
        }
        assert_eq!((l.open(), l.taken()), (0, 10));
        assert_eq!(used(&l), (0, 10, 10 * MEMORY_PER_CONNECTION));
        assert_eq!(l.admit(ip(99), TCP, &room).err(), Some(Refused::Threads(10)));
        // A flow needs no thread.
        assert!(l.admit(ip(99), UDP, &room).is_ok());
        records.pop();
        assert!(l.admit(ip(99), TCP, &room).is_ok());
    }

    /// A UDP flow holds memory only (and a descriptor when relayed); its record takes a
    /// thread when one is left.
    #[test]
    fn flows_hold_what_they_use() {
        let l = limits(None, 64);
        // Room for 100 connections by descriptors and threads, and for 100 connections and
        // 2000 flows by memory.
        let memory = 100 * MEMORY_PER_CONNECTION + 2000 * MEMORY_PER_FLOW;
        let room = Room { fds: Some(100), threads: Some(100), memory: Some(memory) };
        let flows: Vec<Slot> = (0..1400).map(|_| l.admit(ip(1), UDP, &room).unwrap()).collect();
        assert_eq!(used(&l), (0, 0, 1400 * MEMORY_PER_FLOW));
        // TCP connections still have their room, from the same source while nothing they
        // need is busy.
        let tcp: Vec<Slot> = (0..70).map(|_| l.admit(ip(1), TCP, &room).unwrap()).collect();
        assert_eq!(used(&l), (70, 70, 1400 * MEMORY_PER_FLOW + 70 * MEMORY_PER_CONNECTION));
        // Memory busy (three quarters: 2700 flows): the flood's source is held to its share,
        // others not.
        drop(tcp);
        let more: Vec<Slot> = (0..1300).map(|_| l.admit(ip(1), UDP, &room).unwrap()).collect();
        assert_eq!(l.admit(ip(1), UDP, &room).err(), Some(Refused::Share(64)));
        assert!(l.admit(ip(2), UDP, &room).is_ok());
        // Relayed: one descriptor each.
        let relayed = l.admit(ip(3), Kind::Flow { relayed: true }, &room).unwrap();
        assert_eq!(used(&l).0, 1);
        drop(relayed);
        // A flow's end gives its memory back; its record takes a thread if there is one.
        let mut flow = l.admit(ip(4), UDP, &room).unwrap();
        let before = used(&l);
        flow.closed();
        assert_eq!(used(&l), (before.0, before.1, before.2 - MEMORY_PER_FLOW));
        assert!(flow.record_thread(&room));
        assert_eq!(used(&l), (before.0, before.1 + 1, before.2 - MEMORY_PER_FLOW + MEMORY_PER_CONNECTION));
        assert!(flow.record_thread(&room), "it has one already");
        let mut late = l.admit(ip(4), UDP, &room).unwrap();
        late.closed();
        assert!(!late.record_thread(&Room { threads: Some(1), ..room }));
        drop((flows, more, flow, late));
        assert_eq!((l.open(), l.taken(), used(&l)), (0, 0, (0, 0, 0)));
    }

    /// Relayed connections take two descriptors; memory is a bound of its own.
    #[test]
    fn descriptors_and_memory() {
        let l = limits(None, 1_000);
        let room = Room { fds: Some(5), threads: None, memory: Some(4 * MEMORY_PER_CONNECTION) };
        let a = l.admit(ip(1), Kind::Connection { relayed: true }, &room).unwrap();
        let b = l.admit(ip(1), Kind::Connection { relayed: true }, &room).unwrap();
        assert_eq!(l.admit(ip(1), Kind::Connection { relayed: true }, &room).err(), Some(Refused::Descriptors(5)));
        let c = l.admit(ip(1), TCP, &room).unwrap();
        drop((a, b));
        let d: Vec<Slot> = (0..3).map(|_| l.admit(ip(1), TCP, &room).unwrap()).collect();
        assert_eq!(l.admit(ip(1), TCP, &room).err(), Some(Refused::Memory(4 * MEMORY_PER_CONNECTION)));
        drop((c, d));
    }

    /// `max_connections` is a hard cap on open connections and flows; records still get the
    /// system's room beside them.
    #[test]
    fn max_connections_is_a_hard_cap() {
        let l = limits(Some(3), 1_000);
        let room = fds(100);
        let a: Vec<Slot> = (0..3).map(|_| l.admit(ip(1), TCP, &room).unwrap()).collect();
        assert_eq!(l.admit(ip(2), TCP, &room).err(), Some(Refused::Total(3)));
        assert_eq!(l.admit(ip(2), UDP, &room).err(), Some(Refused::Total(3)));
        for mut s in a {
            s.closed();
            std::mem::forget(s);
        }
        assert_eq!((l.open(), l.taken()), (0, 3));
        assert!(l.admit(ip(2), TCP, &room).is_ok());
        // A cap above the room the system gives is the user's choice, but the room holds.
        let l = limits(Some(20), 1_000);
        let a: Vec<Slot> = (0..10).map(|_| l.admit(ip(1), TCP, &fds(10)).unwrap()).collect();
        assert_eq!(l.admit(ip(1), TCP, &fds(10)).err(), Some(Refused::Descriptors(10)));
        drop(a);
        // A policy change applies to the next admission; busy at three quarters of the cap.
        l.set_policy(Policy { cap: Some(20), share: 1 });
        let _b: Vec<Slot> = (0..15).map(|i| l.admit(ip(i), TCP, &room).unwrap()).collect();
        assert!(l.admit(ip(100), TCP, &room).is_ok());
        assert_eq!(l.admit(ip(1), TCP, &room).err(), Some(Refused::Share(1)));
    }

    /// IPv4 and IPv6 sources are told apart; every count returns to zero; the map of sources
    /// shrinks after a flood of many.
    #[test]
    fn release_and_the_map_does_not_grow() {
        let l = limits(None, 1);
        let v6: IpAddr = "::1".parse().unwrap();
        for i in 0..1000u32 {
            let _s = l.admit(ip(i), TCP, &fds(10)).unwrap();
            let _t = l.admit(v6, UDP, &fds(10)).unwrap();
        }
        assert_eq!((l.open(), l.taken(), used(&l)), (0, 0, (0, 0, 0)));
        assert!(lock(&l.state).counts.by_source.is_empty());
        let many: Vec<Slot> = (0..10_000).map(|i| l.admit(ip(i), UDP, &Room::UNLIMITED).unwrap()).collect();
        assert!(lock(&l.state).counts.by_source.capacity() >= 10_000);
        drop(many);
        assert!(lock(&l.state).counts.by_source.capacity() < SHRINK_ABOVE);
    }

    /// The load has fallen when the slots held dropped by FALL or more from their peak, and
    /// to half of it or less; it says so once per fall.
    #[test]
    fn load_falls_once_per_fall() {
        let l = limits(None, 1_000);
        let room = Room::UNLIMITED;
        assert!(!l.load_fell());
        let mut a: Vec<Slot> = (0..200).map(|_| l.admit(ip(1), TCP, &room).unwrap()).collect();
        assert!(!l.load_fell());
        a.truncate(101);
        assert!(!l.load_fell(), "above half of the peak");
        a.truncate(100);
        assert!(l.load_fell());
        assert!(!l.load_fell(), "once");
        a.truncate(40);
        assert!(!l.load_fell(), "less than FALL since the last fall");
        a.truncate(36);
        assert!(l.load_fell());
        // Small ups and downs are no fall.
        for _ in 0..10 {
            a.extend((0..50).map(|_| l.admit(ip(1), TCP, &room).unwrap()));
            a.truncate(36);
            assert!(!l.load_fell());
        }
    }
}
