#!/usr/bin/env bash
# tcp.sh: swarmcast's TCP engine against anacrolix/torrent v1.62.0 (its own cmd/torrent), side by side,
# in one run, on one random file and one .torrent, over 127.0.0.1:
#   1. one seeder -> one leecher:         MB/s, leecher CPU seconds, leecher peak RSS
#   2. one seeder -> N leechers at once:  aggregate MB/s, slowest leecher's time, max CPU s and RSS per leecher
# Every download is checked against the source's SHA-256. See bench/README.md.
#
# Environment (all optional):
#   SIZE=1GiB            file size: bytes, or with K/KiB, M/MiB, G/GiB (binary) or KB/MB/GB (decimal)
#   PIECE_LENGTH=1MiB    piece length of the one torrent both implementations use
#   LEECHERS=4           leechers in the second scenario
#   RUNS=1               repeat each measurement; the tables show the median of each column
#   IMPLS="swarmcast anacrolix"   which implementations to run (the ratio row needs both)
#   TIMEOUT=300          seconds any one leecher may take; seeders get twice that
#   SWARMCAST_FLAGS=     extra flags for swarmcast seed and download (e.g. -v for the engine's log)
#   SWARMCAST_REV=       build swarmcast from this commit (git archive) instead of the work tree
#   SWARMCAST_BIN=       use this swarmcast binary instead of building one
#   KEEP_LOGS=DIR        copy every process's log there before the temp dir is removed
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=$here/.cache
prog=tcp.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

SIZE=${SIZE:-1GiB}
PIECE_LENGTH=${PIECE_LENGTH:-1MiB}
LEECHERS=${LEECHERS:-4}
RUNS=${RUNS:-1}
IMPLS=${IMPLS:-swarmcast anacrolix}
TIMEOUT=${TIMEOUT:-300}
SWARMCAST_FLAGS=${SWARMCAST_FLAGS:-}
SWARMCAST_REV=${SWARMCAST_REV:-}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
KEEP_LOGS=${KEEP_LOGS:-}

size=$(to_bytes "$SIZE")
piece=$(to_bytes "$PIECE_LENGTH")
((size > 0)) || die "SIZE must be more than 0"
((piece >= 16384 && (piece & (piece - 1)) == 0)) || die "PIECE_LENGTH must be a power of two of at least 16 KiB"
[[ $LEECHERS =~ ^[1-9][0-9]*$ ]] || die "LEECHERS must be a positive number"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "TIMEOUT must be a number of seconds"
for impl in $IMPLS; do
	[[ $impl == swarmcast || $impl == anacrolix ]] || die "unknown implementation '$impl' in IMPLS"
done

# --- processes and temp dir, cleaned up on any exit -------------------------------------------------

trap_cleanup
stop_reaper=reap    # stop keeps the status in $reaped
wait_for_status=1   # wait_for reaps a process that ended early and gives its status

# --- tools ----------------------------------------------------------------------------------------

gnu_time=/usr/bin/time
ensure_time() {
	if "$gnu_time" -f %e true >/dev/null 2>&1; then
		return
	fi
	note "GNU time is missing: installing Debian's package 'time'"
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		timeout 600 apt-get install -y -q time >/dev/null 2>&1 ||
			{ timeout 600 apt-get update -q >/dev/null 2>&1 && timeout 600 apt-get install -y -q time >/dev/null 2>&1; } ||
			true
	fi
	"$gnu_time" -f %e true >/dev/null 2>&1 || die "GNU time is needed at $gnu_time (apt-get install time)"
}

# anacrolix's cmd/torrent, built from bench/anacrolix (a module of its own) into bench/.cache.
anacrolix=$cache/anacrolix-torrent
build_anacrolix() {
	local src=$here/anacrolix
	if [[ -x $anacrolix && $anacrolix -nt $src/go.mod && $anacrolix -nt $src/go.sum &&
		$anacrolix -nt $src/utpstub/utp.go ]]; then
		return
	fi
	note "building anacrolix/torrent v1.62.0 cmd/torrent into bench/.cache (cold: several minutes)"
	mkdir -p "$cache"
	(cd "$src" && GOWORK=off CGO_ENABLED=1 timeout 2400 go build -o "$anacrolix.new" \
		github.com/anacrolix/torrent/cmd/torrent) || die "building anacrolix/torrent failed"
	mv "$anacrolix.new" "$anacrolix"
}

swarmcast=$cache/swarmcast
build_swarmcast() {
	mkdir -p "$cache"
	if [[ -n $SWARMCAST_BIN || -z $SWARMCAST_REV ]]; then
		build_swarmcast_at "$swarmcast" \
			"(SWARMCAST_REV=HEAD builds the last commit instead; IMPLS=anacrolix measures anacrolix alone)"
		return
	fi
	# A committed revision, exported clean: the work tree may be mid-edit.
	local src
	src=$(mktemp -d -t swarmcast-src.XXXXXX)
	if ! { git -C "$root" archive "$SWARMCAST_REV" | tar -x -C "$src"; } ||
		! (cd "$src" && timeout 900 go build -o "$swarmcast" ./cmd/swarmcast); then
		rm -rf "$src"
		die "building swarmcast at $SWARMCAST_REV failed"
	fi
	rm -rf "$src"
}

# --- seeders and leechers -------------------------------------------------------------------------

# Flags that keep anacrolix on loopback TCP with nothing but the given peers: no DHT, no UPnP, no uTP
# (stubbed out in this build), no WebTorrent trackers, IPv4 only.
ana_flags=(--no-dht --no-port-forward --no-utp-peers --no-webtorrent --no-ipv6 --quiet)

# start_seeder IMPL TAG: starts IMPL's seeder of the source file on a free port; sets $seeder_pid and
# $seeder_port; returns once the seeder has verified its data.
start_seeder() {
	local impl=$1 tag=$2 log=$tmp/logs/$2-seeder.log port
	port=$(free_port)
	case $impl in
	swarmcast)
		# shellcheck disable=SC2086 # SWARMCAST_FLAGS is a list of flags
		# `seed` prints "listening on" before its check of the data ends; its --json progress lines (one a
		# second) say when nothing is left to verify, so use them instead of --quiet to know it is ready.
		spawn "$tmp" "$log" timeout -k 5 $((2 * TIMEOUT + 60)) "$swarmcast" seed "$tmp/t.torrent" \
			--data "$tmp/src" --listen "127.0.0.1:$port" --json $SWARMCAST_FLAGS
		wait_for "$spawned" "$log" '"bytesLeft":0,' "swarmcast seeder" $((2 * TIMEOUT))
		;;
	anacrolix)
		# cmd/torrent keeps data (and its piece-completion database) in its working directory: give it
		# one of its own holding a hard link to the source.
		mkdir -p "$tmp/seed-anacrolix"
		ln -f "$tmp/src/$name" "$tmp/seed-anacrolix/$name"
		spawn "$tmp/seed-anacrolix" "$log" timeout -k 5 $((2 * TIMEOUT + 60)) "$anacrolix" download \
			--seed --addr "127.0.0.1:$port" "${ana_flags[@]}" "$tmp/t.torrent"
		# Printed once every piece is verified (its initial check hashes the data).
		wait_for "$spawned" "$log" "downloaded ALL the torrents" "anacrolix seeder" $((2 * TIMEOUT))
		;;
	esac
	seeder_pid=$spawned seeder_port=$port
}

# start_leecher IMPL TAG PORT: starts IMPL's leecher into a fresh dir, under GNU time; sets $spawned.
# timeout(1) comes first: it leads the process group (it makes one of its own) and, when time runs out,
# signals the whole group, so nothing outlives it.
start_leecher() {
	local impl=$1 tag=$2 port=$3 dir=$tmp/$2
	rm -rf "$dir"
	mkdir -p "$dir"
	case $impl in
	swarmcast)
		# shellcheck disable=SC2086
		spawn "$dir" "$tmp/logs/$tag.log" timeout -k 5 "$TIMEOUT" \
			"$gnu_time" -f "%e %U %S %M" -o "$dir.time" "$swarmcast" download "$tmp/t.torrent" -o "$dir" \
			--peer "127.0.0.1:$port" --listen 127.0.0.1:0 --quiet $SWARMCAST_FLAGS
		;;
	anacrolix)
		spawn "$dir" "$tmp/logs/$tag.log" timeout -k 5 "$TIMEOUT" \
			"$gnu_time" -f "%e %U %S %M" -o "$dir.time" "$anacrolix" download --addr 127.0.0.1:0 "${ana_flags[@]}" \
			--test-peer "127.0.0.1:$port" "$tmp/t.torrent"
		;;
	esac
}

# finish_leecher TAG STATUS: checks a reaped leecher's exit status and its file's SHA-256, removes its
# data, and sets $result to "elapsed_s cpu_s rss_mib".
finish_leecher() {
	local tag=$1 status=$2 dir=$tmp/$1 log=$tmp/logs/$1.log got t
	if ((status != 0)); then
		show_log "$log"
		((status == 124)) && die "$tag timed out after $TIMEOUT s (raise TIMEOUT, or see the log above)"
		die "$tag exited with status $status"
	fi
	[[ -f $dir/$name ]] || {
		show_log "$log"
		ls -la "$dir" >&2
		die "$tag exited 0 but left no $name"
	}
	got=$(sha256sum <"$dir/$name" | cut -d' ' -f1)
	[[ $got == "$src_sha" ]] || die "$tag: SHA-256 of the download is $got, of the source $src_sha"
	# GNU time writes a "Command exited..." line first when the status is not 0; the figures are last.
	t=$(tail -n 1 "$dir.time")
	rm -rf "$dir" "$dir.time"
	result=$(awk '{ printf "%.3f %.2f %.1f\n", $1, $2 + $3, $4 / 1024 }' <<<"$t")
}

# seeder_cpu prints the CPU seconds (user+sys) the running seeder (the child of its timeout) has used.
clk_tck=$(getconf CLK_TCK)
seeder_cpu() {
	local child stat
	child=$(cat "/proc/$seeder_pid/task/$seeder_pid/children" 2>/dev/null) || true
	child=${child%% *}
	stat=$(cat "/proc/$child/stat" 2>/dev/null) || die "cannot read the seeder's CPU time"
	stat=${stat##*) } # fields after the command name, from field 3 (state) on
	awk -v t="$clk_tck" '{ printf "%.2f\n", ($12 + $13) / t }' <<<"$stat"
}

# seeder_rss prints the running seeder's peak RSS in MiB (VmHWM of the child of its timeout).
seeder_rss() {
	local child
	child=$(cat "/proc/$seeder_pid/task/$seeder_pid/children" 2>/dev/null) || true
	child=${child%% *}
	awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$child/status" 2>/dev/null || echo "-"
}

# one_to_one IMPL RUN: sets $result to "MB/s cpu_s rss_mib seeder_cpu_s seeder_rss_mib".
one_to_one() {
	local impl=$1 run=$2 tag=$1-1to1-run$2 t0 t1 c0 c1 pid st
	start_seeder "$impl" "$tag"
	c0=$(seeder_cpu)
	t0=$(now)
	start_leecher "$impl" "$tag-leecher" "$seeder_port"
	pid=$spawned
	reap "$pid"
	t1=$(now) st=$reaped
	c1=$(seeder_cpu)
	local srss
	srss=$(seeder_rss)
	finish_leecher "$tag-leecher" "$st"
	stop "$seeder_pid"
	sync
	result=$(awk -v s="$size" -v t0="$t0" -v t1="$t1" -v r="$result" -v c0="$c0" -v c1="$c1" -v sr="$srss" 'BEGIN {
		split(r, f, " "); printf "%.1f %.2f %.1f %.2f %s\n", s / (t1 - t0) / 1e6, f[2], f[3], c1 - c0, sr
	}')
}

# one_to_many IMPL RUN: sets $result to "aggregate_MB/s slowest_s max_cpu_s max_rss_mib seeder_cpu_s".
one_to_many() {
	local impl=$1 run=$2 tag=$1-1to${LEECHERS}-run$2 t0 t1 c0 c1 i all=""
	local -a pids=() sts=()
	start_seeder "$impl" "$tag"
	c0=$(seeder_cpu)
	t0=$(now)
	for ((i = 1; i <= LEECHERS; i++)); do
		start_leecher "$impl" "$tag-leecher$i" "$seeder_port"
		pids+=("$spawned")
	done
	for ((i = 1; i <= LEECHERS; i++)); do
		reap "${pids[i - 1]}"
		sts+=("$reaped")
	done
	t1=$(now)
	c1=$(seeder_cpu)
	for ((i = 1; i <= LEECHERS; i++)); do
		finish_leecher "$tag-leecher$i" "${sts[i - 1]}"
		all+="$result"$'\n'
	done
	stop "$seeder_pid"
	sync
	result=$(awk -v s="$size" -v n="$LEECHERS" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" '
		NF == 3 { if ($1 > e) e = $1; if ($2 > c) c = $2; if ($3 > m) m = $3 }
		END { printf "%.1f %.2f %.2f %.1f %.2f\n", n * s / (t1 - t0) / 1e6, e, c, m, c1 - c0 }' <<<"$all")
}

# --- main -----------------------------------------------------------------------------------------

ensure_time
has anacrolix && build_anacrolix
has swarmcast && build_swarmcast
# The torrent is made by anacrolix's own `create` when it is built, else by swarmcast's: the same
# .torrent (no trackers, PIECE_LENGTH pieces) is fed to both implementations.

tmp=$(mktemp -d -t swarmcast-bench.XXXXXX)
mkdir -p "$tmp/src" "$tmp/logs"
name=data.bin
note "writing $(human "$size") of random data"
head -c "$size" /dev/urandom >"$tmp/src/$name"
src_sha=$(sha256sum <"$tmp/src/$name" | cut -d' ' -f1)
if has anacrolix; then
	"$anacrolix" create --empty-announce-list --piece-length "$piece" "$tmp/src/$name" >"$tmp/t.torrent" ||
		die "anacrolix create failed"
else
	"$swarmcast" create "$tmp/src/$name" -o "$tmp/t.torrent" --piece-length "$piece" >/dev/null ||
		die "swarmcast create failed"
fi

# The source was just written: flush it, or the first measurement pays for its writeback (the first
# leecher measured 390 MB/s and 3.0 CPU-s where the same binary measured 540-630 and 2.0-2.2 after it).
sync

# Other work on this machine skews every figure: say how busy it was.
load_warning

# floor RUN: what any leecher pays for its file, measured in this folder before the run's downloads:
# the CPU seconds (user + sys) dd takes to write SIZE of new file, and those `swarmcast create` takes to
# SHA-1 the page-cached source (what checking each piece costs). Sets res["floor RUN"].
floor() {
	local t w h=-
	"$gnu_time" -f "%U %S" -o "$tmp/floor.time" dd if=/dev/zero of="$tmp/floor.bin" bs=1M \
		count=$(((size + (1 << 20) - 1) >> 20)) status=none || die "dd into $tmp failed"
	w=$(awk '{ printf "%.2f", $1 + $2 }' "$tmp/floor.time")
	rm -f "$tmp/floor.bin"
	if has swarmcast; then
		"$gnu_time" -f "%U %S" -o "$tmp/floor.time" "$swarmcast" create "$tmp/src/$name" \
			-o "$tmp/floor.torrent" --piece-length "$piece" >/dev/null || die "swarmcast create failed"
		h=$(awk '{ printf "%.2f", $1 + $2 }' "$tmp/floor.time")
		rm -f "$tmp/floor.torrent"
	fi
	# Memory the kernel frees is cheap to reuse only for a second or so (on the VMs these figures come
	# from, writing 1 GiB of new file took 0.4 CPU-s right after deleting another and 1.2-1.6 s once 1-3 s
	# had passed): wait, so that the first leecher starts as every later one does, long after the last
	# file was deleted.
	sleep 3
	res["floor $1"]="$w $h"
}

declare -A res=() # "scenario impl run" -> figures
for ((run = 1; run <= RUNS; run++)); do
	floor "$run"
	note "run $run/$RUNS: floor: ${res["floor $run"]} (CPU s to write $(human "$size") of new file, to hash it)"
	for impl in $IMPLS; do
		note "run $run/$RUNS: $impl, 1 seeder -> 1 leecher"
		one_to_one "$impl" "$run"
		res["1 $impl $run"]=$result
		note "  $impl: ${res["1 $impl $run"]} (MB/s, leecher CPU s, leecher RSS MiB, seeder CPU s, seeder RSS MiB)"
	done
	for impl in $IMPLS; do
		note "run $run/$RUNS: $impl, 1 seeder -> $LEECHERS leechers"
		one_to_many "$impl" "$run"
		res["n $impl $run"]=$result
		note "  $impl: ${res["n $impl $run"]} (aggregate MB/s, slowest s, max CPU s, max RSS MiB, seeder CPU s)"
	done
done

# run_median SCENARIO IMPL COLUMN prints the median over the runs of one column.
run_median() {
	local r
	for ((r = 1; r <= RUNS; r++)); do
		awk -v c="$3" '{ print $c }' <<<"${res["$1 $2 $r"]}"
	done | median
}

# table SCENARIO HEADER WIDTHS...: prints one row per implementation and a ratio row.
table() {
	local sc=$1 header=$2 impl c ncol=$(($# - 2))
	echo "$header"
	for impl in $IMPLS; do
		printf "%-10s" "$impl"
		for ((c = 1; c <= ncol; c++)); do
			local w=${*:c+2:1}
			printf " %*s" "$w" "$(run_median "$sc" "$impl" "$c")"
		done
		echo
	done
	if has swarmcast && has anacrolix; then
		printf "%-10s" "ratio"
		for ((c = 1; c <= ncol; c++)); do
			local w=${*:c+2:1}
			printf " %*s" "$w" "$(awk -v a="$(run_median "$sc" swarmcast "$c")" -v b="$(run_median "$sc" anacrolix "$c")" \
				'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
		done
		echo
	fi
}

runs_note="1 run"
((RUNS > 1)) && runs_note="median of $RUNS runs"
runs_note+=", load $load0 at start"
echo
echo "$(human "$size"), 1 seeder -> 1 leecher (loopback, $(nproc) cores, $(human "$piece") pieces, $runs_note)"
table 1 "impl         MB/s  leecher CPU s  leecher peak RSS MiB  seeder CPU s  seeder peak RSS MiB" 6 14 21 13 20
floor_w=$(for ((r = 1; r <= RUNS; r++)); do awk '{ print $1 }' <<<"${res["floor $r"]}"; done | median)
floor_h=-
has swarmcast && floor_h=$(for ((r = 1; r <= RUNS; r++)); do awk '{ print $2 }' <<<"${res["floor $r"]}"; done | median)
echo "floor: writing $(human "$size") of new file here takes $floor_w CPU s (dd); hashing it, $floor_h CPU s (swarmcast create)"
echo
echo "$(human "$size"), 1 seeder -> $LEECHERS leechers at once (loopback, $(nproc) cores, $(human "$piece") pieces, $runs_note)"
table n "impl       aggregate MB/s  slowest leecher s  CPU s per leecher (max)  peak RSS MiB per leecher (max)  seeder CPU s" \
	15 18 24 31 13
if has swarmcast && has anacrolix; then
	echo
	echo "ratio = swarmcast / anacrolix (higher MB/s is better; lower seconds, CPU and RSS are better)"
fi
