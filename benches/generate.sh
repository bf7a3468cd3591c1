#!/usr/bin/env bash
# Benchmark: `gipgee generate` for a config of N images (default 1000) in chains of 10
# (each image built on the previous one), all selected (manual run). Prints wall time
# (best and median of R runs), the pipeline size and its job count.
set -euo pipefail
images="${1:-1000}"
runs="${2:-5}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --quiet --release --manifest-path "$root/Cargo.toml"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
{
  echo "version: 1"
  echo "defaults:"
  echo "  staging: registry.example.com/staging"
  echo "  tests: [{name: smoke, script: [\"true\"]}]"
  echo "images:"
  for i in $(seq 0 $((images - 1))); do
    if [ $((i % 10)) -eq 0 ]; then base="docker.io/library/alpine:3.20"; else base="registry.example.com/img$((i - 1)):1"; fi
    echo "  img$i: {baseImage: \"$base\", targetLocations: [\"registry.example.com/img$i:1\"], watchedAssets: [\"images/img$i/**\"]}"
  done
} > gipgee.yaml
git init -q -b main && git add -A && git -c user.name=b -c user.email=b@b commit -qm bench
export CI_PIPELINE_SOURCE=web CI_COMMIT_BRANCH=main CI_DEFAULT_BRANCH=main CI_PIPELINE_ID=1 GIPGEE_FORCE_AUTOSTART=true
times=()
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  "$root/target/release/gipgee" generate --output pipeline.yml >/dev/null
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
jobs=$(grep -c '^[a-z].*:$' pipeline.yml || true)
echo "generate, $images images: best ${sorted[0]} ms, median ${sorted[$((runs / 2))]} ms over $runs runs; pipeline $(du -k pipeline.yml | cut -f1) KiB, $jobs top-level keys"
