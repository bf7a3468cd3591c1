# Helpers for scenario histories (sourced by the test runner before a scenario's history.sh).
# The working directory is the scenario's temp root. Commits get fixed dates and identities,
# so commit shas (and the snapshots) are the same on every machine.
set -euo pipefail
tick=0
commit() {
  tick=$((tick + 1))
  git add -A
  GIT_AUTHOR_DATE="$((1767225600 + tick)) +0000" GIT_COMMITTER_DATE="$((1767225600 + tick)) +0000" \
    git commit -q --allow-empty -m "$1"
}
# `work/` holds the fixture project committed on main, with `origin.git` as its origin.
start_project() {
  mkdir work
  cp -r "$FIXTURE_DIR/." work/
  cd work
  git init -q -b main
  commit "initial"
  git init -q --bare -b main ../origin.git
  git remote add origin "file://$(cd .. && pwd)/origin.git"
  git push -q origin main
  git fetch -q origin
}
change() { # change FILE [TEXT]: append a line to a file
  mkdir -p "$(dirname "$1")"
  echo "${2:-changed}" >> "$1"
}
ci_var() { echo "$1=$2" >> "$CI_ENV_FILE"; }
ci_push() { # ci_push BRANCH BEFORE_SHA: the variables of a push pipeline of HEAD
  ci_var CI_PIPELINE_SOURCE push
  ci_var CI_COMMIT_BRANCH "$1"
  ci_var CI_COMMIT_BEFORE_SHA "$2"
  ci_var CI_COMMIT_SHA "$(git rev-parse HEAD)"
}
use_workdir() { pwd > "$WORKDIR_FILE"; }
