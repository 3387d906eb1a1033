//! Decoders of the pre-processing stage (SPEC §7.4, §8.5–§8.7): pure functions from an
//! attack string to derived attack strings. Replaces htm_b64Decode.c, htm_deUnicode.c and
//! the keystroke part of htm_vncDownload.c.
