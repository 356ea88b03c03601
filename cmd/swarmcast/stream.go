package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swarmcast/swarmcast/httpstream"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/web"
)

// newWebMux serves the streaming API and the embedded pages.
func newWebMux(c *torrent.Client) *http.ServeMux {
	mux := http.NewServeMux()
	api := httpstream.New(c)
	mux.Handle("/webtorrent/", api)
	mux.Handle("/api/", api)
	mux.Handle("/", web.Handler())
	return mux
}

func runStream(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("stream", "TORRENT|MAGNET [flags]", stderr)
	var cf clientFlags
	cf.register(fs)
	httpAddr := fs.String("http", "127.0.0.1:8080", "serve HTTP on `ADDR` (\":0\" for any free port)")
	fileSel := fs.String("file", "", "the file to stream: its `INDEX` or path (default: the largest video or audio file)")
	out := fs.String("o", "", "keep the data in `DIR` (default: a temporary folder removed at exit)")
	all := fs.Bool("all", false, "download the other files too, in the background")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "a .torrent file or a magnet link"); err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		tmp, err := os.MkdirTemp("", "swarmcast-stream-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := cf.start(dir, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	t, err := addArg(s.client, pos[0], torrent.AddOptions{Peers: cf.peers, Trackers: cf.trackers})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("serving HTTP on %s: %w", *httpAddr, err)
	}
	srv := &http.Server{Handler: newWebMux(s.client), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	base := "http://" + l.Addr().String()
	if !cf.quiet {
		fmt.Fprintf(stderr, "fetching metadata for %s...\n", t.InfoHash())
	}
	select {
	case <-t.GotInfo():
	case <-ctx.Done():
		return nil
	}
	f, err := chooseFile(t, *fileSel)
	if err != nil {
		return err
	}
	if !*all {
		for _, other := range t.Files() {
			if other != f {
				other.SetPriority(torrent.PriorityNone)
			}
		}
	}
	webPath := f.Path()
	if info := t.Info(); info.IsDir() {
		webPath = info.BestName() + "/" + webPath
	}
	var parts []string
	for _, p := range strings.Split(webPath, "/") {
		parts = append(parts, url.PathEscape(p))
	}
	fmt.Fprintf(stdout, "stream: %s/webtorrent/%s/%s\n", base, t.InfoHash(), strings.Join(parts, "/"))
	fmt.Fprintf(stdout, "player: %s/player.html?torrent=%s&file=%d\n", base, t.InfoHash(), f.Index())
	rep := newReporter(stderr, &cf)
	return seedUntilInterrupted(ctx, t, rep)
}

// chooseFile picks the file to stream: by index, by path, or the largest
// media file.
func chooseFile(t *torrent.Torrent, sel string) (*torrent.File, error) {
	files := t.Files()
	if sel != "" {
		if i, err := strconv.Atoi(sel); err == nil {
			if i < 0 || i >= len(files) {
				return nil, fmt.Errorf("%w: --file %d: the torrent has %d files", errUsage, i, len(files))
			}
			return files[i], nil
		}
		for _, f := range files {
			if f.Path() == sel || t.Info().BestName()+"/"+f.Path() == sel {
				return f, nil
			}
		}
		return nil, fmt.Errorf("%w: --file %q: no such file in the torrent", errUsage, sel)
	}
	var best *torrent.File
	for _, media := range []bool{true, false} {
		for _, f := range files {
			ct := httpstream.ContentType(f.Path())
			if media && !strings.HasPrefix(ct, "video/") && !strings.HasPrefix(ct, "audio/") {
				continue
			}
			if best == nil || f.Length() > best.Length() {
				best = f
			}
		}
		if best != nil {
			return best, nil
		}
	}
	return nil, errors.New("the torrent has no files")
}
