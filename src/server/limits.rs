//! Caps on concurrent connections, in total and per source address (SPEC §13.4: the C
//! original forked without limit). A connection holds a [`Slot`] for its lifetime; when a cap
//! is reached the connection is refused (closed and logged) and the daemon carries on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Total(u32),
    PerSource(u32),
}

#[derive(Default)]
struct Counts {
    total: u32,
    by_source: HashMap<IpAddr, u32>,
}

/// Shared connection counters.
#[derive(Clone)]
pub struct Limits {
    max_total: Arc<AtomicU32>,
    max_per_source: Arc<AtomicU32>,
    counts: Arc<Mutex<Counts>>,
}

/// One admitted connection; dropping it frees its place.
pub struct Slot {
    source: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Limits {
    pub fn new(max_total: u32, max_per_source: u32) -> Limits {
        Limits {
            max_total: Arc::new(AtomicU32::new(max_total)),
            max_per_source: Arc::new(AtomicU32::new(max_per_source)),
            counts: Arc::default(),
        }
    }

    /// Changes the caps (SIGHUP); connections already admitted stay.
    pub fn set_caps(&self, max_total: u32, max_per_source: u32) {
        self.max_total.store(max_total, Ordering::Relaxed);
        self.max_per_source.store(max_per_source, Ordering::Relaxed);
    }

    fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
        counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `source`, or says which cap it hit.
    pub fn admit(&self, source: IpAddr) -> Result<Slot, Refused> {
        let (max_total, max_per_source) =
            (self.max_total.load(Ordering::Relaxed), self.max_per_source.load(Ordering::Relaxed));
        let mut c = Self::lock(&self.counts);
        if c.total >= max_total {
            return Err(Refused::Total(max_total));
        }
        let n = c.by_source.entry(source).or_insert(0);
        if *n >= max_per_source {
            return Err(Refused::PerSource(max_per_source));
        }
        *n += 1;
        c.total += 1;
        Ok(Slot { source, counts: Arc::clone(&self.counts) })
    }

    /// Connections open now.
    pub fn active(&self) -> u32 {
        Self::lock(&self.counts).total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = Limits::lock(&self.counts);
        c.total = c.total.saturating_sub(1);
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

    #[test]
    fn caps_and_release() {
        let l = Limits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        let s1 = l.admit(a).unwrap();
        let _s2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).err(), Some(Refused::PerSource(2)));
        let _s3 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).err(), Some(Refused::Total(3)));
        assert_eq!(l.active(), 3);
        drop(s1);
        assert_eq!(l.active(), 2);
        l.set_caps(3, 1);
        assert_eq!(l.admit(a).err(), Some(Refused::PerSource(1)));
        l.set_caps(3, 2);
        let _s4 = l.admit(a).unwrap();
        assert_eq!(l.admit("10.0.0.2".parse().unwrap()).err(), Some(Refused::Total(3)));
    }

    #[test]
    fn the_map_does_not_grow_without_bound() {
        let l = Limits::new(10, 10);
        for i in 0..1000u32 {
            let _s = l.admit(IpAddr::from(i.to_be_bytes())).unwrap();
        }
        assert!(Limits::lock(&l.counts).by_source.is_empty());
    }
}
