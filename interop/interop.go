// Package interop tests swarmcast against real third-party software: parse-torrent and WebTorrent from
// npm (run by Node), Transmission, aria2 and mktorrent from Debian. The truth is a real peer or parser,
// never swarmcast's own other half.
//
// The package has no API; everything lives in its tests, which drive the `swarmcast` binary (built once
// per test run) and the third-party programs as separate processes. Install what they need first:
//
//	bash scripts/install-test-deps.sh
//	go test ./interop/
//
// A test whose tool is missing is skipped, except when CI is set (CI=true) or SWARMCAST_INTEROP=1: then
// it fails, so that a missing install step cannot pass unnoticed. SWARMCAST_BIN=/path/to/swarmcast tests
// that binary instead of building cmd/swarmcast.
package interop

import "time"

const (
	// buildTimeout bounds `go build ./cmd/swarmcast`: a cold build with an empty build cache takes well
	// under a minute on the project's 2-core machines; five leaves room for a loaded machine.
	buildTimeout = 5 * time.Minute

	// toolTimeout bounds one run of a third-party program or of a swarmcast subcommand that does no
	// network I/O (create, info, parse.mjs on every fixture): each takes well under a second here.
	toolTimeout = 60 * time.Second
)

// swarmcastPackage is the import path of the CLI under test.
const swarmcastPackage = "github.com/swarmcast/swarmcast/cmd/swarmcast"

// installHint is what a skipped or failed test tells the user to do.
const installHint = "run scripts/install-test-deps.sh (it installs the apt and npm packages the interop tests use)"
