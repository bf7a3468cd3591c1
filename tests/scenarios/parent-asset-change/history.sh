# A change to the parent's watched asset on main: base-tools and its child app are built,
# app FROM base-tools' staging image, released after it; other is not built.
start_project
before=$(git rev-parse HEAD)
change images/base-tools/asset.txt
commit "change base-tools"
git push -q origin main
ci_push main "$before"
