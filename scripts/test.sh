#!/usr/bin/env bash
# The README's test command: installs every test dependency (Debian and npm
# packages, from scripts/install-test-deps.sh), then runs vet, every test with
# the race detector, and every fuzz target for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

# Interop tests fail, rather than skip, when a third-party peer is missing.
export SWARMCAST_INTEROP=1

echo "== go vet"
go vet ./...
echo "== go test -race (every package but interop)"
# The interop tests (real browsers, qBittorrent, libtorrent, WebTorrent) run
# on their own afterwards: beside the other packages' race-detector tests a
# 2-core machine left Chromium's pages too little CPU for their WebRTC
# handshakes, and the suite is most of the run's time either way.
go test -race -timeout 30m $(go list ./... | grep -v '/interop$')
echo "== go test -race ./interop"
go test -race -timeout 30m ./interop
echo "== go test under GOOS=js GOARCH=wasm (the browser engine's packages, in Node)"
bash scripts/test-wasm.sh
echo "== fuzz (${FUZZTIME:-20s} per target)"
bash scripts/fuzz.sh
