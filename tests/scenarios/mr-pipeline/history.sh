# A merge request pipeline: changes since CI_MERGE_REQUEST_DIFF_BASE_SHA; nothing released.
start_project
base=$(git rev-parse HEAD)
git checkout -q -b feature
change images/base-tools/asset.txt
commit "change base-tools"
git push -q origin feature
ci_var CI_PIPELINE_SOURCE merge_request_event
ci_var CI_MERGE_REQUEST_IID 7
ci_var CI_MERGE_REQUEST_DIFF_BASE_SHA "$base"
ci_var CI_COMMIT_SHA "$(git rev-parse HEAD)"
