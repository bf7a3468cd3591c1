# A later push of a feature branch: still everything since the merge base with main (the
# earlier push's change to app and this push's change to other).
start_project
git checkout -q -b feature
change images/app/asset.txt
commit "change app"
git push -q origin feature
before=$(git rev-parse HEAD)
change shared/app.conf "c=3"
commit "change other"
git push -q origin feature
ci_push feature "$before"
