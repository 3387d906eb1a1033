//! The attack pipeline (SPEC §7.2, §7.3, §8): what happens to an attack record once its
//! connection has ended. Replaces the C original's plugin hook lists (plughook.c) and the
//! plugins themselves, as built-in modules selected by the `plugin-<Name>` keys:
//! decoders (`decode`), command extraction (`extract`), download clients (`download`),
//! outputs (`output`).

pub mod decode;
pub mod download;
pub mod extract;
pub mod output;
pub mod request;
