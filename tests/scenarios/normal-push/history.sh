# A push to the default branch that changes `other`'s watched asset only.
start_project
before=$(git rev-parse HEAD)
change shared/app.conf "b=2"
commit "tune other"
git push -q origin main
ci_push main "$before"
