#!/usr/bin/env bash
# Runs the end-to-end suites alone (tests/e2e.rs: the build pipelines; tests/e2e_schedule.rs:
# the scheduled update check; tests/e2e_platforms.rs: multi-platform images and the cache):
# installs what they need (idempotent), then the scenarios. A first argument without `::`
# picks scenarios in every suite (`c_`), one with `::` is a test filter as is
# (`e2e_schedule::` for the scheduled suite alone, `e2e_schedule::d_`). Further arguments go
# to the test binary, e.g. `bash tests/e2e/run.sh c_ --nocapture` to see every gitlab-ci-local
# run. GIPGEE_E2E_KEEP=1 keeps each scenario's temp folder (registries' data, the project).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bash scripts/install-test-deps.sh
tools_dir="${GIPGEE_TOOLS_DIR:-$HOME/.cache/gipgee-tools}"
export PATH="$tools_dir/node_modules/.bin:$tools_dir/venv/bin:$PATH"
export GIPGEE_REQUIRE_TOOLS=1
filters=("e2e::" "e2e_schedule::" "e2e_platforms::")
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  case $1 in
    *::*) filters=("$1") ;;
    *) filters=("e2e::$1" "e2e_schedule::$1" "e2e_platforms::$1") ;;
  esac
  shift
fi
exec cargo test --test integration -- "${filters[@]}" "$@"
