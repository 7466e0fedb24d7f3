#!/usr/bin/env bash
# Runs Ordo for development: starts NATS and PostgreSQL when needed, builds,
# and serves on 127.0.0.1:8080 with development tokens and demo orders.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/services.sh

ensure_services
cargo build --locked -p ordo-api --bin ordo
exec ./target/debug/ordo serve --dev --demo "$@"
