#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME (default 20s) each.
# Inputs that fail are saved under the package's testdata/fuzz, so they become
# regression tests of the ordinary test run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-20s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "-- $pkg $target"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1 || {
			cat "$log"
			exit 1
		}
		tail -n 2 "$log" | head -n 1
	done
done
