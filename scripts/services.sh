#!/usr/bin/env bash
# Makes sure Apache Kafka, PostgreSQL and Redis listen on
# loopback, reusing servers already on their standard ports and otherwise
# installing and starting them. Idempotent; safe to run any number of times.
#
#   scripts/services.sh          # prints where each service is
#   eval "$(scripts/services.sh --env)"   # exports BAEDAL_KAFKA_BOOTSTRAP, BAEDAL_DATABASE_URL, BAEDAL_REDIS_URL
#
# Kafka: Apache Kafka (KRaft, one node) from Maven Central jars, cached in
# $BAEDAL_CACHE (default ~/.cache/baedal), with an empty log directory at each
# start. PostgreSQL: the server on 127.0.0.1:5432
# if one answers, else a throwaway cluster under /var/tmp/baedal/pg. Redis: the
# server on 127.0.0.1:6379 if one answers, else redis-server without persistence.
log_tag=services
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

cache=${BAEDAL_CACHE:-$HOME/.cache/baedal}
state=/var/tmp/baedal
scripts=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache" "$state"
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
            as_root mkdir -p "$data" && as_root chown -R postgres:postgres "$data"
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

# TLS on the same server: its own copy of the test certificate (the server
# requires its key to be private to it), `ssl = on` by ALTER SYSTEM and a
# reload, and a password user that may connect only over TLS:
#   user baedal_tls, database baedal_tls, scram-sha-256, hostssl only.
ensure_postgres_tls() {
    ensure_tls
    local psql_admin=(psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -Atq -v ON_ERROR_STOP=1)
    local keys=$state/pg-tls hba password
    password=$(cat "$tls_dir/password")
    if [ ! -f "$keys/server.key" ]; then
        as_root mkdir -p "$keys"
        as_root cp "$tls_dir/server.crt" "$tls_dir/server.key" "$keys/"
        as_root chown -R postgres:postgres "$keys" && as_root chmod 600 "$keys/server.key"
    fi
    hba=$("${psql_admin[@]}" -c 'show hba_file')
    if ! as_root grep -q baedal_tls "$hba"; then
        as_root sed -i '1i hostssl all baedal_tls 127.0.0.1/32 scram-sha-256\nhostnossl all baedal_tls 127.0.0.1/32 reject' "$hba"
    fi
    "${psql_admin[@]}" -v password="$password" >/dev/null <<EOF
ALTER SYSTEM SET ssl = on;
ALTER SYSTEM SET ssl_cert_file = '$keys/server.crt';
ALTER SYSTEM SET ssl_key_file = '$keys/server.key';
SELECT pg_reload_conf();
SELECT 'CREATE ROLE baedal_tls LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'baedal_tls') \\gexec
ALTER ROLE baedal_tls PASSWORD :'password';
SELECT 'CREATE DATABASE baedal_tls OWNER baedal_tls' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'baedal_tls') \\gexec
EOF
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

# A second redis-server that speaks only TLS, with a password, for the TLS
# tests: rediss://:PASSWORD@127.0.0.1:6380/ with the test CA.
redis_tls_port=6380
ensure_redis_tls() {
    port_open "$redis_tls_port" && return 0
    ensure_tls
    log "starting redis-server with TLS on 127.0.0.1:$redis_tls_port"
    redis-server - >/dev/null <<EOF
daemonize yes
bind 127.0.0.1
port 0
tls-port $redis_tls_port
tls-cert-file $tls_dir/server.crt
tls-key-file $tls_dir/server.key
tls-ca-cert-file $tls_dir/ca.pem
tls-auth-clients no
requirepass $(cat "$tls_dir/password")
save ""
appendonly no
dir /tmp
logfile $cache/redis-tls.log
EOF
    wait_port "$redis_tls_port" || { log "Redis (TLS) did not come up: $(tail -3 "$cache/redis-tls.log")"; exit 1; }
}

# --- TLS material -----------------------------------------------------------
# A CA made here, a server certificate for 127.0.0.1/localhost signed by it,
# and one password for the TLS endpoints' test users (Kafka SCRAM and PLAIN,
# Postgres, Redis). Made once per state directory; the tests read them from
# the paths `--env` prints, never from the source.
tls_dir=$state/tls
ensure_tls() {
    [ -f "$tls_dir/server.pem" ] && [ -f "$tls_dir/password" ] && return 0
    log "making a test CA and server certificate in $tls_dir"
    mkdir -p "$tls_dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=baedal test CA" \
        -keyout "$tls_dir/ca.key" -out "$tls_dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$tls_dir/server.key" -out "$tls_dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls_dir/san.ext"
    openssl x509 -req -in "$tls_dir/server.csr" -CA "$tls_dir/ca.pem" -CAkey "$tls_dir/ca.key" \
        -CAcreateserial -days 3650 -extfile "$tls_dir/san.ext" -out "$tls_dir/server.crt" 2>/dev/null
    # Kafka's PEM key store: the PKCS#8 key and the chain in one file.
    cat "$tls_dir/server.key" "$tls_dir/server.crt" >"$tls_dir/server.pem"
    # A second CA that signed nothing here: the "wrong CA" of the TLS tests.
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=some other CA" \
        -keyout "$tls_dir/other-ca.key" -out "$tls_dir/other-ca.pem" 2>/dev/null
    openssl rand -hex 16 >"$tls_dir/password"
    chmod 600 "$tls_dir"/*.key "$tls_dir/server.pem" "$tls_dir/password"
}

# --- Apache Kafka --------------------------------------------------------------
# Apache Kafka in KRaft mode (one process is broker and controller), its jars
# resolved from Maven Central by scripts/kafka/pom.xml and cached. Every start
# formats an empty log directory: a test run begins with no topics. Listeners:
#   9092 PLAINTEXT                      the default for every test and script
#   9093 CONTROLLER                     KRaft, internal
#   9094 SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), user `baedal`
#   9095 SSL (server authentication)
kafka_port=9092
kafka_sasl_ssl_port=9094
kafka_ssl_port=9095
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$scripts/kafka/pom.xml")
kafka_home=$cache/kafka-$kafka_version
ensure_kafka_jars() {
    [ -f "$kafka_home/libs/kafka_2.13-$kafka_version.jar" ] && return 0
    command -v mvn >/dev/null 2>&1 || apt_install maven
    log "resolving Apache Kafka $kafka_version from Maven Central (once; cached in $kafka_home)"
    rm -rf "$kafka_home.tmp"
    mvn -q -B -Dstyle.color=never -f "$scripts/kafka/pom.xml" -Dmaven.repo.local="$cache/m2" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$kafka_home.tmp/libs" >&2
    mv "$kafka_home.tmp" "$kafka_home"
}
ensure_kafka() {
    if port_open "$kafka_port"; then return 0; fi
    ensure_kafka_jars
    ensure_tls
    local dir=$state/kafka password
    password=$(cat "$tls_dir/password")
    rm -rf "$dir" && mkdir -p "$dir/data"
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:9093
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$kafka_port,CONTROLLER://127.0.0.1:9093,SASL_SSL://127.0.0.1:$kafka_sasl_ssl_port,SSL://127.0.0.1:$kafka_ssl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$kafka_port,SASL_SSL://127.0.0.1:$kafka_sasl_ssl_port,SSL://127.0.0.1:$kafka_ssl_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
ssl.keystore.type=PEM
ssl.keystore.location=$tls_dir/server.pem
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_baedal="$password";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
    chmod 600 "$dir/server.properties"
    cat >"$dir/log4j2.properties" <<EOF
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$dir/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
EOF
    local cp="$kafka_home/libs/*" java
    java=$(java17)
    "$java" -cp "$cp" kafka.tools.StorageTool format --standalone --ignore-formatted \
        -t "$("$java" -cp "$cp" kafka.tools.StorageTool random-uuid)" -c "$dir/server.properties" \
        --add-scram "SCRAM-SHA-256=[name=baedal,password=$password]" \
        --add-scram "SCRAM-SHA-512=[name=baedal,password=$password]" >"$dir/format.log" 2>&1 \
        || { log "formatting Kafka's log directory failed: $(tail -3 "$dir/format.log")"; exit 1; }
    start_kafka_process
}

# Starts the broker on the log directory as it is (formatted above).
start_kafka_process() {
    local dir=$state/kafka java
    java=$(java17)
    log "starting Apache Kafka $kafka_version on 127.0.0.1:$kafka_port (TLS on $kafka_sasl_ssl_port, $kafka_ssl_port)"
    # In its own session with no inherited descriptors, so the broker never
    # holds the caller's terminal or output pipe open.
    setsid nohup "$java" -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$kafka_home/libs/*" \
        kafka.Kafka "$dir/server.properties" </dev/null >"$dir/stdout.log" 2>&1 &
    echo $! >"$state/kafka.pid"
    wait_port "$kafka_port" 300 || { log "Kafka did not come up: $(tail -5 "$dir/server.log")"; exit 1; }
}

# Stops the broker this script started (its data stays on disk).
stop_kafka() {
    [ -f "$state/kafka.pid" ] && kill "$(cat "$state/kafka.pid")" 2>/dev/null || true
    for _ in $(seq 1 150); do port_open "$kafka_port" || break; sleep 0.2; done
    # The process may still be writing its last segment after the port closed.
    if [ -f "$state/kafka.pid" ]; then
        for _ in $(seq 1 150); do kill -0 "$(cat "$state/kafka.pid")" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$state/kafka.pid"
}

case "${1:-}" in
    --build-only) ensure_kafka_jars; exit 0 ;;
    # The broker fault tests: stop it (its data stays), start it again on
    # the same data.
    --stop-kafka) stop_kafka; exit 0 ;;
    --start-kafka-again) port_open "$kafka_port" || start_kafka_process; exit 0 ;;
esac
ensure_postgres
ensure_postgres_tls
ensure_redis
ensure_redis_tls
ensure_kafka

# The plaintext endpoints every test uses, and the TLS endpoints of the TLS
# tests (their CA, the CA that signed nothing, and the password file).
env_lines="export BAEDAL_KAFKA_BOOTSTRAP=127.0.0.1:$kafka_port
export BAEDAL_DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/baedal
export BAEDAL_REDIS_URL=redis://127.0.0.1:$redis_port/
export BAEDAL_TEST_TLS_DIR=$tls_dir
export BAEDAL_TEST_KAFKA_SASL_SSL=127.0.0.1:$kafka_sasl_ssl_port
export BAEDAL_TEST_KAFKA_SSL=127.0.0.1:$kafka_ssl_port
export BAEDAL_TEST_POSTGRES_TLS=127.0.0.1:$pg_port
export BAEDAL_TEST_REDIS_TLS=127.0.0.1:$redis_tls_port"
printf '%s\n' "$env_lines" > "$cache/services.env"
if [ "${1:-}" = "--env" ]; then
    printf '%s\n' "$env_lines"
else
    log "kafka    127.0.0.1:$kafka_port"
    log "postgres postgres://postgres@127.0.0.1:$pg_port/baedal"
    log "redis    redis://127.0.0.1:$redis_port/"
fi
