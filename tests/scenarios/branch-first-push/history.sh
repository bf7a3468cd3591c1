# The first push of a feature branch (before sha all zeros): changes since the merge base
# with main; main's own later changes do not count; nothing is released.
start_project
git checkout -q -b feature
change images/app/asset.txt
commit "change app"
git push -q origin feature
git checkout -q main
change images/other/asset.txt
commit "main moves on"
git push -q origin main
git checkout -q feature
git fetch -q origin
ci_push feature 0000000000000000000000000000000000000000
