//! Connection monitors: how honeytrap learns that someone tried a port (SPEC §5).

pub mod nfq;
