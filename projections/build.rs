//! Rebuilds the crate when a migration is added, so that `sqlx::migrate!`
//! embeds it (cargo does not watch the folder by itself).

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
