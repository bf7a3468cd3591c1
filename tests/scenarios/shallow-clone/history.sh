# GitLab's default shallow clone (depth 1): the before sha is not in the clone; gipgee
# fetches it instead of guessing, and selects exactly the changed image.
start_project
before=$(git rev-parse HEAD)
change images/other/asset.txt
commit "change other"
git push -q origin main
cd ..
git clone -q --depth 1 --branch main "file://$PWD/origin.git" shallow
cd shallow
use_workdir
ci_push main "$before"
