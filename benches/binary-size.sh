#!/usr/bin/env bash
# The static release binary, as the update checks need it (no loader, no libc from the image):
# its size, and proof that it is static. The shipped binary is the musl build of the project's
# pipeline; this builds the same when the musl target and musl-gcc are installed
# (`rustup target add x86_64-unknown-linux-musl`, Debian's musl-tools), else a `+crt-static`
# glibc build stands in (the same code with a larger libc).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
arch="$(uname -m)"
if rustup target list --installed 2>/dev/null | grep -qx "$arch-unknown-linux-musl" && command -v musl-gcc >/dev/null; then
  triple="$arch-unknown-linux-musl"
  export "CC_${arch}_unknown_linux_musl=musl-gcc"
else
  triple="$arch-unknown-linux-gnu"
  export RUSTFLAGS="-C target-feature=+crt-static"
fi
cargo build --quiet --release --locked --manifest-path "$root/Cargo.toml" --target "$triple" \
  --target-dir "$root/target/static-release"
binary="$root/target/static-release/$triple/release/gipgee"
bytes=$(stat -c %s "$binary")
echo "$triple: $bytes bytes ($(awk -v b="$bytes" 'BEGIN { printf "%.2f MiB", b / 1048576 }'))"
file -b "$binary" 2>/dev/null || true
if [ "$bytes" -gt $((6 * 1024 * 1024)) ]; then
  echo "larger than the 6 MiB budget" >&2
  exit 1
fi
