//! The `ordo` binary: everything it does lives in [`ordo_api::cli`].

/// mimalloc instead of the system allocator: the projectors and the API
/// allocate and free many small JSON values across threads, and glibc's
/// malloc spent about a quarter of the catch-up scenario's CPU on that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    ordo_api::cli::main()
}
