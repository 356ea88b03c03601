#!/usr/bin/env bash
# daemon-load.sh: swarmcast serve against transmission-daemon under an RPC client's load, in one run.
# Each daemon in turn gets TORRENTS torrents, then RATE torrent-get requests per second of every
# torrent (the fields of `transmission-remote -l`) for DURATION; bench/daemonload reports the latency
# percentiles, errors, and the daemon's RSS (peak while loaded, sampled each second, and VmHWM).
#
#   bench/daemon-load.sh                          # 500 torrents, 200 req/s, 60 s each: ~3 minutes
#   TORRENTS=100 RATE=50 DURATION=10s bench/daemon-load.sh
#   IMPLS=swarmcast bench/daemon-load.sh          # one of them only
#
# Not part of CI: it loads the machine for minutes. Needs transmission-daemon (scripts/install-test-deps.sh).
set -euo pipefail
prog=daemon-load
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

TORRENTS=${TORRENTS:-500}
RATE=${RATE:-200}
DURATION=${DURATION:-60s}
IMPLS=${IMPLS:-"swarmcast transmission"}
KEEP_LOGS=${KEEP_LOGS:-}

trap_cleanup
tmp=$(mktemp -d)
mkdir -p "$tmp/logs"

note "building swarmcast and the load generator"
(cd "$root" && go build -o "$tmp/swarmcast" ./cmd/swarmcast && go build -o "$tmp/daemonload" ./bench/daemonload) ||
	die "build failed"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_rpc URL: waits until the RPC answers (a 409 with a session id counts).
wait_rpc() {
	for _ in $(seq 200); do
		code=$(curl -s -o /dev/null -w '%{http_code}' -u u:p "$1" -d '{}' || true)
		[[ $code == 409 || $code == 200 ]] && return 0
		sleep 0.1
	done
	die "no RPC at $1"
}

echo "# $TORRENTS torrents, $RATE torrent-get/s of all of them for $DURATION; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if has swarmcast; then
	port=$(free_port)
	spawn "$tmp" "$tmp/logs/swarmcast.log" "$tmp/swarmcast" serve --http "127.0.0.1:$port" --data "$tmp/sc" \
		--listen 127.0.0.1:0 --no-dht --no-lsd --auth u:p --log-level warn
	pid=$spawned
	wait_rpc "http://127.0.0.1:$port/transmission/rpc"
	"$tmp/daemonload" -label swarmcast -rpc "http://127.0.0.1:$port/transmission/rpc" -user u -pass p \
		-torrents "$TORRENTS" -rate "$RATE" -duration "$DURATION" -pid "$pid" || note "swarmcast: errors or dropped requests (the line above); its log: $tmp/logs/swarmcast.log"
	stop "$pid"
fi
if has transmission; then
	command -v transmission-daemon >/dev/null || die "transmission-daemon is missing: run scripts/install-test-deps.sh"
	port=$(free_port)
	mkdir -p "$tmp/tr/cfg" "$tmp/tr/dl"
	spawn "$tmp" "$tmp/logs/transmission.log" transmission-daemon -f -g "$tmp/tr/cfg" -p "$port" -t -u u -v p \
		--no-portmap --no-dht --no-lpd -w "$tmp/tr/dl" -P "$(free_port)" -r 127.0.0.1 -e "$tmp/logs/transmission.log"
	pid=$spawned
	wait_rpc "http://127.0.0.1:$port/transmission/rpc"
	"$tmp/daemonload" -label transmission -rpc "http://127.0.0.1:$port/transmission/rpc" -user u -pass p \
		-torrents "$TORRENTS" -rate "$RATE" -duration "$DURATION" -pid "$pid" || note "transmission-daemon: errors or dropped requests (the line above)"
	stop "$pid"
fi
