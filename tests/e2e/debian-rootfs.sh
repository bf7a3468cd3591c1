#!/usr/bin/env bash
# Prints the path of a Debian minbase root filesystem tarball for the scheduled end-to-end
# scenario `d` (tests/e2e_schedule.rs): the `auto` update check runs apt-get inside an image
# made from it. Made with debootstrap from the Debian mirror this machine uses (the first
# `.../debian` URI in /etc/apt/sources.list(.d), else deb.debian.org; GIPGEE_DEBIAN_MIRROR
# overrides it) and cached under $GIPGEE_TOOLS_DIR/debian (default ~/.cache/gipgee-tools).
#
# The image's packages must be exactly the mirror's current ones (the scenario expects
# NO_UPGRADE_NEEDED for it), so the cache is keyed by the suite's `Date:` in the mirror's
# InRelease, which changes with each point release: a newer one rebuilds the rootfs (about a
# minute). Like the official images, it has no package lists, no .debs, no docs.
set -euo pipefail

suite="${GIPGEE_DEBIAN_SUITE:-bookworm}"
cache="${GIPGEE_TOOLS_DIR:-$HOME/.cache/gipgee-tools}/debian"
mirror="${GIPGEE_DEBIAN_MIRROR:-}"
if [[ -z $mirror ]]; then
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v '^[[:space:]]*#' | grep -o 'https\?://[^[:space:]]*/debian/\?' | grep -v -- '-security' | head -n 1 || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi
mirror="${mirror%/}"

mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9

tarball="$cache/$suite-minbase.tar"
stamp="$cache/$suite-minbase.release"
release="$(curl -fsS --max-time 60 "$mirror/dists/$suite/InRelease" | sed -n 's/^Date: //p' | head -n 1)" || {
  echo "debian-rootfs: cannot read $mirror/dists/$suite/InRelease (the scenario needs the mirror)" >&2
  exit 1
}
want="$mirror $suite $release"
if [[ -f $tarball && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  echo "$tarball"
  exit 0
fi

echo "debian-rootfs: debootstrap --variant=minbase $suite from $mirror ($release)" >&2
work="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# A private mount namespace: debootstrap's /proc and /sys mounts cannot outlive it.
if ! unshare --mount --propagation private \
  debootstrap --variant=minbase "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log" >&2
  echo "debian-rootfs: debootstrap failed" >&2
  exit 1
fi
r="$work/rootfs"
rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* \
  "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/locale/* "$r"/usr/share/info/* \
  "$r"/var/log/* "$r"/tmp/* "$r"/dev/* "$r"/proc/* "$r"/sys/* "$r"/etc/hostname
: >"$r/etc/resolv.conf"
tar --numeric-owner --xattrs -C "$r" -cf "$work/rootfs.tar" .
mv "$work/rootfs.tar" "$tarball"
echo "$want" >"$stamp"
echo "$tarball"
