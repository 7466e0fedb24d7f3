#!/usr/bin/env bash
# Runs Ordo for development: starts NATS and PostgreSQL when needed, builds,
# and serves on 127.0.0.1:8080 with development tokens and demo orders.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/services.sh

ensure_services
export ORDO_NATS_URL="${ORDO_NATS_URL:-nats://127.0.0.1:$NATS_PORT}"
export ORDO_DATABASE_URL="${ORDO_DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/ordo}"
cargo build --locked -p ordo-api --bin ordo
exec ./target/debug/ordo serve --dev --demo "$@"
