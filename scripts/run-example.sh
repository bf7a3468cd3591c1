#!/usr/bin/env bash
# Runs gipgee's main job (generate) on the bundled example, as GitLab would on a manual run
# of the default branch, and prints the plan and the generated child pipeline.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --quiet --release --manifest-path "$root/Cargo.toml"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/examples/basic/." "$work/"
cd "$work"
git init --quiet -b main
git -c user.name=example -c user.email=example@example.com add -A
git -c user.name=example -c user.email=example@example.com commit --quiet -m "example"
export CI_PIPELINE_SOURCE=web CI_DEFAULT_BRANCH=main CI_COMMIT_BRANCH=main \
  CI_COMMIT_SHA="$(git rev-parse HEAD)" CI_PIPELINE_ID=1234 \
  CI_REGISTRY=registry.gitlab.example.com CI_REGISTRY_IMAGE=registry.gitlab.example.com/group/project
"$root/target/release/gipgee" generate --output gipgee-pipeline.yml
echo "----- gipgee-pipeline.yml -----"
cat gipgee-pipeline.yml
