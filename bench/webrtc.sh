#!/usr/bin/env bash
# webrtc.sh: time from announce to first payload byte, and to completion, over WebRTC on 127.0.0.1:
# swarmcast against WebTorrent (npm `webtorrent` 3.x in Node, node-datachannel), side by side, in one run.
#
# For each implementation and run: a fresh WebSocket tracker (`swarmcast tracker`, the same for both), a
# fresh seeder of that implementation seeding one random file through it, then a fresh downloader of the
# same implementation given only a magnet link (info hash + that ws:// tracker; no peers, DHT, LSD, PEX or
# TCP peers), so it must fetch the metadata and the data over WebRTC data channels set up through the
# tracker. The downloader is swarmcast's library (bench/webrtc/firstbyte, polling its payload byte count
# every 5 ms) or bench/webrtc/webtorrent-firstbyte.mjs (WebTorrent's 'download' and 'done' events). Both
# report, in ms since their process started: when the torrent was added (the first announce goes out then),
# the first payload byte, and completion. The table gives p50 and max over RUNS of (a) add -> first byte,
# (b) add -> complete, and the process start -> add time, with the ratio swarmcast / WebTorrent. Every
# download is compared with the source. The goal: swarmcast's first byte within 0.5 s of its announce.
#
# Environment (all optional):
#   SIZE=16MiB           file size: bytes, or with K/KiB, M/MiB, G/GiB (binary) or KB/MB/GB (decimal)
#   RUNS=5               runs of each; runs alternate which implementation goes first
#   IMPLS="swarmcast webtorrent"   which to run (the ratio row needs both)
#   SETTLE=1             seconds between the seeder being ready and the downloader starting, so the seeder's
#                        own announce has reached the tracker
#   TIMEOUT=120          seconds a downloader may take
#   SWARMCAST_BIN=       use this swarmcast binary (tracker and seeder) instead of building cmd/swarmcast
#   KEEP_LOGS=DIR        copy every process's log and the per-run figures there before exiting
#
# Needs: go, node (Node.js 20) and interop/node_modules/webtorrent (bash scripts/install-test-deps.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=webrtc.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

SIZE=${SIZE:-16MiB}
RUNS=${RUNS:-5}
IMPLS=${IMPLS:-swarmcast webtorrent}
SETTLE=${SETTLE:-1}
TIMEOUT=${TIMEOUT:-120}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
KEEP_LOGS=${KEEP_LOGS:-}

size=$(to_bytes "$SIZE")
((size > 0)) || die "SIZE must be more than 0"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "TIMEOUT must be a number of seconds"
[[ $SETTLE =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "SETTLE must be a number of seconds"
for impl in $IMPLS; do
	[[ $impl == swarmcast || $impl == webtorrent ]] || die "unknown implementation '$impl' in IMPLS"
done

if has webtorrent; then
	need_webtorrent
fi

# --- processes and temp dir, cleaned up on any exit -------------------------------------------------

trap_cleanup

# --- setup ----------------------------------------------------------------------------------------

tmp=$(mktemp -d -t swarmcast-webrtc-bench.XXXXXX)
mkdir -p "$tmp/src" "$tmp/logs"

# The tracker is swarmcast's whichever implementations run.
build_swarmcast_at "$tmp/swarmcast"
firstbyte=$tmp/firstbyte
if has swarmcast; then
	go_build "$firstbyte" ./bench/webrtc/firstbyte
fi

name=data.bin
src=$tmp/src/$name
note "writing $(human "$size") of random data"
head -c "$size" /dev/urandom >"$src"

# --- one measurement --------------------------------------------------------------------------------

# measure IMPL RUN: tracker, seeder and downloader of IMPL; appends "impl run addMs firstByteMs doneMs" to
# $tmp/samples.
measure() {
	local impl=$1 run=$2 tag=$1-run$2 port tracker seeder dl ih ws magnet out
	local work=$tmp/$tag
	mkdir -p "$work/seed" "$work/dl"
	port=$(free_port)
	spawn "$work" "$tmp/logs/$tag-tracker.log" timeout -k 5 $((TIMEOUT + 300)) "$swarmcast" tracker --http "127.0.0.1:$port"
	tracker=$spawned
	wait_port "$port" "$tracker" || {
		show_log "$tmp/logs/$tag-tracker.log"
		die "the tracker did not start"
	}
	ws=ws://127.0.0.1:$port
	ln "$src" "$work/seed/$name"
	case $impl in
	swarmcast)
		spawn "$work/seed" "$tmp/logs/$tag-seeder.log" timeout -k 5 $((TIMEOUT + 300)) "$swarmcast" seed "$work/seed/$name" \
			--tracker "$ws" --webrtc-loopback --listen 127.0.0.1:0 -o "$work/t.torrent" --quiet
		seeder=$spawned
		wait_for "$seeder" "$tmp/logs/$tag-seeder.log" '^info hash: [0-9a-f]{40}' "swarmcast seeder" 120
		ih=$(sed -n 's/^info hash: \([0-9a-f]\{40\}\).*/\1/p' "$tmp/logs/$tag-seeder.log" | head -n 1)
		;;
	webtorrent)
		spawn "$work/seed" "$tmp/logs/$tag-seeder.log" timeout -k 5 $((TIMEOUT + 300)) node "$here/webrtc/webtorrent-firstbyte.mjs" \
			seed "$work/seed/$name" --tracker "$ws"
		seeder=$spawned
		wait_for "$seeder" "$tmp/logs/$tag-seeder.log" '"event":"seeding"' "WebTorrent seeder" 120
		ih=$(grep -o '"infoHash":"[0-9a-f]*"' "$tmp/logs/$tag-seeder.log" | head -n 1 | cut -d'"' -f4)
		;;
	esac
	[[ $ih =~ ^[0-9a-f]{40}$ ]] || die "$impl seeder printed no info hash"
	sleep "$SETTLE"
	magnet="magnet:?xt=urn:btih:$ih&tr=ws%3A%2F%2F127.0.0.1%3A$port"
	local log=$tmp/logs/$tag-downloader.log
	case $impl in
	swarmcast)
		spawn "$work/dl" "$log" timeout -k 5 "$TIMEOUT" "$firstbyte" -tracker "$ws" -o "$work/dl" \
			-timeout "${TIMEOUT}s" "$magnet"
		;;
	webtorrent)
		spawn "$work/dl" "$log" timeout -k 5 "$TIMEOUT" node "$here/webrtc/webtorrent-firstbyte.mjs" \
			download "$magnet" --dir "$work/dl" --tracker "$ws"
		;;
	esac
	dl=$spawned
	reap "$dl"
	local rc=$reaped
	if ((rc != 0)); then
		show_log "$log"
		show_log "$tmp/logs/$tag-seeder.log" 10
		die "$impl downloader exited with status $rc (124: timed out after $TIMEOUT s)"
	fi
	cmp -s "$src" "$work/dl/$name" || die "$impl downloaded a file that differs from the source"
	out=$(grep -E '"firstByteMs"' "$log" | tail -n 1)
	[[ -n $out ]] || {
		show_log "$log"
		die "$impl downloader printed no figures"
	}
	if [[ $impl == webtorrent ]] && ! grep -q '"wireTypes":{"webrtc":[0-9]*}' <<<"$out"; then
		die "WebTorrent downloaded over something other than WebRTC: $out"
	fi
	if [[ $impl == swarmcast ]] && ! grep -q '"downloaded":{"webrtc":[0-9]*}' <<<"$out"; then
		die "swarmcast downloaded over something other than WebRTC: $out"
	fi
	local add fb fin
	add=$(grep -o '"addMs":[0-9.]*' <<<"$out" | cut -d: -f2)
	fb=$(grep -o '"firstByteMs":[0-9.]*' <<<"$out" | cut -d: -f2)
	fin=$(grep -o '"doneMs":[0-9.]*' <<<"$out" | cut -d: -f2)
	echo "$impl $run $add $fb $fin" >>"$tmp/samples"
	note "  $impl run $run: first byte $(awk -v a="$add" -v b="$fb" 'BEGIN { printf "%.0f", b - a }') ms," \
		"complete $(awk -v a="$add" -v b="$fin" 'BEGIN { printf "%.0f", b - a }') ms after its announce"
	stop "$seeder"
	stop "$tracker"
	rm -rf "$work"
}

: >"$tmp/samples"
load_warning
for ((run = 1; run <= RUNS; run++)); do
	order=$IMPLS
	if ((run % 2 == 0)); then
		order=$(tr ' ' '\n' <<<"$IMPLS" | grep . | tac | tr '\n' ' ')
	fi
	for impl in $order; do
		note "run $run/$RUNS: $impl"
		measure "$impl" "$run"
	done
done
[[ -n $KEEP_LOGS ]] && cp "$tmp/samples" "$tmp/logs/samples.txt"

# --- report ---------------------------------------------------------------------------------------

# stat IMPL EXPR: prints "p50 max" (nearest rank) of EXPR over IMPL's runs; EXPR is an awk expression of
# add, fb and done.
stat() {
	awk -v impl="$1" "\$1 == impl { add = \$3; fb = \$4; done = \$5; print $2 }" "$tmp/samples" | percentiles 0.5 1
}

echo
echo "WebRTC on loopback, announce to first byte: $(human "$size"), magnet link + one ws:// tracker (swarmcast's)," \
	"$(nproc) cores, $RUNS runs each, load $load0 at start; ms"
printf "%-11s %15s %7s %14s %7s %15s\n" impl "1st byte p50" max "complete p50" max "start->add p50"
declare -A figs=()
for impl in $IMPLS; do
	read -r a b <<<"$(stat "$impl" 'fb - add')"
	read -r c d <<<"$(stat "$impl" 'done - add')"
	read -r e _ <<<"$(stat "$impl" 'add')"
	figs[$impl]="$a $b $c $d $e"
	printf "%-11s %15s %7s %14s %7s %15s\n" "$impl" "$a" "$b" "$c" "$d" "$e"
done
if has swarmcast && has webtorrent; then
	read -r -a s <<<"${figs[swarmcast]}"
	read -r -a w <<<"${figs[webtorrent]}"
	ratios=()
	for k in 0 1 2 3 4; do
		ratios+=("$(awk -v a="${s[k]}" -v b="${w[k]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')")
	done
	printf "%-11s %15s %7s %14s %7s %15s\n" ratio "${ratios[@]}"
fi
if has swarmcast; then
	read -r -a s <<<"${figs[swarmcast]}"
	if ((s[0] <= 500)); then
		echo "goal (swarmcast p50 first byte <= 500 ms after its announce): met (${s[0]} ms)"
	else
		echo "goal (swarmcast p50 first byte <= 500 ms after its announce): NOT met (${s[0]} ms)"
	fi
fi
