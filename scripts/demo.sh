#!/usr/bin/env bash
# The one-command demo: builds the browser engine (scripts/build-wasm.sh
# writes web/client/dist/swarmcast.wasm and its .br/.gz, which the binary
# embeds), then runs `swarmcast demo`, which prints the URL to open.
# Extra arguments go to the demo (e.g. --http 127.0.0.1:9000).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f scripts/build-wasm.sh ]]; then
	echo "scripts/build-wasm.sh is missing: this checkout has no browser engine to build" >&2
	exit 1
fi
bash scripts/build-wasm.sh
exec go run ./cmd/swarmcast demo "$@"
