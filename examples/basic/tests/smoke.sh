#!/bin/sh
# Runs inside the staging image: the image must have a shell and its id must be known.
set -eu
test -n "$GIPGEE_IMAGE_ID"
echo "smoke test of $GIPGEE_IMAGE_ID ($GIPGEE_IMAGE) passed"
