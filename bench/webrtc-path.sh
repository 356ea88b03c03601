#!/usr/bin/env bash
# webrtc-path.sh: one seeder -> one leecher across emulated network paths (delay, loss, a bottleneck), swarmcast
# over WebRTC beside TCP with BBR and with Reno and beside WebTorrent Node <-> Node (node-datachannel), side by
# side in one run. MB/s from the first payload byte to the last, and the first byte's time.
#
# Each path is two network namespaces this script makes (ip netns), A (10.99.0.1) and B (10.99.0.2), joined by
# a veth pair (the "veth" path: no shaping) or by bench/linkemu: a TUN device in each namespace and a user-space
# copy of every packet with a one-way delay, random loss, and a rate cap behind a drop-tail queue (this kernel
# has no netem). Everything in A serves, everything in B fetches:
#   swarmcast   a WebSocket tracker (`swarmcast tracker`) and `swarmcast seed` in A; bench/webrtc/firstbyte in
#               B, given a magnet link with only that tracker, so every byte comes over WebRTC data channels
#   webtorrent  bench/webrtc/webtorrent-firstbyte.mjs seeding in A and downloading in B, same tracker
#   chromium    swarmcast's tracker and seeder in A; WebTorrent's browser bundle in headless Chromium in B
#               (interop/browser/webtorrent.mjs, its page served on B's loopback), not in IMPLS by default
#   tcp-bbr     bench/linkemu/cmd/tcpbulk: one TCP connection from B to A, A sending with BBR (TCP_CONGESTION)
#   tcp-reno    the same with Reno
# The first byte is timed from the downloader's start (swarmcast, WebTorrent: from adding the magnet, so it
# includes the tracker, offer/answer, ICE, DTLS, SCTP and the metadata; TCP: from connect). Chromium reports
# only events, so its "first byte" is the torrent's metadata event (from the page's navigation) and its rate
# runs from there to the page's done event (after the page has read the file back and hashed it).
#
# Environment (all optional):
#   SIZE=32MiB        file size (bytes, or K/KiB, M/MiB, G/GiB, KB/MB/GB)
#   LOSS_SIZE=4MiB    file size on paths with loss (loss-based senders crawl there)
#   RUNS=1            runs of each implementation on each path (the table shows medians)
#   PATHS="veth 41ms 41ms-loss 101ms 41ms-100mbit"   which rows; also "emu": the emulator with no delay, loss or
#                     rate cap, to tell what the machine can copy through it from what a path allows
#   IMPLS="swarmcast tcp-bbr tcp-reno webtorrent"    which columns (add chromium for the browser's)
#   TIMEOUT=300       seconds a downloader may take
#   SWARMCAST_BIN=    use this swarmcast binary instead of building cmd/swarmcast (the tracker and seeder)
#   FIRSTBYTE_BIN=    use this bench/webrtc/firstbyte binary instead of building it (the downloader); with
#                     SWARMCAST_BIN, compares two builds end to end (the downloader decides the requests)
#   KEEP_LOGS=DIR     copy every process's log and the samples there before exiting
#
# Needs root (ip netns, TUN devices), go, iproute2, and for webtorrent node with interop/node_modules
# (bash scripts/install-test-deps.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=webrtc-path.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

SIZE=${SIZE:-32MiB}
LOSS_SIZE=${LOSS_SIZE:-4MiB}
RUNS=${RUNS:-1}
PATHS=${PATHS:-veth 41ms 41ms-loss 101ms 41ms-100mbit}
IMPLS=${IMPLS:-swarmcast tcp-bbr tcp-reno webtorrent}
TIMEOUT=${TIMEOUT:-300}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
KEEP_LOGS=${KEEP_LOGS:-}

size=$(to_bytes "$SIZE")
loss_size=$(to_bytes "$LOSS_SIZE")
((size > 0 && loss_size > 0)) || die "SIZE and LOSS_SIZE must be more than 0"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "TIMEOUT must be a number of seconds"
for impl in $IMPLS; do
	case $impl in swarmcast | tcp-bbr | tcp-reno | webtorrent | chromium) ;; *) die "unknown implementation '$impl' in IMPLS" ;; esac
done

# path_flags PATH prints linkemu's flags for PATH, or "veth".
path_flags() {
	case $1 in
	veth) echo veth ;;
	emu) echo "-delay 0s" ;;
	41ms) echo "-delay 20.5ms" ;;
	41ms-loss) echo "-delay 20.5ms -loss 0.005" ;;
	101ms) echo "-delay 50.5ms" ;;
	41ms-100mbit) echo "-delay 20.5ms -rate 100000000 -queue 500000" ;;
	*) return 1 ;;
	esac
}
# path_rtt_ms PATH prints the path's round-trip time in ms (0 for veth).
path_rtt_ms() {
	case $1 in veth | emu) echo 0 ;; 101ms) echo 101 ;; *) echo 41 ;; esac
}
# path_label PATH prints the row's name in the table.
path_label() {
	case $1 in
	veth) echo "no shaping (veth)" ;;
	emu) echo "the emulator, no delay (its CPU cost alone)" ;;
	41ms) echo "41 ms RTT" ;;
	41ms-loss) echo "41 ms + 0.5% loss each way" ;;
	101ms) echo "101 ms RTT" ;;
	41ms-100mbit) echo "41 ms, 100 Mbit/s, 500 kB drop-tail queue" ;;
	esac
}
for p in $PATHS; do
	path_flags "$p" >/dev/null || die "unknown path '$p' in PATHS"
done

[[ $(id -u) == 0 ]] || die "needs root: it makes network namespaces and TUN devices"
command -v ip >/dev/null || die "ip (iproute2) is missing"
if has webtorrent || has chromium; then
	need_webtorrent
fi
if has chromium; then
	command -v chromium >/dev/null || die "chromium is missing (bash scripts/install-test-deps.sh)"
	command -v python3 >/dev/null || die "python3 is missing (it serves the browser's page)"
	[[ -f $root/interop/node_modules/playwright-core/package.json ]] ||
		die "interop/node_modules/playwright-core is missing: run bash scripts/install-test-deps.sh"
fi

# --- processes, namespaces and temp dir, cleaned up on any exit -----------------------------------------

trap_cleanup
nsA=swarmcast-path-a-$$
nsB=swarmcast-path-b-$$
del_netns() {
	ip netns del "$nsA" 2>/dev/null || true
	ip netns del "$nsB" 2>/dev/null || true
}
trap 'rc=$?; del_netns; (exit $rc); cleanup' EXIT

tmp=$(mktemp -d -t swarmcast-webrtc-path.XXXXXX)
mkdir -p "$tmp/src" "$tmp/logs"

build_swarmcast_at "$tmp/swarmcast"
go_build "$tmp/linkemu" ./bench/linkemu/cmd/linkemu
go_build "$tmp/tcpbulk" ./bench/linkemu/cmd/tcpbulk
if [[ -n ${FIRSTBYTE_BIN:-} ]]; then
	cp "$FIRSTBYTE_BIN" "$tmp/firstbyte"
else
	go_build "$tmp/firstbyte" ./bench/webrtc/firstbyte
fi

name=data.bin
for s in "$size" "$loss_size"; do
	[[ -f $tmp/src/$s/$name ]] && continue
	mkdir -p "$tmp/src/$s"
	head -c "$s" /dev/urandom >"$tmp/src/$s/$name"
done

# in_ns NS CMD...: CMD in network namespace NS.
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# ns_wait_port NS ADDR PORT PID: waits until ADDR:PORT in NS accepts connections, while PID lives.
ns_wait_port() {
	for _ in $(seq 200); do
		in_ns "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return
		kill -0 "$4" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# --- one path: namespaces and the link between them -----------------------------------------------------

link_pid=""
# make_path PATH: fresh namespaces A and B joined as PATH says.
make_path() {
	local flags
	flags=$(path_flags "$1")
	del_netns
	ip netns add "$nsA"
	ip netns add "$nsB"
	in_ns "$nsA" ip link set lo up
	in_ns "$nsB" ip link set lo up
	# Chromium gathers no ICE candidate without a default route; B's goes to A, and no further.
	local route="ip route add default dev emu1"
	if [[ $flags == veth ]]; then
		ip link add emu0 netns "$nsA" type veth peer name emu1 netns "$nsB"
		in_ns "$nsA" ip addr add 10.99.0.1/24 dev emu0
		in_ns "$nsB" ip addr add 10.99.0.2/24 dev emu1
		in_ns "$nsA" ip link set emu0 up
		in_ns "$nsB" ip link set emu1 up
		# shellcheck disable=SC2086 # route is words
		in_ns "$nsB" $route
		return
	fi
	# shellcheck disable=SC2086 # flags are words
	spawn "$tmp" "$tmp/logs/$1-linkemu.log" timeout -k 5 $((TIMEOUT * RUNS * 8 + 600)) "$tmp/linkemu" \
		-a "/run/netns/$nsA" -b "/run/netns/$nsB" $flags
	link_pid=$spawned
	wait_for "$link_pid" "$tmp/logs/$1-linkemu.log" '^ready' "link emulator" 30
	# shellcheck disable=SC2086 # route is words
	in_ns "$nsB" $route
}

end_path() {
	if [[ -n $link_pid ]]; then
		stop "$link_pid"
		link_pid=""
	fi
	del_netns
}

# --- one measurement ------------------------------------------------------------------------------------

# measure PATH IMPL RUN: appends "path impl run firstByteMs dataMs bytes" to $tmp/samples, where dataMs is
# the time from the first byte to the last.
measure() {
	local path=$1 impl=$2 run=$3 tag=$1-$2-run$3 bytes=$size
	[[ $path == *loss* ]] && bytes=$loss_size
	local src=$tmp/src/$bytes/$name work=$tmp/$tag log=$tmp/logs/$tag-downloader.log
	local tracker="" seeder="" page="" dl out fb fin add=0
	mkdir -p "$work/seed" "$work/dl"
	local ws=ws://10.99.0.1:8000
	case $impl in
	swarmcast | webtorrent | chromium)
		spawn "$work" "$tmp/logs/$tag-tracker.log" ip netns exec "$nsA" timeout -k 5 $((TIMEOUT + 300)) \
			"$swarmcast" tracker --http 10.99.0.1:8000
		tracker=$spawned
		wait_for "$tracker" "$tmp/logs/$tag-tracker.log" '^ws:' "tracker" 60
		ln "$src" "$work/seed/$name"
		;;
	esac
	local ih
	case $impl in
	swarmcast | chromium)
		spawn "$work/seed" "$tmp/logs/$tag-seeder.log" ip netns exec "$nsA" timeout -k 5 $((TIMEOUT + 300)) \
			"$swarmcast" seed "$work/seed/$name" --tracker "$ws" --listen 10.99.0.1:0 --no-lsd -o "$work/t.torrent" --quiet
		seeder=$spawned
		wait_for "$seeder" "$tmp/logs/$tag-seeder.log" '^info hash: [0-9a-f]{40}' "swarmcast seeder" 120
		ih=$(sed -n 's/^info hash: \([0-9a-f]\{40\}\).*/\1/p' "$tmp/logs/$tag-seeder.log" | head -n 1)
		;;
	webtorrent)
		spawn "$work/seed" "$tmp/logs/$tag-seeder.log" ip netns exec "$nsA" timeout -k 5 $((TIMEOUT + 300)) \
			node "$here/webrtc/webtorrent-firstbyte.mjs" seed "$work/seed/$name" --tracker "$ws"
		seeder=$spawned
		wait_for "$seeder" "$tmp/logs/$tag-seeder.log" '"event":"seeding"' "WebTorrent seeder" 120
		ih=$(grep -o '"infoHash":"[0-9a-f]*"' "$tmp/logs/$tag-seeder.log" | head -n 1 | cut -d'"' -f4)
		;;
	tcp-*)
		spawn "$work" "$tmp/logs/$tag-seeder.log" ip netns exec "$nsA" timeout -k 5 $((TIMEOUT + 60)) \
			"$tmp/tcpbulk" serve -listen 10.99.0.1:9000 -size "$bytes" -cc "${impl#tcp-}" -timeout "$((TIMEOUT + 30))s"
		seeder=$spawned
		wait_for "$seeder" "$tmp/logs/$tag-seeder.log" '^listening on' "tcpbulk" 30
		;;
	esac
	local magnet="magnet:?xt=urn:btih:${ih:-}&tr=ws%3A%2F%2F10.99.0.1%3A8000"
	case $impl in
	swarmcast | webtorrent | chromium)
		[[ $ih =~ ^[0-9a-f]{40}$ ]] || die "$impl seeder printed no info hash"
		sleep 1 # the seeder's own announce reaches the tracker
		;;
	esac
	case $impl in
	swarmcast)
		spawn "$work/dl" "$log" ip netns exec "$nsB" timeout -k 5 "$TIMEOUT" "$tmp/firstbyte" -loopback=false \
			-tracker "$ws" -o "$work/dl" -timeout "${TIMEOUT}s" "$magnet"
		;;
	webtorrent)
		spawn "$work/dl" "$log" ip netns exec "$nsB" timeout -k 5 "$TIMEOUT" node "$here/webrtc/webtorrent-firstbyte.mjs" \
			download "$magnet" --dir "$work/dl" --tracker "$ws"
		;;
	chromium)
		mkdir -p "$work/page"
		cp "$root/interop/browser/webtorrent.html" "$work/page/index.html"
		ln -s "$root/interop/node_modules/webtorrent/dist/webtorrent.min.js" "$work/page/webtorrent.min.js"
		spawn "$work/page" "$tmp/logs/$tag-page.log" ip netns exec "$nsB" timeout -k 5 $((TIMEOUT + 60)) \
			python3 -m http.server --bind 127.0.0.1 8080
		page=$spawned
		ns_wait_port "$nsB" 127.0.0.1 8080 "$page" || die "the page server did not start"
		spawn "$work/dl" "$log" ip netns exec "$nsB" timeout -k 5 "$TIMEOUT" node "$root/interop/browser/webtorrent.mjs" \
			--base http://127.0.0.1:8080/ --tracker "$ws" --download "$magnet" --timeout "$TIMEOUT" \
			--chromium "$(command -v chromium)"
		;;
	tcp-*)
		spawn "$work/dl" "$log" ip netns exec "$nsB" timeout -k 5 "$TIMEOUT" "$tmp/tcpbulk" get -connect 10.99.0.1:9000 \
			-size "$bytes" -timeout "${TIMEOUT}s"
		;;
	esac
	dl=$spawned
	reap "$dl"
	if ((reaped != 0)); then
		show_log "$log"
		show_log "$tmp/logs/$tag-seeder.log" 10
		die "$impl on $path: the downloader exited with status $reaped (124: timed out after $TIMEOUT s)"
	fi
	case $impl in
	swarmcast | webtorrent) cmp -s "$src" "$work/dl/$name" || die "$impl downloaded a file that differs from the source" ;;
	chromium)
		grep -q "\"sha256\":\"$(sha256sum "$src" | cut -d' ' -f1)\"" "$log" ||
			die "Chromium downloaded a file that differs from the source"
		grep '"event":"wire"' "$log" | grep -qv '"type":"webrtc"' && die "Chromium had a wire other than WebRTC"
		# Its events, in ms since the page's navigation: metadata stands for the first byte.
		out=$(awk '/"page":"download"/ && /"event":"metadata"/ { match($0, /"at":[0-9.]+/); m = substr($0, RSTART + 5, RLENGTH - 5) }
			/"page":"download"/ && /"event":"done"/ { match($0, /"at":[0-9.]+/); d = substr($0, RSTART + 5, RLENGTH - 5) }
			END { if (m != "" && d != "") printf "{\"firstByteMs\":%s,\"doneMs\":%s}", m, d }' "$log")
		;;
	esac
	[[ $impl == chromium ]] || out=$(grep -E '"firstByteMs"|"FirstByteMs"' "$log" | tail -n 1)
	[[ -n $out ]] || {
		show_log "$log"
		die "$impl printed no figures"
	}
	if [[ $impl == webtorrent ]] && ! grep -q '"wireTypes":{"webrtc":[0-9]*}' <<<"$out"; then
		die "WebTorrent downloaded over something other than WebRTC: $out"
	fi
	if [[ $impl == swarmcast ]] && ! grep -q '"downloaded":{"webrtc":[0-9]*}' <<<"$out"; then
		die "swarmcast downloaded over something other than WebRTC: $out"
	fi
	[[ $impl == tcp-* || $impl == chromium ]] || add=$(grep -o '"addMs":[0-9.]*' <<<"$out" | cut -d: -f2)
	fb=$(grep -oi '"firstByteMs":[0-9.]*' <<<"$out" | cut -d: -f2)
	fin=$(grep -oi '"doneMs":[0-9.]*' <<<"$out" | cut -d: -f2)
	awk -v p="$path" -v i="$impl" -v r="$run" -v a="$add" -v f="$fb" -v d="$fin" -v b="$bytes" \
		'BEGIN { printf "%s %s %s %.0f %.0f %d\n", p, i, r, f - a, d - f, b }' >>"$tmp/samples"
	note "  $impl on $path run $run: $(tail -n 1 "$tmp/samples" |
		awk '{ printf "%.1f MB/s, first byte after %d ms", ($5 > 0 ? $6 / $5 / 1000 : 0), $4 }')"
	stop "$seeder"
	[[ -z $tracker ]] || stop "$tracker"
	[[ -z $page ]] || stop "$page"
	rm -rf "$work"
}

: >"$tmp/samples"
load_warning
for path in $PATHS; do
	note "path $path: $(path_label "$path")"
	make_path "$path"
	for ((run = 1; run <= RUNS; run++)); do
		order=$IMPLS
		if ((run % 2 == 0)); then
			order=$(tr ' ' '\n' <<<"$IMPLS" | grep . | tac | tr '\n' ' ')
		fi
		for impl in $order; do
			measure "$path" "$impl" "$run"
		done
	done
	end_path
done
[[ -n $KEEP_LOGS ]] && cp "$tmp/samples" "$tmp/logs/samples.txt"

# --- report ---------------------------------------------------------------------------------------------

# cell PATH IMPL prints "MB/s (first byte ms)", medians over the runs.
cell() {
	local rate fb
	rate=$(awk -v p="$1" -v i="$2" '$1 == p && $2 == i && $5 > 0 { print $6 / $5 / 1000 }' "$tmp/samples" | median)
	fb=$(awk -v p="$1" -v i="$2" '$1 == p && $2 == i { print $4 }' "$tmp/samples" | median)
	if [[ $2 == tcp-* ]]; then
		printf "%.1f" "$rate"
	else
		printf "%.1f (%s)" "$rate" "$(printf "%.0f" "$fb")"
	fi
}
rate_of() {
	awk -v p="$1" -v i="$2" '$1 == p && $2 == i && $5 > 0 { print $6 / $5 / 1000 }' "$tmp/samples" | median
}

echo
echo "One seeder -> one leecher across emulated paths: $(human "$size") ($(human "$loss_size") with loss), $RUNS run(s)" \
	"each, $(nproc) cores, load $load0 at start; MB/s from first to last byte (first byte in ms from start)"
header="| path |"
sep="|---|"
for impl in $IMPLS; do
	case $impl in
	swarmcast) header+=" swarmcast WebRTC (pion) |" ;;
	tcp-bbr) header+=" TCP, BBR |" ;;
	tcp-reno) header+=" TCP, Reno |" ;;
	webtorrent) header+=" WebTorrent Node ⇄ Node (libdatachannel) |" ;;
	chromium) header+=" Chromium (WebTorrent bundle) ← swarmcast |" ;;
	esac
	sep+="---|"
done
echo "$header"
echo "$sep"
for path in $PATHS; do
	line="| $(path_label "$path") |"
	for impl in $IMPLS; do
		line+=" $(cell "$path" "$impl") |"
	done
	echo "$line"
done

# Goals (issue 16), when the columns they need ran.
goal() { # goal TEXT OK
	if [[ $2 == 1 ]]; then echo "goal: $1: met"; else echo "goal: $1: NOT met"; fi
}
if has swarmcast; then
	echo
	for path in $PATHS; do
		s=$(rate_of "$path" swarmcast)
		case $path in
		41ms | 101ms)
			if has tcp-bbr; then
				t=$(rate_of "$path" tcp-bbr)
				goal "$path: WebRTC >= 70% of TCP BBR ($s vs $t MB/s)" "$(awk -v s="$s" -v t="$t" 'BEGIN { print (s >= 0.7 * t) }')"
			fi
			;;
		41ms-loss)
			if has tcp-reno; then
				t=$(rate_of "$path" tcp-reno)
				goal "$path: WebRTC >= TCP Reno ($s vs $t MB/s)" "$(awk -v s="$s" -v t="$t" 'BEGIN { print (s >= t) }')"
			fi
			;;
		41ms-100mbit)
			goal "$path: WebRTC >= 90% of the 12.5 MB/s bottleneck ($s MB/s)" "$(awk -v s="$s" 'BEGIN { print (s >= 0.9 * 12.5) }')"
			;;
		esac
		rtt=$(path_rtt_ms "$path")
		if ((rtt > 0)); then
			fb=$(awk -v p="$path" '$1 == p && $2 == "swarmcast" { print $4 }' "$tmp/samples" | median)
			goal "$path: first byte <= 12 RTTs ($fb ms, $(awk -v f="$fb" -v r="$rtt" 'BEGIN { printf "%.1f", f / r }') RTTs)" \
				"$(awk -v f="$fb" -v r="$rtt" 'BEGIN { print (f <= 12 * r) }')"
		fi
		if has webtorrent; then
			w=$(rate_of "$path" webtorrent)
			goal "$path: WebRTC >= WebTorrent ($s vs $w MB/s)" "$(awk -v s="$s" -v w="$w" 'BEGIN { print (s >= w) }')"
		fi
	done
fi
