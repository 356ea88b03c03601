package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

func runSeed(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("seed", "PATH|TORRENT [flags]", stderr)
	var cf clientFlags
	cf.register(fs)
	data := fs.String("data", "", "with a TORRENT: the `DIR` its data is in (default: the current folder)")
	var webseeds stringList
	fs.Var(&webseeds, "webseed", "with a PATH: web seed `URL` to put in the torrent (repeatable)")
	out := fs.String("o", "", "with a PATH: also write the torrent to `FILE`")
	pieceLength := fs.String("piece-length", "", "with a PATH: piece `SIZE` (default automatic)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "a file, a folder or a .torrent file"); err != nil {
		return err
	}
	mi, dir, opt, err := seedSource(pos[0], *data, cf.trackers, webseeds, *pieceLength)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := writeFileAtomic(*out, mi); err != nil {
			return err
		}
	}
	opt.Peers = cf.peers
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := cf.start(dir, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	t, err := s.client.AddTorrent(mi, opt)
	if err != nil {
		return err
	}
	info := t.Info()
	// Check the data before saying we seed it, so that whoever waits for
	// these lines can count on the seeder being ready.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for t.Stats().Checking {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	if st := t.Stats(); st.BytesLeft > 0 {
		fmt.Fprintf(stderr, "swarmcast seed: %s of the data in %s is missing or wrong; fetching it from peers\n", formatBytes(st.BytesLeft), dir)
	}
	fmt.Fprintf(stdout, "seeding %s\ninfo hash: %s\nlistening on %s\nmagnet: %s\n", info.BestName(), t.InfoHash(), s.listen, mi.Magnet(info))
	rep := newReporter(stderr, &cf)
	return seedUntilInterrupted(ctx, t, rep)
}

// seedSource works out what to seed: a .torrent whose data is in dataDir, or
// a plain file or folder, whose torrent is made on the spot.
func seedSource(path, dataDir string, trackers, webseeds []string, pieceLength string) (*metainfo.MetaInfo, string, torrent.AddOptions, error) {
	if b, err := os.ReadFile(path); err == nil && metainfo.IsTorrentData(b) {
		mi, err := metainfo.Parse(b)
		if err != nil {
			return nil, "", torrent.AddOptions{}, fmt.Errorf("%s: %w", path, err)
		}
		if dataDir == "" {
			dataDir = "."
		}
		// A torrent's data must be checked: it may be missing or stale.
		return mi, dataDir, torrent.AddOptions{Verify: true, Trackers: trackers}, nil
	}
	opt := metainfo.CreateOptions{Trackers: trackers, WebSeeds: webseeds}
	if pieceLength != "" {
		n, err := parseSize(pieceLength)
		if err != nil {
			return nil, "", torrent.AddOptions{}, fmt.Errorf("%w: --piece-length: %v", errUsage, err)
		}
		opt.PieceLength = n
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", torrent.AddOptions{}, err
	}
	mi, _, err := metainfo.Create(abs, opt)
	if err != nil {
		return nil, "", torrent.AddOptions{}, err
	}
	// Create just hashed the data, so every piece is known good.
	return mi, filepath.Dir(abs), torrent.AddOptions{AssumeComplete: true, NoTrackers: false}, nil
}
