#!/usr/bin/env bash
# Builds the two container images, with no container daemon and no registry,
# and checks what is in them:
#
#   scripts/images.sh [OUT]        (default OUT: target/images)
#   scripts/images.sh --prepare    only the tools below and the release binaries
#                                  (CI runs this in the background, at the
#                                  lowest priority, while the tests run)
#
# For each of baedal (the workloads) and baedal-operator:
#   1. the root file system from images/<image>.list (scripts/image-rootfs.sh):
#      Debian packages of this machine's release, unpacked, and this build's
#      release binaries, stripped (built with cargo-auditable, so each binary
#      carries the list of crates it was built from);
#   2. OUT/<image>.tar: one archive that is an OCI image layout and a
#      `docker save` archive at once (scripts/images/main.go, with
#      go-containerregistry), for `docker load` or `kind load image-archive`;
#      user 10001, entrypoint and command from the list, and the
#      org.opencontainers.image.* labels (source, revision, version, created);
#   3. OUT/<image>.spdx.json: its SBOM (syft, from the image archive), which
#      lists the Debian packages and the Rust crates;
#   4. the check: the archive is unpacked and, in its root file system, with
#      the root read-only and only /tmp writable, as uid 10001 (unshare and
#      chroot), `baedal --version`, `baedal profile` of the baked-in sample,
#      `baedal datagen` into /tmp, `baedal-operator crd` (equal to
#      crds/deliverypipeline.yaml) and `baedal-operator --help` must succeed;
#   5. the Dockerfiles' USER, ENTRYPOINT, CMD and EXPOSE must agree with the lists.
# Prints each image's compressed size. Tags: baedal:$BAEDAL_IMAGE_TAG and
# baedal-operator:$BAEDAL_IMAGE_TAG (default dev). Tools are built once into
# $BAEDAL_CACHE/tools and the unpacked Debian packages kept in
# $BAEDAL_CACHE/images.
log_tag=images
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
repo=$(pwd)
prepare_only=""
if [ "${1:-}" = "--prepare" ]; then prepare_only=1; shift; fi
out=$(mkdir -p "${1:-target/images}" && cd "${1:-target/images}" && pwd)
cache=${BAEDAL_CACHE:-$HOME/.cache/baedal}
tag=${BAEDAL_IMAGE_TAG:-dev}
target=${CARGO_TARGET_DIR:-$repo/target}
export GOMODCACHE=${GOMODCACHE:-$cache/go/mod}
export GOCACHE=${GOCACHE:-$cache/go/build}
syft_version=v1.57.1
cargo_auditable_version=0.7.4
images=(baedal baedal-operator)

# --- tools -------------------------------------------------------------------
command -v go >/dev/null 2>&1 || apt_install golang-go
command -v strip >/dev/null 2>&1 || apt_install binutils
tool_hash=$(cat scripts/images/go.mod scripts/images/go.sum scripts/images/main.go | sha256sum | cut -c1-12)
ocibuild=$cache/tools/ocibuild-$tool_hash/ocibuild
if [ ! -x "$ocibuild" ]; then
    log "building ocibuild (go-containerregistry) into $(dirname "$ocibuild")"
    (cd scripts/images && go build -trimpath -ldflags "-s -w" -o "$ocibuild" .)
fi
syft=$cache/tools/syft-$syft_version/bin/syft
if [ ! -x "$syft" ]; then
    log "building syft $syft_version from the Go module proxy (once)"
    GOBIN=$(dirname "$syft") go install -trimpath -ldflags "-s -w" "github.com/anchore/syft/cmd/syft@$syft_version"
fi
auditable=$cache/tools/cargo-auditable-$cargo_auditable_version
if [ ! -x "$auditable/bin/cargo-auditable" ]; then
    log "installing cargo-auditable $cargo_auditable_version from crates.io (once)"
    cargo install --quiet --locked --root "$auditable" cargo-auditable --version "$cargo_auditable_version"
fi

# --- binaries ------------------------------------------------------------------
log "building the release binaries (cargo auditable)"
PATH="$auditable/bin:$PATH" cargo auditable build --release --locked --quiet \
    -p baedal-workloads --bin baedal -p baedal-operator --bin baedal-operator
[ -z "$prepare_only" ] || exit 0

# --- images --------------------------------------------------------------------
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
source_url=${BAEDAL_IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null || echo "$repo")}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
version=$(awk -F'"' '/^version/ {print $2; exit}' Cargo.toml)
license=$(awk -F'"' '/^license/ {print $2; exit}' Cargo.toml)
debs=$cache/images/debs-$(. /etc/os-release && echo "$VERSION_CODENAME")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The runtime configuration of a list, as ocibuild's JSON.
config_of() { # list title
    python3 - "$1" "$2" "$source_url" "$revision" "$version" "$created" "$license" <<'PY'
import json, sys
path, title, source, revision, version, created, license = sys.argv[1:]
config = {"user": "", "entrypoint": [], "cmd": [], "env": [], "workdir": "", "exposed_ports": [],
          "labels": {"org.opencontainers.image.title": title,
                     "org.opencontainers.image.source": source,
                     "org.opencontainers.image.revision": revision,
                     "org.opencontainers.image.version": version,
                     "org.opencontainers.image.created": created,
                     "org.opencontainers.image.licenses": license,
                     "org.opencontainers.image.description": "baedal: Kubernetes-native delivery analytics"}}
for line in open(path, encoding="utf-8"):
    words = line.split()
    if not words or words[0].startswith("#"):
        continue
    kind, rest = words[0], words[1:]
    if kind == "user": config["user"] = rest[0]
    elif kind == "workdir": config["workdir"] = rest[0]
    elif kind == "env": config["env"].append(rest[0])
    elif kind == "port": config["exposed_ports"].append(rest[0])
    elif kind == "entrypoint": config["entrypoint"] = rest
    elif kind == "cmd": config["cmd"] = rest
print(json.dumps(config, indent=2))
PY
}

for image in "${images[@]}"; do
    list=images/$image.list
    rootfs=$work/$image-rootfs
    log "$image: root file system from $list"
    scripts/image-rootfs.sh "$list" "$rootfs" "$target/release" "$debs"
    config_of "$list" "$image" > "$work/$image.json"
    "$ocibuild" build -rootfs "$rootfs" -config "$work/$image.json" -tag "$image:$tag" -out "$out/$image.tar"
    log "$image: SBOM"
    "$syft" scan "oci-archive:$out/$image.tar" --quiet -o "spdx-json=$out/$image.spdx.json"
done

# --- the check ---------------------------------------------------------------
# Runs a command in an unpacked image as its user, the root read-only and
# /tmp a fresh tmpfs, with the image's environment only.
run_in() { # rootfs env-file command...
    local root=$1 envfile=$2
    shift 2
    # shellcheck disable=SC2046 # the image's environment, one word per variable
    env -i $(cat "$envfile") HOME=/tmp unshare --mount --pid --fork "$(command -v sh)" -c '
        set -e
        root=$1 mount=$2 chroot=$3; shift 3
        "$mount" --bind "$root" "$root"
        "$mount" -o remount,bind,ro "$root"
        "$mount" -t tmpfs -o mode=1777 tmpfs "$root/tmp"
        "$mount" -t proc proc "$root/proc"
        for dev in null zero random urandom; do "$mount" --bind "/dev/$dev" "$root/dev/$dev"; done
        exec "$chroot" --userspec=10001:10001 "$root" "$@"
    ' sh "$root" "$(command -v mount)" "$(command -v chroot)" "$@"
}

for image in "${images[@]}"; do
    root=$work/$image-unpacked
    mkdir -p "$root"
    "$ocibuild" unpack -image "$out/$image.tar" -config-out "$work/$image.config.json" | tar -x -C "$root"
    mkdir -p "$root/proc" "$root/dev"
    for dev in null zero random urandom; do touch "$root/dev/$dev"; done
    python3 - "$work/$image.config.json" > "$work/$image.env" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))["config"]
assert config["User"] == "10001:10001", config["User"]
print(" ".join(config.get("Env", [])))
PY
    if [ -e "$root/bin/sh" ] || [ -e "$root/usr/bin/sh" ] || [ -e "$root/bin/bash" ]; then
        log "$image: holds a shell"; exit 1
    fi
done
w=$work/baedal-unpacked
o=$work/baedal-operator-unpacked
log "checking baedal: --version, profile of the sample, datagen into /tmp"
run_in "$w" "$work/baedal.env" /usr/local/bin/baedal --version
run_in "$w" "$work/baedal.env" /usr/local/bin/baedal profile /usr/share/baedal/sample > "$work/profile.txt"
grep -q orders "$work/profile.txt" || { cat "$work/profile.txt"; log "baedal profile printed no orders"; exit 1; }
run_in "$w" "$work/baedal.env" /usr/local/bin/baedal datagen --seed 7 --scale 0.01 --out /tmp/generated >/dev/null
if run_in "$w" "$work/baedal.env" /usr/local/bin/baedal datagen --seed 7 --scale 0.01 --out /usr/share/baedal/generated >/dev/null 2>&1; then
    log "baedal wrote outside /tmp: the root is not read-only"; exit 1
fi
log "checking baedal-operator: crd equals crds/, --help"
run_in "$o" "$work/baedal-operator.env" /usr/local/bin/baedal-operator crd > "$work/crd.yaml"
diff -u crds/deliverypipeline.yaml "$work/crd.yaml" >/dev/null \
    || { log "baedal-operator crd in the image differs from crds/deliverypipeline.yaml"; exit 1; }
run_in "$o" "$work/baedal-operator.env" /usr/local/bin/baedal-operator --help >/dev/null

# The SBOMs list both worlds: Debian packages and Rust crates.
for image in "${images[@]}"; do
    python3 - "$out/$image.spdx.json" "$image" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
refs = [r["referenceLocator"] for p in doc.get("packages", []) for r in p.get("externalRefs", [])
        if r.get("referenceType") == "purl"]
debian = sorted({r.split("@")[0] for r in refs if r.startswith("pkg:deb/")})
crates = sorted({r.split("@")[0] for r in refs if r.startswith("pkg:cargo/")})
for needed in ("pkg:deb/debian/libc6", "pkg:deb/debian/libssl3"):
    assert needed in debian, f"{sys.argv[2]}: {needed} not in the SBOM ({debian})"
assert "pkg:cargo/tokio" in crates, f"{sys.argv[2]}: no Rust crates in the SBOM"
print(f"{sys.argv[2]}: SBOM lists {len(debian)} Debian packages and {len(crates)} Rust crates")
PY
done

# The Dockerfiles agree with the lists.
python3 - <<'PY'
import json, re, sys
pairs = {"baedal": "operator/workloads.Dockerfile", "baedal-operator": "operator/Dockerfile"}
bad = []
for image, dockerfile in pairs.items():
    listed = {"user": [], "entrypoint": [], "cmd": [], "port": [], "env": [], "workdir": []}
    for line in open(f"images/{image}.list", encoding="utf-8"):
        words = line.split()
        if words and words[0] in listed:
            listed[words[0]] += words[1:]
    text = open(dockerfile, encoding="utf-8").read()
    final = text[text.rindex("\nFROM "):]
    def instr(name):
        m = re.findall(rf"^{name}\s+(.*)$", final, re.M)
        return m[-1].strip() if m else ""
    got = {"user": instr("USER").split(), "port": instr("EXPOSE").split(),
           "entrypoint": json.loads(instr("ENTRYPOINT") or "[]"), "cmd": json.loads(instr("CMD") or "[]"),
           "env": " ".join(re.findall(r"^ENV\s+(.*)$", final, re.M)).split(), "workdir": instr("WORKDIR").split()}
    for key in listed:
        if listed[key] != got[key]:
            bad.append(f"{dockerfile}: {key} is {got[key]}, images/{image}.list says {listed[key]}")
    if f"scripts/image-rootfs.sh images/{image}.list" not in text or "COPY --from=build /rootfs /" not in final:
        bad.append(f"{dockerfile}: its image is not built from images/{image}.list")

if bad:
    sys.exit("\n".join(bad))
PY

for image in "${images[@]}"; do
    python3 - "$out/$image.tar" "$image" <<'PY'
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    manifest = json.load(t.extractfile("manifest.json"))[0]
    blobs = [manifest["Config"]] + manifest["Layers"]
    size = sum(t.getmember(b).size for b in blobs)
print(f"{sys.argv[2]}: {size / 1e6:.1f} MB compressed ({sys.argv[1]})")
PY
done
