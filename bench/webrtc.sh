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

SIZE=${SIZE:-16MiB}
RUNS=${RUNS:-5}
IMPLS=${IMPLS:-swarmcast webtorrent}
SETTLE=${SETTLE:-1}
TIMEOUT=${TIMEOUT:-120}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
KEEP_LOGS=${KEEP_LOGS:-}

die() {
	echo "webrtc.sh: FAIL: $*" >&2
	exit 1
}
note() { echo "webrtc.sh: $*" >&2; }

to_bytes() {
	local s=$1 n unit
	[[ $s =~ ^([0-9]+)([A-Za-z]*)$ ]] || die "bad size '$s'"
	n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
	case $unit in
	"" | B) echo "$n" ;;
	K | KiB) echo $((n << 10)) ;;
	M | MiB) echo $((n << 20)) ;;
	G | GiB) echo $((n << 30)) ;;
	KB) echo $((n * 1000)) ;;
	MB) echo $((n * 1000 * 1000)) ;;
	GB) echo $((n * 1000 * 1000 * 1000)) ;;
	*) die "bad size unit in '$s' (use KiB, MiB, GiB, KB, MB or GB)" ;;
	esac
}

human() {
	awk -v b="$1" 'BEGIN {
		split("B KiB MiB GiB TiB", u, " "); i = 1
		while (b >= 1024 && i < 5) { b /= 1024; i++ }
		if (b == int(b)) printf "%d %s\n", b, u[i]; else printf "%.1f %s\n", b, u[i]
	}'
}

size=$(to_bytes "$SIZE")
((size > 0)) || die "SIZE must be more than 0"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "TIMEOUT must be a number of seconds"
[[ $SETTLE =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "SETTLE must be a number of seconds"
for impl in $IMPLS; do
	[[ $impl == swarmcast || $impl == webtorrent ]] || die "unknown implementation '$impl' in IMPLS"
done
has() { [[ " $IMPLS " == *" $1 "* ]]; }

if has webtorrent; then
	command -v node >/dev/null || die "node is missing (Node.js 20; IMPLS=swarmcast runs without it)"
	[[ -f $root/interop/node_modules/webtorrent/package.json ]] ||
		die "interop/node_modules/webtorrent is missing: run bash scripts/install-test-deps.sh"
fi

# --- processes and temp dir, cleaned up on any exit -------------------------------------------------

declare -A live=() # pid -> description; each pid leads its own process group (setsid)
tmp=""

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${!live[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null || true
	done
	for pid in "${!live[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 -- "-$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL -- "-$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $tmp && -d $tmp ]]; then
		if [[ -n $KEEP_LOGS ]]; then
			{ mkdir -p "$KEEP_LOGS" && cp "$tmp"/logs/* "$KEEP_LOGS"/; } 2>/dev/null || true
		fi
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# spawn DIR LOG CMD...: runs CMD in DIR in a process group of its own, output to LOG; sets $spawned.
spawn() {
	local dir=$1 log=$2
	shift 2
	(cd "$dir" && exec setsid "$@") >"$log" 2>&1 </dev/null &
	spawned=$!
	live[$spawned]=$*
}

# stop PID: ends PID's process group (SIGTERM, then SIGKILL after 5 s) and reaps it.
stop() {
	local pid=$1
	kill -TERM -- "-$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 -- "-$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset 'live[$pid]'
}

show_log() {
	echo "---- last lines of $1 ----" >&2
	tail -n "${2:-30}" "$1" >&2 || true
	echo "----" >&2
}

# wait_for PID LOG PATTERN WHAT SECONDS: waits until LOG matches PATTERN (an extended regexp), or fails
# if PID ends first or SECONDS pass.
wait_for() {
	local pid=$1 log=$2 pattern=$3 what=$4 deadline=$((SECONDS + $5))
	until grep -Eq -- "$pattern" "$log" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			show_log "$log"
			die "$what exited before it was ready"
		fi
		((SECONDS < deadline)) || {
			show_log "$log"
			die "$what not ready after $5 s"
		}
		sleep 0.05
	done
}

# wait_port PORT PID: waits until PORT accepts connections, while PID lives.
wait_port() {
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "found no free port"
}

# --- setup ----------------------------------------------------------------------------------------

tmp=$(mktemp -d -t swarmcast-webrtc-bench.XXXXXX)
mkdir -p "$tmp/src" "$tmp/logs"

swarmcast=$tmp/swarmcast
if [[ -n $SWARMCAST_BIN ]]; then
	[[ -x $SWARMCAST_BIN ]] || die "SWARMCAST_BIN=$SWARMCAST_BIN is not an executable"
	swarmcast=$SWARMCAST_BIN
else
	# The tracker is swarmcast's whichever implementations run.
	(cd "$root" && timeout 900 go build -o "$swarmcast" ./cmd/swarmcast) || die "go build ./cmd/swarmcast failed"
fi
firstbyte=$tmp/firstbyte
if has swarmcast; then
	(cd "$root" && timeout 900 go build -o "$firstbyte" ./bench/webrtc/firstbyte) || die "go build ./bench/webrtc/firstbyte failed"
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
	local rc=0
	wait "$dl" || rc=$?
	unset 'live[$dl]'
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
load0=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load0" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	note "warning: load average $load0 on $(nproc) cores: other work competes with the benchmark, figures are noisy"
fi
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
	awk -v impl="$1" "\$1 == impl { add = \$3; fb = \$4; done = \$5; print $2 }" "$tmp/samples" | sort -g |
		awk '{ v[NR] = $1 }
			END {
				if (NR == 0) { print "- -"; exit }
				r = int(0.5 * NR); if (r < 0.5 * NR) r++; if (r < 1) r = 1
				printf "%.0f %.0f\n", v[r], v[NR]
			}'
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
