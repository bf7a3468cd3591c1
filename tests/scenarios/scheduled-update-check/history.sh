# A scheduled pipeline: the update-check pipeline (plan → layer-check → update-check jobs →
# evaluate → rebuild trigger → verdict); nothing is built here.
start_project
ci_var CI_PIPELINE_SOURCE schedule
ci_var CI_COMMIT_BRANCH main
ci_var CI_COMMIT_SHA "$(git rev-parse HEAD)"
