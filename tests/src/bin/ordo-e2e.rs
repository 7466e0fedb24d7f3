//! The `ordo` program built inside this package, so that end-to-end tests
//! can start it as a real process (Cargo hands integration tests only the
//! binaries of their own package).

fn main() -> anyhow::Result<()> {
    ordo_api::cli::main()
}
