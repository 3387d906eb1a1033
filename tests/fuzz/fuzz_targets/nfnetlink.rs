//! Fuzz target for `wire::nfnetlink`: arbitrary bytes as a received netlink datagram must
//! never panic, and every queued packet that parses must survive an emit → parse round
//! trip unchanged. Run with `cargo fuzz run --fuzz-dir tests/fuzz nfnetlink`.
#![no_main]

use honeytrap::wire::nfnetlink::{self, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for msg in nfnetlink::messages(data) {
        let Ok(msg) = msg else { break };
        let _ = nfnetlink::parse_verdict(&msg);
        let _ = nfnetlink::parse_config(&msg);
        if let Ok(Message::Packet(p)) = msg.parse() {
            let mut out = Vec::new();
            nfnetlink::emit_packet(&mut out, msg.seq(), &p);
            let again = nfnetlink::messages(&out)
                .next()
                .and_then(Result::ok)
                .map(|m| m.parse());
            assert_eq!(again, Some(Ok(Message::Packet(p))));
        }
    }
});
