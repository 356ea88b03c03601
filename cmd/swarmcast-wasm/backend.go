//go:build js

package main

import (
	"log/slog"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/webseed"
)

// openStorage returns where downloads go.
func openStorage(opts startOptions, log *slog.Logger) (storage.Storage, error) {
	return storage.NewMemory(), nil
}

// openWebSeed opens a web seed (the origin), which fetches with Range
// through the browser's fetch.
func openWebSeed(u string, ih metainfo.Hash, info *metainfo.Info) (transport.Conn, error) {
	return webseed.New(u, ih, info, webseed.Options{})
}
