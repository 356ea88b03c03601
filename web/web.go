// Package web holds the pages swarmcast serves, embedded in the binary: the
// player page with its live statistics panel.
package web

import (
	"embed"
	"io/fs"
	"net/http"
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

// Handler serves the embedded assets.
func Handler() http.Handler { return http.FileServerFS(FS()) }
