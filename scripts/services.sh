#!/usr/bin/env bash
# Makes sure a Kafka-compatible broker, PostgreSQL and Redis listen on
# loopback, reusing servers already on their standard ports and otherwise
# installing and starting them. Idempotent; safe to run any number of times.
#
#   scripts/services.sh          # prints where each service is
#   eval "$(scripts/services.sh --env)"   # exports BAEDAL_KAFKA_BOOTSTRAP, BAEDAL_DATABASE_URL, BAEDAL_REDIS_URL
#
# Kafka: tansu (a Kafka-protocol broker in Rust) with in-memory storage, built
# once with `cargo install` into the cache ($BAEDAL_CACHE, default
# ~/.cache/baedal) and reused after. PostgreSQL: the server on 127.0.0.1:5432
# if one answers, else a throwaway cluster under /var/tmp/baedal/pg. Redis: the
# server on 127.0.0.1:6379 if one answers, else redis-server without persistence.
set -euo pipefail
log_tag=services
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

cache=${BAEDAL_CACHE:-$HOME/.cache/baedal}
tansu_version=0.6.0
mkdir -p "$cache"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
    for _ in $(seq 1 "${2:-100}"); do port_open "$1" && return 0; sleep 0.2; done
    return 1
}

# --- PostgreSQL ------------------------------------------------------------
pg_port=5432
ensure_postgres() {
    apt_install postgresql-client
    if ! port_open "$pg_port"; then
        local bin
        bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
        if [ -z "$bin" ]; then apt_install postgresql; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); fi
        local data=/var/tmp/baedal/pg
        if [ ! -f "$data/PG_VERSION" ]; then
            log "initialising a PostgreSQL cluster in $data"
            as_root mkdir -p "$data" && as_root chown -R postgres:postgres /var/tmp/baedal
            as_root runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
        fi
        log "starting PostgreSQL on 127.0.0.1:$pg_port"
        as_root runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
            -o "-p $pg_port -c listen_addresses=127.0.0.1 -k /tmp -c fsync=off" start >/dev/null
    fi
    wait_port "$pg_port" || { log "PostgreSQL did not come up"; exit 1; }
    for _ in $(seq 1 50); do psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
    psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -Atqc "select 1 from pg_database where datname = 'baedal'" | grep -q 1 \
        || psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc 'create database baedal' >/dev/null
}

# --- Redis -----------------------------------------------------------------
redis_port=6379
ensure_redis() {
    if ! port_open "$redis_port"; then
        command -v redis-server >/dev/null 2>&1 || apt_install redis-server
        log "starting redis-server on 127.0.0.1:$redis_port"
        redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
            --dir /tmp --logfile "$cache/redis.log" >/dev/null
    fi
    wait_port "$redis_port" || { log "Redis did not come up"; exit 1; }
}

# --- Kafka-protocol broker ---------------------------------------------------
kafka_port=9092
tansu_bin() { echo "$cache/tools/bin/tansu"; }
ensure_tansu_built() {
    local bin; bin=$(tansu_bin)
    if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$tansu_version"; then return 0; fi
    log "building tansu $tansu_version (once; cached in $cache/tools)"
    cargo install --quiet --locked --root "$cache/tools" --version "$tansu_version" --features dynostore tansu
}
ensure_kafka() {
    if port_open "$kafka_port"; then return 0; fi
    ensure_tansu_built
    log "starting tansu on 127.0.0.1:$kafka_port (in-memory storage)"
    # Run from the cache directory: tansu reads a .env from its working directory.
    # In its own session with no inherited descriptors, so the broker never
    # holds the caller's terminal or output pipe open.
    (cd "$cache" && {
        RUST_LOG=warn setsid nohup "$(tansu_bin)" broker --silent \
            --listener-url tcp://127.0.0.1:$kafka_port \
            --advertised-listener-url tcp://127.0.0.1:$kafka_port \
            --storage-engine memory:// </dev/null >"$cache/tansu.log" 2>&1 &
        echo $! >"$cache/tansu.pid"
    })
    wait_port "$kafka_port" 150 || { log "tansu did not come up: $(tail -5 "$cache/tansu.log")"; exit 1; }
}

case "${1:-}" in
    --build-only) ensure_tansu_built; exit 0 ;;
esac
ensure_postgres
ensure_redis
ensure_kafka

env_lines="export BAEDAL_KAFKA_BOOTSTRAP=127.0.0.1:$kafka_port
export BAEDAL_DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/baedal
export BAEDAL_REDIS_URL=redis://127.0.0.1:$redis_port/"
printf '%s\n' "$env_lines" > "$cache/services.env"
if [ "${1:-}" = "--env" ]; then
    printf '%s\n' "$env_lines"
else
    log "kafka    127.0.0.1:$kafka_port"
    log "postgres postgres://postgres@127.0.0.1:$pg_port/baedal"
    log "redis    redis://127.0.0.1:$redis_port/"
fi
