# The same manual run with GIPGEE_FORCE_AUTOSTART=true: all images, nothing manual.
start_project
ci_var CI_PIPELINE_SOURCE web
ci_var CI_COMMIT_BRANCH main
ci_var CI_COMMIT_SHA "$(git rev-parse HEAD)"
ci_var GIPGEE_FORCE_AUTOSTART true
