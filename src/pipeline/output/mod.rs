//! Outputs of the pipeline (SPEC §8, SAVEDATA and logging plugins): where attack records and
//! downloaded samples are written. So far SaveFile (savefile.rs).

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod savefile;
