// Package web holds what swarmcast's HTTP servers serve, embedded in the
// binary: the browser client (the engine as WebAssembly, its loader, worker
// and service worker), the watch page that plays a torrent in the browser,
// and the player page of the streaming server.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// FS returns the embedded assets, rooted at the site's top.
func FS() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
