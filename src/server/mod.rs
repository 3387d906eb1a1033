//! Dynamic servers (SPEC §6): the per-connection parts that need no monitor — the
//! normal-mode default responses (responses.rs) and the normal-mode connection loop
//! (conn.rs). Replaces the connection handling of the C original's dynsrv.c.

pub mod conn;
pub mod responses;
