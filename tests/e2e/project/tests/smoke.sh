# Runs inside every image (the smoke test): the image is the busybox base plus its own files.
set -eu
echo "smoke test of $GIPGEE_IMAGE_ID in $GIPGEE_IMAGE"
test "$(cat /etc/base-version)" = v1
test -x /bin/busybox
