#!/usr/bin/env bash
# Makes sure NATS (with JetStream) and PostgreSQL listen on loopback.
#
# Sourced by run.sh and test.sh. For each service: reuse it when something
# already listens on its port; otherwise install it from the OS packages if it
# is missing, and start our own instance with its data under $ORDO_DEV_DIR.
# We never stop, restart or wipe a service we did not start.

ORDO_DEV_DIR="${ORDO_DEV_DIR:-/var/tmp/ordo-dev}"
NATS_PORT="${ORDO_DEV_NATS_PORT:-4222}"
PG_PORT="${ORDO_DEV_PG_PORT:-5432}"
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'ordo-dev: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for_port() {
    local port=$1 what=$2
    for _ in $(seq 1 100); do
        if port_open "$port"; then return 0; fi
        sleep 0.2
    done
    log "$what did not come up on 127.0.0.1:$port; see $ORDO_DEV_DIR for its log"
    return 1
}

APT_UPDATED=""
apt_install() {
    log "installing $* from the OS packages"
    if [ -z "$APT_UPDATED" ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

ensure_nats() {
    if port_open "$NATS_PORT"; then
        log "reusing NATS on 127.0.0.1:$NATS_PORT"
        return 0
    fi
    command -v nats-server >/dev/null 2>&1 || apt_install nats-server
    local dir="$ORDO_DEV_DIR/nats"
    mkdir -p "$dir"
    local config="$dir/nats.conf"
    sed -e "s|@PORT@|$NATS_PORT|" -e "s|@STORE_DIR@|$dir/jetstream|" \
        "$DEPLOY_DIR/nats/single.conf" > "$config"
    # sync_interval needs nats-server 2.10 or later; older servers refuse it.
    local version
    version="$(nats-server --version | sed -E 's/.*v([0-9]+\.[0-9]+).*/\1/')"
    if [ "$(printf '%s\n2.10\n' "$version" | sort -V | head -1)" = "2.10" ]; then
        sed -i 's|^  # sync_interval: always|  sync_interval: always|' "$config"
    else
        log "nats-server $version cannot fsync before every ack (needs 2.10+); see README"
    fi
    log "starting nats-server on 127.0.0.1:$NATS_PORT (data in $dir)"
    nohup nats-server -c "$config" >> "$dir/nats.log" 2>&1 &
    wait_for_port "$NATS_PORT" "nats-server"
}

pg_bin_dir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

ensure_postgres() {
    if port_open "$PG_PORT"; then
        log "reusing PostgreSQL on 127.0.0.1:$PG_PORT"
        return 0
    fi
    if [ -z "$(pg_bin_dir)" ]; then
        apt_install postgresql
        # The package may have started its own cluster on our port.
        if port_open "$PG_PORT"; then
            log "reusing the PostgreSQL cluster the package started"
            return 0
        fi
    fi
    local bin dir run_as=()
    bin="$(pg_bin_dir)"
    dir="$ORDO_DEV_DIR/postgres"
    mkdir -p "$dir"
    chmod 755 "$ORDO_DEV_DIR"
    if [ "$(id -u)" = 0 ]; then
        # PostgreSQL refuses to run as root.
        chown postgres:postgres "$dir"
        run_as=(runuser -u postgres --)
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        log "creating a PostgreSQL data folder in $dir/data (trust auth, loopback only)"
        "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
    fi
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT (data in $dir/data)"
    # The port is explicit: Debian would otherwise pick 5433 when 5432 is taken.
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w start \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir" >/dev/null
    wait_for_port "$PG_PORT" "PostgreSQL"
}

ensure_rust_components() {
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
}

ensure_services() {
    ensure_nats
    ensure_postgres
}
