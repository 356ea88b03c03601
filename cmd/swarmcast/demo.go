package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/trackerserver"
	"github.com/swarmcast/swarmcast/web"
)

// demoVideo is the demo's sample: 24 s of ffmpeg's test pattern and a tone,
// VP8 and Vorbis in WebM, 3.5 MB, made by demo/make-sample.sh (CC0).
//
//go:embed demo/sample.webm
var demoVideo []byte

// demoName is the sample's file name, in the torrent and at the origin.
const demoName = "sample.webm"

// demoDefaultHTTP is where the demo's site listens unless told otherwise; a
// taken port falls back to any free one.
const demoDefaultHTTP = "127.0.0.1:8080"

// demoOptions configure a demo site.
type demoOptions struct {
	httpAddr   string // the site and tracker; "" for demoDefaultHTTP (or a free port)
	video      []byte // the sample; nil for demoVideo
	videoName  string // its name; "" for demoName
	noSeeder   bool   // the origin (web seed) is the only seed
	originRate int64  // bytes per second per origin response; 0 for no cap
	loopback   bool   // the seeder's WebRTC on 127.0.0.1 only (tests)
	verbose    bool   // the seeder and the tracker log to stderr
	dir        string // where the files live
	stderr     io.Writer
}

// demoSite is a running demo: a tracker whose HTTP port also serves the
// site, an origin (the web seed), and a native seeder.
type demoSite struct {
	watchURL   string
	torrentURL string
	originURL  string
	trackerURL string
	origin     *countingOrigin
	seeder     *session // nil with noSeeder
	torrent    *torrent.Torrent
	mi         *metainfo.MetaInfo
	close      func() error
}

// runDemo runs a video site on loopback with no set-up: the tracker, the
// origin that is also the web seed, a native seeder and the web server that
// serves the browser client and the watch page. It prints one URL and
// serves until Ctrl-C; every browser tab that opens it plays the video and
// shows where its bytes came from.
func runDemo(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveDemo(ctx, args, stdout, stderr)
}

// serveDemo runs the demo until ctx ends.
func serveDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "[--http ADDR]", stderr)
	httpAddr := fs.String("http", "", "serve the site and the tracker on `ADDR` (default "+demoDefaultHTTP+", or any free port when that is taken)")
	videoPath := fs.String("video", "", "serve this WebM or MP4 `FILE` instead of the sample")
	noSeeder := fs.Bool("no-seeder", false, "no native seeder: the origin (web seed) is the only seed, as on a site's first viewers")
	withoutWasm := fs.Bool("without-wasm", false, "run even if this binary has no browser engine (the watch page then cannot play; other pages, such as a benchmark's, can use the site)")
	// A site's origin serves many viewers over the internet, not one over
	// loopback: at loopback speed it would fill a tab in the second its
	// peers take to connect, and the demo would show nothing of the swarm.
	verbose := fs.Bool("v", false, "log the native seeder's and the tracker's work to stderr")
	originRate := fs.String("origin-rate", "1MB", "cap each origin response at `RATE` bytes per second, as a busy origin would be (0: no cap)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	rate, err := parseRate(*originRate)
	if err != nil {
		return fmt.Errorf("%w: --origin-rate: %v", errUsage, err)
	}
	if !web.Built() && !*withoutWasm {
		return errors.New(`the browser engine (swarmcast.wasm) is not built into this binary, and the watch page needs it.
Build it and run the demo in one go:
    bash scripts/demo.sh
or by hand:
    bash scripts/build-wasm.sh && go run ./cmd/swarmcast demo`)
	}
	opt := demoOptions{httpAddr: *httpAddr, noSeeder: *noSeeder, originRate: rate, stderr: stderr, verbose: *verbose}
	if *videoPath != "" {
		if opt.video, err = os.ReadFile(*videoPath); err != nil {
			return err
		}
		opt.videoName = filepath.Base(*videoPath)
	}
	dir, err := os.MkdirTemp("", "swarmcast-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opt.dir = dir
	d, err := startDemo(opt)
	if err != nil {
		return err
	}
	defer d.close()
	fmt.Fprintln(stdout, d.watchURL)
	fmt.Fprintf(stderr, "Open that URL in a browser, then in more tabs: each tab plays the video and shows its bytes by source.\n"+
		"tracker %s, origin %s, torrent %s%s; Ctrl-C stops.\n", d.trackerURL, d.originURL, d.torrentURL,
		map[bool]string{true: ", no seeder", false: ", a native seeder"}[opt.noSeeder])
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var last string
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s := d.report()
			if s != last {
				fmt.Fprintln(stderr, s)
				last = s
			}
		}
	}
}

// report is one line on what the origin and the seeder have sent.
func (d *demoSite) report() string {
	n := d.origin.sent.Load()
	s := fmt.Sprintf("origin: %s sent (%.2f copies of the video) in %d responses", formatBytes(n),
		float64(n)/float64(d.origin.size), d.origin.responses.Load())
	if d.torrent != nil {
		st := d.torrent.Stats()
		s += fmt.Sprintf("; seeder: %s uploaded to %d peers", formatBytes(st.UploadedTotal), st.Peers)
	}
	return s
}

// startDemo starts the demo's servers and seeder on loopback.
func startDemo(opt demoOptions) (_ *demoSite, err error) {
	if opt.video == nil {
		opt.video, opt.videoName = demoVideo, demoName
	}
	if opt.stderr == nil {
		opt.stderr = io.Discard
	}
	var closers []func() error
	d := &demoSite{close: func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	// The site and tracker share one port: WebSocket upgrades are the
	// tracker's on every path, plain GETs the site's.
	siteLn, err := listenDefault(opt.httpAddr, demoDefaultHTTP)
	if err != nil {
		return nil, err
	}
	originLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		siteLn.Close()
		return nil, err
	}
	site := "http://" + siteLn.Addr().String()
	d.trackerURL = "ws://" + siteLn.Addr().String()
	d.originURL = "http://" + originLn.Addr().String() + "/" + url.PathEscape(opt.videoName)
	d.torrentURL = site + "/" + url.PathEscape(opt.videoName+".torrent")
	d.watchURL = site + "/watch.html?torrent=" + d.torrentURL

	seedDir := filepath.Join(opt.dir, "origin")
	videoFile := filepath.Join(seedDir, opt.videoName)
	if err := os.MkdirAll(seedDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(videoFile, opt.video, 0o644); err != nil {
		return nil, err
	}
	mi, info, err := metainfo.Create(videoFile, metainfo.CreateOptions{
		Trackers: []string{d.trackerURL},
		WebSeeds: []string{d.originURL},
		Comment:  "swarmcast demo",
	})
	if err != nil {
		return nil, err
	}
	d.mi = mi
	var torrentBytes bytes.Buffer
	if err := mi.Write(&torrentBytes); err != nil {
		return nil, err
	}

	d.origin = &countingOrigin{path: videoFile, name: opt.videoName, size: info.TotalLength(), rate: opt.originRate}
	originSrv := &http.Server{Handler: d.origin, ReadHeaderTimeout: 10 * time.Second}
	go originSrv.Serve(originLn)
	closers = append(closers, originSrv.Close)

	mux := http.NewServeMux()
	pages := web.Handler()
	mux.Handle("/", pages)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, d.watchURL, http.StatusFound)
	})
	mux.HandleFunc("GET /{torrent}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("torrent") != opt.videoName+".torrent" {
			pages.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-bittorrent")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(torrentBytes.Bytes()))
	})
	mux.HandleFunc("GET /demo.json", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]any{"originBytes": d.origin.sent.Load(), "originResponses": d.origin.responses.Load(), "videoLength": d.origin.size}
		if d.torrent != nil {
			st := d.torrent.Stats()
			out["seederUploaded"], out["seederUploadedByKind"], out["seederPeers"] = st.UploadedTotal, st.Uploaded, st.Peers
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(out)
	})
	trCfg := trackerserver.Config{Site: mux}
	if opt.verbose {
		trCfg.Logger = verboseLogger(opt.stderr)
	}
	tr := trackerserver.New(trCfg)
	trDone := make(chan error, 1)
	go func() { trDone <- tr.Serve(siteLn) }()
	closers = append(closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), trackerShutdownTimeout)
		defer cancel()
		tr.Shutdown(ctx)
		<-trDone
		return nil
	})

	if !opt.noSeeder {
		cf := clientFlags{listen: "127.0.0.1:0", listenSet: true, noLSD: true, noWebSeed: true, quiet: true,
			maxConns: torrent.DefaultMaxConns, loopback: opt.loopback, verbose: opt.verbose}
		s, err := cf.start(seedDir, opt.stderr)
		if err != nil {
			return nil, err
		}
		closers = append(closers, s.close)
		d.seeder = s
		if d.torrent, err = s.client.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// listenDefault listens on addr, or on def when addr is empty, falling back
// to any free loopback port when def is taken.
func listenDefault(addr, def string) (net.Listener, error) {
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("serving HTTP on %s: %w", addr, err)
		}
		return l, nil
	}
	if l, err := net.Listen("tcp", def); err == nil {
		return l, nil
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// countingOrigin is the demo's origin and web seed: a plain HTTP file server
// with Range, open to pages of any origin (CORS), that counts the body bytes
// it sends, and can cap each response's rate as a busy origin would.
type countingOrigin struct {
	path, name string
	size       int64
	rate       int64 // bytes per second per response; 0 for none
	sent       atomic.Int64
	responses  atomic.Int64
}

func (o *countingOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Content-Range, Content-Length, Accept-Ranges")
	h.Set("Timing-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD")
		// Whatever a page's fetch adds (Range; WebTorrent's web seed also
		// sends Cache-Control): the origin holds nothing private.
		allow := r.Header.Get("Access-Control-Request-Headers")
		if allow == "" {
			allow = "Range"
		}
		h.Set("Access-Control-Allow-Headers", allow)
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.URL.Path != "/"+o.name {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(o.path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	o.responses.Add(1)
	cw := &countingWriter{ResponseWriter: w, o: o, ctx: r.Context(), start: time.Now()}
	http.ServeContent(cw, r, o.name, time.Time{}, f)
}

// countingWriter counts a response's body bytes at the origin and paces
// them to the origin's rate.
type countingWriter struct {
	http.ResponseWriter
	o     *countingOrigin
	ctx   context.Context
	start time.Time
	n     int64
}

// pacingChunk is how much is written between pauses when the rate is
// capped: small enough that the rate holds within a few ms.
const pacingChunk = 16 << 10

func (c *countingWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p
		if c.o.rate > 0 && len(chunk) > pacingChunk {
			chunk = chunk[:pacingChunk]
		}
		n, err := c.ResponseWriter.Write(chunk)
		c.n += int64(n)
		c.o.sent.Add(int64(n))
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
		if c.o.rate > 0 {
			due := c.start.Add(time.Duration(float64(c.n) / float64(c.o.rate) * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-c.ctx.Done():
					t.Stop()
					return written, c.ctx.Err()
				}
			}
		}
	}
	return written, nil
}
