//! The analysis stage: what was caught, after the downloads and before the outputs.

pub mod filetype;
pub mod spamsum;
