//! Connection monitors (being written)
