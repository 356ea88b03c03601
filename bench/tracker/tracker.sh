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
# With RATES="1000 2000 4000" it measures capacity instead: each tracker is driven at each rate in turn,
# and the highest rate it sustains (every announce answered, the load generator sending at least 95% of the
# rate, median offer-relay latency at most P50_MS: a queue that grows shows in the median, where the p99
# also catches single pauses such as a garbage collection) is its announces per second. PIN=1 runs the tracker on CPU 0 and the
# load generator on the others, so both trackers get one core, whatever threads they start.
#
# With SOCKETS="2000 15000" it measures memory instead: each tracker holds each number of clients in turn
# (announcing at RATE), its RSS is read at the end of the measured window with every socket open, and the
# memory per socket is the slope between the fewest and the most (what a tracker costs with no sockets
# drops out).
#
# Environment (all optional):
#   CLIENTS=1000 TORRENTS=10 OFFERS=5 RATE=500 DURATION=10s RUNS=1
#   SOCKETS=      memory mode: ascending client counts, e.g. "2000 15000" (RATE=200 suits it)
#   RATES=        capacity mode: ascending announce rates to try, e.g. "1000 1500 2000 3000 4000"
#   P50_MS=20     capacity mode: the median offer-relay latency a sustained rate must stay under
#   PIN=          1: tracker on CPU 0, load generator on the other CPUs
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
RATES=${RATES:-}
SOCKETS=${SOCKETS:-}
P50_MS=${P50_MS:-20}
PIN=${PIN:-}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
KEEP_LOGS=${KEEP_LOGS:-}

for v in CLIENTS TORRENTS OFFERS RATE RUNS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number"
done
for r in $RATES; do
	[[ $r =~ ^[1-9][0-9]*$ ]] || die "RATES must hold positive numbers"
done
most_clients=$CLIENTS
for n in $SOCKETS; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "SOCKETS must hold positive numbers"
	((n > most_clients)) && most_clients=$n
done
[[ $P50_MS =~ ^[1-9][0-9]*$ ]] || die "P50_MS must be a positive number of milliseconds"
tracker_cpus=() loadgen_cpus=()
if [[ $PIN == 1 ]]; then
	ncpu=$(nproc)
	((ncpu >= 2)) || die "PIN=1 needs at least 2 CPUs"
	command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
	tracker_cpus=(taskset -c 0)
	loadgen_cpus=(taskset -c "1-$((ncpu - 1))")
fi
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
	rate_args=()
	if "$swarmcast" tracker -h 2>&1 | grep -q -- '-ws-message-rate'; then
		rate_args=(--ws-message-rate 1000) # see bench/tracker/cluster.sh
	fi
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

# Every client is a socket at both ends: one in the tracker, one in the load generator, each within its
# own process's limit.
need=$((most_clients + 256))
if (($(ulimit -n) < need)); then
	ulimit -n "$need" 2>/dev/null || die "need $need open files (ulimit -n); lower CLIENTS or SOCKETS"
fi

# --- runs -------------------------------------------------------------------------------------------

# run_once IMPL RUN RATE: starts the tracker, drives it at RATE, prints the load generator's TSV line;
# fails (after saying why on stderr) when the load generator does, e.g. because the tracker fell behind.
run_once() {
	local impl=$1 run=$2 rate=$3 port pid log=$tmp/$1-$2-$3.log lglog=$tmp/loadgen-$1-$2-$3.log attempt
	for attempt in 1 2 3; do
		port=$(free_port)
		case $impl in
		swarmcast) spawn "$tmp" "$log" "${tracker_cpus[@]}" "$swarmcast" tracker --http "127.0.0.1:$port" "${rate_args[@]}" ;;
		bittorrent-tracker) spawn "$node_dir" "$log" "${tracker_cpus[@]}" node bt-tracker.mjs "$port" ;;
		esac
		pid=$spawned
		wait_port "$port" "$pid" && break
		stop "$pid"
		# A port taken between free_port and the listen: try another.
		((attempt < 3)) || { tail -20 "$log" >&2; die "$impl did not start"; }
	done
	# With taskset in front, the tracker is the process taskset execs: the same PID.
	local out status=0
	out=$(timeout 300 "${loadgen_cpus[@]}" "$loadgen" -url "ws://127.0.0.1:$port" -pid "$pid" -clients "$CLIENTS" \
		-torrents "$TORRENTS" -offers "$OFFERS" -rate "$rate" -duration "$DURATION" -tsv 2>"$lglog") || status=$?
	stop "$pid"
	if ((status != 0)); then
		tail -1 "$lglog" >&2
		return 1
	fi
	echo "$out"
}

# measure IMPL RUN: one run at RATE; the load generator must succeed.
measure() {
	run_once "$1" "$2" "$RATE" || die "load generator failed against $1"
}

header() {
	printf '%-20s %14s %9s %9s %12s %10s %9s %14s %8s %13s %12s %12s %12s\n' impl "CPU µs/announce" "user µs" "sys µs" "tracker CPU s" announces answers "offers relayed" "RSS MiB" "loadgen CPU s" "relay p50 ms" "relay p99 ms" "relay max ms"
}

row() {
	local impl=$1 us cpu ann answ offers rss lg r50 r99 rmax user sys
	IFS=$'\t' read -r us cpu ann answ offers rss lg r50 r99 rmax user sys _ <<<"$2"
	printf '%-20s %14s %9s %9s %12s %10s %9s %14s %8s %13s %12s %12s %12s\n' "$impl" "$us" "$user" "$sys" "$cpu" "$ann" "$answ" "$offers" "$((rss / 1024))" "$lg" "$r50" "$r99" "$rmax"
}

seconds=$(awk -v d="$DURATION" 'BEGIN { n = d + 0; u = substr(d, length(n "") + 1); if (u == "ms") n /= 1000; else if (u == "m") n *= 60; print n }')

if [[ -n $RATES ]]; then
	printf 'capacity: %s WebSocket clients, %s torrents, %s offers per announce, %s per rate, every offer answered; sustained = every announce answered, >= 95%% of the rate sent, relay p50 <= %s ms%s (load %s at start)\n' \
		"$CLIENTS" "$TORRENTS" "$OFFERS" "$DURATION" "$P50_MS" "${PIN:+, tracker pinned to CPU 0}" "$(cut -d' ' -f1 /proc/loadavg)"
	declare -A best=()
	for impl in $IMPLS; do
		best[$impl]=0
		for rate in $RATES; do
			printf '%-20s rate %6s/s: ' "$impl" "$rate"
			if ! line=$(run_once "$impl" 1 "$rate"); then
				echo "not sustained (the load generator failed)"
				break
			fi
			IFS=$'\t' read -r us _ ann _ _ _ _ r50 r99 _ _ _ _ <<<"$line"
			verdict=$(awk -v a="$ann" -v r="$rate" -v s="$seconds" -v p="$r50" -v lim="$P50_MS" \
				'BEGIN { if (a < 0.95 * r * s) print "short"; else if (p > lim) print "slow"; else print "ok" }')
			printf '%s announces, %s µs CPU each, relay p50 %s ms p99 %s ms: ' "$ann" "$us" "$r50" "$r99"
			case $verdict in
			ok) echo sustained; best[$impl]=$rate ;;
			short) echo "not sustained (the load generator could not send the rate)"; break ;;
			slow) echo "not sustained (median relay over $P50_MS ms)"; break ;;
			esac
		done
	done
	for impl in $IMPLS; do
		printf 'announces per second sustained: %-20s %s\n' "$impl" "${best[$impl]}"
	done
	if [[ -n ${best[swarmcast]:-} && ${best[bittorrent-tracker]:-0} -gt 0 ]]; then
		awk -v a="${best[swarmcast]}" -v b="${best[bittorrent-tracker]}" \
			'BEGIN { printf "ratio (announces per second sustained, swarmcast / bittorrent-tracker): %.2f\n", a / b }'
	fi
	exit 0
fi

if [[ -n $SOCKETS ]]; then
	printf 'memory: RSS of each tracker holding N WebSocket clients (%s torrents, %s announces/s with %s offers each, read at the end of %s with every socket open); per socket: the slope from the fewest to the most (load %s at start)\n' \
		"$TORRENTS" "$RATE" "$OFFERS" "$DURATION" "$(cut -d' ' -f1 /proc/loadavg)"
	for impl in $IMPLS; do
		first_n='' first_rss='' n='' rss=''
		for n in $SOCKETS; do
			line=$(CLIENTS=$n run_once "$impl" 1 "$RATE") || die "load generator failed against $impl with $n clients"
			rss=$(cut -f6 <<<"$line")
			printf '%-20s %7s sockets: RSS %6s MiB\n' "$impl" "$n" "$((rss / 1024))"
			if [[ -z $first_n ]]; then
				first_n=$n first_rss=$rss
			fi
		done
		if ((n > first_n)); then
			awk -v i="$impl" -v a="$first_n" -v b="$n" -v ra="$first_rss" -v rb="$rss" \
				'BEGIN { printf "%-20s per socket: %.1f KiB of RSS\n", i, (rb - ra) / (b - a) }'
		fi
	done
	exit 0
fi

declare -A cpu_us=() relay_p99=() sys_us=()
printf '%s WebSocket clients, %s torrents, %s offers per announce, %s announces/s for %s, every offer answered (%s runs%s, load %s at start)\n' \
	"$CLIENTS" "$TORRENTS" "$OFFERS" "$RATE" "$DURATION" "$RUNS" "${PIN:+, tracker pinned to CPU 0}" "$(cut -d' ' -f1 /proc/loadavg)"
header
for impl in $IMPLS; do
	rows=()
	for run in $(seq "$RUNS"); do
		rows+=("$(measure "$impl" "$run")")
	done
	for r in "${rows[@]}"; do
		row "$impl" "$r"
	done
	cpu_us[$impl]=$(for r in "${rows[@]}"; do cut -f1 <<<"$r"; done | median)
	relay_p99[$impl]=$(for r in "${rows[@]}"; do cut -f9 <<<"$r"; done | median)
	sys_us[$impl]=$(for r in "${rows[@]}"; do cut -f12 <<<"$r"; done | median)
done
if [[ -n ${cpu_us[swarmcast]:-} && -n ${cpu_us[bittorrent-tracker]:-} ]]; then
	awk -v a="${cpu_us[swarmcast]}" -v b="${cpu_us[bittorrent-tracker]}" \
		'BEGIN { printf "ratio (median CPU µs/announce, swarmcast / bittorrent-tracker): %.2f\n", a / b }'
	awk -v a="${relay_p99[swarmcast]}" -v b="${relay_p99[bittorrent-tracker]}" \
		'BEGIN { if (b > 0) printf "ratio (median offer-relay p99, swarmcast / bittorrent-tracker): %.2f\n", a / b }'
	# The kernel's share: every tracker makes the same socket calls for the same frames, and on loopback the
	# kernel work of delivering each frame is charged to the sender.
	awk -v a="${sys_us[swarmcast]}" -v b="${sys_us[bittorrent-tracker]}" -v t="${cpu_us[bittorrent-tracker]}" \
		'BEGIN { printf "kernel (system) CPU µs per announce, medians: swarmcast %s, bittorrent-tracker %s; a quarter of bittorrent-tracker'"'"'s total is %.0f\n", a, b, t / 4 }'
fi
