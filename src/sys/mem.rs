//! The C allocator's settings, and giving its free memory back: memory of large buffers goes
//! back to the system when they are freed, and what many short-lived threads used goes back
//! once the load has fallen. New in this program (the C honeytrap's handler processes gave
//! everything back when they exited).

/// Blocks of at least this many bytes get a mapping of their own.
pub const LARGE_BLOCK: usize = 128 << 10;

/// Sets the C allocator (which Rust's allocator uses) up for a daemon of many short-lived
/// threads; call it before the second thread starts (later, the number of heaps is fixed
/// already). Once per process; no effect with other C libraries.
/// * Every block of [`LARGE_BLOCK`] bytes or more gets a mapping of its own, unmapped when it
///   is freed. By default glibc raises that threshold to the largest block freed so far (up
///   to 32 MiB), after which freed attack buffers stay in the process's heaps.
/// * One heap for all threads (`M_ARENA_MAX`). By default glibc gives threads up to eight
///   heaps per CPU; after thousands of connection threads have ended, each heap keeps the
///   memory they used, and [`give_back`] cannot return a secondary heap's free top. Small
///   blocks still come from each thread's own cache, without the heap's lock.
pub fn configure() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    #[cfg(target_env = "gnu")]
    ONCE.call_once(|| {
        let bytes = libc::c_int::try_from(LARGE_BLOCK).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes settings of the allocator, takes plain integers and is
        // safe to call at any time from any thread (glibc takes its own lock).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, bytes);
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    });
    #[cfg(not(target_env = "gnu"))]
    ONCE.call_once(|| {});
}

/// Gives the pages of the allocator's free blocks back to the system (`malloc_trim`): what
/// a peak of connections left behind in the heap. Takes the heap's lock for as long as it
/// walks the free blocks (a fraction of a millisecond after 10,000 connections); call it
/// once the load has fallen, not per connection. No effect with other C libraries.
pub fn give_back() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes a plain integer and may be called from any thread at any
    // time; it only releases pages of free blocks (glibc takes the heaps' locks).
    unsafe {
        libc::malloc_trim(0);
    }
}
