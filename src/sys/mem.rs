//! The C allocator's settings: memory of large buffers goes back to the system when they are
//! freed. New in this program (the C honeytrap's handler processes gave everything back when
//! they exited).

/// Blocks of at least this many bytes get a mapping of their own.
pub const LARGE_BLOCK: usize = 128 << 10;

/// Makes the C allocator (which Rust's allocator uses) serve every block of
/// [`LARGE_BLOCK`] bytes or more with a mapping of its own, unmapped when it is freed. By
/// default glibc raises that threshold to the largest block freed so far (up to 32 MiB), after
/// which freed attack buffers stay in the process's heaps. No effect with other C libraries.
pub fn return_large_blocks() {
    #[cfg(target_env = "gnu")]
    {
        let bytes = libc::c_int::try_from(LARGE_BLOCK).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes a setting of the allocator, takes plain integers and is
        // safe to call at any time from any thread (glibc takes its own lock).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, bytes);
        }
    }
}
