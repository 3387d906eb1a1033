//! Pure, zero-copy views of wire formats with checked constructors, and emitters for the
//! messages we send. No I/O happens here: sockets live in `sys`, loops in `monitor`.
//!
//! Every parser here takes untrusted bytes, never panics, and has a fuzz target in
//! `tests/fuzz/fuzz_targets/`.

pub mod nfnetlink;
