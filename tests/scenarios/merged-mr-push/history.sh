# A merge request merged into the default branch (merge commit): the push compares with
# the previous tip of main, so only the merged branch's changes count.
start_project
before=$(git rev-parse HEAD)
git checkout -q -b feature
change images/app/asset.txt
commit "change app"
git checkout -q main
change README.md "docs"
commit "docs on main"
before=$(git rev-parse HEAD)
GIT_AUTHOR_DATE="1767229999 +0000" GIT_COMMITTER_DATE="1767229999 +0000" git merge -q --no-ff feature -m "Merge branch 'feature'"
git push -q origin main
ci_push main "$before"
