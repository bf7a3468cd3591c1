# The test of the two-platform images, run once per platform in that platform's image.
set -eu
case $GIPGEE_PLATFORM in
  linux/amd64) want=x86_64 ;;
  linux/arm64*) want=aarch64 ;;
  *) echo "unexpected GIPGEE_PLATFORM $GIPGEE_PLATFORM"; exit 1 ;;
esac
echo "arch test of $GIPGEE_IMAGE on $GIPGEE_PLATFORM: $(uname -m)"
test "$(uname -m)" = "$want"
test "$(cat /arch)" = "$want"
if [ -f /parent-arch ]; then test "$(cat /parent-arch)" = "$want"; fi
