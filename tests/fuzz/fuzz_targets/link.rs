//! Fuzz target for the link-layer decoding of captured frames, as the pcap monitor uses it:
//! the first byte picks a link type of `wire::link::SUPPORTED`, the rest is the frame. The
//! IP packet found must be the end of the frame and start like IP; framing it again
//! (`emit_frame`) and decoding gives the same packet back; what the header says about the
//! sender must agree with the frame's bytes; the monitor's outgoing check and the detector
//! must not panic. Run with `cargo fuzz run --fuzz-dir tests/fuzz link`.
#![no_main]

use honeytrap::monitor::detect;
use honeytrap::monitor::pcap::Outgoing;
use honeytrap::wire::link::{self, Sender};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else { return };
    let dlt = link::SUPPORTED[usize::from(pick) % link::SUPPORTED.len()];
    if let Ok(packet) = link::ip_payload(dlt, frame) {
        assert!(!packet.is_empty() && frame.ends_with(packet));
        assert!(matches!(packet[0] >> 4, 4 | 6), "DLT {dlt}");
        let mut again = Vec::new();
        link::emit_frame(&mut again, dlt, packet).expect("a decoded packet can be framed");
        assert_eq!(link::ip_payload(dlt, &again), Ok(packet), "DLT {dlt}");
        let sent = link::sender(dlt, &again);
        match dlt {
            link::DLT_EN10MB => assert_eq!(sent, Sender::Mac(link::MAC_SRC)),
            link::DLT_LINUX_SLL | link::DLT_LINUX_SLL2 | link::DLT_SLIP => assert_eq!(sent, Sender::Local),
            _ => assert_eq!(sent, Sender::Unknown),
        }
    }
    let sender = link::sender(dlt, frame);
    if let Sender::Mac(mac) = sender {
        assert_eq!(Some(&mac[..]), frame.get(6..12));
    }
    let own = Outgoing::PerFrame { own_mac: frame.get(6..12).and_then(|m| m.try_into().ok()) };
    let taken = own.sent_here(dlt, frame);
    assert_eq!(taken, sender != Sender::Remote, "DLT {dlt}: {sender:?}");
    if let Ok(Some(r)) = detect::from_frame(dlt, frame) {
        assert_ne!(r.local.port(), 0);
        assert!(!detect::request_line(&r).is_empty());
    }
});
