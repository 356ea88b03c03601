//go:build js

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/internal/minijson"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/wstracker"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/webrtc"
)

// Bounds of what a page can make the engine hold.
const (
	// maxReaders bounds open stream readers. A <video> element keeps one or
	// two open (it reopens on a seek); the service worker closes each when
	// its response ends. Past the bound the oldest is closed.
	maxReaders = 32

	// maxReadChunk bounds one read call's buffer: the service worker pulls
	// 256 KiB at a time; larger asks are cut.
	maxReadChunk = 1 << 20

	// infoTimeout bounds how long add waits for a magnet's metadata before
	// it gives up (the torrent stays added; a later add returns it).
	infoTimeout = 5 * time.Minute
)

// startOptions are Swarmcast.start's options, as worker.js passes them.
type startOptions struct {
	// Trackers are announced to for every torrent, besides its own.
	Trackers []string
	// MemoryCap bounds the bytes held in memory where OPFS is missing
	// (default opfs.DefaultMemoryCap).
	MemoryCap int64
	// Storage is "opfs", "memory" or "" (OPFS when the worker has it).
	Storage string
	// Debug logs the engine's decisions to the console.
	Debug bool
}

// addOptions are client.add's options.
type addOptions struct {
	WebSeeds []string
	Trackers []string
}

// engine is the one torrent client of the worker.
type engine struct {
	exited chan struct{}

	mu       sync.Mutex
	client   *torrent.Client
	opts     startOptions
	store    *routedStorage
	trackers *trackerCache
	readers  map[int]*openReader
	nextID   int
	closed   bool
	log      *slog.Logger
	// storageKind is "opfs" or "memory".
	storageKind string
}

type openReader struct {
	r      *torrent.Reader
	end    int64 // the stream's length
	cancel context.CancelFunc
	id     int
}

func newEngine() *engine {
	return &engine{exited: make(chan struct{}), readers: map[int]*openReader{}}
}

var errNotStarted = errors.New("swarmcast: the engine is not started")

// start creates the client. It can be called once.
func (e *engine) start(opts startOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client != nil || e.closed {
		return errors.New("swarmcast: the engine is already started")
	}
	for _, u := range opts.Trackers {
		if !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
			return fmt.Errorf("swarmcast: tracker %q: a browser reaches only ws:// and wss:// trackers", u)
		}
	}
	e.opts = opts
	e.log = slog.New(slog.DiscardHandler)
	if opts.Debug {
		e.log = slog.New(slog.NewTextHandler(consoleWriter{}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	fallback, kind, err := openStorage(opts, e.log)
	if err != nil {
		return err
	}
	e.storageKind = kind
	e.store = &routedStorage{fallback: fallback, seeds: map[metainfo.Hash]storage.TorrentStorage{}}
	var c *torrent.Client
	onConn := func(ih metainfo.Hash, _ [20]byte, conn transport.Conn) {
		t, ok := c.Torrent(ih)
		if !ok {
			conn.Close()
			return
		}
		go func() {
			if err := t.AddConn(conn); err != nil {
				e.log.Debug("peer handshake failed", "remote", conn.RemoteAddr(), "err", err)
			}
		}()
	}
	e.trackers = newTrackerCache(wstracker.Config{WebRTC: webrtc.Config{}, OnConn: onConn, Logger: e.log})
	c = torrent.NewClient(torrent.Config{
		Storage: e.store,
		Tracker: e.trackers.get,
		WebSeed: openWebSeed,
		Logger:  e.log,
		Version: "swarmcast wasm 0.1",
	})
	e.client = c
	return nil
}

func (e *engine) get() (*torrent.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client == nil {
		return nil, errNotStarted
	}
	return e.client, nil
}

// add adds a torrent from a .torrent's bytes or a magnet link and returns
// its info hash at once; info waits for the metadata.
func (e *engine) add(torrentBytes []byte, magnet string, opts addOptions) (*torrent.Torrent, error) {
	c, err := e.get()
	if err != nil {
		return nil, err
	}
	ao := torrent.AddOptions{Trackers: append(append([]string{}, e.opts.Trackers...), opts.Trackers...)}
	if magnet != "" {
		m, err := metainfo.ParseMagnet(magnet)
		if err != nil {
			return nil, err
		}
		if t, ok := c.Torrent(m.InfoHash); ok {
			return t, nil
		}
		if len(opts.WebSeeds) > 0 {
			m.WebSeeds = append(m.WebSeeds, opts.WebSeeds...)
			magnet = m.String()
		}
		return c.AddMagnet(magnet, ao)
	}
	mi, err := metainfo.Parse(torrentBytes)
	if err != nil {
		return nil, err
	}
	if t, ok := c.Torrent(mi.HashInfoBytes()); ok {
		return t, nil
	}
	mi.URLList = append(mi.URLList, opts.WebSeeds...)
	return c.AddTorrent(mi, ao)
}

// torrentInfo is what client.add resolves with.
type torrentInfo struct {
	InfoHash  string
	Name      string
	Length    int64
	MagnetURI string
	Files     []fileInfo
}

type fileInfo struct {
	Path   string
	Name   string
	Length int64
	Offset int64
}

// info waits for t's metadata and describes it.
func (e *engine) info(t *torrent.Torrent) (torrentInfo, error) {
	timer := time.NewTimer(infoTimeout)
	defer timer.Stop()
	select {
	case <-t.GotInfo():
	case <-timer.C:
		return torrentInfo{}, fmt.Errorf("swarmcast: no peer sent the metadata of %s in %v", t.InfoHash(), infoTimeout)
	}
	info := t.Info()
	ti := torrentInfo{InfoHash: t.InfoHash().String(), Name: t.Name(), Length: info.TotalLength()}
	m := metainfo.Magnet{InfoHash: t.InfoHash(), DisplayName: t.Name(), Trackers: e.opts.Trackers}
	ti.MagnetURI = m.String()
	for _, f := range t.Files() {
		// WebTorrent's file.path, as the native stream server names files:
		// a folder torrent's name first.
		p := f.Path()
		if info.IsDir() {
			p = info.BestName() + "/" + p
		}
		ti.Files = append(ti.Files, fileInfo{Path: p, Name: p[strings.LastIndexByte(p, '/')+1:], Length: f.Length(), Offset: f.Offset()})
	}
	return ti, nil
}

// torrentStats is what torrent.stats() resolves with.
type torrentStats struct {
	Progress        float64
	Downloaded      int64
	Uploaded        int64
	DownloadSpeed   float64
	UploadSpeed     float64
	Peers           int
	PeersByKind     map[string]int
	BytesFromPeers  int64
	BytesFromOrigin int64
	Done            bool
	HasInfo         bool
	Warnings        []string
	Error           string
}

func statsOf(t *torrent.Torrent) torrentStats {
	s := t.Stats()
	out := torrentStats{
		Downloaded: s.DownloadedTotal, Uploaded: s.UploadedTotal,
		DownloadSpeed: s.DownloadRate, UploadSpeed: s.UploadRate,
		Peers:       s.Peers,
		PeersByKind: map[string]int{transport.WebRTC: s.PeersByNetwork[transport.WebRTC], transport.WebSeed: s.PeersByNetwork[transport.WebSeed]},
		Done:        s.Complete, HasInfo: s.HasInfo, Warnings: s.Warnings, Error: s.Error,
	}
	// Bytes are counted as the engine accepted them, by the kind of
	// connection they came on: the web seed is the origin, the rest peers.
	out.BytesFromOrigin = s.Downloaded[transport.WebSeed]
	out.BytesFromPeers = s.DownloadedTotal - out.BytesFromOrigin
	switch {
	case s.Complete:
		out.Progress = 1
	case s.BytesWanted > 0:
		out.Progress = float64(s.BytesWanted-s.BytesLeft) / float64(s.BytesWanted)
	}
	return out
}

// openStream opens a reader on file index of t at start. The reader's
// position raises the pieces under it to the top of the picker, so what
// the service worker asks for comes first.
func (e *engine) openStream(t *torrent.Torrent, index int, start int64) (int, error) {
	files := t.Files()
	if index < 0 || index >= len(files) {
		return 0, fmt.Errorf("swarmcast: no file %d in %s (%d files)", index, t.InfoHash(), len(files))
	}
	f := files[index]
	if start < 0 || start > f.Length() {
		return 0, fmt.Errorf("swarmcast: offset %d outside file %d of %d bytes", start, index, f.Length())
	}
	r := f.NewReader()
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		r.Close()
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.SetContext(ctx)
	e.mu.Lock()
	e.nextID++
	or := &openReader{r: r, end: f.Length(), cancel: cancel, id: e.nextID}
	e.readers[or.id] = or
	var oldest *openReader
	if len(e.readers) > maxReaders {
		for _, x := range e.readers {
			if oldest == nil || x.id < oldest.id {
				oldest = x
			}
		}
		delete(e.readers, oldest.id)
	}
	e.mu.Unlock()
	if oldest != nil {
		oldest.cancel()
		oldest.r.Close()
	}
	return or.id, nil
}

// read reads up to n bytes from reader id; nil at the end of the file.
func (e *engine) read(id, n int) ([]byte, error) {
	e.mu.Lock()
	or := e.readers[id]
	e.mu.Unlock()
	if or == nil {
		return nil, fmt.Errorf("swarmcast: reader %d is closed", id)
	}
	buf := make([]byte, min(max(n, 1), maxReadChunk))
	k, err := or.r.Read(buf)
	if k > 0 {
		return buf[:k], nil
	}
	if err == io.EOF {
		return nil, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return nil, err
}

func (e *engine) closeStream(id int) {
	e.mu.Lock()
	or := e.readers[id]
	delete(e.readers, id)
	e.mu.Unlock()
	if or != nil {
		or.cancel()
		or.r.Close()
	}
}

// seed makes a torrent of r (a Blob's bytes) and seeds it from there.
func (e *engine) seed(r io.ReaderAt, name string, length int64, trackers []string) (*torrent.Torrent, error) {
	c, err := e.get()
	if err != nil {
		return nil, err
	}
	all := append(append([]string{}, e.opts.Trackers...), trackers...)
	mi, info, err := metainfo.CreateFromReaderAt(r, name, length, metainfo.CreateOptions{Trackers: all})
	if err != nil {
		return nil, err
	}
	ih := mi.HashInfoBytes()
	if t, ok := c.Torrent(ih); ok {
		return t, nil
	}
	e.store.addSeed(ih, newReaderStorage(r, info))
	t, err := c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
	if err != nil {
		e.store.removeSeed(ih)
	}
	return t, err
}

// remove removes a torrent and its data.
func (e *engine) remove(t *torrent.Torrent) error {
	err := t.Remove(true)
	e.store.removeSeed(t.InfoHash())
	return err
}

// destroy closes everything; the program then exits.
func (e *engine) destroy() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	c, tc := e.client, e.trackers
	readers := e.readers
	e.readers = map[int]*openReader{}
	e.mu.Unlock()
	for _, or := range readers {
		or.cancel()
		or.r.Close()
	}
	var errs []error
	if c != nil {
		errs = append(errs, c.Close())
	}
	if tc != nil {
		tc.close()
	}
	close(e.exited)
	return errors.Join(errs...)
}

// trackerCache shares one tracker client per announce URL among torrents.
// Only WebSocket trackers exist in a browser.
type trackerCache struct {
	mu      sync.Mutex
	cfg     tracker.Config
	clients map[string]tracker.Client
}

func newTrackerCache(ws wstracker.Config) *trackerCache {
	open := wstracker.Opener(ws)
	return &trackerCache{
		cfg:     tracker.Config{Schemes: tracker.Schemes{"ws": open, "wss": open}, Logger: ws.Logger},
		clients: map[string]tracker.Client{},
	}
}

func (c *trackerCache) get(u string) (tracker.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[u]; ok {
		return cl, nil
	}
	cl, err := tracker.New(u, c.cfg)
	if err != nil {
		return nil, err
	}
	c.clients[u] = cl
	return cl, nil
}

func (c *trackerCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clients {
		cl.Close()
	}
}

// The calls' JSON is written and read by hand (internal/minijson):
// encoding/json would add ~236 KB of code to the WebAssembly.

func (ti *torrentInfo) json() string {
	files := []byte{'['}
	for i, f := range ti.Files {
		if i > 0 {
			files = append(files, ',')
		}
		files = minijson.NewObject(files).String("path", f.Path).String("name", f.Name).
			Int("length", f.Length).Int("offset", f.Offset).Bytes()
	}
	files = append(files, ']')
	return string(minijson.NewObject(nil).String("infoHash", ti.InfoHash).String("name", ti.Name).
		Int("length", ti.Length).String("magnetURI", ti.MagnetURI).Raw("files", files).Bytes())
}

func (st *torrentStats) json() string {
	byKind := minijson.NewObject(nil)
	for _, k := range slices.Sorted(maps.Keys(st.PeersByKind)) {
		byKind.Int(k, int64(st.PeersByKind[k]))
	}
	o := minijson.NewObject(nil).Float("progress", st.Progress).Int("downloaded", st.Downloaded).
		Int("uploaded", st.Uploaded).Float("downloadSpeed", st.DownloadSpeed).Float("uploadSpeed", st.UploadSpeed).
		Int("peers", int64(st.Peers)).Raw("peersByKind", byKind.Bytes()).
		Int("bytesFromPeers", st.BytesFromPeers).Int("bytesFromOrigin", st.BytesFromOrigin).
		Bool("done", st.Done).Bool("hasInfo", st.HasInfo)
	if len(st.Warnings) > 0 {
		o.Strings("warnings", st.Warnings)
	}
	if st.Error != "" {
		o.String("error", st.Error)
	}
	return string(o.Bytes())
}

// startOptionsOf reads Swarmcast.start's options.
func startOptionsOf(v minijson.Value) (startOptions, error) {
	var o startOptions
	var err error
	if o.Trackers, err = stringsOf(v, "trackers"); err != nil {
		return o, err
	}
	if n, ok := v.Get("memoryCap"); ok && n.Kind != minijson.Null {
		if n.Kind != minijson.Number || n.Num < 0 || n.Num > 1<<53 {
			return o, errors.New("memoryCap: want a number of bytes")
		}
		o.MemoryCap = int64(n.Num)
	}
	if s, ok := v.Get("storage"); ok && s.Kind != minijson.Null {
		if s.Kind != minijson.String {
			return o, errors.New("storage: want a string")
		}
		o.Storage = s.Str
	}
	if b, ok := v.Get("debug"); ok && b.Kind != minijson.Null {
		if b.Kind != minijson.Bool {
			return o, errors.New("debug: want true or false")
		}
		o.Debug = b.Bool
	}
	return o, nil
}

// addOptionsOf reads client.add's and client.seed's options.
func addOptionsOf(v minijson.Value) (addOptions, error) {
	var o addOptions
	var err error
	if o.WebSeeds, err = stringsOf(v, "webSeeds"); err != nil {
		return o, err
	}
	o.Trackers, err = stringsOf(v, "trackers")
	return o, err
}

// stringsOf reads member key, a list of strings (absent or null: none).
func stringsOf(v minijson.Value, key string) ([]string, error) {
	l, ok := v.Get(key)
	if !ok || l.Kind == minijson.Null {
		return nil, nil
	}
	if l.Kind != minijson.Array {
		return nil, fmt.Errorf("%s: want a list of strings", key)
	}
	out := make([]string, 0, len(l.Items))
	for _, it := range l.Items {
		if it.Kind != minijson.String {
			return nil, fmt.Errorf("%s: want a list of strings", key)
		}
		out = append(out, it.Str)
	}
	return out, nil
}
