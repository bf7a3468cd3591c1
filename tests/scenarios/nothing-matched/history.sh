# A change no image watches: the pipeline has only the plan job, which says why.
start_project
before=$(git rev-parse HEAD)
change README.md "more docs"
commit "docs"
git push -q origin main
ci_push main "$before"
