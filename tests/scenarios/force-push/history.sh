# A force push to the default branch: the before sha is no ancestor of HEAD → all images.
start_project
change images/other/asset.txt
commit "to be rewritten"
git push -q origin main
before=$(git rev-parse HEAD)
git reset -q --hard HEAD~1
change README.md "rewritten"
commit "rewritten history"
git push -q -f origin main
ci_push main "$before"
