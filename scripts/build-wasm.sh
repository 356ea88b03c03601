#!/usr/bin/env bash
# Builds the browser engine: web/client/dist/swarmcast.wasm (cmd/swarmcast-wasm,
# GOOS=js GOARCH=wasm), its precompressed twins swarmcast.wasm.br and
# swarmcast.wasm.gz (for servers that pick by Accept-Encoding), and a copy of
# the Go release's wasm_exec.js, which must match the Go that built the wasm.
# Prints the sizes. Serve web/client/*.js and web/client/dist/* from one
# folder (swarmcast.js finds the rest beside itself).
#
#   scripts/build-wasm.sh [--no-compress]
#
# Brotli is github.com/andybalholm/brotli (pure Go, quality 11), run by
# internal/cmd/precompress: nothing to install beyond Go. Quality 11 costs
# ~35 CPU-seconds here; --no-compress skips it (tests that need only the wasm).
set -euo pipefail
cd "$(dirname "$0")/.."

compress=1
for a in "$@"; do
	case "$a" in
	--no-compress) compress=0 ;;
	*) echo "usage: $0 [--no-compress]" >&2; exit 2 ;;
	esac
done

out=web/client/dist
mkdir -p "$out"
GOOS=js GOARCH=wasm go build -ldflags='-s -w' -trimpath -o "$out/swarmcast.wasm" ./cmd/swarmcast-wasm
cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$out/wasm_exec.js"
if [ "$compress" = 1 ]; then
	go run ./internal/cmd/precompress "$out/swarmcast.wasm"
else
	rm -f "$out/swarmcast.wasm.br" "$out/swarmcast.wasm.gz"
	echo "$out/swarmcast.wasm: $(wc -c < "$out/swarmcast.wasm") bytes raw (not compressed: --no-compress)"
fi
