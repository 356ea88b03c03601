// Command swarmcast is WebTorrent in Go: it creates and inspects torrents,
// downloads, seeds and streams them, and runs a tracker.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"create", "create PATH [-o FILE] [--tracker URL]... [--webseed URL]...   make a .torrent", runCreate},
		{"info", "info TORRENT|MAGNET [--json]                                  describe a torrent or magnet link", runInfo},
		{"download", "download TORRENT|MAGNET [-o DIR] [--select 0,2-3] [--seed] [--peer HOST:PORT]...  download", runDownload},
		{"seed", "seed PATH|TORRENT [--tracker URL]... [--listen ADDR]           seed a file, folder or torrent", runSeed},
		{"stream", "stream TORRENT|MAGNET [--http ADDR] [--file N|PATH]            stream while downloading; prints the URLs", runStream},
		{"tracker", "tracker [--http ADDR] [--udp ADDR]                           run a tracker: HTTP, WebSocket (WebTorrent), UDP", runTracker},
		{"dht-node", "dht-node [--listen ADDR] [--dht-bootstrap HOST:PORT]...       run a DHT node others can bootstrap from", runDHTNode},
		{"serve", "serve [--http ADDR] [--data DIR] [--auth USER:PASS]             daemon: Transmission RPC, /api/, web UI, streams, metrics", runServe},
		{"add", "add TORRENT|MAGNET|URL... [--rpc URL]                        add torrents to a running daemon", runAdd},
		{"ls", "ls [--json] [--rpc URL]                                       list a running daemon's torrents", runLs},
		{"pause", "pause ID|INFOHASH|all... [--rpc URL]                          stop torrents of a running daemon", runPause},
		{"resume", "resume ID|INFOHASH|all... [--rpc URL]                         start them again", runResume},
		{"rm", "rm ID|INFOHASH|all... [--delete-data] [--rpc URL]             remove torrents from a running daemon", runRm},
		{"web", "web export DIR                                                write the browser client's files for a site's own web server", runWeb},
		{"demo", "demo [--http ADDR]                                            a video site on loopback: tracker, origin, seeder, watch page; prints one URL", runDemo},
		{"version", "version                                                       print the version", runVersion},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func runVersion(args []string, stdout, stderr io.Writer) error {
	fmt.Fprintln(stdout, "swarmcast", version)
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "swarmcast: BitTorrent for the web (WebTorrent in Go)")
	fmt.Fprintln(w, "\nUsage:")
	for _, c := range commands() {
		fmt.Fprintln(w, "  swarmcast", c.summary)
	}
	fmt.Fprintln(w, "\nRun 'swarmcast COMMAND -h' for a command's flags.")
}

// errUsage marks an error in how a command was called; main exits with 2.
var errUsage = errors.New("usage")

func main() {
	stopProfiles := startProfiles()
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	stopProfiles()
	os.Exit(code)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errInterrupted):
			fmt.Fprintln(stderr, "swarmcast "+c.name+":", err)
			return 130 // the shell's code for a command stopped by Ctrl-C
		case errors.Is(err, errUsage):
			fmt.Fprintln(stderr, "swarmcast "+c.name+":", err)
			return 2
		default:
			fmt.Fprintln(stderr, "swarmcast "+c.name+":", err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "swarmcast: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
