# A rebuild made by an update check: exactly the selection (plus children), released.
start_project
ci_var CI_PIPELINE_SOURCE parent_pipeline
ci_var CI_COMMIT_BRANCH main
ci_var CI_COMMIT_SHA "$(git rev-parse HEAD)"
ci_var GIPGEE_MODE rebuild
cat > ../selection.json <<'JSON'
{"images": {"base-tools": "base image docker.io/library/alpine:3.20 moved"}}
JSON
ci_var GIPGEE_SELECTION ../selection.json
