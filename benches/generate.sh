#!/usr/bin/env bash
# Benchmark: `gipgee generate` for configs of 100, 1,000 and 10,000 images (or the counts
# given) in chains of 10 (each image built on the previous one's target), two target locations,
# one default test and `watchedAssets` per image, all selected (a manual run with autostart);
# then, at 1,000 images, the update-check pipeline (`--mode update-check`) and `gipgee
# evaluate` over a results directory with a verdict for every image.
# Per case: wall time (best and median of RUNS), peak RSS of the median run, pipeline bytes,
# bytes per image, jobs per pipeline (hidden jobs not counted) and pipelines.
#
#   ./benches/generate.sh [RUNS, default 7] [IMAGE COUNTS…, default 100 1000 10000]
#   GIPGEE=path/to/gipgee ./benches/generate.sh …   # measure another build (no cargo build)
set -euo pipefail
runs="${1:-7}"
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 1000 10000)
root="$(cd "$(dirname "$0")/.." && pwd)"
gipgee="${GIPGEE:-}"
if [ -z "$gipgee" ]; then
  cargo build --quiet --release --manifest-path "$root/Cargo.toml"
  gipgee="$root/target/release/gipgee"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# make_repo, make_results
. "$root/benches/fixture.sh"

# Runs "$@" RUNS times; prints "best_ms median_ms peak_rss_kib cpu_ms" (RSS and CPU time,
# user + system, of the median run: on a busy machine CPU time varies less than wall time).
measure() {
  python3 "$root/benches/measure.py" "$runs" "$@"
}

# Jobs of a pipeline file: top-level keys that are not hidden (`.`) nor stages/workflow/variables.
count_jobs() {
  grep -E '^[^ .#-][^ ]*:$' "$1" | grep -cvE '^(stages|workflow|variables|default|include):$' || true
}

# One line per case: the figures of the run, then over every file the run wrote (the pipeline
# and, when sharded, its shards `<name>-shard-<k>.yml`): total bytes, bytes per image, the most
# jobs in one pipeline, and the number of pipelines.
report() {
  local label="$1" images="$2" file="$3" figures="$4"
  read -r best median kib cpu <<< "$figures"
  local bytes=0 most=0 pipelines=0 jobs
  for f in "$file" "${file%.yml}"-shard-*.yml; do
    [ -e "$f" ] || continue
    bytes=$(( bytes + $(stat -c %s "$f") ))
    jobs=$(count_jobs "$f")
    [ "$jobs" -gt "$most" ] && most=$jobs
    pipelines=$(( pipelines + 1 ))
  done
  printf '%-44s best %7.1f ms  median %7.1f ms  CPU %7.1f ms  peak RSS %5.1f MB  %9d bytes  %5d bytes/image  %5d jobs/pipeline  %3d pipelines\n' \
    "$label" "$best" "$median" "$cpu" "$(awk -v k="$kib" 'BEGIN { print k / 1024 }')" "$bytes" $(( bytes / images )) "$most" "$pipelines"
}

export CI_PIPELINE_SOURCE=web CI_COMMIT_BRANCH=main CI_DEFAULT_BRANCH=main CI_PIPELINE_ID=1 GIPGEE_FORCE_AUTOSTART=true
for images in "${counts[@]}"; do
  repo="$work/repo-$images"
  make_repo "$images" "$repo"
  cd "$repo"
  # One pipeline (limits raised): the layout GitLab Ultimate or a self-managed instance takes.
  figures="$(GIPGEE_MAX_JOBS=1000000 GIPGEE_MAX_YAML_BYTES=1000000000 measure "$gipgee" generate --output one.yml)"
  report "generate, $images images, 1 pipeline" "$images" one.yml "$figures"
  # The default limits (500 jobs, 1 MiB): sharded.
  figures="$(measure "$gipgee" generate --output pipeline.yml)"
  report "generate, $images images, sharded" "$images" pipeline.yml "$figures"
  if [ "$images" -eq 1000 ]; then
    figures="$(CI_PIPELINE_SOURCE=schedule GIPGEE_MAX_JOBS=1000000 measure "$gipgee" generate --mode update-check --output check.yml)"
    report "update-check, $images images, 1 pipeline" "$images" check.yml "$figures"
    # The default limits: the checks in batches.
    figures="$(CI_PIPELINE_SOURCE=schedule measure "$gipgee" generate --mode update-check --output batched.yml)"
    report "update-check, $images images, batched" "$images" batched.yml "$figures"
    # evaluate: every 100th image's base changed (layer check), so 10 chains are rebuilt.
    make_results "$images" results
    figures="$(CI_PIPELINE_SOURCE=schedule measure "$gipgee" evaluate --results results --output rebuild.yml)"
    report "evaluate, $images images" "$images" rebuild.yml "$figures"
  fi
  cd "$work"
done
