//! Admission of connections: limits that protect the daemon's capacity without rationing it.
//! The C original forked without limit; here nothing is refused while there is room, and a
//! source's share applies only when the daemon is busy.
//!
//! A connection holds a [`Slot`] from accept to the close of its socket ([`Slot::closed`]);
//! the record it leaves keeps the slot (as a record, no longer as a connection) until the
//! pipeline has processed it, because it still holds a thread. So two numbers are kept:
//! connections open, and *places* taken (open connections plus records being processed).
//! A new connection from `source` is admitted unless
//! * the connections open reached the cap: `max_connections` when configured, else the
//!   capacity the system allows ([`super::capacity`]) — [`Refused::Total`];
//! * the places taken reached the capacity (or `max_connections`, if larger): records wait
//!   for the pipeline and each holds a thread, so their number is bounded with the
//!   connections', and a backlog of records refuses new work instead of growing without
//!   bound — [`Refused::Records`];
//! * the daemon is busy — three quarters of either bound taken ([`BUSY_NUM`]/[`BUSY_DEN`]) —
//!   and `source` already holds `max_connections_per_source` places — [`Refused::Share`].
//!   While the daemon is not busy one source may hold as many as it likes; once it is, the
//!   sources holding the most are refused first, and the last quarter stays for the others,
//!   so one flood cannot starve them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The daemon is busy once this fraction of its room is taken.
pub const BUSY_NUM: u64 = 3;
pub const BUSY_DEN: u64 = 4;

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// This many connections are open (the cap).
    Total(u32),
    /// This many places are taken by connections and records still being processed.
    Records(u32),
    /// The daemon is busy and the source holds this many places (its share).
    Share(u32),
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
    /// Connections whose socket is open.
    open: u32,
    /// Open connections plus records not yet processed.
    taken: u32,
    /// Places taken per source address (only sources holding one are present).
    by_source: HashMap<IpAddr, u32>,
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

/// One admitted connection; [`Slot::closed`] when its socket is closed, dropped once its
/// record is processed.
pub struct Slot {
    source: IpAddr,
    open: bool,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` has reached the busy fraction of `of`.
fn busy(n: u32, of: u32) -> bool {
    u64::from(n) * BUSY_DEN >= u64::from(of) * BUSY_NUM
}

impl Limits {
    pub fn new(policy: Policy) -> Limits {
        Limits { state: Arc::new(Mutex::new(State { policy, counts: Counts::default() })) }
    }

    /// Changes the rules (SIGHUP); connections already admitted stay.
    pub fn set_policy(&self, policy: Policy) {
        lock(&self.state).policy = policy;
    }

    /// Admits a connection from `source` while the system has `room` places (the capacity,
    /// [`super::capacity::Capacity::room`]), or says why not.
    pub fn admit(&self, source: IpAddr, room: u32) -> Result<Slot, Refused> {
        let mut st = lock(&self.state);
        let State { policy, counts: c } = &mut *st;
        let room = room.max(1);
        let cap = policy.cap.unwrap_or(room);
        let places = policy.cap.map_or(room, |n| n.max(room));
        if c.open >= cap {
            return Err(Refused::Total(cap));
        }
        if c.taken >= places {
            return Err(Refused::Records(places));
        }
        let held = c.by_source.get(&source).copied().unwrap_or(0);
        if held >= policy.share && (busy(c.open, cap) || busy(c.taken, places)) {
            return Err(Refused::Share(policy.share));
        }
        c.open += 1;
        c.taken += 1;
        *c.by_source.entry(source).or_insert(0) += 1;
        Ok(Slot { source, open: true, state: Arc::clone(&self.state) })
    }

    /// Connections open now.
    pub fn open(&self) -> u32 {
        lock(&self.state).counts.open
    }

    /// Connections open and records not yet processed, now.
    pub fn taken(&self) -> u32 {
        lock(&self.state).counts.taken
    }
}

impl Slot {
    /// The connection's socket is closed: it no longer counts as open; its record keeps its
    /// place until the slot is dropped.
    pub fn closed(&mut self) {
        if std::mem::replace(&mut self.open, false) {
            let mut st = lock(&self.state);
            st.counts.open = st.counts.open.saturating_sub(1);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.closed();
        let mut st = lock(&self.state);
        let c = &mut st.counts;
        c.taken = c.taken.saturating_sub(1);
        if let Some(n) = c.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                c.by_source.remove(&self.source);
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

    fn limits(cap: Option<u32>, share: u32) -> Limits {
        Limits::new(Policy { cap, share })
    }

    /// Far from the capacity one source takes as many places as it likes: the share does not
    /// apply.
    #[test]
    fn one_source_may_take_three_quarters() {
        let l = limits(None, 4);
        let slots: Vec<Slot> = (0..74).map(|_| l.admit(ip(1), 100).unwrap()).collect();
        assert_eq!((l.open(), l.taken()), (74, 74));
        // The 75th place makes the daemon busy: the source holding 74 gets no more, other
        // sources get their share each.
        let _s75 = l.admit(ip(1), 100).unwrap();
        assert_eq!(l.admit(ip(1), 100).err(), Some(Refused::Share(4)));
        let others: Vec<Slot> = (0..4).map(|_| l.admit(ip(2), 100).unwrap()).collect();
        assert_eq!(l.admit(ip(2), 100).err(), Some(Refused::Share(4)));
        assert_eq!(others.len() + slots.len() + 1, 79);
        // Below the busy line again, the big source is served again.
        drop(slots);
        assert!(l.admit(ip(1), 100).is_ok());
    }

    /// Busy, the sources holding the most are refused first and the last quarter is shared
    /// out until the capacity is reached.
    #[test]
    fn the_last_quarter_goes_to_the_small_sources() {
        let l = limits(None, 2);
        let mut held = Vec::new();
        while let Ok(s) = l.admit(ip(1), 40) {
            held.push(s);
        }
        assert_eq!(held.len(), 30);
        for src in 2..6 {
            for _ in 0..2 {
                held.push(l.admit(ip(src), 40).unwrap());
            }
            assert_eq!(l.admit(ip(src), 40).err(), Some(Refused::Share(2)));
        }
        held.push(l.admit(ip(7), 40).unwrap());
        held.push(l.admit(ip(8), 40).unwrap());
        assert_eq!(l.open(), 40);
        assert_eq!(l.admit(ip(9), 40).err(), Some(Refused::Total(40)));
    }

    /// A closed connection frees its place as a connection at once; its record keeps a place
    /// (a thread) until processed, so a backlog of records stops new connections.
    #[test]
    fn records_in_processing_are_bounded_too() {
        let l = limits(None, 1_000);
        let mut records = Vec::new();
        for i in 0..10 {
            let mut s = l.admit(ip(i), 10).unwrap();
            s.closed();
            s.closed();
            records.push(s);
        }
        assert_eq!((l.open(), l.taken()), (0, 10));
        assert_eq!(l.admit(ip(99), 10).err(), Some(Refused::Records(10)));
        records.pop();
        assert!(l.admit(ip(99), 10).is_ok());
    }

    /// `max_connections` is a hard cap on open connections; records still get the system's
    /// room beside them.
    #[test]
    fn max_connections_is_a_hard_cap() {
        let l = limits(Some(3), 1_000);
        let a: Vec<Slot> = (0..3).map(|_| l.admit(ip(1), 100).unwrap()).collect();
        assert_eq!(l.admit(ip(2), 100).err(), Some(Refused::Total(3)));
        for mut s in a {
            s.closed();
            std::mem::forget(s);
        }
        assert_eq!((l.open(), l.taken()), (0, 3));
        assert!(l.admit(ip(2), 100).is_ok());
        // A cap above the room the system gives is the user's choice.
        let l = limits(Some(20), 1_000);
        let a: Vec<Slot> = (0..20).map(|_| l.admit(ip(1), 10).unwrap()).collect();
        assert_eq!(l.admit(ip(1), 10).err(), Some(Refused::Total(20)));
        drop(a);
        // A policy change applies to the next admission.
        l.set_policy(Policy { cap: Some(20), share: 1 });
        let _b: Vec<Slot> = (0..15).map(|i| l.admit(ip(i), 10).unwrap()).collect();
        assert!(l.admit(ip(100), 10).is_ok());
        assert_eq!(l.admit(ip(1), 10).err(), Some(Refused::Share(1)));
    }

    /// IPv4 and IPv6 sources are told apart; every count returns to zero.
    #[test]
    fn release_and_the_map_does_not_grow() {
        let l = limits(None, 1);
        let v6: IpAddr = "::1".parse().unwrap();
        for i in 0..1000u32 {
            let _s = l.admit(ip(i), 10).unwrap();
            let _t = l.admit(v6, 10).unwrap();
        }
        assert_eq!((l.open(), l.taken()), (0, 0));
        assert!(lock(&l.state).counts.by_source.is_empty());
    }
}
