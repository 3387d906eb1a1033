//! The daemon-wide budget for attack data held in memory (`max_buffered_bytes`): what the
//! connections have read (both directions of a relay, every UDP flow) and what the decoders
//! derive from it, from the read until the pipeline has processed the record. New in this
//! program: the C honeytrap kept what a handler process read without any bound but
//! `read_limit` per connection.
//!
//! A [`Charge`] is the share of the budget one record holds; it grows as the buffer grows,
//! moves with the data into the [`crate::attack::Attack`] record and gives its bytes back
//! when it is dropped. An [`Intake`] is a buffer of bytes read from the network that grows
//! only as far as `read_limit` and the budget allow, and is charged for its whole capacity
//! (the memory it really holds). When the budget is exhausted a connection that needs more
//! stops reading and ends as it does at `read_limit`: its record is kept and processed, and
//! [`warn_exhausted`] says so, at most once a second.
//!
//! This module does no I/O besides reading the memory size at start (`/proc/meminfo` and the
//! memory limit of the daemon's control group).

use crate::log::Throttle;
use crate::log_warn;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The default budget is an eighth of the memory available to the daemon, at most this.
pub const DEFAULT_MAX: u64 = 256 << 20;
/// ... and at least this (also the smallest value `max_buffered_bytes` accepts).
pub const MIN: u64 = 1 << 20;
/// A buffer's smallest first allocation; later ones double it (never beyond `read_limit`).
const FIRST_ALLOC: usize = 512;

/// The bytes of attack data the daemon may hold at once.
#[derive(Debug)]
pub struct Budget {
    cap: AtomicUsize,
    used: AtomicUsize,
}

impl Budget {
    /// A budget of `cap` bytes. The memory of large buffers is returned to the system when
    /// they are freed from now on ([`crate::sys::mem::configure`]), so that what a
    /// charge gives back is given back by the process too.
    pub fn new(cap: u64) -> Arc<Budget> {
        crate::sys::mem::configure();
        Arc::new(Budget { cap: AtomicUsize::new(to_usize(cap)), used: AtomicUsize::new(0) })
    }

    /// Changes the cap (SIGHUP); charges already held stay valid.
    pub fn set_cap(&self, cap: u64) {
        self.cap.store(to_usize(cap), Ordering::Relaxed);
    }

    pub fn cap(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// Bytes charged now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// A new, empty charge against this budget.
    pub fn charge(self: &Arc<Budget>) -> Charge {
        Charge { budget: Some(Arc::clone(self)), bytes: 0 }
    }

    /// Takes `n` bytes if they fit under the cap.
    fn take(&self, n: usize) -> bool {
        let cap = self.cap();
        self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| u.checked_add(n).filter(|&t| t <= cap)).is_ok()
    }

    fn give_back(&self, n: usize) {
        let _ = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| Some(u.saturating_sub(n)));
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The default of `max_buffered_bytes`: an eighth of the memory available to the daemon
/// (the smaller of the RAM and the limit of its control group), within
/// [`MIN`]..=[`DEFAULT_MAX`].
pub fn default_cap() -> u64 {
    let ram = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| mem_total(&s));
    default_for(ram.into_iter().chain(cgroup_limit()).min())
}

/// The smallest memory limit of the daemon's control group and its ancestors, if any is
/// set: `memory.max` (cgroup v2), `memory.limit_in_bytes` of the memory controller (v1).
fn cgroup_limit() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mut limits = Vec::new();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else { continue };
        let (root, file) = match controllers {
            "" => ("/sys/fs/cgroup", "memory.max"),
            c if c.split(',').any(|c| c == "memory") => ("/sys/fs/cgroup/memory", "memory.limit_in_bytes"),
            _ => continue,
        };
        let dir = Path::new(root).join(path.trim().trim_start_matches('/'));
        limits.extend(
            dir.ancestors()
                .take_while(|d| d.starts_with(root))
                .filter_map(|d| std::fs::read_to_string(d.join(file)).ok()?.trim().parse::<u64>().ok()),
        );
    }
    limits.into_iter().min()
}

/// [`default_cap`] for `memory` bytes (unknown: [`DEFAULT_MAX`]).
fn default_for(memory: Option<u64>) -> u64 {
    memory.map_or(DEFAULT_MAX, |m| (m / 8).clamp(MIN, DEFAULT_MAX))
}

/// `MemTotal` of /proc/meminfo, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// One record's share of a [`Budget`], given back when dropped. A charge without a budget
/// ([`Charge::none`], records built by tests or tools) counts nothing.
#[derive(Default)]
pub struct Charge {
    budget: Option<Arc<Budget>>,
    bytes: usize,
}

impl Charge {
    /// A charge against no budget.
    pub fn none() -> Charge {
        Charge::default()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A new, empty charge against the same budget.
    pub fn sibling(&self) -> Charge {
        Charge { budget: self.budget.clone(), bytes: 0 }
    }

    /// Takes `n` more bytes if the budget has them.
    pub fn try_grow(&mut self, n: usize) -> bool {
        if let Some(b) = &self.budget {
            if !b.take(n) {
                return false;
            }
        }
        self.bytes += n;
        true
    }

    /// Gives `n` bytes back (at most what is held).
    pub fn shrink(&mut self, n: usize) {
        let n = n.min(self.bytes);
        if let Some(b) = &self.budget {
            b.give_back(n);
        }
        self.bytes -= n;
    }

    /// Takes over what `other` holds (both must be against the same budget, or `self`
    /// against none).
    pub fn absorb(&mut self, mut other: Charge) {
        if self.budget.is_none() {
            self.budget = other.budget.take();
        } else if other.budget.is_none() {
            // Nothing was taken from any budget for those bytes; nothing is to be given back.
            return;
        }
        self.bytes += std::mem::take(&mut other.bytes);
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.shrink(self.bytes);
    }
}

impl fmt::Debug for Charge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Charge({} bytes{})", self.bytes, if self.budget.is_some() { "" } else { ", no budget" })
    }
}

/// A charge is bookkeeping, not content: records compare equal whatever they hold.
impl PartialEq for Charge {
    fn eq(&self, _: &Charge) -> bool {
        true
    }
}

impl Eq for Charge {}

/// Why an [`Intake`] takes no more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// `read_limit` bytes are held.
    ReadLimit,
    /// The daemon's budget has no room for more.
    Budget,
}

/// Bytes read from one side of a connection or flow, at most `read_limit` of them, in a
/// buffer paid for by a [`Charge`]. The buffer belongs to the caller of the read loop, so
/// what was read survives a panic of the loop. Nothing is allocated (or charged) before the
/// first bytes arrive: a read loop reads at most [`Intake::left`] bytes into a buffer of its
/// own and [`Intake::push`]es them.
#[derive(Debug, Default)]
pub struct Intake {
    data: Vec<u8>,
    charge: Charge,
    /// `read_limit`; `usize::MAX`: none.
    limit: usize,
}

impl Intake {
    /// An empty buffer charged to `charge`, holding at most `read_limit` bytes (0: no limit).
    pub fn new(charge: Charge, read_limit: u32) -> Intake {
        let limit = match usize::try_from(read_limit) {
            Ok(0) | Err(_) => usize::MAX,
            Ok(n) => n,
        };
        Intake { data: Vec::new(), charge, limit }
    }

    /// A buffer without limit or budget (tests, tools).
    pub fn unlimited() -> Intake {
        Intake::new(Charge::none(), 0)
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// `read_limit` bytes are held.
    pub fn at_limit(&self) -> bool {
        self.data.len() >= self.limit
    }

    /// The cap of the budget this buffer is charged to (0: none), for [`warn_exhausted`].
    pub fn budget_cap(&self) -> usize {
        self.charge.budget.as_ref().map_or(0, |b| b.cap())
    }

    /// The bytes and their charge.
    pub fn into_parts(mut self) -> (Vec<u8>, Charge) {
        (std::mem::take(&mut self.data), std::mem::take(&mut self.charge))
    }

    /// Bytes that may still be added before `read_limit`.
    pub fn left(&self) -> usize {
        self.limit.saturating_sub(self.data.len())
    }

    /// Room for up to `want` more bytes (at least 1 when `want` > 0), growing the buffer and
    /// its charge if needed; why there is none otherwise.
    fn room(&mut self, want: usize) -> Result<usize, Full> {
        let len = self.data.len();
        let left = self.limit.saturating_sub(len);
        if left == 0 {
            return Err(Full::ReadLimit);
        }
        let want = want.min(left);
        let cap = self.data.capacity();
        if cap - len >= want {
            return Ok(want);
        }
        // Double the capacity (at least FIRST_ALLOC), never beyond read_limit; when the
        // budget cannot pay for that, just what this read needs.
        let need = len + want;
        let grown = cap.saturating_mul(2).max(FIRST_ALLOC).max(need).min(len.saturating_add(left));
        let target = if self.charge.try_grow(grown - cap) {
            grown
        } else if self.charge.try_grow(need - cap) {
            need
        } else {
            return Err(Full::Budget);
        };
        self.data.reserve_exact(target - len);
        // The allocator may have given more than asked; what is held is charged.
        let extra = self.data.capacity().saturating_sub(target);
        if extra > 0 && !self.charge.try_grow(extra) {
            self.data.shrink_to(target);
        }
        Ok(want)
    }

    /// Appends as much of `bytes` as the limit and the budget allow (all or nothing for the
    /// budget); returns how many were kept and, when not all, why.
    pub fn push(&mut self, bytes: &[u8]) -> (usize, Option<Full>) {
        if bytes.is_empty() {
            return (0, None);
        }
        match self.room(bytes.len()) {
            Ok(n) => {
                self.data.extend_from_slice(&bytes[..n]);
                (n, (n < bytes.len()).then_some(Full::ReadLimit))
            }
            Err(full) => (0, Some(full)),
        }
    }
}

/// The buffer budget is exhausted: `{prefix} {portstr}  Warning - Memory budget for attack
/// data ({cap} bytes) exhausted. Closing {what}.`, at most once a second for the daemon.
pub fn warn_exhausted(prefix: &str, portstr: &str, cap: usize, what: &str) {
    static WARN: Throttle = Throttle::new(Duration::from_secs(1));
    match WARN.due() {
        None => {}
        Some(0) => log_warn!(
            "{} {}  Warning - Memory budget for attack data ({} bytes) exhausted. Closing {}.",
            prefix,
            portstr,
            cap,
            what
        ),
        Some(n) => log_warn!(
            "{} {}  Warning - Memory budget for attack data ({} bytes) exhausted. Closing {} ({} more since the last warning).",
            prefix,
            portstr,
            cap,
            what,
            n
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_given_back_when_dropped_and_absorbed_once() {
        let b = Budget::new(100);
        let mut a = b.charge();
        assert!(a.try_grow(60));
        let mut c = a.sibling();
        assert!(!c.try_grow(41), "beyond the cap");
        assert!(c.try_grow(40));
        assert_eq!(b.used(), 100);
        a.absorb(c);
        assert_eq!((a.bytes(), b.used()), (100, 100));
        a.shrink(30);
        assert_eq!(b.used(), 70);
        drop(a);
        assert_eq!(b.used(), 0);
        // A charge without a budget counts nothing and takes over a budgeted one.
        let mut none = Charge::none();
        assert!(none.try_grow(usize::MAX / 2));
        let mut d = b.charge();
        assert!(d.try_grow(10));
        let mut e = Charge::none();
        e.absorb(d);
        assert_eq!((e.bytes(), b.used()), (10, 10));
        drop(e);
        assert_eq!(b.used(), 0);
        b.set_cap(5);
        assert!(!b.charge().try_grow(6));
    }

    #[test]
    fn intake_stops_at_the_limit_and_at_the_budget() {
        let b = Budget::new(40 << 10);
        let mut i = Intake::new(b.charge(), 20 << 10);
        assert_eq!((i.left(), b.used()), (20 << 10, 0), "nothing allocated before data");
        assert_eq!(i.push(&[1u8; 100]), (100, None));
        assert_eq!(b.used(), FIRST_ALLOC, "the first allocation is charged whole");
        assert_eq!(i.push(&[1u8; 1000]), (1000, None));
        assert_eq!(b.used(), 1100, "grown to what this push needs where doubling is not enough");
        assert_eq!(i.push(&vec![2u8; 30 << 10]), ((20 << 10) - 1100, Some(Full::ReadLimit)));
        assert_eq!((i.len(), i.left(), i.at_limit()), (20 << 10, 0, true));
        assert_eq!(b.used(), 20 << 10, "doubling stops at read_limit");
        assert_eq!(i.room(1), Err(Full::ReadLimit));
        // A second buffer gets what is left of the budget, then no more.
        let mut j = Intake::new(b.charge(), 0);
        assert_eq!(j.push(&vec![3u8; 20 << 10]), (20 << 10, None));
        assert_eq!(b.used(), 40 << 10);
        assert_eq!(j.push(b"x"), (0, Some(Full::Budget)));
        assert_eq!(j.room(1), Err(Full::Budget));
        drop(i);
        assert_eq!(j.push(b"x"), (1, None));
        let (data, charge) = j.into_parts();
        assert_eq!(data.len(), (20 << 10) + 1);
        assert!(charge.bytes() >= data.len());
        drop(charge);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn default_is_an_eighth_of_memory_within_bounds() {
        assert_eq!(default_for(None), DEFAULT_MAX);
        assert_eq!(default_for(Some(24 << 30)), DEFAULT_MAX);
        assert_eq!(default_for(Some(1 << 30)), 128 << 20);
        assert_eq!(default_for(Some(4 << 20)), MIN);
        assert_eq!(mem_total("MemTotal:       24641608 kB\nMemFree: 1 kB\n"), Some(24641608 * 1024));
        assert_eq!(mem_total("nothing"), None);
        let d = default_cap();
        assert!((MIN..=DEFAULT_MAX).contains(&d), "{d}");
    }
}
