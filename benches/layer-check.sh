#!/usr/bin/env bash
# Benchmark: the layer check of N released images (default 200) on B base images (default 20)
# against a local registry (distribution, 127.0.0.1, free port, temp storage):
# `gipgee layer-check` versus a skopeo-per-image loop (what the first gipgee did: per image,
# `skopeo inspect --raw` of the base and of each target location, then compare layers).
# Prints wall time and HTTP requests per tool (counted from the registry's access log) and
# the ratios, and fails if the two tools' verdicts disagree (or differ from the expected ones).
#
#
#   ./benches/layer-check.sh [--bearer] [--simple|--chains|--chains2] [--no-skopeo] [images] [bases]
#
# --bearer     the registry wants bearer tokens (distribution's `auth: token`, with the test
#              suite's token server tests/support/token_server.py); gipgee and skopeo get
#              credentials. Requests then count the token server's log too.
# --simple     every base and image single-platform, one target location each (default: the
#              mixed layout described in benches/layer-check.py `gen`).
# --chains     like --simple, in chains of 10, each image built on the previous one's target
#              (the layout of benches/generate.sh); --chains2 with two target locations each.
# --no-skopeo  measure gipgee only.
#
# Needs: cargo, docker-registry, skopeo, tar, gzip, curl, python3 (and openssl for --bearer)
# (scripts/install-test-deps.sh).
# Setup (not measured): a hand-made OCI layout pushed with skopeo copy; ~30 s for 200 images.
# Everything lives in one temp dir, removed at exit with the registry (and token server)
# stopped by PID (skopeo itself keeps its usual blob-info cache under
# /var/lib/containers/cache when run as root).
set -euo pipefail
auth=anonymous shape=mixed skopeo=1
while [ $# -gt 0 ]; do
  case "$1" in
    --bearer) auth=bearer ;;
    --simple) shape=simple ;;
    --chains) shape=chains ;;
    --chains2) shape=chains2 ;;
    --no-skopeo) skopeo=0 ;;
    --*) echo "layer-check bench: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
  shift
done
images="${1:-200}"
bases="${2:-20}"
root="$(cd "$(dirname "$0")/.." && pwd)"
helper="$root/benches/layer-check.py"
gipgee="$root/target/release/gipgee"

tools="docker-registry skopeo curl python3 tar gzip"
[ "$auth" = anonymous ] || tools="$tools openssl"
for tool in $tools; do
  command -v "$tool" >/dev/null || { echo "layer-check bench: $tool is missing (run scripts/install-test-deps.sh)" >&2; exit 1; }
done

echo "== build: cargo build --release"
cargo build --quiet --release --manifest-path "$root/Cargo.toml"

work="$(mktemp -d "${TMPDIR:-/tmp}/gipgee-layer-bench.XXXXXX")"
registry_pid=""
token_pid=""
cleanup() {
  for pid in $registry_pid $token_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

ms() { echo $(( $(date +%s%N) / 1000000 )); }
log_size() { stat -c %s "$work/access.log"; }
token_lines() { wc -l < "$work/tokens.log"; }
# Waits until the access log stops growing (the registry writes a line after each response).
settle_log() {
  local before after
  after=$(log_size)
  while :; do
    sleep 0.3
    before=$after
    after=$(log_size)
    [ "$before" != "$after" ] || break
  done
}

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host="127.0.0.1:$port"
cat > "$work/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $work/registry-data}, delete: {enabled: true}}
http: {addr: $host}
EOF
: > "$work/tokens.log"
user=bench password=bench-secret
registry_auth=""
export PUSH_CREDS=""
if [ "$auth" = bearer ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=gipgee-bench-token \
    -keyout "$work/token.key" -out "$work/token.pem" 2>/dev/null
  python3 "$root/tests/support/token_server.py" --key "$work/token.key" --cert "$work/token.pem" \
    --issuer bench-issuer --user "$user" --password "$password" --log "$work/tokens.log" \
    > "$work/token-port" &
  token_pid=$!
  for _ in $(seq 100); do [ -s "$work/token-port" ] && break; sleep 0.1; done
  token_port=$(head -n 1 "$work/token-port")
  [ -n "$token_port" ] || { echo "layer-check bench: the token server did not start" >&2; exit 1; }
  echo "auth: {token: {realm: \"http://127.0.0.1:$token_port/token\", service: bench-registry, issuer: bench-issuer, rootcertbundle: $work/token.pem}}" >> "$work/registry.yml"
  registry_auth=", usernameVariable: BENCH_REGISTRY_USER, passwordVariable: BENCH_REGISTRY_PASSWORD"
  PUSH_CREDS="--dest-creds=$user:$password"
  export BENCH_REGISTRY_USER="$user" BENCH_REGISTRY_PASSWORD="$password" BENCH_SKOPEO_CREDS="$user:$password"
  echo "== token server on 127.0.0.1:$token_port (log in $work/tokens.log)"
fi
echo "== registry: docker-registry on $host ($auth; data and access log in $work)"
# distribution writes its access log (combined log format, one line per request) to stdout.
docker-registry serve "$work/registry.yml" > "$work/access.log" 2> "$work/registry.err" &
registry_pid=$!
ping() { curl -s -o /dev/null -w '%{http_code}' "http://$host/v2/" 2>/dev/null || true; }
for _ in $(seq 100); do
  case "$(ping)" in 200|401) break ;; esac
  kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.err" >&2; echo "layer-check bench: the registry did not start" >&2; exit 1; }
  sleep 0.1
done
case "$(ping)" in 200|401) ;; *) echo "layer-check bench: the registry does not answer on $host" >&2; exit 1 ;; esac

echo "== setup: $images images ($shape) on $bases bases (hand-made OCI layout, skopeo copy; not measured)"
setup_start=$(ms)
python3 "$helper" gen "$work" "$host" "$images" "$bases" "$shape" "$registry_auth"
push() {
  # Four pushes at a time; each line of the list is "<layout ref> <destination>". A push is
  # tried three times: on a busy machine distribution's filesystem storage sometimes fails
  # a push that mounts blobs from a repository being written (HTTP 500).
  # $PUSH_CREDS is unquoted on purpose: empty without --bearer.
  xargs -P 4 -L 1 sh -c 'for try in 1 2 3; do skopeo copy --quiet --all --preserve-digests --dest-tls-verify=false $PUSH_CREDS "oci:$0:$1" "docker://$2" >/dev/null && exit 0; echo "push of $2 failed (try $try of 3)" >&2; sleep 1; done; exit 1' "$work/layout" < "$1"
}
push "$work/push-1.txt"  # bases as first built, and every released image
push "$work/push-2.txt"  # then the changed bases, to the same tags
settle_log
echo "setup took $(( ($(ms) - setup_start) / 1000 )) s"

echo "== gipgee layer-check"
mkdir "$work/gipgee" && cp "$work/gipgee.yaml" "$work/gipgee/"
offset=$(log_size)
token_offset=$(token_lines)
start=$(ms)
(cd "$work/gipgee" && "$gipgee" layer-check --config gipgee.yaml --output results.json > out.txt) || {
  cat "$work/gipgee/out.txt" >&2; echo "layer-check bench: gipgee layer-check failed" >&2; exit 1; }
gipgee_ms=$(( $(ms) - start ))
settle_log
gipgee_counts=$(python3 "$helper" requests "$work/access.log" "$offset")
gipgee_tokens=$(( $(token_lines) - token_offset ))
tail -n 1 "$work/gipgee/out.txt"

skopeo_ms=0 skopeo_tokens=0
skopeo_counts='{"total": 0, "unparsed": 0, "kind": {}, "agent": {}, "status": {}}'
if [ "$skopeo" = 1 ]; then
  echo "== skopeo-per-image loop"
  offset=$(log_size)
  token_offset=$(token_lines)
  start=$(ms)
  python3 "$helper" skopeo-loop "$work/images.json" "$work/skopeo-verdicts.json"
  skopeo_ms=$(( $(ms) - start ))
  settle_log
  skopeo_counts=$(python3 "$helper" requests "$work/access.log" "$offset")
  skopeo_tokens=$(( $(token_lines) - token_offset ))
else
  # The expected verdicts stand in for the loop's.
  cp "$work/expected.json" "$work/skopeo-verdicts.json"
fi

echo "== verdicts"
[ "$skopeo" = 1 ] || echo "(the skopeo loop did not run: its verdicts are the expected ones)"
python3 "$helper" verdicts "$work/expected.json" "$work/gipgee/results.json" "$work/skopeo-verdicts.json"

field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
breakdown() {
  python3 -c 'import json, sys
c = json.loads(sys.argv[1])
print(", ".join(f"{n} {k}" for k, n in sorted(c["kind"].items())) + " — user agents: " + ", ".join(f"{k} {n}" for k, n in c["agent"].items()) + " — statuses: " + ", ".join(f"{k} {n}" for k, n in c["status"].items()))' "$1"
}
# Token requests go to the token server, not the registry: both logs count.
gipgee_requests=$(( $(field "$gipgee_counts" total) + gipgee_tokens ))
skopeo_requests=$(( $(field "$skopeo_counts" total) + skopeo_tokens ))
for counts in "$gipgee_counts" "$skopeo_counts"; do
  [ "$(field "$counts" unparsed)" = 0 ] || { echo "layer-check bench: unparsed access-log lines" >&2; exit 1; }
done
gipgee_own=$(sed -n 's/.* with \([0-9]*\) registry requests.*/\1/p' "$work/gipgee/out.txt")
[ "$gipgee_own" = "$gipgee_requests" ] || echo "note: gipgee counted $gipgee_own requests itself, the logs $gipgee_requests"

echo
echo "== layer check of $images images ($shape, $bases bases, $auth), registry on loopback, $(nproc) cores, one run"
python3 "$helper" table "$images" "$gipgee_ms" "$gipgee_requests" "$skopeo_ms" "$skopeo_requests"
echo
echo "gipgee requests: $(breakdown "$gipgee_counts") — token requests: $gipgee_tokens"
[ "$skopeo" = 0 ] || echo "skopeo requests: $(breakdown "$skopeo_counts") — token requests: $skopeo_tokens"
