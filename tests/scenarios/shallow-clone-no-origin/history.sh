# A shallow clone whose origin is gone: gipgee cannot fetch the before sha, so it builds
# all images and says so loudly.
start_project
before=$(git rev-parse HEAD)
change images/other/asset.txt
commit "change other"
git push -q origin main
cd ..
git clone -q --depth 1 --branch main "file://$PWD/origin.git" shallow
mv origin.git origin-gone.git
cd shallow
use_workdir
ci_push main "$before"
