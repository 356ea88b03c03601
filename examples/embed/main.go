// Command embed is a program that embeds swarmcast through its documented
// surface only, as a program in a module of its own would: it adds a
// magnet link with a known peer, streams a range far into the first file
// before the download completes, then waits for the download to complete.
//
//	embed MAGNET PEER OFFSET LENGTH DIR
//
// It prints two lines: "range <sha256 of the range> <bytes left then>"
// once the range has been read, and "complete <path of the file>" at the
// end. embed_test.go builds it in a module of its own, with a replace
// directive pointing at this checkout, and checks every byte.
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/swarmcast/swarmcast"
	"github.com/swarmcast/swarmcast/torrent"
)

// timeout bounds the whole run: a test's seeder sends the file in seconds.
const timeout = 2 * time.Minute

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 5 {
		return fmt.Errorf("usage: embed MAGNET PEER OFFSET LENGTH DIR")
	}
	magnet, peer, dir := args[0], args[1], args[4]
	offset, err1 := strconv.ParseInt(args[2], 10, 64)
	length, err2 := strconv.Atoi(args[3])
	if err1 != nil || err2 != nil || offset < 0 || length <= 0 {
		return fmt.Errorf("OFFSET and LENGTH must be numbers, LENGTH above 0")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	// Loopback only: no DHT, no LSD, nothing leaves the host.
	c, err := swarmcast.NewClient(swarmcast.Config{DataDir: dir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer c.Close()
	t, err := c.AddMagnet(magnet, torrent.AddOptions{Peers: []string{peer}})
	if err != nil {
		return err
	}
	select {
	case <-t.GotInfo():
	case <-ctx.Done():
		return fmt.Errorf("no metadata: %v", t.Stats().Warnings)
	}
	f := t.Files()[0]

	r := f.NewReader()
	defer r.Close()
	r.SetContext(ctx)
	if _, err := r.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(r, buf); err != nil {
		return fmt.Errorf("reading %d bytes at %d: %w", length, offset, err)
	}
	left := t.Stats().BytesLeft
	fmt.Printf("range %x %d\n", sha256.Sum256(buf), left)

	if err := t.WaitComplete(ctx); err != nil {
		return err
	}
	fmt.Printf("complete %s\n", filepath.Join(dir, filepath.FromSlash(f.Path())))
	return nil
}
