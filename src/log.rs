//! Logging (being written)
