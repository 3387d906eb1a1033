//! Fuzz target for the pure TFTP packet parser (`download::tftp::packet`) and the client's
//! block receiver: arbitrary bytes as
//! datagrams (split at every 516 bytes, and as a whole) must never panic; a packet that
//! parses survives an emit → parse round trip; DATA packets fed to the receiver never make
//! it hold more than its cap or more than what was fed. Run with
//! `cargo fuzz run --fuzz-dir tests/fuzz tftp_packets`.
#![no_main]

use honeytrap::pipeline::download::tftp::packet::{self, Packet, BLOCK_SIZE};
use honeytrap::pipeline::download::tftp::{self, Step};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 4 * BLOCK_SIZE + 100;

fuzz_target!(|data: &[u8]| {
    let mut rx = tftp::Receiver::new(CAP);
    let mut fed = 0usize;
    let whole = std::iter::once(data);
    for datagram in data.chunks(BLOCK_SIZE + 4).chain(whole) {
        let Some(p) = Packet::parse(datagram) else { continue };
        let bytes = p.emit();
        let again = Packet::parse(&bytes).expect("an emitted packet parses");
        assert_eq!(again.emit(), bytes);
        match p {
            Packet::Data { block, data } => {
                assert!(data.len() <= BLOCK_SIZE);
                assert_eq!(again, Packet::Data { block, data });
                let before = rx.data().len();
                match rx.receive(block, data) {
                    Step::Ack(b) | Step::Last(b) => {
                        assert_eq!(b, block);
                        assert_eq!(rx.data().len(), before + data.len());
                        assert_eq!(rx.last_block(), Some(block));
                        fed += data.len();
                    }
                    Step::Duplicate(_) | Step::Ignored | Step::TooLarge => assert_eq!(rx.data().len(), before),
                }
                assert!(rx.data().len() <= CAP && rx.data().len() <= fed);
            }
            Packet::Rrq { file, mode } => {
                assert!(!file.contains(&0) && !mode.contains(&0));
                assert_eq!(again, p);
            }
            Packet::Ack { .. } | Packet::Other(_) => assert_eq!(again, p),
            Packet::Error { code, message } => {
                assert!(!message.contains(&0));
                assert_eq!(again, Packet::Error { code, message });
                let _ = packet::error_name(code);
            }
        }
    }
    let shown = tftp::printable(data, 64);
    assert!(shown.bytes().all(|b| (0x20..0x7f).contains(&b)));
    assert!(shown.len() <= 4 * 64 + 3);
});
