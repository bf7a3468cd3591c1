# The first push of a config that scans every image but `other` (a default) and signs two:
# base-tools keyless, app with a key and its password from CI/CD variables. Scans gate the releases, signs
# follow them; the scan and sign stages appear.
start_project
python3 - <<'PY'
text = open("gipgee.yaml").read()
text = text.replace("defaults:\n", "defaults:\n  scan: true\n", 1)
text = text.replace(
    "    watchedAssets: [\"images/base-tools/**\"]\n",
    "    watchedAssets: [\"images/base-tools/**\"]\n    sign: keyless\n",
)
text = text.replace(
    "    buildArgs: {GREETING: \"hello\"}\n",
    "    buildArgs: {GREETING: \"hello\"}\n    sign: {keyVariable: APP_SIGNING_KEY, passwordVariable: APP_SIGNING_PASSWORD}\n",
)
text = text.replace("    layerCheck: false\n", "    layerCheck: false\n    scan: false\n")
open("gipgee.yaml", "w").write(text)
PY
commit "scan and sign"
git push -q origin main
ci_push main 0000000000000000000000000000000000000000
