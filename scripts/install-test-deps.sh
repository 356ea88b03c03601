#!/usr/bin/env bash
# install-test-deps.sh installs every program and package that swarmcast's tests use beyond the Go
# toolchain: Debian packages for the third-party peers and tools (interop/), and the npm packages that
# interop/ pins in its package.json and package-lock.json. Safe to run again: apt and npm skip what is
# already there. Run as root (or with sudo) from anywhere in the repository.
set -euo pipefail

# APT_PACKAGES lists the Debian packages the tests need; add to it, one name per line.
APT_PACKAGES=(
	transmission-cli # transmission-show and transmission-cli: a classic client to check torrents against
	aria2            # aria2c: another classic client; `aria2c -S` prints a torrent's info hash
	mktorrent        # a third torrent creator to cross-check
	python3-libtorrent # libtorrent 2.0 (qBittorrent's engine), driven by interop/node/lt.py
	iproute2         # ip netns and veth pairs: Transmission refuses loopback peers, and local discovery needs multicast, so their tests use namespaces
	ffmpeg           # makes the H.264/AAC test videos that the streaming tests play (interop/stream_*_test.go)
	chromium         # headless browser that plays a stream in the player page, driven by npm playwright-core
	curl             # bench/stream.sh times the first byte of Range requests with it
	util-linux       # unshare: the full-disk and local-discovery tests make namespaces of their own
	rtorrent         # rTorrent 0.9.8 (on its own libTorrent, not libtorrent-rasterbar), driven over XML-RPC/SCGI by interop/node/rt.py
	ctorrent         # a client with no extension protocol (no magnets, cannot dial): interop/engine_ctorrent_test.go
	qbittorrent-nox  # qBittorrent 4.5 without its GUI, driven by its Web API: interop/mse_test.go (encryption required)
	transmission-daemon # the reference for Transmission RPC answers (interop/transmission_rpc_test.go) and bench/daemon-load.sh
	nats-server      # the messaging server a tracker cluster runs over (trackerserver/cluster_*_test.go)
)

# NPM_FLAGS: no install scripts (some dependencies run pnpm-only or download steps), no audit, no funding
# banner, so the install needs only the npm registry.
NPM_FLAGS=(--ignore-scripts --no-audit --no-fund)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

as_root() {
	if [[ "$(id -u)" -eq 0 ]]; then
		"$@"
	else
		sudo "$@"
	fi
}

install_apt() {
	local missing=()
	local pkg
	for pkg in "${APT_PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$pkg")
		fi
	done
	if [[ ${#missing[@]} -eq 0 ]]; then
		echo "install-test-deps: apt packages already installed: ${APT_PACKAGES[*]}"
		return
	fi
	echo "install-test-deps: installing apt packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

install_npm() {
	local dir="$repo_root/interop"
	if ! command -v npm >/dev/null 2>&1; then
		echo "install-test-deps: npm is missing: install Node.js 20 (Debian: apt-get install nodejs npm)" >&2
		exit 1
	fi
	echo "install-test-deps: installing npm packages in interop/"
	if [[ -f "$dir/package-lock.json" ]]; then
		# npm ci installs exactly the lockfile and fails if package.json and the lockfile disagree.
		(cd "$dir" && npm ci "${NPM_FLAGS[@]}")
	else
		(cd "$dir" && npm install "${NPM_FLAGS[@]}")
	fi
	# A go.mod makes node_modules a module of its own, so that `go test ./...`
	# never builds Go files that an npm package happens to ship.
	printf 'module swarmcast.invalid/node_modules\n' >"$dir/node_modules/go.mod"
}

install_apt
install_npm
echo "install-test-deps: done"
