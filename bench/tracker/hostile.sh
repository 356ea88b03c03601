#!/usr/bin/env bash
# hostile.sh: swarmcast's tracker, opentracker (Debian's build, whitelist-only) and npm bittorrent-tracker
# 11.2.3 attacked over HTTP and UDP as a hostile client would, side by side in one run, on 127.0.0.0/8.
# bench/tracker/hostile (Go, in this folder) runs the same attacks against each tracker in turn, each
# from addresses of its own, and prints one Markdown table: a row per attack, a column per tracker.
# The attacks and what each row measures are listed in hostile/main.go (rows) and in README.md.
#
# Environment (all optional):
#   IMPLS="swarmcast opentracker bittorrent-tracker"   which trackers to run
#   SWARMCAST_BIN=       use this swarmcast binary instead of building one from the work tree
#   KEEP_LOGS=DIR        copy the trackers' logs and result files there
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=$here/.cache
prog=hostile.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

IMPLS=${IMPLS:-swarmcast opentracker bittorrent-tracker}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
KEEP_LOGS=${KEEP_LOGS:-}
for impl in $IMPLS; do
	[[ $impl == swarmcast || $impl == opentracker || $impl == bittorrent-tracker ]] || die "unknown tracker '$impl' in IMPLS"
done

tmp=$(mktemp -d)
logs_glob='*'
trap_cleanup

# --- tools ------------------------------------------------------------------------------------------

mkdir -p "$cache"
hostile=$cache/hostile
go_build "$hostile" ./bench/tracker/hostile

swarmcast=$cache/swarmcast
if has swarmcast; then
	if [[ -n $SWARMCAST_BIN ]]; then
		swarmcast=$SWARMCAST_BIN
	else
		go_build "$swarmcast" ./cmd/swarmcast
	fi
fi
if has opentracker; then
	command -v opentracker >/dev/null || die "opentracker is needed: apt-get install opentracker (or leave it out of IMPLS)"
	# Debian's opentracker serves whitelisted torrents only and chroots into -d: the whitelist is inside.
	mkdir -p "$tmp/ot"
	"$hostile" -whitelist >"$tmp/ot/whitelist"
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
	cp "$here/bt-tracker-udp.mjs" "$node_dir/"
fi

# --- runs -------------------------------------------------------------------------------------------

# attack IMPL: starts the tracker with HTTP and UDP on one port number, runs the attacks, stops it.
attack() {
	local impl=$1 port pid log=$tmp/$1.log stats attempt
	for attempt in 1 2 3; do
		port=$(free_port)
		case $impl in
		swarmcast)
			spawn "$tmp" "$log" "$swarmcast" tracker --http "127.0.0.1:$port" --udp "127.0.0.1:$port"
			stats=http://127.0.0.1:$port/stats
			;;
		opentracker)
			spawn "$tmp" "$log" opentracker -i 127.0.0.1 -p "$port" -P "$port" -d "$tmp/ot" -w whitelist
			stats=http://127.0.0.1:$port/stats
			;;
		bittorrent-tracker)
			spawn "$node_dir" "$log" node bt-tracker-udp.mjs "$port"
			stats=http://127.0.0.1:$port/stats.json
			;;
		esac
		pid=$spawned
		wait_port "$port" "$pid" && break
		stop "$pid"
		((attempt < 3)) || { show_log "$log"; die "$impl did not start"; }
	done
	timeout 900 "$hostile" -name "$impl" -http "http://127.0.0.1:$port/announce" -udp "127.0.0.1:$port" \
		-stats "$stats" -o "$tmp/$impl.json" 2>>"$tmp/hostile-$impl.log" || {
		show_log "$tmp/hostile-$impl.log"
		die "the attacks on $impl failed"
	}
	kill -0 "$pid" 2>/dev/null || note "$impl is no longer running after the attacks"
	stop "$pid"
}

printf 'hostile clients over HTTP and UDP on loopback, one tracker at a time (load %s at start)\n\n' "$(cut -d' ' -f1 /proc/loadavg)"
results=()
for impl in $IMPLS; do
	note "attacking $impl"
	attack "$impl"
	results+=("$tmp/$impl.json")
done
"$hostile" -table "${results[@]}"
