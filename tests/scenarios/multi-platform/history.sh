# The first push of a project whose base-tools and app (FROM base-tools) are multi-platform
# images: one build per image into an index of both platforms, one test job per test and
# platform (app's arm64 tests on runners tagged `arm64`), the release after all of them;
# base-tools builds with its registry cache.
start_project
sed -i 's|^  base-tools:$|&\n    platforms: [linux/amd64, linux/arm64]\n    cache: true|' gipgee.yaml
sed -i 's|^  app:$|&\n    platforms: [linux/amd64, linux/arm64/v8]\n    runnerTags: {linux/arm64: [arm64, docker]}|' gipgee.yaml
commit "multi-platform images"
ci_push main 0000000000000000000000000000000000000000
