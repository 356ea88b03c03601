#!/usr/bin/env bash
# stream.sh: seek latency of `swarmcast stream` against WebTorrent's own HTTP server (npm `webtorrent`
# 3.x in Node, client.createServer()), side by side, in one run, on one random file and one .torrent,
# over 127.0.0.1.
#
# One swarmcast seeder holds the data and uploads at most UP_LIMIT, so that a streamer never has all the
# pieces: each seek must fetch what it needs past what is already queued. Each streamer in turn starts
# from nothing (an empty folder), is given the seeder's address (no DHT, trackers, LSD or PEX), and once
# connected serves SEEKS Range requests of RANGE bytes at random offsets (the same offsets, in the same
# order, for both: drawn from SEED), one after another, as a player that jumps around would. Between
# seeks each streamer goes on downloading the rest in the background, as both do by default.
#
# For each request, curl reports the time to the first byte of the response and the time to the last of
# the RANGE bytes; every response is compared with the source bytes. The table gives p50, p95 and max of
# both, in milliseconds, and the ratio swarmcast / WebTorrent (lower is better). The goal: swarmcast's p95
# at most half of WebTorrent's.
#
# Environment (all optional):
#   SIZE=1GiB            file size: bytes, or with K/KiB, M/MiB, G/GiB (binary) or KB/MB/GB (decimal)
#   PIECE_LENGTH=1MiB    piece length of the torrent (a power of two, at least 16 KiB)
#   UP_LIMIT=4MB         the seeder's upload limit (swarmcast --up-limit syntax: 4MB, 512KiB, bytes/s)
#   SEEKS=50             Range requests per streamer
#   RANGE=64KiB          bytes per request
#   SEED=1               seed of the random offsets
#   RUNS=1               repeat everything with a fresh streamer; runs alternate which one goes first, and
#                        the table pools every request of every run
#   IMPLS="swarmcast webtorrent"   which streamers to run (the ratio row needs both)
#   REQ_TIMEOUT=60       seconds one request may take; a request that fails or times out counts as an
#                        error and is left out of the percentiles
#   SWARMCAST_FLAGS=     extra flags for swarmcast seed and stream (e.g. -v)
#   SWARMCAST_BIN=       use this swarmcast binary instead of building cmd/swarmcast
#   KEEP_LOGS=DIR        copy every process's log and the per-request figures there before exiting
#
# Needs: go, curl, node, and interop/node_modules/webtorrent (bash scripts/install-test-deps.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=stream.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

SIZE=${SIZE:-1GiB}
PIECE_LENGTH=${PIECE_LENGTH:-1MiB}
UP_LIMIT=${UP_LIMIT:-4MB}
SEEKS=${SEEKS:-50}
RANGE=${RANGE:-64KiB}
SEED=${SEED:-1}
RUNS=${RUNS:-1}
IMPLS=${IMPLS:-swarmcast webtorrent}
REQ_TIMEOUT=${REQ_TIMEOUT:-60}
SWARMCAST_FLAGS=${SWARMCAST_FLAGS:-}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
KEEP_LOGS=${KEEP_LOGS:-}

size=$(to_bytes "$SIZE")
piece=$(to_bytes "$PIECE_LENGTH")
range=$(to_bytes "$RANGE")
[[ $UP_LIMIT =~ ^[0-9.]+[A-Za-z]*$ ]] || die "bad UP_LIMIT '$UP_LIMIT' (like 4MB, 512KiB, 1.5MB)"
((piece >= 16384 && (piece & (piece - 1)) == 0)) || die "PIECE_LENGTH must be a power of two of at least 16 KiB"
((range > 0)) || die "RANGE must be more than 0"
((size > range)) || die "SIZE must be more than RANGE"
[[ $SEEKS =~ ^[1-9][0-9]*$ ]] || die "SEEKS must be a positive number"
[[ $SEED =~ ^[0-9]+$ ]] || die "SEED must be a number"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
[[ $REQ_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "REQ_TIMEOUT must be a number of seconds"
for impl in $IMPLS; do
	[[ $impl == swarmcast || $impl == webtorrent ]] || die "unknown streamer '$impl' in IMPLS"
done

command -v curl >/dev/null || die "curl is missing (bash scripts/install-test-deps.sh)"
if has webtorrent; then
	need_webtorrent
fi

# --- processes and temp dir, cleaned up on any exit -------------------------------------------------

trap_cleanup

# --- setup ----------------------------------------------------------------------------------------

tmp=$(mktemp -d -t swarmcast-stream-bench.XXXXXX)
mkdir -p "$tmp/src" "$tmp/logs"

# The seeder is swarmcast whichever streamers run.
build_swarmcast_at "$tmp/swarmcast"

name=data.bin
src=$tmp/src/$name
note "writing $(human "$size") of random data"
head -c "$size" /dev/urandom >"$src"

# A budget for each streamer's whole run: every request at its limit, plus start-up.
stream_budget=$((SEEKS * (REQ_TIMEOUT + 5) + 300))

port=$(free_port)
# `seed PATH` hashes the data (and writes the torrent) before it prints "listening on".
# shellcheck disable=SC2086 # SWARMCAST_FLAGS is a list of flags
spawn "$tmp" "$tmp/logs/seeder.log" timeout -k 5 $((RUNS * 2 * stream_budget + 600)) "$swarmcast" seed "$src" \
	-o "$tmp/t.torrent" --listen "127.0.0.1:$port" --up-limit "$UP_LIMIT" --piece-length "$PIECE_LENGTH" \
	--quiet $SWARMCAST_FLAGS
seeder=$spawned
wait_for "$seeder" "$tmp/logs/seeder.log" "^listening on" "swarmcast seeder" 600
note "seeder on 127.0.0.1:$port, upload limit $UP_LIMIT"

# The offsets: SEEKS uniform random starts in [0, SIZE-RANGE], from SEED.
awk -v seed="$SEED" -v n="$SEEKS" -v max=$((size - range)) \
	'BEGIN { srand(seed); for (i = 0; i < n; i++) printf "%d\n", int(rand() * (max + 1)) }' >"$tmp/offsets"

# --- streamers ------------------------------------------------------------------------------------

# start_streamer IMPL TAG: starts IMPL on an empty folder, fed the seeder's address; waits until it
# serves HTTP and is connected to the seeder. Sets $streamer_pid, $stream_url and $api_url (swarmcast).
start_streamer() {
	local impl=$1 tag=$2 dir=$tmp/$2 log=$tmp/logs/$2.log deadline
	rm -rf "$dir"
	mkdir -p "$dir"
	case $impl in
	swarmcast)
		# shellcheck disable=SC2086
		spawn "$dir" "$log" timeout -k 5 "$stream_budget" "$swarmcast" stream "$tmp/t.torrent" -o "$dir" \
			--peer "127.0.0.1:$port" --http 127.0.0.1:0 --listen 127.0.0.1:0 --quiet $SWARMCAST_FLAGS
		streamer_pid=$spawned
		wait_for "$streamer_pid" "$log" "^stream: http://" "swarmcast stream" 60
		stream_url=$(sed -n 's/^stream: //p' "$log" | head -n 1)
		local base=${stream_url%%/webtorrent/*} ih=${stream_url#*/webtorrent/}
		api_url=$base/api/torrents/${ih%%/*}
		deadline=$((SECONDS + 60))
		until curl -s --max-time 5 "$api_url" | grep -Eq '"numPeers": *[1-9]'; do
			((SECONDS < deadline)) || {
				show_log "$log"
				die "swarmcast stream did not connect to the seeder in 60 s"
			}
			sleep 0.05
		done
		;;
	webtorrent)
		spawn "$dir" "$log" timeout -k 5 "$stream_budget" node "$here/stream/webtorrent-stream.mjs" \
			"$tmp/t.torrent" --dir "$dir" --peer "127.0.0.1:$port"
		streamer_pid=$spawned
		wait_for "$streamer_pid" "$log" '"event":"listening"' "webtorrent-stream.mjs" 60
		wait_for "$streamer_pid" "$log" '"event":"progress".*"numPeers":[1-9]' "webtorrent-stream.mjs (connected)" 60
		stream_url=$(grep -o '"url":"[^"]*"' "$log" | head -n 1 | cut -d'"' -f4)
		;;
	esac
	[[ -n $stream_url ]] || die "$impl printed no stream URL"
}

# have_pct IMPL TAG: prints how much of the torrent the streamer has verified, in percent.
have_pct() {
	case $1 in
	swarmcast)
		curl -s --max-time 5 "$api_url" | tr -d ' \n' |
			sed -n 's/.*"pieces":\([0-9]*\),"piecesHave":\([0-9]*\).*/\1 \2/p' |
			awk '{ if ($1 > 0) printf "%.0f\n", 100 * $2 / $1; else print "?" }'
		;;
	webtorrent)
		grep '"event":"progress"' "$tmp/logs/$2.log" | tail -n 1 |
			sed -n 's/.*"progress":\([0-9.e-]*\).*/\1/p' | awk '{ printf "%.0f\n", 100 * $1 }'
		;;
	esac
}

# seeks IMPL TAG RUN: the SEEKS requests, one line each appended to $tmp/samples:
# "impl run i offset ok ttfb_ms total_ms".
seeks() {
	local impl=$1 tag=$2 run=$3 i=0 off end out code ttfb total got ok
	local body=$tmp/body want=$tmp/want
	while read -r off; do
		i=$((i + 1))
		end=$((off + range - 1))
		out=$(curl -s -o "$body" -r "$off-$end" --max-time "$REQ_TIMEOUT" \
			-w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}' "$stream_url") || true
		read -r code ttfb total got <<<"$out"
		ok=1
		if [[ $code != 206 || $got != "$range" ]]; then
			note "  $impl seek $i at $off: HTTP ${code:-none}, $got of $range bytes in ${total:-?} s"
			ok=0
		else
			dd if="$src" of="$want" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$range" status=none
			if ! cmp -s "$body" "$want"; then
				note "  $impl seek $i at $off: the $range bytes differ from the source"
				ok=0
			fi
		fi
		awk -v impl="$impl" -v run="$run" -v i="$i" -v off="$off" -v ok="$ok" -v a="${ttfb:-0}" -v b="${total:-0}" \
			'BEGIN { printf "%s %d %d %d %d %.1f %.1f\n", impl, run, i, off, ok, 1000 * a, 1000 * b }' >>"$tmp/samples"
	done <"$tmp/offsets"
}

: >"$tmp/samples"
declare -A have=() # "impl run" -> percent of the torrent verified when its seeks ended
declare -A took=() # "impl run" -> seconds for all its seeks
load_warning
for ((run = 1; run <= RUNS; run++)); do
	order=$IMPLS
	if ((run % 2 == 0)); then
		order=$(tr ' ' '\n' <<<"$IMPLS" | grep . | tac | tr '\n' ' ')
	fi
	for impl in $order; do
		tag=$impl-run$run
		note "run $run/$RUNS: $impl: starting on an empty folder"
		start_streamer "$impl" "$tag"
		t0=$(now)
		seeks "$impl" "$tag" "$run"
		t1=$(now)
		have["$impl $run"]=$(have_pct "$impl" "$tag")
		took["$impl $run"]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
		stop "$streamer_pid"
		rm -rf "${tmp:?}/$tag"
		note "  $impl: $SEEKS seeks in ${took["$impl $run"]} s; it had ${have["$impl $run"]}% of the torrent at the end"
	done
done
[[ -n $KEEP_LOGS ]] && cp "$tmp/samples" "$tmp/logs/samples.txt"

# --- report ---------------------------------------------------------------------------------------

# stat IMPL COLUMN: prints "p50 p95 max errors" of COLUMN (6: first byte, 7: whole range) over the
# requests of IMPL that succeeded (nearest-rank percentiles).
stat() {
	local impl=$1 col=$2 errors
	errors=$(awk -v impl="$impl" '$1 == impl && $5 == 0' "$tmp/samples" | wc -l)
	echo "$(awk -v impl="$impl" -v c="$col" '$1 == impl && $5 == 1 { print $c }' "$tmp/samples" |
		percentiles 0.50 0.95 1) $errors"
}

runs_note="1 run"
((RUNS > 1)) && runs_note="$RUNS runs pooled"
echo
echo "seek latency: $(human "$size"), $(human "$piece") pieces, seeder upload limit $UP_LIMIT, $SEEKS seeks of $(human "$range")" \
	"at random offsets (seed $SEED), loopback, $(nproc) cores, $runs_note, load $load0 at start"
printf "%-11s %14s %7s %7s %15s %7s %7s %7s %11s\n" impl "1st byte p50" p95 max "$(human "$range" | tr -d ' ') p50" p95 max errors "had at end"
declare -A figs=()
for impl in $IMPLS; do
	read -r a b c e <<<"$(stat "$impl" 6)"
	read -r d f g _ <<<"$(stat "$impl" 7)"
	figs[$impl]="$a $b $c $d $f $g"
	hv=""
	for ((run = 1; run <= RUNS; run++)); do hv+="${have["$impl $run"]}% "; done
	printf "%-11s %14s %7s %7s %15s %7s %7s %7s %11s\n" "$impl" "$a" "$b" "$c" "$d" "$f" "$g" "$e" "${hv% }"
done
if has swarmcast && has webtorrent; then
	read -r -a s <<<"${figs[swarmcast]}"
	read -r -a w <<<"${figs[webtorrent]}"
	ratios=()
	for k in 0 1 2 3 4 5; do
		ratios+=("$(awk -v a="${s[k]}" -v b="${w[k]}" 'BEGIN { if (a == "-" || b == "-") print "-"; else if (b > 0) printf "%.2f", a / b; else print "-" }')")
	done
	printf "%-11s %14s %7s %7s %15s %7s %7s\n" ratio "${ratios[@]}"
	echo
	echo "ratio = swarmcast / webtorrent, in ms (lower is better); 'had at end' = share of the torrent each"
	echo "streamer had verified when its last seek ended (both download the rest in the background)"
	verdict=$(awk -v r="${ratios[1]}" 'BEGIN { if (r == "-") print "unknown"; else if (r <= 0.5) print "met"; else print "NOT met" }')
	echo "goal (swarmcast first-byte p95 <= 0.5 x webtorrent's): $verdict (ratio ${ratios[1]})"
fi
