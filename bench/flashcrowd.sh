#!/usr/bin/env bash
# flashcrowd.sh: the seed's peak hour in browsers. VIEWERS tabs of headless Chromium open a video site's
# watch page GAP ms apart; the video's only seed is its HTTP origin (the web seed), each origin response
# capped at ORIGIN_RATE. Run once with swarmcast's browser client (its watch page: the engine as wasm in a
# Web Worker) and once with WebTorrent's browser bundle (bench/flashcrowd/wt-watch.html: the same job and
# the same counters, streamed by WebTorrent's service worker), with the same origin, tracker and video.
#
# Per implementation it prints: the share of bytes the viewers got from peers (as each page counted
# them), what the origin sent (counted at the origin, and as copies of the video), and each viewer's time
# to done and to its first frame (ms since that tab's navigation began). Goal (issue 9): >= 70% from
# peers, every viewer done <= 5 s, first frame <= 1 s; WebTorrent measured ~0-9% from peers, done in
# 8-13.6 s.
#
# Under the table, per run, where the machine's CPU went from the first tab's navigation to the last tab's
# done: the machine's busy share, and the browser's CPU seconds by kind of thread (the engines' Web
# Workers, WebRTC, video decoding and compositing, ...; interop/browser/cpu.mjs). A machine busy all the
# way through means the times above are bound by its cores, not by the network or the origin.
#
# Everything runs in a network namespace of its own (unshare -n, as root) with an interface (one end of a
# veth pair kept inside) holding the default route: Chromium gathers no ICE candidate without one, and no packet leaves the namespace.
# The site is `swarmcast demo --no-seeder --origin-rate RATE`: tracker and site on one port, the origin on
# another, counting what it sends (/demo.json). Tabs are separate browser contexts (separate viewers).
#
# Environment (all optional):
#   VIEWERS=6            tabs
#   GAP=200              ms between tabs
#   ORIGIN_RATE=1MB      cap per origin response (bytes per second; 1MB = 10^6)
#   VIDEO=               a WebM/MP4 to serve instead of the demo's 3.5 MB sample
#   PLAY=2               seconds of video each tab must play before the run waits for the downloads
#   BRIDGE=              bytes the watch page may take from the origin while its engine loads (?bridge=N;
#                        empty: the page's default, 512 KiB; 0: the first frame waits for the engine)
#   DIRECT=0             1: the watch page plays the origin's URL until the engine is ready (?direct=1)
#   DEBUG=0              1: each tab's engine logs its work (?debug=1; swarmcast's page) and every console line goes to the
#                        driver's log, IMPL-N.driver.log under KEEP_LOGS
#   RUNS=1               runs of each implementation
#   IMPLS="swarmcast webtorrent"
#   TIMEOUT=120          seconds for one run's tabs
#   SWARMCAST_BIN=       use this swarmcast binary (it must embed the wasm) instead of building one
#   KEEP_LOGS=DIR        copy the logs and each run's JSON there
#
# Needs: root, go, node, chromium (apt), interop/node_modules (playwright-core, webtorrent; bash
# scripts/install-test-deps.sh), and scripts/build-wasm.sh (the browser engine).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=flashcrowd.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

VIEWERS=${VIEWERS:-6}
GAP=${GAP:-200}
ORIGIN_RATE=${ORIGIN_RATE:-1MB}
VIDEO=${VIDEO:-}
PLAY=${PLAY:-2}
DIRECT=${DIRECT:-0}
BRIDGE=${BRIDGE:-}
DEBUG=${DEBUG:-0}
RUNS=${RUNS:-1}
IMPLS=${IMPLS:-swarmcast webtorrent}
TIMEOUT=${TIMEOUT:-120}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
KEEP_LOGS=${KEEP_LOGS:-}

[[ $VIEWERS =~ ^[1-9][0-9]*$ ]] || die "VIEWERS must be a positive number"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
[[ $GAP =~ ^[0-9]+$ ]] || die "GAP must be a number of ms"
[[ -z $BRIDGE || $BRIDGE =~ ^[0-9]+$ ]] || die "BRIDGE must be a number of bytes"
for impl in $IMPLS; do
	[[ $impl == swarmcast || $impl == webtorrent ]] || die "unknown implementation '$impl' in IMPLS"
done

if [[ -z ${FLASHCROWD_NETNS:-} ]]; then
	# Outside the namespace: check and build (the module proxy is reachable only here), then run again
	# inside a namespace of our own.
	((EUID == 0)) || die "run as root: the run needs a network namespace of its own (unshare -n)"
	command -v node >/dev/null || die "node is missing"
	command -v chromium >/dev/null || die "chromium is missing (bash scripts/install-test-deps.sh)"
	[[ -f $root/interop/node_modules/playwright-core/package.json ]] ||
		die "interop/node_modules/playwright-core is missing: run bash scripts/install-test-deps.sh"
	if has webtorrent; then
		need_webtorrent
	fi
	if [[ -z $SWARMCAST_BIN && $IMPLS == webtorrent ]]; then
		mkdir -p "$here/.cache"
		build_swarmcast_at "$here/.cache/swarmcast-web"
		SWARMCAST_BIN=$swarmcast
	elif [[ -z $SWARMCAST_BIN ]]; then
		[[ -f $root/scripts/build-wasm.sh ]] || die "scripts/build-wasm.sh is missing: no browser engine to build"
		(cd "$root" && bash scripts/build-wasm.sh) || die "scripts/build-wasm.sh failed"
		mkdir -p "$here/.cache"
		build_swarmcast_at "$here/.cache/swarmcast-web"
		SWARMCAST_BIN=$swarmcast
	fi
	exec unshare -n env FLASHCROWD_NETNS=1 SWARMCAST_BIN="$SWARMCAST_BIN" bash "$0" "$@"
fi

# --- inside the namespace ---------------------------------------------------------------------------

# A veth pair whose far end stays in the namespace (this kernel has no dummy device type).
ip link set lo up
ip link add d0 type veth peer name d1
ip addr add 10.9.0.1/24 dev d0
ip link set d0 up
ip link set d1 up
ip route add default dev d0

trap_cleanup
tmp=$(mktemp -d)
mkdir -p "$tmp/logs"
logs_glob='logs/*'
load_warning

# run_one IMPL N: one flash crowd; leaves logs/IMPL-N.json (the driver's result) and logs/IMPL-N.origin.
run_one() {
	local impl=$1 n=$2 demo_log="$tmp/logs/$1-$2.demo.log" url args=()
	local demo_args=(demo --no-seeder --origin-rate "$ORIGIN_RATE" --http 127.0.0.1:0)
	[[ $impl == webtorrent ]] && demo_args+=(--without-wasm)
	[[ -n $VIDEO ]] && demo_args+=(--video "$VIDEO")
	spawn "$root" "$demo_log" "$SWARMCAST_BIN" "${demo_args[@]}"
	local demo_pid=$spawned
	wait_for "$demo_pid" "$demo_log" '^http://.*/watch\.html\?torrent=' "swarmcast demo" 60
	url=$(grep -Em1 '^http://.*/watch\.html\?torrent=' "$demo_log")
	args=("$url" --tabs "$VIEWERS" --gap "$GAP" --play "$PLAY" --wait-done --contexts --cpu --timeout "$TIMEOUT")
	[[ $impl == webtorrent ]] && args+=(--webtorrent "$here/flashcrowd/wt-watch.html")
	[[ $DIRECT == 1 ]] && args+=(--query direct=1)
	[[ -n $BRIDGE ]] && args+=(--query "bridge=$BRIDGE")
	[[ $DEBUG == 1 ]] && args+=(--query debug=1 --console)
	note "$impl run $n: $VIEWERS viewers, $GAP ms apart, origin capped at $ORIGIN_RATE per response"
	if ! (cd "$root/interop" && timeout $((TIMEOUT + 60)) node browser/demo.mjs "${args[@]}") \
		>"$tmp/logs/$impl-$n.out" 2>"$tmp/logs/$impl-$n.driver.log"; then
		show_log "$tmp/logs/$impl-$n.driver.log"
		tail -n 1 "$tmp/logs/$impl-$n.out" | cut -c1-2000 >&2 || true
		stop "$demo_pid"
		die "$impl run $n: the browser driver failed"
	fi
	grep '^{"event":"result"' "$tmp/logs/$impl-$n.out" | tail -n 1 >"$tmp/logs/$impl-$n.json"
	node -e 'fetch(process.argv[1]).then(r => r.text()).then(t => process.stdout.write(t))' \
		"${url%%/watch.html*}/demo.json" >"$tmp/logs/$impl-$n.origin"
	stop "$demo_pid"
}

for n in $(seq "$RUNS"); do
	for impl in $IMPLS; do
		run_one "$impl" "$n"
	done
done

# --- the table --------------------------------------------------------------------------------------

printf '\nflash crowd: %d viewers %d ms apart, the origin the only seed, capped at %s per response; %s runs; load %s at start\n' \
	"$VIEWERS" "$GAP" "$ORIGIN_RATE" "$RUNS" "$load0"
printf '%-11s %-4s %10s %22s  %-40s %s\n' impl run "from peers" "origin sent (copies)" "done per viewer (s)" "first frame per viewer (ms)"
for impl in $IMPLS; do
	for n in $(seq "$RUNS"); do
		# shellcheck disable=SC2016 # the JavaScript's own template strings
		node -e '
			const fs = require("fs")
			const [impl, n, json, origin] = process.argv.slice(1)
			const r = JSON.parse(fs.readFileSync(json, "utf8")), o = JSON.parse(fs.readFileSync(origin, "utf8"))
			const tabs = r.tabs.map((t) => t.final)
			const peers = tabs.reduce((a, s) => a + s.bytesFromPeers, 0), orig = tabs.reduce((a, s) => a + s.bytesFromOrigin, 0)
			const share = peers + orig ? Math.round(100 * peers / (peers + orig)) + "%" : "-"
			const sent = (o.originBytes / 1048576).toFixed(1) + " MiB (" + (o.originBytes / o.videoLength).toFixed(2) + ")"
			const done = tabs.map((s) => s.doneMs == null ? "-" : (s.doneMs / 1000).toFixed(1)).join(" ")
			const ff = tabs.map((s) => s.firstFrameMs == null ? "-" : String(Math.round(s.firstFrameMs))).join(" ")
			console.log(`${impl.padEnd(11)} ${n.padEnd(4)} ${share.padStart(10)} ${sent.padStart(22)}  ${done.padEnd(40)} ${ff}`)
		' "$impl" "$n" "$tmp/logs/$impl-$n.json" "$tmp/logs/$impl-$n.origin"
	done
done
printf '\nwhere the CPU went, from the first tab'"'"'s navigation to the last tab'"'"'s done (CPU seconds)\n'
for impl in $IMPLS; do
	for n in $(seq "$RUNS"); do
		node -e '
			const fs = require("fs")
			const [impl, n, json] = process.argv.slice(1)
			const c = JSON.parse(fs.readFileSync(json, "utf8")).cpu
			if (!c) { console.log(`${impl.padEnd(11)} ${n.padEnd(4)} -`); process.exit(0) }
			const kinds = Object.entries(c.kinds).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")
			console.log(`${impl.padEnd(11)} ${n.padEnd(4)} machine busy ${Math.round(100 * c.machineBusy)}% of ${c.cores} cores over ${(c.windowMs / 1000).toFixed(1)} s (${c.machineCpuS.toFixed(1)}); browser ${c.browserCpuS.toFixed(1)}: ${kinds}; driver ${c.driverCpuS.toFixed(1)}`)
		' "$impl" "$n" "$tmp/logs/$impl-$n.json"
	done
done
