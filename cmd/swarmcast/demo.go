package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/swarmcast/swarmcast/metainfo"
)

// runDemo shows what swarmcast does with no set-up at all. For now that is
// the foundation: it makes a sample folder, creates its torrent, and prints
// what `info` prints, plus the magnet link. Later it runs a whole swarm on
// loopback.
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "[--keep]", stderr)
	keep := fs.Bool("keep", false, "keep the sample folder and torrent instead of deleting them")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "swarmcast-demo-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	sample := filepath.Join(dir, "sample")
	sizes := map[string]int{"video.bin": 3 << 20, "subtitles/en.vtt": 4 << 10, "poster.bin": 200 << 10}
	for name, n := range sizes {
		p := filepath.Join(sample, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b := make([]byte, n)
		rand.Read(b)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	torrent := filepath.Join(dir, "sample.torrent")
	fmt.Fprintf(stdout, "$ swarmcast create %s -o %s --tracker wss://tracker.example/announce --webseed https://origin.example/\n", sample, torrent)
	if err := runCreate([]string{sample, "-o", torrent, "--tracker", "wss://tracker.example/announce", "--webseed", "https://origin.example/"}, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n$ swarmcast info %s\n", torrent)
	if err := runInfo([]string{torrent}, stdout, stderr); err != nil {
		return err
	}
	mi, err := metainfo.LoadFile(torrent)
	if err != nil {
		return err
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return err
	}
	m := mi.Magnet(info).String()
	fmt.Fprintf(stdout, "\n$ swarmcast info --json '%s'\n", m)
	if err := runInfo([]string{"--json", m}, stdout, stderr); err != nil {
		return err
	}
	if *keep {
		fmt.Fprintf(stdout, "\nkept %s\n", dir)
	}
	return nil
}
