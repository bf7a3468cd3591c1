# A push to the default branch that only edits gipgee.yaml: `base-tools` gets a new
# baseImage (its child `app` follows); no Containerfile or watched file changed.
start_project
before=$(git rev-parse HEAD)
sed -i 's|docker.io/library/alpine:3.20|docker.io/library/alpine:3.21|' gipgee.yaml
commit "newer alpine"
git push -q origin main
ci_push main "$before"
