# Helpers shared by the scripts (sourced, not run). The sourcing script sets
# `log_tag` first: `log_tag=setup; . "$(dirname "$0")/lib.sh"`. Sourcing it
# turns on the strict mode every script runs in.
set -euo pipefail

log() { printf '%s: %s\n' "${log_tag:-baedal}" "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs the Debian packages that are missing; `apt-get update` at most once.
apt_updated=""
apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The path of a Java of 17 or newer (Apache Kafka 4 needs it): the `java` on
# PATH when it is new enough, else Debian's OpenJDK 17, installed once.
java17() {
    local java version
    java=$(command -v java) || true
    if [ -n "$java" ]; then
        # "17.0.9", "21", or "1.8.0_392" for Java 8: the number before the first dot.
        version=$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1) || true
        if [ "${version:-0}" -ge 17 ]; then echo "$java"; return 0; fi
        log "$java is Java ${version:-of an unknown version}; Apache Kafka needs 17 or newer"
    fi
    apt_install openjdk-17-jre-headless >&2
    java=$(ls /usr/lib/jvm/java-17-openjdk-*/bin/java 2>/dev/null | head -1) || true
    [ -x "$java" ] || { log "no Java 17 after installing openjdk-17-jre-headless"; return 1; }
    echo "$java"
}

# The release `baedal` binary of this checkout (CARGO_TARGET_DIR may be
# relative to the repository root or absolute).
baedal_bin() {
    local target=${CARGO_TARGET_DIR:-target}
    case "$target" in /*) ;; *) target=$(pwd)/$target ;; esac
    echo "$target/release/baedal"
}

# Drops what a benchmark run left behind under its name: its Postgres schema,
# its Redis keys and every Kafka topic whose name starts with it. The broker
# keeps topics on disk until they are deleted, and a day of benchmark runs
# fills the disk.
drop_run() {
    local run=$1
    psql "$BAEDAL_DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $run CASCADE" >/dev/null 2>&1 || true
    redis-cli -u "$BAEDAL_REDIS_URL" --scan --pattern "$run:*" \
        | xargs -r -n 1000 redis-cli -u "$BAEDAL_REDIS_URL" del >/dev/null 2>&1 || true
    python3 -c "import kafka" 2>/dev/null || python3 -m pip install --quiet kafka-python
    python3 - "$BAEDAL_KAFKA_BOOTSTRAP" "$run" <<'PY' || log "could not delete the topics of $run"
import sys
from kafka.admin import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1])
doomed = [t for t in admin.list_topics() if t.startswith(sys.argv[2])]
if doomed:
    admin.delete_topics(doomed)
PY
}
