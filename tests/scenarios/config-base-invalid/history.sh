# The config at the push's before sha does not resolve (a typo fixed by this push): its edits
# cannot be compared, so every image is built, with a warning.
start_project
sed -i 's|^    baseImage: docker.io/library/alpine:3.20|    baseImag: docker.io/library/alpine:3.20|' gipgee.yaml
commit "typo"
git push -q origin main
before=$(git rev-parse HEAD)
sed -i 's|^    baseImag: |    baseImage: |' gipgee.yaml
commit "fix the typo"
git push -q origin main
ci_push main "$before"
