//! Outputs of the pipeline (the C SAVEDATA and logging plugins): where attack records and
//! downloaded samples are written: SaveFile, logAttacker, logJSON, the event stream, syslog,
//! hpfeeds and PostgreSQL, and the JSON writer they share.

pub mod append;
pub mod events;
pub mod hpfeeds;
pub mod json;
pub mod logattacker;
pub mod logjson;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod savefile;
pub mod syslog;
