# shellcheck shell=bash disable=SC2154 # prog, root, tmp and the settings are the sourcing script's
# lib.sh: shell helpers shared by the benchmark scripts (tcp.sh, stream.sh, webrtc.sh, tracker/tracker.sh).
# Sourced, never run. The script sets, before sourcing it:
#   prog       its name, the prefix of die's and note's messages
#   root       the repository's root (for go builds)
# and may set, before the helpers use them:
#   tmp        its temp dir, removed on exit (cleanup)
#   KEEP_LOGS  where cleanup copies the logs to before removing tmp
#   logs_glob  which files under tmp are the logs (default logs/*)
#   IMPLS      the implementations to run (has)

die() {
	echo "$prog: FAIL: $*" >&2
	exit 1
}
note() { echo "$prog: $*" >&2; }

# has IMPL: whether IMPL is one of $IMPLS.
has() { [[ " $IMPLS " == *" $1 "* ]]; }

# to_bytes SIZE prints SIZE in bytes.
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

# human BYTES prints a short binary size (1 GiB, 256 MiB, 1.5 MiB).
human() {
	awk -v b="$1" 'BEGIN {
		split("B KiB MiB GiB TiB", u, " "); i = 1
		while (b >= 1024 && i < 5) { b /= 1024; i++ }
		if (b == int(b)) printf "%d %s\n", b, u[i]; else printf "%.1f %s\n", b, u[i]
	}'
}

now() { echo "${EPOCHREALTIME/,/.}"; }

# need_webtorrent: fails unless node and interop/node_modules/webtorrent are there.
need_webtorrent() {
	command -v node >/dev/null || die "node is missing (Node.js 20; IMPLS=swarmcast runs without it)"
	[[ -f $root/interop/node_modules/webtorrent/package.json ]] ||
		die "interop/node_modules/webtorrent is missing: run bash scripts/install-test-deps.sh"
}

# --- processes and temp dir, cleaned up on any exit -------------------------------------------------

declare -A live=() # pid -> description; each pid leads its own process group (setsid)
tmp=""
logs_glob='logs/*'

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
			# shellcheck disable=SC2086 # logs_glob is a glob
			{ mkdir -p "$KEEP_LOGS" && cp "$tmp"/$logs_glob "$KEEP_LOGS"/; } 2>/dev/null || true
		fi
		rm -rf "$tmp"
	fi
	exit "$rc"
}

# trap_cleanup: runs cleanup on any exit, and exits on SIGINT and SIGTERM.
trap_cleanup() {
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# spawn DIR LOG CMD...: runs CMD in DIR in a process group of its own, output to LOG; sets $spawned.
spawn() {
	local dir=$1 log=$2
	shift 2
	(cd "$dir" && exec setsid "$@") >"$log" 2>&1 </dev/null &
	spawned=$!
	live[$spawned]=$*
}

# reap PID: waits for PID, forgets it, and sets $reaped to its exit status.
reap() {
	reaped=0
	wait "$1" || reaped=$?
	unset 'live[$1]'
}

# reap_quiet PID: waits for PID, ignoring its status and bash's report of it, and forgets it.
reap_quiet() {
	wait "$1" 2>/dev/null || true
	unset 'live[$1]'
}

# stop PID: ends PID's process group (SIGTERM, then SIGKILL after 5 s) and reaps it, with reap_quiet or
# else the function named in $stop_reaper (reap: its status is kept in $reaped).
stop() {
	local pid=$1
	kill -TERM -- "-$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 -- "-$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	"${stop_reaper:-reap_quiet}" "$pid"
}

show_log() {
	echo "---- last lines of $1 ----" >&2
	tail -n "${2:-30}" "$1" >&2 || true
	echo "----" >&2
}

# wait_for PID LOG PATTERN WHAT SECONDS: waits until LOG matches PATTERN (an extended regexp), or fails
# if PID ends first or SECONDS pass. With wait_for_status set, PID is reaped when it has ended and the
# failure gives its exit status.
wait_for() {
	local pid=$1 log=$2 pattern=$3 what=$4 deadline=$((SECONDS + $5))
	until grep -Eq -- "$pattern" "$log" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			if [[ -n ${wait_for_status:-} ]]; then
				reap "$pid"
				show_log "$log"
				die "$what exited (status $reaped) before it was ready"
			fi
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

# free_port prints a loopback TCP port nothing listens on, below the ephemeral range when there is room, so
# that no client socket of an earlier run (thousands, in bench/tracker) can be holding it.
free_port() {
	local p lo=20000 span=40000 eph
	eph=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 0)
	if ((eph > 12000)); then
		lo=10000 span=$((eph - 10000))
	fi
	for _ in $(seq 100); do
		p=$((lo + RANDOM % span))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "found no free port"
}

# --- builds ---------------------------------------------------------------------------------------

# go_build OUT PKG [HINT]: builds the Go package PKG of the repository into OUT; fails with HINT added.
go_build() {
	(cd "$root" && timeout 900 go build -o "$1" "$2") || die "go build $2 failed${3:+ $3}"
}

# build_swarmcast_at OUT [HINT]: sets $swarmcast to $SWARMCAST_BIN when that is set (it must be an
# executable), else builds ./cmd/swarmcast from the work tree into OUT and sets $swarmcast to OUT.
build_swarmcast_at() {
	swarmcast=$1
	if [[ -n $SWARMCAST_BIN ]]; then
		[[ -x $SWARMCAST_BIN ]] || die "SWARMCAST_BIN=$SWARMCAST_BIN is not an executable"
		swarmcast=$SWARMCAST_BIN
		return
	fi
	go_build "$swarmcast" ./cmd/swarmcast "${2:-}"
}

# --- figures --------------------------------------------------------------------------------------

# load_warning: sets $load0 to the load average, and warns when other work keeps the machine busy.
load_warning() {
	load0=$(cut -d' ' -f1 /proc/loadavg)
	if awk -v l="$load0" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
		note "warning: load average $load0 on $(nproc) cores: other work competes with the benchmark, figures are noisy"
	fi
}

# median reads numbers, one a line, and prints their median.
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# percentiles Q...: reads numbers, one a line, and prints the nearest-rank percentile of each fraction Q
# (1 is the maximum), rounded to whole numbers; "-" for each when there are none.
percentiles() {
	sort -g | awk -v qs="$*" '
		{ v[NR] = $1 }
		function rank(q,   r) { r = int(q * NR); if (r < q * NR) r++; if (r < 1) r = 1; return v[r] }
		END {
			n = split(qs, q, " ")
			for (i = 1; i <= n; i++) {
				if (NR == 0) s = "-"; else s = sprintf("%.0f", rank(q[i]))
				printf "%s%s", s, (i < n ? " " : "\n")
			}
		}'
}
