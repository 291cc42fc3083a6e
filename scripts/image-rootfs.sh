#!/usr/bin/env bash
# Assembles an image's root file system from its list (images/<image>.list),
# the one description both scripts/images.sh and the Dockerfiles build from:
#
#   scripts/image-rootfs.sh LIST ROOTFS BINARIES DEBS
#
# LIST      images/baedal.list or images/baedal-operator.list
# ROOTFS    the directory to fill (made empty first)
# BINARIES  where this build's release binaries are (target/release)
# DEBS      a directory of Debian packages; what is missing is fetched there
#           with `apt-get download` (the machine's own Debian release)
#
# Each package is unpacked (never installed: no maintainer script runs) and
# its control record written to /var/lib/dpkg/status.d/, as distroless
# images do, so that SBOM tools see the packages. What a maintainer script
# would have made is made here: the CA bundle, /etc/passwd and /etc/group
# with the image's user, and /tmp. Manuals and changelogs are left out;
# copyright files stay.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 LIST ROOTFS BINARIES DEBS" >&2; exit 2; }
list=$1 rootfs=$2 binaries=$3 debs=$4
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$debs"
rm -rf "$rootfs"
mkdir -p "$rootfs/var/lib/dpkg/status.d" "$rootfs/etc/ssl/certs"
user=""
while read -r kind first second _; do
    case "$kind" in
        ''|'#'*) ;;
        package)
            deb=$(find "$debs" -maxdepth 1 -name "${first}_*.deb" | sort | tail -1)
            if [ -z "$deb" ]; then
                # As root, apt's download sandbox user may not write here.
                (cd "$debs" && apt-get -q -o APT::Sandbox::User=root download "$first" >/dev/null)
                deb=$(find "$debs" -maxdepth 1 -name "${first}_*.deb" | sort | tail -1)
            fi
            [ -n "$deb" ] || { echo "$0: no Debian package $first" >&2; exit 1; }
            dpkg-deb -x "$deb" "$rootfs"
            dpkg-deb -f "$deb" > "$rootfs/var/lib/dpkg/status.d/$first"
            ;;
        binary)
            install -D -m 0755 "$binaries/$first" "$rootfs$second"
            strip --strip-unneeded "$rootfs$second"
            ;;
        tree)
            mkdir -p "$(dirname "$rootfs$second")"
            cp -R "$repo/$first" "$rootfs$second"
            ;;
        user) user=$first ;;
        workdir|env|port|entrypoint|cmd) ;;
        *) echo "$0: $list: unknown entry $kind" >&2; exit 1 ;;
    esac
done < "$list"

rm -rf "$rootfs/usr/share/man" "$rootfs/usr/share/info" "$rootfs/usr/share/lintian" "$rootfs/usr/share/doc-base"
find "$rootfs/usr/share/doc" -name 'changelog*' -delete 2>/dev/null || true
if [ -d "$rootfs/usr/share/ca-certificates" ]; then
    find "$rootfs/usr/share/ca-certificates" -name '*.crt' | sort | xargs cat > "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi
uid=${user%%:*} gid=${user##*:}
[ -n "$uid" ] || { echo "$0: $list names no user" >&2; exit 1; }
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nbaedal:x:%s:%s:baedal:/nonexistent:/usr/sbin/nologin\n' "$uid" "$gid" > "$rootfs/etc/passwd"
printf 'root:x:0:\nbaedal:x:%s:\n' "$gid" > "$rootfs/etc/group"
mkdir -p "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
