#!/bin/sh
# Runs each cmocka unit-test binary; every one prints its own summary. Fails if any fails.
set -u
failed=0
for t in "$@"; do
	"$t" || failed=$((failed + 1))
done
[ "$failed" -eq 0 ] || { echo "unit tests: $failed binaries failed" >&2; exit 1; }
