//go:build js

package main

import (
	"log/slog"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/transport"
)

// openStorage returns where downloads go.
func openStorage(opts startOptions, log *slog.Logger) (storage.Storage, error) {
	return storage.NewMemory(), nil
}

// openWebSeed opens a web seed; nil until web seeds over fetch exist.
var openWebSeed func(string, metainfo.Hash, *metainfo.Info) (transport.Conn, error)
