//! Pure: the context-triggered piecewise hash of spamsum/ssdeep (`BLOCKSIZE:HASH1:HASH2`),
//! byte for byte what the `ssdeep` program prints for the same data, and the 0–100 match score
//! of two such hashes as `ssdeep -d` computes it. Replaces the C original's htm_SpamSum.c,
//! which carried its own copy of spamsum.
//!
//! The hash: a rolling hash over the last [`ROLLING_WINDOW`] bytes chooses the trigger points
//! (where it is `-1` modulo the block size); between two trigger points an FNV-style hash
//! of the bytes gives one base64 character. The block size starts at the smallest
//! `3 · 2^k` with `64 · size ≥ length` and is halved while the first part has fewer than 32
//! characters. The first part has at most 64 characters, the second (block size doubled) at
//! most 32; where a part is full, the last character covers the rest of the data.

/// Bytes the rolling hash looks at.
pub const ROLLING_WINDOW: usize = 7;
/// Smallest block size.
pub const MIN_BLOCKSIZE: u64 = 3;
/// Characters of the first part at most.
pub const SPAMSUM_LENGTH: usize = 64;
const HASH_PRIME: u32 = 0x0100_0193;
const HASH_INIT: u32 = 0x2802_1967;
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The rolling hash of the last [`ROLLING_WINDOW`] bytes.
#[derive(Default)]
struct Roll {
    window: [u8; ROLLING_WINDOW],
    h1: u32,
    h2: u32,
    h3: u32,
    n: usize,
}

impl Roll {
    fn push(&mut self, c: u8) -> u32 {
        let c32 = u32::from(c);
        self.h2 = self.h2.wrapping_sub(self.h1).wrapping_add((ROLLING_WINDOW as u32).wrapping_mul(c32));
        self.h1 = self.h1.wrapping_add(c32).wrapping_sub(u32::from(self.window[self.n % ROLLING_WINDOW]));
        self.window[self.n % ROLLING_WINDOW] = c;
        self.n += 1;
        self.h3 = (self.h3 << 5) ^ c32;
        self.h1.wrapping_add(self.h2).wrapping_add(self.h3)
    }
}

fn sum_hash(c: u8, h: u32) -> u32 {
    h.wrapping_mul(HASH_PRIME) ^ u32::from(c)
}

/// The two parts for block size `bs`, and the trigger points of the first part (at most
/// 63: those after which a new character began), which decide whether `bs` is too large.
fn parts(data: &[u8], bs: u64) -> (Vec<u8>, Vec<u8>, usize) {
    let mut roll = Roll::default();
    let (mut h2, mut h3) = (HASH_INIT, HASH_INIT);
    let mut first = Vec::with_capacity(SPAMSUM_LENGTH);
    let mut second = Vec::with_capacity(SPAMSUM_LENGTH / 2);
    let mut last_roll = 0u32;
    // A part's current character: pushed at a trigger and replaced while the part is full.
    let emit = |part: &mut Vec<u8>, cap: usize, h: &mut u32| {
        let ch = B64[(*h % 64) as usize];
        if part.len() < cap {
            part.push(ch);
            if part.len() < cap {
                *h = HASH_INIT;
            }
        } else if let Some(last) = part.last_mut() {
            *last = ch;
        }
    };
    let mut full1 = false;
    let mut full2 = false;
    let mut begun = 0;
    for &c in data {
        let h = roll.push(c);
        last_roll = h;
        h2 = sum_hash(c, h2);
        h3 = sum_hash(c, h3);
        if u64::from(h) % bs == bs - 1 {
            emit(&mut first, SPAMSUM_LENGTH, &mut h2);
            full1 = first.len() == SPAMSUM_LENGTH;
            begun = first.len().min(SPAMSUM_LENGTH - 1);
        }
        if u64::from(h) % (bs * 2) == bs * 2 - 1 {
            emit(&mut second, SPAMSUM_LENGTH / 2, &mut h3);
            full2 = second.len() == SPAMSUM_LENGTH / 2;
        }
    }
    // What is left after the last trigger is the last character, in the place of the one
    // written last when the part is full.
    if last_roll != 0 {
        let tail = |part: &mut Vec<u8>, full: bool, h: u32| {
            let ch = B64[(h % 64) as usize];
            match part.last_mut() {
                Some(last) if full => *last = ch,
                _ => part.push(ch),
            }
        };
        tail(&mut first, full1, h2);
        tail(&mut second, full2, h3);
    }
    (first, second, begun)
}

/// The fuzzy hash of `data`, as `ssdeep` prints it (without the file name).
pub fn hash(data: &[u8]) -> String {
    let mut bs = MIN_BLOCKSIZE;
    while bs * (SPAMSUM_LENGTH as u64) < data.len() as u64 {
        bs *= 2;
    }
    loop {
        let (first, second, begun) = parts(data, bs);
        if bs > MIN_BLOCKSIZE && begun < SPAMSUM_LENGTH / 2 {
            bs /= 2;
            continue;
        }
        return format!("{}:{}:{}", bs, String::from_utf8_lossy(&first), String::from_utf8_lossy(&second));
    }
}

/// A hash split into its parts.
struct Parsed<'a> {
    bs: u64,
    first: &'a str,
    second: &'a str,
}

fn parse(h: &str) -> Option<Parsed<'_>> {
    let mut it = h.splitn(3, ':');
    let bs = it.next()?.parse().ok()?;
    let first = it.next()?;
    let second = it.next()?;
    // A file name after a comma (ssdeep's output line) is not part of the hash.
    let second = second.split(',').next().unwrap_or(second);
    (first.len() <= SPAMSUM_LENGTH && second.len() <= SPAMSUM_LENGTH).then_some(Parsed { bs, first, second })
}

/// Runs of more than three identical characters cut to three (they carry little
/// information and would make unrelated data look alike).
fn eliminate_runs(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    for (i, &c) in b.iter().enumerate() {
        if i < 3 || !(c == b[i - 1] && c == b[i - 2] && c == b[i - 3]) {
            out.push(c);
        }
    }
    out
}

/// Whether `a` and `b` share a substring of [`ROLLING_WINDOW`] characters.
fn common_substring(a: &[u8], b: &[u8]) -> bool {
    a.len() >= ROLLING_WINDOW
        && b.len() >= ROLLING_WINDOW
        && a.windows(ROLLING_WINDOW).any(|w| b.windows(ROLLING_WINDOW).any(|v| v == w))
}

/// Edit distance with insertions and deletions costing 1 and a substitution 2.
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + if ca == cb { 0 } else { 2 };
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The score of two parts at block size `bs`.
fn score_parts(a: &[u8], b: &[u8], bs: u64) -> u32 {
    if a.len() > SPAMSUM_LENGTH || b.len() > SPAMSUM_LENGTH || !common_substring(a, b) {
        return 0;
    }
    let d = edit_distance(a, b) as u64;
    let (la, lb) = (a.len() as u64, b.len() as u64);
    let scaled = d * SPAMSUM_LENGTH as u64 / (la + lb);
    let scaled = 100 * scaled / SPAMSUM_LENGTH as u64;
    if scaled >= 100 {
        return 0;
    }
    let score = 100 - scaled;
    let cap_from = (99 + ROLLING_WINDOW as u64) / ROLLING_WINDOW as u64 * MIN_BLOCKSIZE;
    if bs >= cap_from {
        return score as u32;
    }
    score.min(bs / MIN_BLOCKSIZE * la.min(lb)) as u32
}

/// The match score (0–100) of two fuzzy hashes, as `ssdeep -d` gives it; `None` when one
/// of them is not a hash.
pub fn compare(a: &str, b: &str) -> Option<u32> {
    let (a, b) = (parse(a)?, parse(b)?);
    if a.bs != b.bs && a.bs != b.bs.saturating_mul(2) && b.bs != a.bs.saturating_mul(2) {
        return Some(0);
    }
    let (a1, a2, b1, b2) =
        (eliminate_runs(a.first), eliminate_runs(a.second), eliminate_runs(b.first), eliminate_runs(b.second));
    if a.bs == b.bs && a1 == b1 && a2 == b2 {
        return Some(100);
    }
    Some(if a.bs == b.bs {
        score_parts(&a1, &b1, a.bs).max(score_parts(&a2, &b2, a.bs * 2))
    } else if a.bs == b.bs * 2 {
        score_parts(&a1, &b2, a.bs)
    } else {
        score_parts(&a2, &b1, b.bs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_inputs() {
        assert_eq!(hash(b""), "3::");
        assert_eq!(compare("3::", "3::"), Some(100));
        assert_eq!(compare("x", "3::"), None);
    }

    #[test]
    fn runs_are_cut_to_three() {
        assert_eq!(eliminate_runs("AAAAAbCCCCd"), b"AAAbCCCd");
    }

    #[test]
    fn edit_distance_weights() {
        assert_eq!(edit_distance(b"abc", b"abc"), 0);
        assert_eq!(edit_distance(b"abc", b"abd"), 2);
        assert_eq!(edit_distance(b"abc", b"ab"), 1);
    }
}
