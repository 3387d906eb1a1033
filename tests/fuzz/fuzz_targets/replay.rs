//! Fuzz target for the conversations of `--replay`: the input is a run of packets, each a
//! header of 12 bytes (kind, which of four endpoints send and receive, time step, sequence
//! number, flags, length) and its payload, fed to `replay::conversations` with small limits,
//! with and without a sensor address; a frame kind goes through the link and IP decoding of
//! the replay. The bounds must hold after every packet (open conversations, bytes held), and
//! every finished conversation must keep at most `keep` bytes, with gaps inside the stream.
//! Run with `cargo fuzz run --fuzz-dir tests/fuzz replay`.
#![no_main]

use honeytrap::replay::conversations::{Conversations, Finished, Limits, PENDING_MAX};
use honeytrap::replay::{self, Summary};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

const ENDPOINTS: [&str; 4] = ["192.0.2.1:445", "192.0.2.7:40000", "[2001:db8::1]:80", "192.0.2.7:40001"];

fn check(cv: &Conversations, limits: &Limits, done: &[Finished]) {
    assert!(cv.open() <= limits.conversations);
    assert!(cv.held() <= limits.total + limits.keep + PENDING_MAX + 2 * 65_536, "{}", cv.held());
    for f in done {
        assert!(f.data.len() <= limits.keep);
        let mut end = 0;
        for (off, len) in &f.gaps {
            assert!(*off >= end && *len > 0, "{:?}", f.gaps);
            end = off + len;
        }
        assert!(f.start <= f.end);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let limits = Limits {
        keep: 64 + usize::from(mode & 0x0f) * 97,
        total: 4096,
        conversations: 1 + usize::from(mode >> 4 & 0x07),
        tcp_idle: Duration::from_secs(5),
        udp_idle: Duration::from_secs(3),
        session_limit: Duration::from_secs(if mode & 0x80 != 0 { 0 } else { 20 }),
    };
    let sensor = (mode & 0x40 != 0).then(|| ENDPOINTS[0].parse::<SocketAddr>().unwrap().ip());
    let mut cv = Conversations::new(limits, sensor);
    let mut summary = Summary::default();
    let mut done = Vec::new();
    let mut now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    while rest.len() >= 12 {
        let (h, tail) = rest.split_at(12);
        let len = usize::from(h[11]).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        now += Duration::from_millis(u64::from(h[2]) * 40);
        let src: SocketAddr = ENDPOINTS[usize::from(h[1] & 3)].parse().unwrap();
        let dst: SocketAddr = ENDPOINTS[usize::from(h[1] >> 2 & 3)].parse().unwrap();
        let seq = u32::from_be_bytes([h[3], h[4], h[5], h[6]]);
        match h[0] % 4 {
            0 | 1 => cv.tcp(now, src, dst, seq, h[7], payload, &mut done),
            2 => cv.udp(now, src, dst, payload, &mut done),
            _ => replay::decode(i32::from(h[8]) % 300, now, payload, &mut cv, &mut summary, &mut done),
        }
        if h[9] & 1 != 0 {
            cv.expire(now, &mut done);
        }
        check(&cv, &limits, &done);
        done.clear();
    }
    cv.finish_all(&mut done);
    check(&cv, &limits, &done);
    assert_eq!((cv.open(), cv.held()), (0, 0));
});
