// Command firstbyte is swarmcast's downloader for bench/webrtc.sh: it adds a
// magnet link, finds peers only through the WebSocket trackers it is given
// (WebRTC over loopback, as `swarmcast download --webrtc-loopback` does;
// with -loopback=false over every interface, for bench/webrtc-path.sh), and
// polls the torrent's payload byte count every 5 ms, so that the first byte
// and the completion are timed far more finely than the 1 Hz --json progress.
//
//	firstbyte -tracker ws://127.0.0.1:PORT -o DIR MAGNET
//
// It prints one JSON object on stdout; every time is in milliseconds since the
// process started (as far as Go can tell: since the package was initialised):
// addMs when the torrent was added (its first announce follows at once),
// firstByteMs when the first payload byte had arrived, doneMs when every piece
// was verified, and the payload bytes by transport kind.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/wstracker"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/webrtc"
)

var start = time.Now()

func ms() float64 { return float64(time.Since(start).Microseconds()) / 1000 }

type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

type result struct {
	AddMs       float64          `json:"addMs"`
	FirstByteMs float64          `json:"firstByteMs"`
	DoneMs      float64          `json:"doneMs"`
	Length      int64            `json:"length"`
	Downloaded  map[string]int64 `json:"downloaded"`
}

func main() {
	var trackers stringList
	flag.Var(&trackers, "tracker", "WebSocket tracker `URL` (repeatable)")
	dir := flag.String("o", ".", "download into `DIR`")
	timeout := flag.Duration("timeout", 120*time.Second, "give up after this long")
	loopback := flag.Bool("loopback", true, "WebRTC over 127.0.0.1 only (false: over every interface)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: firstbyte -tracker WS_URL [-o DIR] MAGNET")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), trackers, *dir, *timeout, *loopback); err != nil {
		fmt.Fprintln(os.Stderr, "firstbyte:", err)
		os.Exit(1)
	}
}

func run(magnet string, trackers []string, dir string, timeout time.Duration, loopback bool) error {
	var c *torrent.Client
	onConn := func(ih metainfo.Hash, _ [20]byte, conn transport.Conn) {
		t, ok := c.Torrent(ih)
		if !ok {
			conn.Close()
			return
		}
		go t.AddConn(conn)
	}
	// pion's warnings (the mux's dropped packets among them) go to stderr, which the bench keeps.
	warn := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ws := wstracker.Opener(wstracker.Config{WebRTC: webrtc.Config{Loopback: loopback, Logger: warn}, OnConn: onConn})
	cfg := tracker.Config{Schemes: tracker.Schemes{"ws": ws, "wss": ws}, UserAgent: "swarmcast-bench"}
	var mu sync.Mutex
	opened := map[string]tracker.Client{}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, tc := range opened {
			tc.Close()
		}
	}()
	c = torrent.NewClient(torrent.Config{
		Storage: storage.NewFile(dir),
		Tracker: func(url string) (tracker.Client, error) {
			mu.Lock()
			defer mu.Unlock()
			if tc, ok := opened[url]; ok {
				return tc, nil
			}
			tc, err := tracker.New(url, cfg)
			if err == nil {
				opened[url] = tc
			}
			return tc, err
		},
		Version: "swarmcast-bench",
	})
	defer c.Close()

	var res result
	res.AddMs = ms()
	t, err := c.AddMagnet(magnet, torrent.AddOptions{Trackers: trackers})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s := t.Stats()
			return fmt.Errorf("not complete after %s: %d payload bytes, %d peers", timeout, s.DownloadedTotal, s.Peers)
		case <-tick.C:
		}
		s := t.Stats()
		if res.FirstByteMs == 0 && s.DownloadedTotal > 0 {
			res.FirstByteMs = ms()
		}
		if s.Complete {
			res.DoneMs = ms()
			if res.FirstByteMs == 0 {
				res.FirstByteMs = res.DoneMs
			}
			res.Length, res.Downloaded = s.Length, s.Downloaded
			return json.NewEncoder(os.Stdout).Encode(res)
		}
	}
}
