#!/usr/bin/env bash
# tracker.sh: swarmcast's WebSocket tracker against npm bittorrent-tracker 11.2.3 (the tracker WebTorrent
# uses), side by side in one run, on 127.0.0.1. A load generator (bench/tracker/loadgen) opens CLIENTS
# WebSocket clients spread over TORRENTS torrents, has each announce once, then sends announces with
# OFFERS offers each at RATE per second for DURATION, and answers every offer it is relayed, as WebTorrent
# peers do. Reported per tracker: CPU microseconds per announce (its relayed offers and their answers
# included), CPU seconds, peak-ish RSS at the end, the load generator's own CPU, and the offer-relay
# latency (from a client handing an announce with offers to its socket to another client reading one of
# those offers, relayed by the tracker): p50, p99 and max in ms, in the same run. See README.md.
#
# Environment (all optional):
#   CLIENTS=1000 TORRENTS=10 OFFERS=5 RATE=500 DURATION=10s RUNS=1
#   IMPLS="swarmcast bittorrent-tracker"   which trackers to run (the ratio row needs both)
#   SWARMCAST_BIN=       use this swarmcast binary instead of building one from the work tree
#   KEEP_LOGS=DIR        copy the trackers' logs there
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=$here/.cache
prog=tracker.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

CLIENTS=${CLIENTS:-1000}
TORRENTS=${TORRENTS:-10}
OFFERS=${OFFERS:-5}
RATE=${RATE:-500}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-1}
IMPLS=${IMPLS:-swarmcast bittorrent-tracker}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
KEEP_LOGS=${KEEP_LOGS:-}

for v in CLIENTS TORRENTS OFFERS RATE RUNS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number"
done
for impl in $IMPLS; do
	[[ $impl == swarmcast || $impl == bittorrent-tracker ]] || die "unknown tracker '$impl' in IMPLS"
done

tmp=$(mktemp -d)
logs_glob='*.log' # the logs are in $tmp itself
trap_cleanup

# --- tools ------------------------------------------------------------------------------------------

mkdir -p "$cache"
loadgen=$cache/loadgen
go_build "$loadgen" ./bench/tracker/loadgen

swarmcast=$cache/swarmcast
if has swarmcast; then
	if [[ -n $SWARMCAST_BIN ]]; then
		swarmcast=$SWARMCAST_BIN
	else
		go_build "$swarmcast" ./cmd/swarmcast
	fi
	"$swarmcast" tracker -h >/dev/null 2>&1 ||
		die "$swarmcast has no 'tracker' command (cmd/swarmcast/main.go must list runTracker)"
fi

node_dir=$cache/node
if has bittorrent-tracker; then
	command -v node >/dev/null || die "node is needed for bittorrent-tracker"
	if [[ ! -d $node_dir/node_modules/bittorrent-tracker || $here/package.json -nt $node_dir/package.json ]]; then
		note "installing bittorrent-tracker 11.2.3 from npm into bench/tracker/.cache"
		mkdir -p "$node_dir"
		cp "$here/package.json" "$node_dir/"
		(cd "$node_dir" && timeout 600 npm install --ignore-scripts --no-audit --no-fund >/dev/null 2>&1) ||
			die "npm install bittorrent-tracker failed"
	fi
	cp "$here/bt-tracker.mjs" "$node_dir/"
fi

# Every client is a socket at both ends, plus the tracker's.
need=$((2 * CLIENTS + 256))
if (($(ulimit -n) < need)); then
	ulimit -n "$need" 2>/dev/null || die "need $need open files (ulimit -n); lower CLIENTS"
fi

# --- runs -------------------------------------------------------------------------------------------

# measure IMPL RUN: starts the tracker, drives it, prints the load generator's TSV line.
measure() {
	local impl=$1 run=$2 port pid log=$tmp/$1-$2.log
	port=$(free_port)
	case $impl in
	swarmcast) spawn "$tmp" "$log" "$swarmcast" tracker --http "127.0.0.1:$port" ;;
	bittorrent-tracker) spawn "$node_dir" "$log" node bt-tracker.mjs "$port" ;;
	esac
	pid=$spawned
	wait_port "$port" "$pid" || { tail -20 "$log" >&2; die "$impl did not start"; }
	local out
	out=$(timeout 300 "$loadgen" -url "ws://127.0.0.1:$port" -pid "$pid" -clients "$CLIENTS" \
		-torrents "$TORRENTS" -offers "$OFFERS" -rate "$RATE" -duration "$DURATION" -tsv 2>"$tmp/loadgen-$impl-$run.log") ||
		{ tail -5 "$tmp/loadgen-$impl-$run.log" >&2; stop "$pid"; die "load generator failed against $impl"; }
	stop "$pid"
	echo "$out"
}

declare -A cpu_us=() relay_p99=()
printf '%s WebSocket clients, %s torrents, %s offers per announce, %s announces/s for %s, every offer answered (%s runs, load %s at start)\n' \
	"$CLIENTS" "$TORRENTS" "$OFFERS" "$RATE" "$DURATION" "$RUNS" "$(cut -d' ' -f1 /proc/loadavg)"
printf '%-20s %14s %12s %10s %9s %14s %12s %14s %14s %14s %14s\n' impl "CPU µs/announce" "tracker CPU s" announces answers "offers relayed" "RSS MiB" "loadgen CPU s" "relay p50 ms" "relay p99 ms" "relay max ms"
for impl in $IMPLS; do
	rows=()
	for run in $(seq "$RUNS"); do
		rows+=("$(measure "$impl" "$run")")
	done
	for row in "${rows[@]}"; do
		IFS=$'\t' read -r us cpu ann answ offers rss lg r50 r99 rmax <<<"$row"
		printf '%-20s %14s %12s %10s %9s %14s %12s %14s %14s %14s %14s\n' "$impl" "$us" "$cpu" "$ann" "$answ" "$offers" "$((rss / 1024))" "$lg" "$r50" "$r99" "$rmax"
	done
	cpu_us[$impl]=$(for row in "${rows[@]}"; do cut -f1 <<<"$row"; done | median)
	relay_p99[$impl]=$(for row in "${rows[@]}"; do cut -f9 <<<"$row"; done | median)
done
if [[ -n ${cpu_us[swarmcast]:-} && -n ${cpu_us[bittorrent-tracker]:-} ]]; then
	awk -v a="${cpu_us[swarmcast]}" -v b="${cpu_us[bittorrent-tracker]}" \
		'BEGIN { printf "ratio (median CPU µs/announce, swarmcast / bittorrent-tracker): %.2f\n", a / b }'
	awk -v a="${relay_p99[swarmcast]}" -v b="${relay_p99[bittorrent-tracker]}" \
		'BEGIN { if (b > 0) printf "ratio (median offer-relay p99, swarmcast / bittorrent-tracker): %.2f\n", a / b }'
fi
