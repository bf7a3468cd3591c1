# A pipeline started from the web UI on the default branch: all images, manual first jobs.
start_project
ci_var CI_PIPELINE_SOURCE web
ci_var CI_COMMIT_BRANCH main
ci_var CI_COMMIT_SHA "$(git rev-parse HEAD)"
