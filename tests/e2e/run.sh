#!/usr/bin/env bash
# Runs the end-to-end suite alone (tests/e2e.rs, scenarios a-f of issue 3): installs what it
# needs (idempotent), then the scenarios. Extra arguments go to the test binary, e.g.
# `bash tests/e2e/run.sh --nocapture` to see every gitlab-ci-local run, or a scenario name.
# GIPGEE_E2E_KEEP=1 keeps each scenario's temp folder (registries' data, the project).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bash scripts/install-test-deps.sh
tools_dir="${GIPGEE_TOOLS_DIR:-$HOME/.cache/gipgee-tools}"
export PATH="$tools_dir/node_modules/.bin:$tools_dir/venv/bin:$PATH"
export GIPGEE_REQUIRE_TOOLS=1
filter="e2e::"
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  filter="e2e::$1"
  shift
fi
exec cargo test --test integration "$filter" -- "$@"
