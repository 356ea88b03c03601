package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/swarmcast/swarmcast/web"
)

// runWeb runs the web subcommands: "export DIR" writes the browser client
// and the watch page for a site's own web server.
func runWeb(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: swarmcast web export DIR")
			return nil
		}
		return fmt.Errorf("%w: give a subcommand: swarmcast web export DIR", errUsage)
	}
	fs := newFlagSet("web export", "DIR", stderr)
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "the folder to write into"); err != nil {
		return err
	}
	names, err := web.Export(pos[0])
	if errors.Is(err, web.ErrNotBuilt) {
		return errors.New("this swarmcast was built without the browser engine: run scripts/build-wasm.sh in the source tree, then build swarmcast again (go build ./cmd/swarmcast)")
	}
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	fmt.Fprintf(stderr, `wrote %d files to %s. Serve them at the top of your site with:
  swarmcast.wasm as Content-Type: application/wasm; where the request accepts it,
  swarmcast.wasm.br with Content-Encoding: br (or .gz with gzip), Vary: Accept-Encoding;
  sw.js with Service-Worker-Allowed: / if it is not at the top of the site.
A page plays a torrent at watch.html?torrent=URL (a .torrent URL or a magnet link).
`, len(names), pos[0])
	return nil
}
