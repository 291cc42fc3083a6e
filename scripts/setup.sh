#!/usr/bin/env bash
# Makes sure this machine has what baedal needs to build and test. Idempotent:
# installs only what is missing.
#   - a Rust toolchain with rustfmt and clippy (rustup)
#   - python3 (the interoperability tests read generated files with Python's
#     own csv, json, xml and pickle modules)
#   - a C toolchain, make, perl, zlib and OpenSSL headers (librdkafka is
#     built from source, with TLS)
#   - Java and Maven (the local Apache Kafka broker is resolved from Maven
#     Central and runs on the JVM), openssl (the TLS tests' CA)
#   - Go (the local control plane and the image tools are built from the Go
#     module proxy) and binutils' strip
log_tag=setup
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"



if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        apt_install curl ca-certificates
        log "installing the Rust toolchain"
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi
if command -v rustup >/dev/null 2>&1; then
    for component in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
    done
fi
command -v python3 >/dev/null 2>&1 || apt_install python3
command -v curl >/dev/null 2>&1 || apt_install curl
command -v cc >/dev/null 2>&1 || apt_install build-essential
# librdkafka (built from source by rdkafka-sys) needs make, perl and zlib.
command -v make >/dev/null 2>&1 || apt_install make
command -v perl >/dev/null 2>&1 || apt_install perl
apt_install zlib1g-dev
# librdkafka's TLS (SSL, SASL_SSL) links the system OpenSSL.
apt_install libssl-dev pkg-config openssl
java17 >/dev/null   # Apache Kafka 4 runs on Java 17 or newer
# Go builds the local control plane and the image tools; strip trims the
# images' binaries. Installed here, before CI starts those builds side by side.
command -v go >/dev/null 2>&1 || apt_install golang-go
command -v strip >/dev/null 2>&1 || apt_install binutils
command -v mvn >/dev/null 2>&1 || apt_install maven
# moto's S3-compatible server for the s3:// source test.
python3 -c "import moto.server, boto3" 2>/dev/null || python3 -m pip install --quiet "moto[server]"
# The API's OpenAPI conformance test (tests/api/serving.rs) runs schemathesis.
schemathesis=4.32.5
[ "$(python3 -c 'import schemathesis; print(schemathesis.__version__)' 2>/dev/null)" = "$schemathesis" ] \
    || python3 -m pip install --quiet "schemathesis==$schemathesis"
# The DataFrame pickle test (tests/python_interop.rs) writes frames with three
# generations of pandas, each in its own virtual environment in the cache.
python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
pandas_envs=${BAEDAL_CACHE:-$HOME/.cache/baedal}/tools
for pins in "pandas==1.5.3 numpy==1.24.4" "pandas==2.2.3 numpy==1.26.4" "pandas==3.1.1 numpy==2.4.6"; do
    version=${pins%% *}
    env_dir=$pandas_envs/pandas-${version#pandas==}
    if ! "$env_dir/bin/python" -c "import pandas" 2>/dev/null; then
        log "installing $pins into $env_dir"
        rm -rf "$env_dir"
        python3 -m venv "$env_dir"
        # shellcheck disable=SC2086 # the pins are separate arguments
        "$env_dir/bin/python" -m pip install --quiet $pins
    fi
done
# The reference models the model test (tests/models_oracle.rs) and
# scripts/bench-models.sh compare with: statsmodels, scikit-learn, lifetimes.
oracle_env=${BAEDAL_CACHE:-$HOME/.cache/baedal}/tools/oracle
if ! "$oracle_env/bin/python" -c "import lifetimes, sklearn, statsmodels" 2>/dev/null; then
    log "installing the reference models into $oracle_env"
    rm -rf "$oracle_env"
    python3 -m venv "$oracle_env"
    "$oracle_env/bin/python" -m pip install --quiet lifetimes==0.11.3 scikit-learn==1.5.2 \
        statsmodels==0.14.4 pandas==2.2.3 numpy==1.26.4 scipy==1.13.1
fi
# The dashboard's browser test: Debian's Chromium driven by playwright-core
# (from npm, into the cache; it uses the system Chromium, downloads none).
command -v chromium >/dev/null 2>&1 || apt_install chromium
apt_install fonts-nanum   # Korean glyphs in the dashboard screenshots
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
node_modules=${BAEDAL_CACHE:-$HOME/.cache/baedal}/tools/node
if [ ! -f "$node_modules/node_modules/playwright-core/package.json" ]; then
    log "installing playwright-core into $node_modules"
    mkdir -p "$node_modules"
    npm install --silent --no-audit --no-fund --prefix "$node_modules" playwright-core@1 >/dev/null
fi
log "toolchain ready: $(cargo --version), $(python3 --version)"
