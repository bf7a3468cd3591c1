# The benchmark project, sourced by benches/generate.sh and benches/limits.sh (not run on its
# own): a configuration of N images in chains of 10 (each image built on the previous one's
# target), two target locations, one default test and `watchedAssets` per image; and the
# results an update check leaves for `gipgee evaluate`.

# A git repository with N images in DIR: images/imgI/Containerfile (the build context).
make_repo() {
  local images="$1" dir="$2"
  mkdir -p "$dir"
  (
    cd "$dir"
    {
      echo "version: 1"
      echo "defaults:"
      echo "  staging: registry.example.com/staging"
      echo "  tests: [{name: smoke, script: [\"true\"]}]"
      echo "images:"
      for i in $(seq 0 $((images - 1))); do
        if [ $((i % 10)) -eq 0 ]; then base="docker.io/library/alpine:3.20"; else base="registry.example.com/img$((i - 1)):1"; fi
        echo "  img$i: {baseImage: \"$base\", context: images/img$i, targetLocations: [\"registry.example.com/img$i:1\", \"mirror.example.com/img$i:1\"], watchedAssets: [\"images/img$i/**\"]}"
      done
    } > gipgee.yaml
    for i in $(seq 0 $((images - 1))); do
      mkdir -p "images/img$i"
      echo "FROM scratch" > "images/img$i/Containerfile"
    done
    git init -q -b main && git add -A && git -c user.name=b -c user.email=b@b commit -qm bench
  )
}

# The results directory DIR of an update check of N images: the layer check found the base of
# every 100th image changed (so 1 chain in 10 is rebuilt), every update check found nothing.
make_results() {
  local images="$1" dir="$2"
  mkdir -p "$dir/update-check"
  {
    printf '{"images":{'
    for i in $(seq 0 $((images - 1))); do
      [ "$i" -eq 0 ] || printf ','
      if [ $((i % 100)) -eq 0 ]; then status='"status":"stale","evidence":"base changed"'; else status='"status":"up-to-date","evidence":"same layers"'; fi
      printf '"img%d":{%s}' "$i" "$status"
    done
    printf '}}\n'
  } > "$dir/layer-check.json"
  for i in $(seq 0 $((images - 1))); do echo NO_UPGRADE_NEEDED > "$dir/update-check/img$i.result"; done
}
