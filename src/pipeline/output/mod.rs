//! Outputs of the pipeline (SPEC §8, SAVEDATA and logging plugins): where attack records and
//! downloaded samples are written. So far SaveFile (savefile.rs).

pub mod events;
pub mod json;
pub mod logattacker;
pub mod logjson;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod savefile;
