#!/usr/bin/env bash
# Runs the whole check: formatting, lints, then every test against real NATS
# and PostgreSQL (started here when not running).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/services.sh

ensure_rust_components
ensure_services
export ORDO_TEST_NATS_URL="nats://127.0.0.1:$NATS_PORT"
export ORDO_TEST_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
