//! The `ordo` binary: everything it does lives in [`ordo_api::cli`].

fn main() -> anyhow::Result<()> {
    ordo_api::cli::main()
}
