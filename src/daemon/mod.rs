//! Daemon life cycle (being written)
