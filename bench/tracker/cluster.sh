#!/usr/bin/env bash
# cluster.sh: swarmcast's WebSocket tracker as 1, 2 and 3 instances joined over NATS (the nats-server
# program from apt), against one plain instance, side by side in one run, on 127.0.0.1. The load generator
# (bench/tracker/loadgen) spreads CLIENTS WebSocket clients over the instances (client i on instance
# (i / TORRENTS) mod N, so that every torrent has clients on every instance), on TORRENTS torrents, and drives RATE announces per second with OFFERS offers each, answering
# every offer it is relayed: with N instances, most swarms are owned by another instance than a given
# client's, so most announces are forwarded and most offers and answers are routed across.
#
# Reported per setup: CPU µs per announce of every process of the tracker (the instances and nats-server,
# summed; relayed offers and answers included), of which nats-server, the NATS messages the instances
# published per announce (nats-server's in_msgs over the load generator's whole run, divided by its
# announces and the clients' first announces; heartbeats included), and the offer-relay latency (p50, p99
# in ms), over all offers and over those that crossed between instances (sender and receiver on different
# instances; their share of the offers). "plain" is `swarmcast tracker` without --nats; "1" is one instance with --nats (the cluster
# code on, nothing to forward). The cluster hop's cost is the N=2 and N=3 rows against "plain". "pN" is
# N plain trackers with no NATS, the clients spread over them as over N instances (each relays offers
# among its own clients only): what splitting the sockets over N processes costs, without the hop.
#
# Environment (all optional):
#   CLIENTS=1000 TORRENTS=10 OFFERS=5 RATE=500 DURATION=10s
#   SETUPS="plain 1 2 3"    which setups to run (also p2, p3, ...: N plain trackers, no NATS)
#   RATES=        capacity mode: ascending announce rates to try, e.g. "500 1000 2000 4000"; each setup's
#                 capacity is the highest rate it sustains (every announce sent, at least 95% of the rate,
#                 median offer-relay latency at most P50_MS), as bench/tracker/tracker.sh measures it
#   P50_MS=20
#   FLUSH_DELAY=  the instances' --nats-flush-delay (empty: its default)
#   GOMAXPROCS=   Go's own: every Go process of the run (instances, nats-server, load generator) gets that
#                 many scheduler threads. With several processes on few cores, 1 keeps idle threads from
#                 spinning for each event: at 4,000/s it cut two instances' CPU per announce by a third
#                 and a plain tracker's by a fifth (docs/ARCHITECTURE.md, "Tracker cluster")
#   SWARMCAST_BIN=          use this swarmcast binary instead of building one from the work tree
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=$here/.cache
prog=cluster.sh
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

CLIENTS=${CLIENTS:-1000}
TORRENTS=${TORRENTS:-10}
OFFERS=${OFFERS:-5}
RATE=${RATE:-500}
DURATION=${DURATION:-10s}
SETUPS=${SETUPS:-plain 1 2 3}
RATES=${RATES:-}
P50_MS=${P50_MS:-20}
SWARMCAST_BIN=${SWARMCAST_BIN:-}
FLUSH_DELAY=${FLUSH_DELAY:-}
KEEP_LOGS=${KEEP_LOGS:-}
for v in CLIENTS TORRENTS OFFERS RATE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number"
done
for s in $SETUPS; do
	[[ $s == plain || $s =~ ^p?[1-9]$ ]] || die "SETUPS holds 'plain', instance counts 1-9 and pN (N plain trackers)"
done
command -v nats-server >/dev/null || die "nats-server is needed: scripts/install-test-deps.sh installs it"

tmp=$(mktemp -d)
logs_glob='*.log'
trap_cleanup

mkdir -p "$cache"
loadgen=$cache/loadgen
go_build "$loadgen" ./bench/tracker/loadgen
swarmcast=${SWARMCAST_BIN:-$cache/swarmcast}
[[ -n $SWARMCAST_BIN ]] || go_build "$swarmcast" ./cmd/swarmcast
# The load generator's clients each send an announce every CLIENTS/RATE s and an answer to every offer
# they are relayed (~24 messages a second at 4,000/s), above the tracker's default limit per socket (10/s
# on average, bursts of 200), past which it closes the socket: a run then failed with "too many messages".
# The benchmark measures the tracker's work, not its limiter, so it raises the limit where the binary has
# the flag.
rate_args=()
if "$swarmcast" tracker -h 2>&1 | grep -q -- '-ws-message-rate'; then
	rate_args=(--ws-message-rate 1000)
fi

need=$((2 * CLIENTS + 256))
if (($(ulimit -n) < need)); then
	ulimit -n "$need" 2>/dev/null || die "need $need open files (ulimit -n); lower CLIENTS"
fi

# nats_msgs PORT: the messages nats-server has received so far, from its monitoring port.
nats_msgs() {
	curl -s "http://127.0.0.1:$1/varz" | sed -n 's/^ *"in_msgs": *\([0-9]*\).*/\1/p'
}

# cpu_of PID: user+system CPU seconds of PID so far.
cpu_of() {
	awk -v t="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); print ($12 + $13) / t}' "/proc/$1/stat"
}

# run_setup SETUP [RATE]: prints "SETUP<TAB>loadgen TSV<TAB>nats-server CPU s<TAB>NATS messages".
run_setup() {
	local setup=$1 rate=${2:-$RATE} n pids=() urls=() natspid="" port natsport monport i log
	if [[ $setup == plain ]]; then
		n=1
	elif [[ $setup == p* ]]; then
		n=${setup#p}
	else
		n=$setup
		natsport=$(free_port)
		monport=$(free_port)
		[[ $monport != "$natsport" ]] || monport=$((natsport + 1))
		spawn "$tmp" "$tmp/nats-$setup.log" nats-server -a 127.0.0.1 -p "$natsport" -m "$monport"
		natspid=$spawned
		wait_port "$natsport" "$natspid" || die "nats-server did not start"
	fi
	for ((i = 0; i < n; i++)); do
		port=$(free_port)
		log=$tmp/tracker-$setup-$i.log
		if [[ $setup == plain || $setup == p* ]]; then
			spawn "$tmp" "$log" "$swarmcast" tracker --http "127.0.0.1:$port" "${rate_args[@]}"
		else
			spawn "$tmp" "$log" "$swarmcast" tracker --http "127.0.0.1:$port" "${rate_args[@]}" --nats "nats://127.0.0.1:$natsport" ${FLUSH_DELAY:+--nats-flush-delay "$FLUSH_DELAY"}
		fi
		pids+=("$spawned")
		urls+=("ws://127.0.0.1:$port")
		wait_port "$port" "$spawned" || { show_log "$log"; die "tracker instance $i did not start"; }
	done
	if [[ -n $natspid ]]; then
		wait_for "${pids[-1]}" "$tmp/tracker-$setup-$((n - 1)).log" "^cluster: instance [0-9a-f]+ of $n\$" "the last instance" 10 ||
			true
		pids+=("$natspid")
	fi
	local ncpu0=0 ncpu1=0 nmsg0=0 nmsg1=0 out
	[[ -z $natspid ]] || { ncpu0=$(cpu_of "$natspid"); nmsg0=$(nats_msgs "$monport"); }
	out=$("$loadgen" -url "$(IFS=,; echo "${urls[*]}")" -pid "$(IFS=,; echo "${pids[*]}")" -clients "$CLIENTS" \
		-torrents "$TORRENTS" -offers "$OFFERS" -rate "$rate" -duration "$DURATION" -tsv) || {
		for p in "${pids[@]}"; do stop "$p"; done
		if [[ -n $RATES ]]; then
			# Capacity mode: a rate the load generator cannot drive through this setup is not sustained.
			note "setup $setup: the load generator gave up at $rate/s (not sustained)"
			return 1
		fi
		for ((i = 0; i < n; i++)); do show_log "$tmp/tracker-$setup-$i.log" 10; done
		die "load generator failed on setup $setup"
	}
	[[ -z $natspid ]] || { ncpu1=$(cpu_of "$natspid"); nmsg1=$(nats_msgs "$monport"); }
	for p in "${pids[@]}"; do stop "$p"; done
	printf '%s\t%s\t%s\t%s\n' "$setup" "$out" "$(awk -v a="$ncpu0" -v b="$ncpu1" 'BEGIN {print b - a}')" \
		"$((${nmsg1:-0} - ${nmsg0:-0}))"
}

if [[ -n $RATES ]]; then
	note "capacity: CLIENTS=$CLIENTS TORRENTS=$TORRENTS OFFERS=$OFFERS RATES=$RATES DURATION=$DURATION P50_MS=$P50_MS"
	echo "| instances | announces/s sustained (median relay ≤ $P50_MS ms) | CPU µs/announce there | relay p50 ms there |"
	echo "|---|---|---|---|"
	for s in $SETUPS; do
		best=0 bestcpu=- bestp50=-
		for r in $RATES; do
			line=$(run_setup "$s" "$r") || break
			IFS=$'\t' read -r _ cpu _ announces _ _ _ _ p50 _ _ _ _ _ _ _ _ _ <<<"$line"
			secs=${DURATION%s}
			ok=$(awk -v a="$announces" -v r="$r" -v s="$secs" -v p="$p50" -v m="$P50_MS" 'BEGIN {print (a >= 0.95 * r * s && p <= m) ? 1 : 0}')
			((ok)) || break
			best=$r bestcpu=$cpu bestp50=$p50
		done
		echo "| $s | $best | $bestcpu | $bestp50 |"
	done
	exit 0
fi

note "CLIENTS=$CLIENTS TORRENTS=$TORRENTS OFFERS=$OFFERS RATE=$RATE/s DURATION=$DURATION, on $(nproc) cores"
echo "| instances | CPU µs/announce (all processes) | of which nats-server | vs plain | NATS msgs/announce | user µs | system µs | announces | relay p50 ms | relay p99 ms | crossing offers | crossing p50 ms | crossing p99 ms |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
plain=""
for s in $SETUPS; do
	line=$(run_setup "$s")
	IFS=$'\t' read -r setup cpu _ announces _ _ _ _ p50 p99 _ user sys xp50 xp99 xshare nats nmsgs <<<"$line"
	[[ $setup == plain ]] && plain=$cpu
	natsus=$(awk -v c="$nats" -v a="$announces" 'BEGIN {printf "%.1f", c * 1e6 / a}')
	msgs=-
	[[ $setup == plain || $setup == p* ]] || msgs=$(awk -v m="$nmsgs" -v a="$announces" -v c="$CLIENTS" 'BEGIN {printf "%.2f", m / (a + c)}')
	ratio=-
	[[ -z $plain ]] || ratio=$(awk -v c="$cpu" -v p="$plain" 'BEGIN {printf "%.2f×", c / p}')
	xs=- xp50x=- xp99x=-
	if [[ $setup != plain && $setup != 1 ]]; then
		xs=$(awk -v x="$xshare" 'BEGIN {printf "%.0f%%", x * 100}') xp50x=$xp50 xp99x=$xp99
	fi
	echo "| $setup | $cpu | $natsus | $ratio | $msgs | $user | $sys | $announces | $p50 | $p99 | $xs | $xp50x | $xp99x |"
done
