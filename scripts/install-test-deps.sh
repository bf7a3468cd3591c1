#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine.
# Idempotent and quick when everything is already there.
# Tools that are not Debian packages go to $GIPGEE_TOOLS_DIR (default ~/.cache/gipgee-tools).
set -euo pipefail

tools_dir="${GIPGEE_TOOLS_DIR:-$HOME/.cache/gipgee-tools}"
gcl_version="4.73.0" # 4.74+ crashes on Node 20 (Set.union)

# python3 runs the token server of the registry tests (tests/support/token_server.py);
# debootstrap makes the Debian image of the scheduled e2e scenario d (tests/e2e/debian-rootfs.sh);
# ruby's Psych is the YAML 1.1 parser GitLab reads pipelines with (tests/support/tools.rs);
# qemu-user-static and binfmt-support run arm64 programs for the multi-platform scenario.
apt_packages=(git docker-registry skopeo buildah runc busybox-static apache2-utils rsync curl openssl python3 debootstrap ruby qemu-user-static binfmt-support)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-test-deps: apt-get install ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$tools_dir"

# Multi-platform builds run arm64 `RUN` steps under qemu through binfmt_misc, which a fresh
# machine (or a container) may not have mounted. Where the kernel refuses, the multi-platform
# scenario says so and is skipped (tests/e2e/harness.rs).
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
    echo "install-test-deps: cannot mount binfmt_misc: arm64 programs cannot run here"
fi
if [ -e /proc/sys/fs/binfmt_misc/register ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 ||
    echo "install-test-deps: cannot enable qemu-aarch64 in binfmt_misc"
fi

# An arm64 busybox for the two-platform base image of the multi-platform scenario.
arm64_busybox="$tools_dir/arm64/busybox"
if [ ! -x "$arm64_busybox" ]; then
  echo "install-test-deps: busybox-static:arm64 into $arm64_busybox"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo_cmd dpkg --add-architecture arm64
    $sudo_cmd apt-get update -qq
  fi
  work="$(mktemp -d)"
  (cd "$work" && apt-get download -qq busybox-static:arm64 2>/dev/null && dpkg-deb -x busybox-static_*_arm64.deb root)
  mkdir -p "$(dirname "$arm64_busybox")"
  cp "$work/root/bin/busybox" "$arm64_busybox"
  rm -rf "$work"
fi
if [ "$("$tools_dir/node_modules/.bin/gitlab-ci-local" --version 2>/dev/null || true)" != "$gcl_version" ]; then
  echo "install-test-deps: npm install gitlab-ci-local@$gcl_version"
  npm install --silent --no-audit --no-fund --prefix "$tools_dir" "gitlab-ci-local@$gcl_version" >/dev/null
fi

if ! "$tools_dir/venv/bin/check-jsonschema" --version >/dev/null 2>&1; then
  echo "install-test-deps: pip install check-jsonschema"
  python3 -m venv "$tools_dir/venv"
  "$tools_dir/venv/bin/pip" install --quiet check-jsonschema
fi

echo "install-test-deps: ok (tools in $tools_dir)"
