package webseed_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/tcp"
	"github.com/swarmcast/swarmcast/webseed"
)

// content writes files (path → size) under dir/name and returns the torrent
// and the bytes by path.
func content(t testing.TB, dir, name string, files map[string]int, pieceLength int64, webSeeds ...string) (*metainfo.MetaInfo, map[string][]byte) {
	t.Helper()
	rng := rand.NewChaCha8([32]byte{byte(len(files))})
	data := map[string][]byte{}
	for p, n := range files {
		b := make([]byte, n)
		rng.Read(b)
		full := filepath.Join(dir, name, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
		data[p] = b
	}
	root := filepath.Join(dir, name)
	if len(files) == 1 {
		for p := range files {
			root = filepath.Join(dir, name, p)
		}
	}
	mi, _, err := metainfo.Create(root, metainfo.CreateOptions{PieceLength: pieceLength, WebSeeds: webSeeds, NoDate: true})
	if err != nil {
		t.Fatal(err)
	}
	return mi, data
}

// origin serves dir over HTTP with Range support and counts the requests.
type origin struct {
	*httptest.Server
	requests atomic.Int64
	bytes    atomic.Int64
	rate     atomic.Int64 // bytes per second over all requests; 0: no limit
	start    time.Time
	gate     chan struct{} // when set, requests wait until it is closed
	aborted  atomic.Int64  // requests the client gave up while held at the gate
}

// limit caps the origin's total upload rate, as a busy origin's is.
func (o *origin) limit(bytesPerSecond int64) {
	o.start = time.Now()
	o.rate.Store(bytesPerSecond)
}

type countingWriter struct {
	http.ResponseWriter
	o *origin
}

func (w countingWriter) Write(p []byte) (int, error) {
	total := w.o.bytes.Add(int64(len(p)))
	if r := w.o.rate.Load(); r > 0 {
		due := w.o.start.Add(time.Duration(float64(total) / float64(r) * float64(time.Second)))
		time.Sleep(time.Until(due))
	}
	return w.ResponseWriter.Write(p)
}

func newOrigin(t testing.TB, dir string) *origin {
	o := &origin{}
	fs := http.FileServer(http.Dir(dir))
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		if o.gate != nil {
			select {
			case <-o.gate:
			case <-r.Context().Done():
				o.aborted.Add(1)
				return
			}
		}
		fs.ServeHTTP(countingWriter{w, o}, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func newClient(t testing.TB, dir string, mutate ...func(*torrent.Config)) (*torrent.Client, string) {
	t.Helper()
	l, err := tcp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr())
	p, _ := strconv.Atoi(port)
	cfg := torrent.Config{
		Storage: storage.NewFile(dir),
		Dialers: map[string]transport.Dialer{transport.TCP: tcp.Dialer{}},
		WebSeed: func(u string, ih metainfo.Hash, info *metainfo.Info) (transport.Conn, error) {
			return webseed.New(u, ih, info, webseed.Options{})
		},
		ListenPort: uint16(p),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c := torrent.NewClient(cfg)
	go c.Serve(l)
	t.Cleanup(func() { c.Close() })
	return c, l.Addr()
}

// seed seeds mi's data in dir from a client on loopback and returns its
// address.
func seed(t testing.TB, dir string, mi *metainfo.MetaInfo) string {
	t.Helper()
	c, addr := newClient(t, dir)
	if _, err := c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	return addr
}

// leech adds mi to a new client that downloads into a temporary folder,
// knowing the peers given; it returns the folder and the torrent.
func leech(t testing.TB, mi *metainfo.MetaInfo, peers ...string) (string, *torrent.Torrent) {
	t.Helper()
	dst := t.TempDir()
	c, _ := newClient(t, dst)
	tt, err := c.AddTorrent(mi, torrent.AddOptions{Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	return dst, tt
}

func waitComplete(t testing.TB, tt *torrent.Torrent) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !tt.Complete() {
		if time.Now().After(deadline) {
			t.Fatalf("not complete: %+v", tt.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func checkFiles(t *testing.T, root string, data map[string][]byte) {
	t.Helper()
	for p, want := range data {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s differs (%v)", p, err)
		}
	}
}

// A multi-file torrent whose only source is an HTTP origin downloads
// completely, every byte counted as web seed bytes, in few requests (blocks
// are merged into ranges). File names need escaping in the URL.
func TestDownloadFromOriginOnly(t *testing.T) {
	srv := t.TempDir()
	files := map[string]int{"a b.bin": 3<<20 + 5, "sub/c#d.bin": 700_001, "sub/empty": 0, "e.bin": 16 << 10}
	mi, data := content(t, srv, "Show 1", files, 64<<10)
	o := newOrigin(t, srv)
	mi.URLList = metainfo.URLList{o.URL + "/"}

	dst, tt := leech(t, mi)
	waitComplete(t, tt)
	st := tt.Stats()
	checkFiles(t, filepath.Join(dst, "Show 1"), data)
	var total int64
	for _, b := range data {
		total += int64(len(b))
	}
	if st.Downloaded[transport.WebSeed] != total || st.HashFails != 0 {
		t.Fatalf("web seed bytes %d of %d, hash fails %d", st.Downloaded[transport.WebSeed], total, st.HashFails)
	}
	// 3.9 MB in 16 KiB blocks is 236 blocks, and one file is split over
	// pieces of others: unmerged, at least 236 requests.
	if n := o.requests.Load(); n > 118 {
		t.Fatalf("%d HTTP requests for %d bytes: blocks were not merged", n, total)
	}
	t.Logf("%d bytes in %d HTTP requests", total, o.requests.Load())
}

// A single-file torrent: the URL names the file itself.
func TestSingleFileURL(t *testing.T) {
	srv := t.TempDir()
	mi, data := content(t, srv, "media", map[string]int{"clip.mp4": 1<<20 + 17}, 32<<10)
	o := newOrigin(t, srv)
	mi.URLList = metainfo.URLList{o.URL + "/media/clip.mp4"}
	dst, tt := leech(t, mi)
	waitComplete(t, tt)
	checkFiles(t, dst, data)
}

// With a peer that has every piece, the origin is asked for little: only
// its first pipeline (32 blocks, 512 KiB) goes out before the peer unchokes
// us. The origin holds its answers until the peer has served a block, so
// that the race between the two does not decide the outcome. (Without the
// rule in peer.canRequest, the origin serves several MB here.)
func TestOriginStepsBackForPeers(t *testing.T) {
	srv := t.TempDir()
	mi, data := content(t, srv, "movie", map[string]int{"m.bin": 8 << 20}, 128<<10)
	o := newOrigin(t, srv)
	o.gate = make(chan struct{})
	mi.URLList = metainfo.URLList{o.URL + "/movie/m.bin"}

	addr := seed(t, filepath.Join(srv, "movie"), mi)
	dst, tt := leech(t, mi, addr)
	deadline := time.Now().Add(20 * time.Second)
	for tt.Stats().Downloaded[transport.TCP] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the peer served nothing: %+v", tt.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	close(o.gate)
	waitComplete(t, tt)
	checkFiles(t, dst, data)
	st := tt.Stats()
	if ws := st.Downloaded[transport.WebSeed]; ws > 1<<20 {
		t.Fatalf("the origin served %d of %d bytes while a peer had everything (tcp %d)", ws, len(data["m.bin"]), st.Downloaded[transport.TCP])
	}
	t.Logf("origin %d bytes, peer %d bytes", st.Downloaded[transport.WebSeed], st.Downloaded[transport.TCP])
}

// An origin that answers 404 is dropped after a few failures; the download
// completes from a peer.
func TestBrokenOrigin(t *testing.T) {
	srv := t.TempDir()
	mi, data := content(t, srv, "x", map[string]int{"x.bin": 1 << 20}, 64<<10)
	o := newOrigin(t, srv)
	mi.URLList = metainfo.URLList{o.URL + "/missing/x.bin"}
	addr := seed(t, filepath.Join(srv, "x"), mi)
	dst, tt := leech(t, mi, addr)
	waitComplete(t, tt)
	checkFiles(t, dst, data)
	if st := tt.Stats(); st.Downloaded[transport.WebSeed] != 0 {
		t.Fatalf("%d bytes from a 404 origin", st.Downloaded[transport.WebSeed])
	}
}

// New refuses what cannot be a web seed.
func TestNewRefuses(t *testing.T) {
	info := &metainfo.Info{Name: "x", PieceLength: 16 << 10, Length: 1, Pieces: make([]byte, 20)}
	for _, u := range []string{"ftp://host/x", "not a url", "http://", "/relative"} {
		if _, err := webseed.New(u, metainfo.Hash{}, info, webseed.Options{}); err == nil || !strings.Contains(err.Error(), "webseed") {
			t.Errorf("%q: %v", u, err)
		}
	}
}

// An origin that serves wrong bytes fails the hash check like a lying peer:
// while it is the only source, its pieces fail and it is dropped; the
// download then completes, correct, from an honest peer.
func TestLyingOrigin(t *testing.T) {
	honest := t.TempDir()
	mi, data := content(t, honest, "y", map[string]int{"y.bin": 2 << 20}, 64<<10)
	bad := t.TempDir()
	b := bytes.Clone(data["y.bin"])
	for i := 0; i < len(b); i += 64 << 10 {
		b[i] ^= 0xff // every piece wrong
	}
	os.MkdirAll(filepath.Join(bad, "y"), 0o755)
	os.WriteFile(filepath.Join(bad, "y", "y.bin"), b, 0o644)
	o := newOrigin(t, bad)
	mi.URLList = metainfo.URLList{o.URL + "/y/y.bin"}

	dst, tt := leech(t, mi)
	deadline := time.Now().Add(10 * time.Second)
	for tt.Stats().HashFails == 0 || tt.Stats().PeersByNetwork[transport.WebSeed] > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the lying origin was not dropped: %+v", tt.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range tt.Info().NumPieces() {
		if tt.HavePiece(i) {
			t.Fatalf("piece %d verified from an origin that serves only wrong pieces", i)
		}
	}

	addr := seed(t, filepath.Join(honest, "y"), mi)
	tt.AddPeers(addr)
	waitComplete(t, tt)
	checkFiles(t, dst, data)
	st := tt.Stats()
	t.Logf("hash fails %d, origin bytes %d, peer bytes %d", st.HashFails, st.Downloaded[transport.WebSeed], st.Downloaded[transport.TCP])
}

// An origin that ignores Range requests (as Python's http.server does) is
// reported to the user with the reason, and the download completes from a
// peer.
func TestOriginIgnoringRangeIsReported(t *testing.T) {
	srv := t.TempDir()
	mi, data := content(t, srv, "r", map[string]int{"r.bin": 1 << 20}, 64<<10)
	whole := data["r.bin"]
	ignoring := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(whole)))
		w.WriteHeader(http.StatusOK)
		w.Write(whole)
	}))
	t.Cleanup(ignoring.Close)
	mi.URLList = metainfo.URLList{ignoring.URL + "/r.bin"}
	dst, tt := leech(t, mi)
	deadline := time.Now().Add(30 * time.Second)
	var warned string
	for warned == "" {
		for _, w := range tt.Stats().Warnings {
			if strings.Contains(w, "web seed cannot serve") && strings.Contains(w, "ignores Range requests") {
				warned = w
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the origin; stats %+v", tt.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("warning: %s", warned)
	tt.AddPeers(seed(t, filepath.Join(srv, "r"), mi))
	waitComplete(t, tt)
	checkFiles(t, dst, data)
}

// Ranges asked of the origin are cancelled, and their HTTP requests
// aborted, once a peer that has those pieces connects, long before the
// download's end game would duplicate them: the origin sends nothing the
// peer can bring.
func TestOriginRangesCancelledForPeers(t *testing.T) {
	srv := t.TempDir()
	mi, data := content(t, srv, "c", map[string]int{"c.bin": 16 << 20}, 64<<10)
	o := newOrigin(t, srv)
	o.gate = make(chan struct{})
	mi.URLList = metainfo.URLList{o.URL + "/c/c.bin"}
	dst, tt := leech(t, mi)
	deadline := time.Now().Add(20 * time.Second)
	for o.requests.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the origin was never asked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A slow seeder: 16 MiB take it 4 s, so the end game is far off.
	c, addr := newClient(t, filepath.Join(srv, "c"), func(cfg *torrent.Config) { cfg.UploadRate = 4 << 20 })
	if _, err := c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	tt.AddPeers(addr)
	deadline = time.Now().Add(5 * time.Second)
	for o.aborted.Load() < o.requests.Load() {
		if time.Now().After(deadline) || tt.Complete() {
			t.Fatalf("%d of %d held origin requests aborted while the peer served (complete: %v)", o.aborted.Load(), o.requests.Load(), tt.Complete())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if tt.Complete() {
		t.Fatal("the download ended before the origin's ranges were cancelled")
	}
	t.Logf("%d origin requests, all aborted while the peer was serving", o.requests.Load())
	close(o.gate)
	waitComplete(t, tt)
	checkFiles(t, dst, data)
}

// At a torrent's start the origin waits a moment for the swarm: a peer that
// takes a second to reach (a WebRTC connection through a tracker, say)
// still brings most of the data, though the origin is fast and idle
// meanwhile. (Without the hold, the origin serves the 8 MiB in that second.)
func TestOriginWaitsForTheSwarmAtStart(t *testing.T) {
	data, dst, tt := leechWithLatePeer(t, 128<<10)
	waitComplete(t, tt)
	checkFiles(t, dst, data)
	st := tt.Stats()
	if ws := st.Downloaded[transport.WebSeed]; ws > 1<<20 {
		t.Fatalf("the origin served %d of %d bytes while a peer was on its way (tcp %d)", ws, len(data["l.bin"]), st.Downloaded[transport.TCP])
	}
	t.Logf("origin %d bytes, peer %d bytes", st.Downloaded[transport.WebSeed], st.Downloaded[transport.TCP])
}

// A reader's window beyond what it needs next waits for the swarm too: a
// player that has read its first bytes does not have the origin send the
// rest of its readahead while a peer with everything is connecting.
func TestReaderWindowWaitsForTheSwarmAtStart(t *testing.T) {
	data, dst, tt := leechWithLatePeer(t, 16<<10)
	r := tt.NewReader()
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.SetContext(ctx)
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(head, data["l.bin"][:len(head)]) {
		t.Fatal("the reader's first bytes differ from the file's")
	}
	waitComplete(t, tt)
	checkFiles(t, dst, data)
	st := tt.Stats()
	// The reader's window is 2 MiB at first; the origin may send what is
	// within 256 KiB of the reader's position.
	if ws := st.Downloaded[transport.WebSeed]; ws > 1<<20 {
		t.Fatalf("the origin served %d bytes of a reader's window while a peer was on its way (tcp %d)", ws, st.Downloaded[transport.TCP])
	}
	t.Logf("origin %d bytes, peer %d bytes", st.Downloaded[transport.WebSeed], st.Downloaded[transport.TCP])
}

// leechWithLatePeer makes an 8 MiB torrent (late/l.bin) of the given piece
// length, served by an origin and by a seed that each connection reaches
// only after a second, and starts a leecher of it: a swarm whose peers take
// a moment to connect. It returns the data by path, the leecher's folder
// and its torrent.
func leechWithLatePeer(t *testing.T, pieceLength int64) (map[string][]byte, string, *torrent.Torrent) {
	t.Helper()
	srv := t.TempDir()
	mi, data := content(t, srv, "late", map[string]int{"l.bin": 8 << 20}, pieceLength)
	o := newOrigin(t, srv)
	mi.URLList = metainfo.URLList{o.URL + "/late/l.bin"}
	addr := seed(t, filepath.Join(srv, "late"), mi)
	dst, tt := leech(t, mi, slowPath(t, addr, time.Second))
	return data, dst, tt
}

// slowPath returns an address that reaches addr, each connection only
// after delay.
func slowPath(t *testing.T, addr string, delay time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				time.Sleep(delay)
				d, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer d.Close()
				go func() { io.Copy(d, c); d.Close() }()
				io.Copy(c, d)
			}()
		}
	}()
	return l.Addr().String()
}

// Blocks are handed to the engine as their bytes arrive, not when the whole
// Range response has: an origin that sends the first block of a 1 MiB range
// and then stalls has that block read at once.
func TestBlocksHandedOnAsTheyArrive(t *testing.T) {
	const pieceLength = 1 << 20
	data := make([]byte, pieceLength)
	rand.NewChaCha8([32]byte{7}).Read(data)
	sum := sha1.Sum(data)
	info := &metainfo.Info{Name: "f", PieceLength: pieceLength, Length: pieceLength, Pieces: sum[:]}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 0-1048575/1048576")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[:20<<10])
		w.(http.Flusher).Flush()
		select {
		case <-release:
			w.Write(data[20<<10:])
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	conn, err := webseed.New(srv.URL+"/f", metainfo.Hash{1}, info, webseed.Options{Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := peerwire.WriteHandshake(conn, peerwire.Handshake{InfoHash: metainfo.Hash{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := peerwire.ReadHandshake(conn); err != nil {
		t.Fatal(err)
	}
	got := make(chan peerwire.Message, 1)
	go func() {
		dec := peerwire.NewDecoder(conn)
		for {
			var m peerwire.Message
			if dec.Decode(&m) != nil {
				return
			}
			if m.Type == peerwire.Piece {
				m.Piece = bytes.Clone(m.Piece)
				got <- m
				return
			}
		}
	}()
	enc := peerwire.NewEncoder(conn)
	for b := uint32(0); b < pieceLength/(16<<10); b++ {
		enc.WriteMessage(peerwire.Message{Type: peerwire.Request, Index: 0, Begin: b * 16 << 10, Length: 16 << 10})
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Begin != 0 || !bytes.Equal(m.Piece, data[:16<<10]) {
			t.Fatalf("first block: begin %d, %d bytes, want the range's first 16 KiB", m.Begin, len(m.Piece))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first block's bytes arrived 5 s ago and it was not handed on: blocks wait for the whole response")
	}
}
