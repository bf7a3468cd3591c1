#!/usr/bin/env bash
# Checks that every pipeline gipgee writes stays inside GitLab's limits, for the benchmark
# project (benches/fixture.sh: chains of 10, one test per image) at 1,000 and 10,000 images (or
# the counts given), with the default limits (GIPGEE_MAX_JOBS 500, GIPGEE_MAX_YAML_BYTES 1 MiB;
# set them in the environment to check others):
#   * the build pipeline of a manual run of every image (the dispatcher and every shard);
#   * the scheduled update-check pipeline (`generate --mode update-check`, with its rebuild
#     layout when the rebuild of every image needs shards);
#   * the rebuild pipelines `gipgee evaluate` writes for results in which every 100th image's
#     base changed (one chain in ten rebuilt).
# Every file written is checked: GitLab's CI schema (check-jsonschema vendor.gitlab-ci, one call
# over all files), the most `needs` of one job (GitLab allows 50), jobs per pipeline and bytes
# per file (the limits above). Prints a table; exits 1 on any violation or when gipgee fails.
#
#   ./benches/limits.sh [IMAGE COUNTS…, default 1000 10000]
#   GIPGEE=path/to/gipgee ./benches/limits.sh …   # check another build (no cargo build)
#
# Needs cargo, git, python3 and check-jsonschema on PATH, whose Python brings ruamel.yaml
# (scripts/install-test-deps.sh puts it in ~/.cache/gipgee-tools/venv/bin).
set -euo pipefail
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 10000)
root="$(cd "$(dirname "$0")/.." && pwd)"
max_jobs="${GIPGEE_MAX_JOBS:-500}"
max_bytes="${GIPGEE_MAX_YAML_BYTES:-1048576}"
max_needs=50
gipgee="${GIPGEE:-}"
if [ -z "$gipgee" ]; then
  cargo build --quiet --release --manifest-path "$root/Cargo.toml"
  gipgee="$root/target/release/gipgee"
fi
schema_check="$(command -v check-jsonschema)" || {
  echo "limits.sh: check-jsonschema is not on PATH (scripts/install-test-deps.sh)" >&2
  exit 1
}
# The Python that runs check-jsonschema has ruamel.yaml.
python="$(dirname "$(readlink -f "$schema_check")")/python3"
[ -x "$python" ] || python=python3
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# make_repo, make_results
. "$root/benches/fixture.sh"

failed=0
# Runs gipgee ("$@") in the current directory; a failure is a violation, its error printed.
run() {
  if ! "$gipgee" "$@" >"$work/out" 2>"$work/err"; then
    echo "FAILED: gipgee $*" >&2
    cat "$work/err" >&2
    failed=1
  fi
}

export CI_DEFAULT_BRANCH=main CI_COMMIT_BRANCH=main CI_PIPELINE_ID=1 GIPGEE_FORCE_AUTOSTART=true
files=()
for images in "${counts[@]}"; do
  repo="$work/$images"
  make_repo "$images" "$repo"
  cd "$repo"
  export CI_COMMIT_SHA="$(git rev-parse HEAD)"
  mkdir build check rebuild
  CI_PIPELINE_SOURCE=web run generate --output build/gipgee-pipeline.yml
  CI_PIPELINE_SOURCE=schedule run generate --mode update-check --output check/gipgee-pipeline.yml
  make_results "$images" results
  layout=()
  [ -e check/gipgee-rebuild-layout.json ] && layout=(--rebuild-layout check/gipgee-rebuild-layout.json)
  CI_PIPELINE_SOURCE=schedule CI_PIPELINE_ID=2 run evaluate --config gipgee.yaml --results results \
    --output rebuild/gipgee-rebuild.yml "${layout[@]}"
  for f in build/*.yml check/*.yml rebuild/*.yml; do
    [ -e "$f" ] && files+=("$images/$f")
  done
  cd "$work"
done

cd "$work"
echo "limits: $max_jobs jobs per pipeline, $max_bytes bytes per file, $max_needs needs per job"
"$python" "$root/benches/limits.py" "$max_jobs" "$max_bytes" "$max_needs" "${files[@]}" || failed=1
if "$schema_check" --builtin-schema vendor.gitlab-ci --data-transform gitlab-ci \
  --regex-variant nonunicode "${files[@]}" >"$work/schema" 2>&1; then
  echo "GitLab's CI schema: all ${#files[@]} files valid"
else
  echo "GitLab's CI schema: violations"
  cat "$work/schema"
  failed=1
fi
exit "$failed"
