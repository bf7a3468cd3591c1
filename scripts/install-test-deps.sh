#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine.
# Idempotent and quick when everything is already there.
# Tools that are not Debian packages go to $GIPGEE_TOOLS_DIR (default ~/.cache/gipgee-tools).
set -euo pipefail

tools_dir="${GIPGEE_TOOLS_DIR:-$HOME/.cache/gipgee-tools}"
gcl_version="4.73.0" # 4.74+ crashes on Node 20 (Set.union)

# python3 runs the token server of the registry tests (tests/support/token_server.py);
# debootstrap makes the Debian image of the scheduled e2e scenario d (tests/e2e/debian-rootfs.sh);
# ruby's Psych is the YAML 1.1 parser GitLab reads pipelines with (tests/support/tools.rs).
apt_packages=(git docker-registry skopeo buildah runc busybox-static apache2-utils rsync curl openssl python3 debootstrap ruby)
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
