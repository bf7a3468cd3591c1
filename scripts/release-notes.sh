#!/usr/bin/env sh
# Prints the section of CHANGELOG.md for one release: `scripts/release-notes.sh 1.2.0`. Fails when the changelog has no such section or it is empty, so a release
# never goes out without notes.
set -eu
version="$1"
changelog="${2:-CHANGELOG.md}"
notes=$(awk -v version="$version" '
  /^## \[/ { on = index($0, "[" version "]") > 0; next }
  on' "$changelog")
if [ -z "$(printf '%s' "$notes" | tr -d '[:space:]')" ]; then
  echo "release-notes: no section [$version] in $changelog" >&2
  exit 1
fi
printf '%s\n' "$notes"
