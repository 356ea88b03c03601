//go:build js

package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/storage/opfs"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/webseed"
)

// opfsFolder is the OPFS folder that holds the engine's torrents.
const opfsFolder = "swarmcast"

// opfsOpenTimeout bounds opening the OPFS folder (a browser asking the user
// about storage could otherwise hold the start).
const opfsOpenTimeout = 10 * time.Second

// openStorage returns where downloads go: OPFS where the worker has it,
// else memory under opts.MemoryCap. A torrent whose OPFS file another tab
// holds goes to memory too.
func openStorage(opts startOptions, log *slog.Logger) (storage.Storage, string, error) {
	mem := opfs.NewMemory(opts.MemoryCap)
	if opts.Storage == "memory" {
		return mem, "memory", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opfsOpenTimeout)
	defer cancel()
	s, err := opfs.New(ctx, opfsFolder)
	if err != nil {
		if opts.Storage == "opfs" {
			return nil, "", err
		}
		log.Info("no OPFS: torrents are kept in memory", "err", err, "cap", opts.MemoryCap)
		return mem, "memory", nil
	}
	return &lockedFallback{opfs: s, mem: mem, log: log}, "opfs", nil
}

// lockedFallback opens a torrent from OPFS, or from memory when another tab
// holds its file: two tabs of one site watching one video both play.
type lockedFallback struct {
	opfs *opfs.Storage
	mem  *opfs.Memory
	log  *slog.Logger
}

func (s *lockedFallback) OpenTorrent(info *metainfo.Info, ih metainfo.Hash) (storage.TorrentStorage, error) {
	ts, err := s.opfs.OpenTorrent(info, ih)
	if errors.Is(err, opfs.ErrLocked) {
		s.log.Info("torrent open in another tab: this tab keeps it in memory", "info_hash", ih)
		return s.mem.OpenTorrent(info, ih)
	}
	return ts, err
}

func (s *lockedFallback) RemoveTorrent(info *metainfo.Info, ih metainfo.Hash) error {
	return s.opfs.RemoveTorrent(info, ih)
}

// openWebSeed opens a web seed (the origin), which fetches with Range
// through the browser's fetch.
func openWebSeed(u string, ih metainfo.Hash, info *metainfo.Info) (transport.Conn, error) {
	return webseed.New(u, ih, info, webseed.Options{})
}
