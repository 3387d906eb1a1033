//! Outputs of the pipeline (SPEC §8, SAVEDATA and logging plugins): where attack records and
//! downloaded samples are written. So far SaveFile (savefile.rs).

pub mod hpfeeds;
pub mod savefile;
pub mod syslog;
