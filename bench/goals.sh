#!/usr/bin/env bash
# goals.sh: the tests whose figures are the issues' time goals, run with the goals enforced.
#
# In `go test` (and CI) these tests enforce only a loose bound that a hang or a stall exceeds
# (internal/testenv.TimeLimit): CI's 2 cores run several packages at once, and a goal of one second
# measured there fails working builds. Here SWARMCAST_GOALS=1 makes each enforce its goal:
#   - the demo in Chromium (interop TestDemoBrowser*): no stall over 1 s in 8 s of play per tab, a seek
#     to 80% plays again within 1 s (also mid-download);
#   - MSE with libtorrent and qBittorrent (TestMSELibtorrent, TestMSEQBittorrent): first byte within 1 s
#     of adding the torrent;
#   - the DHT (dht TestPrivateDHTLookupTime, interop TestDHTMagnetTimeVsLibtorrent): a magnet's first peer at p95 ≤ 5 s.
#   - the browser engine's page (interop TestWasmBrowserLarge): no task over 50 ms on the page's thread
#     during the download (SWARMCAST_WASM_LARGE_MB sets its size; 64 MB by default).
# Run it on an idle machine; each test logs its figure next to its goal (-v).
#
# Environment: RUN (a -run pattern, default all of the above), COUNT (default 1).
# Needs what the interop tests need: bash scripts/install-test-deps.sh, and root for the browser tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export SWARMCAST_GOALS=1 SWARMCAST_INTEROP=1
run=${RUN:-'TestDemoBrowser|TestMSELibtorrent|TestMSEQBittorrent|TestPrivateDHTLookupTime|TestDHTMagnetTimeVsLibtorrent|TestWasmBrowserLarge'}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
go test -count="${COUNT:-1}" -timeout 30m -v -run "$run" ./dht ./interop >"$log" 2>&1 || rc=$?
grep -E '^\s*(--- |ok|FAIL)|goal|p95' "$log" || true
if [ "$rc" -ne 0 ]; then
	echo "goals.sh: go test failed (exit $rc); the whole log:" >&2
	cat "$log" >&2
fi
exit "$rc"
