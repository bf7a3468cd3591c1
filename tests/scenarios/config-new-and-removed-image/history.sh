# A push to the default branch that only edits gipgee.yaml: a new image reuses `other`'s
# Containerfile (no file it watches changed), and `app` is removed.
start_project
before=$(git rev-parse HEAD)
python3 - <<'PY'
text = open("gipgee.yaml").read()
start = text.index("  app:\n")
end = text.index("  other:\n")
text = text[:start] + text[end:] + """  other-next:
    baseImage: docker.io/library/debian:trixie-slim
    containerfile: images/other/Containerfile
    context: images/other
    targetLocations: ["${CI_REGISTRY_IMAGE}/other:2"]
"""
open("gipgee.yaml", "w").write(text)
PY
commit "other-next replaces app"
git push -q origin main
ci_push main "$before"
