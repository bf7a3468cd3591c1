# Inspects base-tools' filesystem: what its Containerfile COPYs and RUNs must be there.
set -eu
version="$(cat /etc/base-tools/version)"
if [ "$version" != 1 ]; then
  echo "expected base-tools version 1, found $version"
  exit 1
fi
test -x /usr/local/bin/greet
test "$(greet)" = "greetings from base-tools"
echo "base-tools files ok"
