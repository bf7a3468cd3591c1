#!/usr/bin/env bash
# The static release binary: built as the update checks need it (no loader, no libc from the
# image), its size, and proof that it is static. The shipped binary is the musl build of the
# project's pipeline; here a `+crt-static` glibc build stands in (same code, similar size).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
triple="$(uname -m)-unknown-linux-gnu"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release --locked \
  --manifest-path "$root/Cargo.toml" --target "$triple" --target-dir "$root/target/static-release"
binary="$root/target/static-release/$triple/release/gipgee"
bytes=$(stat -c %s "$binary")
echo "size: $bytes bytes ($(awk -v b="$bytes" 'BEGIN { printf "%.1f MiB", b / 1048576 }'))"
file -b "$binary" 2>/dev/null || true
ldd "$binary" 2>&1 | head -n 1 || true
[ "$bytes" -le $((6 * 1024 * 1024)) ] || { echo "larger than 6 MiB" >&2; exit 1; }
