# A tag pipeline: gipgee builds from branches, so nothing is built; the plan says why.
start_project
git tag v1.0.0
ci_var CI_PIPELINE_SOURCE push
ci_var CI_COMMIT_TAG v1.0.0
ci_var CI_COMMIT_SHA "$(git rev-parse HEAD)"
