# A change to the child only: app is built FROM base-tools' released image.
start_project
before=$(git rev-parse HEAD)
change images/app/Containerfile "LABEL changed=yes"
commit "change app"
git push -q origin main
ci_push main "$before"
