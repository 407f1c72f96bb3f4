//! The process's memory allocator: jemalloc, set to give freed pages back at once.
//!
//! A console waiting in a long-poll holds a connection whose hyper buffers (8 KiB to read, 8 KiB
//! to write; hyper allocates no smaller) are mostly never written while it waits. jemalloc keeps
//! its bookkeeping outside the blocks it hands out, so pages nobody wrote cost no memory; with no
//! decay delay, the read buffer hyper gives up while a request is answered (it moves to a fresh
//! one) leaves no resident page behind either. glibc's malloc writes a header beside every block,
//! so each buffer costs resident pages whether used or not. Blocks over 4 KiB skip the thread
//! cache, where a freed buffer would otherwise stay resident until reused.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options, read as a C string under the prefixed name tikv-jemalloc-sys
/// gives the symbol (`_RJEM_MALLOC_CONF` in the environment still overrides them).
// SAFETY: the symbol is jemalloc's `const char *malloc_conf`: one pointer to a NUL-terminated
// string that lives for the whole process, which a thin `&'static [u8; N]` is.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 50] = b"tcache_max:4096,dirty_decay_ms:0,muzzy_decay_ms:0\0";
