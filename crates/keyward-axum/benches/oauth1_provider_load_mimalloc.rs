//! The OAuth 1.0a provider load benchmark of `oauth1_provider_load.rs`, unchanged, with
//! mimalloc as the process's allocator instead of the system's (glibc's `malloc` on Linux).
//!
//! Both routes run over the same allocator, so the ratio stays a fair comparison; what
//! changes is the cost of the heap under load. With the Redis store, the requests hand
//! buffers between tasks on different worker threads (commands to the connection's
//! driver task, replies back), and glibc's per-thread arenas then contend on their locks
//! (futex calls per request; see BENCHMARKS.md). This variant measures how much of the
//! Redis path's cost that is, for applications choosing their allocator.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p keyward-axum --bench oauth1_provider_load_mimalloc
//! ```

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "oauth1_provider_load.rs"]
mod load;

fn main() {
    load::main();
}
