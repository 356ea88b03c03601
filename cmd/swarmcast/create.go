package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/swarmcast/swarmcast/metainfo"
)

func runCreate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("create", "PATH [flags]", stderr)
	out := fs.String("o", "", "write the torrent to `FILE` (default: NAME.torrent in the current folder)")
	var trackers, webseeds stringList
	fs.Var(&trackers, "tracker", "announce `URL` (repeatable; each is its own tier)")
	fs.Var(&webseeds, "webseed", "web seed `URL` (BEP 19; repeatable)")
	pieceLength := fs.String("piece-length", "", "piece `SIZE`, a power of two from 16KiB (default: automatic, about 1,000-2,000 pieces)")
	private := fs.Bool("private", false, "mark the torrent private (no DHT, PEX or local discovery)")
	comment := fs.String("comment", "", "comment `TEXT`")
	name := fs.String("name", "", "torrent `NAME` (default: the base name of PATH)")
	source := fs.String("source", "", "source `TAG` (changes the info hash; used by private trackers)")
	noDate := fs.Bool("no-date", false, "leave out the creation date, so the same input gives the same file")
	quiet := fs.Bool("quiet", false, "print nothing but errors")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "PATH"); err != nil {
		return err
	}
	opt := metainfo.CreateOptions{
		Name: *name, Trackers: trackers, WebSeeds: webseeds, Private: *private,
		Comment: *comment, Source: *source, NoDate: *noDate,
	}
	if *pieceLength != "" {
		n, err := parseSize(*pieceLength)
		if err != nil {
			return fmt.Errorf("%w: --piece-length: %v", errUsage, err)
		}
		if n < metainfo.MinAutoPieceLength || n > metainfo.MaxPieceLength || n&(n-1) != 0 {
			return fmt.Errorf("%w: --piece-length %s: want a power of two from 16KiB to 512MiB", errUsage, *pieceLength)
		}
		opt.PieceLength = n
	}
	if isTerminal(stderr) && !*quiet {
		bar := newProgressBar(stderr, "hashing")
		opt.Progress = bar.update
	}
	mi, info, err := metainfo.Create(pos[0], opt)
	if err != nil {
		return err
	}
	dest := *out
	if dest == "" {
		dest = info.Name + ".torrent"
	}
	if err := writeFileAtomic(dest, mi); err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(stdout, "created %s\n", dest)
		fmt.Fprintf(stdout, "name:       %s\n", info.Name)
		fmt.Fprintf(stdout, "info hash:  %s\n", mi.HashInfoBytes())
		fmt.Fprintf(stdout, "size:       %s in %d pieces of %s\n", formatBytes(info.TotalLength()), info.NumPieces(), formatBytes(info.PieceLength))
		fmt.Fprintf(stdout, "magnet:     %s\n", mi.Magnet(info))
	}
	return nil
}

// writeFileAtomic writes the torrent to a temporary file beside dest and
// renames it, so a crash never leaves half a torrent.
func writeFileAtomic(dest string, mi *metainfo.MetaInfo) error {
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".swarmcast-*.torrent")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := mi.Write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}
