# The first push of the default branch: CI_COMMIT_BEFORE_SHA is all zeros → all images.
start_project
ci_push main 0000000000000000000000000000000000000000
