package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// demoSizes are the sample's files: a "video" big enough to watch the swarm
// work, and two small files beside it.
var demoSizes = map[string]int{"video.mp4": 48 << 20, "subtitles/en.vtt": 4 << 10, "poster.jpg": 200 << 10}

// runDemo shows what swarmcast does with no set-up at all, on loopback: it
// makes a sample folder and its torrent, seeds it from one client, downloads
// it with a second (by magnet link, so the metadata comes from the seeder),
// and streams a byte range of the video from a third while it downloads.
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "[--keep] [--serve]", stderr)
	keep := fs.Bool("keep", false, "keep the sample folder and torrent instead of deleting them")
	serve := fs.Bool("serve", false, "at the end, keep the player page running until Ctrl-C")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "swarmcast-demo-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	sample := filepath.Join(dir, "seeder", "sample")
	for name, n := range demoSizes {
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

	step := func(format string, a ...any) { fmt.Fprintf(stdout, "\n== "+format+"\n", a...) }
	torrentPath := filepath.Join(dir, "sample.torrent")
	step("create: a torrent of %s", sample)
	if err := runCreate([]string{sample, "-o", torrentPath, "--quiet"}, stdout, stderr); err != nil {
		return err
	}
	if err := runInfo([]string{torrentPath}, stdout, stderr); err != nil {
		return err
	}
	mi, err := metainfo.LoadFile(torrentPath)
	if err != nil {
		return err
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return err
	}

	step("seed: one client seeds it on loopback")
	seeder, seedAddr, err := demoClient(filepath.Join(dir, "seeder"))
	if err != nil {
		return err
	}
	defer seeder.Close()
	if _, err := seeder.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeder listening on %s\n", seedAddr)

	step("download: a second client fetches it by magnet link")
	magnet := mi.Magnet(info).String()
	fmt.Fprintf(stdout, "magnet: %s\n", magnet)
	leecher, _, err := demoClient(filepath.Join(dir, "leecher"))
	if err != nil {
		return err
	}
	defer leecher.Close()
	start := time.Now()
	lt, err := leecher.AddMagnet(magnet, torrent.AddOptions{Peers: []string{seedAddr}})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := lt.WaitComplete(wctx); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	el := time.Since(start)
	st := lt.Stats()
	fmt.Fprintf(stdout, "downloaded %s in %v (%s/s), %d pieces verified\n", formatBytes(st.Length), el.Round(time.Millisecond),
		formatBytes(int64(float64(st.Length)/el.Seconds())), st.PiecesHave)
	for name := range demoSizes {
		a, _ := os.ReadFile(filepath.Join(sample, filepath.FromSlash(name)))
		b, _ := os.ReadFile(filepath.Join(dir, "leecher", "sample", filepath.FromSlash(name)))
		if sha256.Sum256(a) != sha256.Sum256(b) {
			return fmt.Errorf("download: %s differs from the original", name)
		}
	}
	fmt.Fprintln(stdout, "every file matches the original (SHA-256)")

	step("stream: a third client serves the video over HTTP while it downloads")
	viewer, _, err := demoClient(filepath.Join(dir, "viewer"))
	if err != nil {
		return err
	}
	defer viewer.Close()
	vt, err := viewer.AddTorrent(mi, torrent.AddOptions{Peers: []string{seedAddr}})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newWebMux(viewer), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	base := "http://" + l.Addr().String()
	url := fmt.Sprintf("%s/webtorrent/%s/sample/video.mp4", base, vt.InfoHash())
	off := int64(demoSizes["video.mp4"] * 3 / 4)
	req, _ := http.NewRequestWithContext(wctx, "GET", url, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+65535))
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	orig, _ := os.ReadFile(filepath.Join(sample, "video.mp4"))
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, orig[off:off+65536]) {
		return fmt.Errorf("stream: range request gave status %d and %d wrong bytes", resp.StatusCode, len(body))
	}
	fmt.Fprintf(stdout, "GET %s\nRange: bytes=%d-%d -> %s, %d bytes in %v, identical to the original\n", url, off, off+65535, resp.Status,
		len(body), time.Since(t0).Round(time.Millisecond))
	fmt.Fprintf(stdout, "player: %s/player.html?torrent=%s\n", base, vt.InfoHash())
	if *serve {
		fmt.Fprintln(stdout, "serving until Ctrl-C")
		<-ctx.Done()
	}
	if *keep {
		fmt.Fprintf(stdout, "\nkept %s\n", dir)
	}
	return nil
}

// demoClient starts a client with file storage under dir, listening on a
// free loopback port.
func demoClient(dir string) (*torrent.Client, string, error) {
	l, err := tcp.Listen("127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	c := torrent.NewClient(torrent.Config{
		Storage: storage.NewFile(dir),
		Dialers: map[string]transport.Dialer{transport.TCP: tcp.Dialer{}},
	})
	go c.Serve(l)
	return c, l.Addr(), nil
}
