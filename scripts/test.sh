#!/usr/bin/env bash
# The test command: installs what the tests need (idempotent), then runs every check and test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/install-test-deps.sh
tools_dir="${GIPGEE_TOOLS_DIR:-$HOME/.cache/gipgee-tools}"
export PATH="$tools_dir/node_modules/.bin:$tools_dir/venv/bin:$PATH"
# The tests that check generated pipelines with check-jsonschema, gitlab-ci-local and Ruby's
# Psych must not skip here: every tool is installed.
export GIPGEE_REQUIRE_TOOLS=1
cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings
cargo test
