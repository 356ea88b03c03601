#!/usr/bin/env bash
# locality.sh: two sites joined by a slow link, one seed, four peers in each site (issue 10's locality
# benchmark). Site A is one network namespace (10.99.0.1) with the seed, a tracker and three downloaders;
# site B another (10.99.0.2) with four downloaders; bench/linkemu joins them (this kernel has no netem): a
# one-way delay and a rate cap with a drop-tail queue, each way. Every downloader starts at once, finds
# the others through the tracker (and PEX), and exits when it has the file.
#
# Each run measures the bytes that crossed the link, counted by the kernel on site A's end of it (the TUN
# device's rx+tx bytes, so headers and the tracker's traffic count too), as a share of the bytes the
# downloaders received in all (7 copies of the file), and the time until the last downloader was done.
# Once with the preference (each site's peers name their site's address with --local-network: local
# peers are dialled first, asked first for pieces and given most upload slots) and once without
# (--local-network none: no peer is local). Goal (issue 10): < 25% of bytes cross, no slower completion.
#
# Environment (all optional):
#   SIZE=64MiB      file size
#   DELAY=20ms      one-way delay of the link (40 ms round trip)
#   RATE=100000000  the link's rate in bits/s, each way
#   RUNS=1          runs of each mode (the table shows each run)
#   MODES="local none"
#   TIMEOUT=300     seconds a downloader may take
#   SWARMCAST_BIN=  use this swarmcast binary instead of building cmd/swarmcast
#   KEEP_LOGS=DIR   copy every process's log there before exiting
#
# Needs root (ip netns, TUN devices), go and iproute2.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=locality.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

SIZE=${SIZE:-64MiB}
DELAY=${DELAY:-20ms}
RATE=${RATE:-100000000}
RUNS=${RUNS:-1}
MODES=${MODES:-local none}
TIMEOUT=${TIMEOUT:-300}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
KEEP_LOGS=${KEEP_LOGS:-}

size=$(to_bytes "$SIZE")
((size > 0)) || die "SIZE must be more than 0"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
for m in $MODES; do
	case $m in local | none) ;; *) die "unknown mode '$m' in MODES (local, none)" ;; esac
done
[[ $(id -u) == 0 ]] || die "needs root: it makes network namespaces and TUN devices"
command -v ip >/dev/null || die "ip (iproute2) is missing"

trap_cleanup
nsA=swarmcast-site-a-$$
nsB=swarmcast-site-b-$$
del_netns() {
	ip netns del "$nsA" 2>/dev/null || true
	ip netns del "$nsB" 2>/dev/null || true
}
trap 'rc=$?; del_netns; (exit $rc); cleanup' EXIT

tmp=$(mktemp -d -t swarmcast-locality.XXXXXX)
mkdir -p "$tmp/src" "$tmp/logs"
build_swarmcast_at "$tmp/swarmcast"
go_build "$tmp/linkemu" ./bench/linkemu/cmd/linkemu
head -c "$size" /dev/urandom >"$tmp/src/data.bin"
load_warning

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# link_bytes: the bytes site A's end of the link has received and sent.
link_bytes() {
	in_ns "$nsA" cat /sys/class/net/emu0/statistics/rx_bytes /sys/class/net/emu0/statistics/tx_bytes |
		awk '{s += $1} END {print s}'
}

# run_once MODE RUN: prints "mode run crossedBytes seconds".
run_once() {
	local mode=$1 run=$2 tag=$1-run$2 work=$tmp/$1-run$2
	mkdir -p "$work/seed"
	del_netns
	ip netns add "$nsA"
	ip netns add "$nsB"
	in_ns "$nsA" ip link set lo up
	in_ns "$nsB" ip link set lo up
	spawn "$tmp" "$tmp/logs/$tag-linkemu.log" timeout -k 5 $((TIMEOUT + 600)) "$tmp/linkemu" \
		-a "/run/netns/$nsA" -b "/run/netns/$nsB" -delay "$DELAY" -rate "$RATE"
	local link=$spawned
	wait_for "$link" "$tmp/logs/$tag-linkemu.log" '^ready' "link emulator" 30

	spawn "$work" "$tmp/logs/$tag-tracker.log" ip netns exec "$nsA" timeout -k 5 $((TIMEOUT + 300)) \
		"$swarmcast" tracker --http 10.99.0.1:8000
	local tracker=$spawned
	wait_for "$tracker" "$tmp/logs/$tag-tracker.log" '^ws:' "tracker" 60
	local announce=http://10.99.0.1:8000/announce

	local netA=10.99.0.1/32 netB=10.99.0.2/32
	if [[ $mode == none ]]; then
		netA=none netB=none
	fi
	ln "$tmp/src/data.bin" "$work/seed/data.bin"
	spawn "$work/seed" "$tmp/logs/$tag-seeder.log" ip netns exec "$nsA" timeout -k 5 $((TIMEOUT + 300)) \
		"$swarmcast" seed "$work/seed/data.bin" --tracker "$announce" --listen 10.99.0.1:0 --no-lsd --no-dht \
		--local-network "$netA" -o "$work/t.torrent" --quiet
	local seeder=$spawned
	wait_for "$seeder" "$tmp/logs/$tag-seeder.log" '^info hash: [0-9a-f]{40}' "swarmcast seeder" 120

	local before start pids=() i ns addr net
	before=$(link_bytes)
	start=$(now)
	for i in 1 2 3 4 5 6 7; do
		if ((i <= 3)); then
			ns=$nsA addr=10.99.0.1 net=$netA
		else
			ns=$nsB addr=10.99.0.2 net=$netB
		fi
		mkdir -p "$work/dl$i"
		spawn "$work" "$tmp/logs/$tag-dl$i.log" ip netns exec "$ns" timeout -k 5 "$TIMEOUT" \
			"$swarmcast" download "$work/t.torrent" -o "$work/dl$i" --listen "$addr:0" --tracker "$announce" \
			--no-lsd --no-dht --local-network "$net" --quiet
		pids+=("$spawned")
	done
	for i in "${!pids[@]}"; do
		reap "${pids[$i]}"
		((reaped == 0)) || {
			show_log "$tmp/logs/$tag-dl$((i + 1)).log"
			die "$mode run $run: downloader $((i + 1)) exited with status $reaped"
		}
	done
	local end crossed
	end=$(now)
	crossed=$(($(link_bytes) - before))
	for i in 1 2 3 4 5 6 7; do
		cmp -s "$tmp/src/data.bin" "$work/dl$i/data.bin" || die "$mode run $run: downloader $i's file differs from the source"
	done
	stop "$seeder"
	stop "$tracker"
	stop "$link"
	del_netns
	rm -rf "$work"
	awk -v m="$mode" -v r="$run" -v c="$crossed" -v s="$start" -v e="$end" 'BEGIN {printf "%s %s %d %.2f\n", m, r, c, e - s}'
}

: >"$tmp/samples"
for run in $(seq "$RUNS"); do
	for mode in $MODES; do
		note "$mode run $run"
		run_once "$mode" "$run" >>"$tmp/samples"
	done
done

echo
echo "two sites, $(human "$size") file, one seed and 3 downloaders in A, 4 downloaders in B; link ${DELAY} each way," \
	"$((RATE / 1000000)) Mbit/s; load ${load0} at start"
printf '%-32s %4s %14s %14s %12s\n' mode run "crossed (MiB)" "share of 7×" "all done (s)"
while read -r mode run crossed secs; do
	label="with the preference (local)"
	[[ $mode == none ]] && label="without (--local-network none)"
	awk -v l="$label" -v r="$run" -v c="$crossed" -v s="$secs" -v n="$size" \
		'BEGIN {printf "%-32s %4s %14.1f %13.0f%% %12s\n", l, r, c / 1048576, 100 * c / (7 * n), s}'
done <"$tmp/samples"
