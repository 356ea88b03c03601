package torrent_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// node is one client with a TCP listener on loopback.
type node struct {
	c    *torrent.Client
	addr string
	dir  string
}

func newNode(t testing.TB, mutate func(*torrent.Config)) *node {
	t.Helper()
	l, err := tcp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := torrent.Config{
		Storage: storage.NewFile(dir),
		Dialers: map[string]transport.Dialer{transport.TCP: tcp.Dialer{}},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c := torrent.NewClient(cfg)
	go c.Serve(l)
	n := &node{c: c, addr: l.Addr(), dir: dir}
	t.Cleanup(func() { c.Close() })
	return n
}

// fastRand fills test content quickly; the bytes need not be secret.
var fastRand = mrand.NewChaCha8([32]byte{1, 2, 3})

// makeContent writes files under dir/name and returns its torrent.
func makeContent(t testing.TB, dir, name string, sizes []int, pieceLength int64) (*metainfo.MetaInfo, map[string][]byte) {
	t.Helper()
	root := filepath.Join(dir, name)
	data := map[string][]byte{}
	for i, n := range sizes {
		rel := filepath.Join("sub", string(rune('a'+i))+".bin")
		if i == 0 {
			rel = "first.bin"
		}
		b := make([]byte, n)
		fastRand.Read(b)
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		data[filepath.ToSlash(rel)] = b
	}
	mi, _, err := metainfo.Create(root, metainfo.CreateOptions{PieceLength: pieceLength, NoDate: true})
	if err != nil {
		t.Fatal(err)
	}
	return mi, data
}

func checkFiles(t testing.TB, root string, data map[string][]byte) {
	t.Helper()
	for rel, want := range data {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if sha256.Sum256(got) != sha256.Sum256(want) {
			t.Fatalf("%s: content differs (%d bytes, want %d)", rel, len(got), len(want))
		}
	}
}

func waitComplete(t testing.TB, tt *torrent.Torrent, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := tt.WaitComplete(ctx); err != nil {
		t.Fatalf("%s not complete: %v; stats %+v", tt.Name(), err, tt.Stats())
	}
}

func TestSeedToLeechTCP(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "content", []int{3<<20 + 123, 0, 777777, 16384}, 64<<10)
	st, err := seeder.c.AddTorrent(mi, torrent.AddOptions{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, st, 10*time.Second)

	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "content"), data)
	s := lt.Stats()
	if s.Downloaded["tcp"] < int64(3<<20) || s.HashFails != 0 {
		t.Fatalf("stats %+v", s)
	}
	if up := st.Stats().Uploaded["tcp"]; up < int64(3<<20) {
		t.Fatalf("seeder uploaded %d", up)
	}
}

func TestMagnetAndSelection(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "pack", []int{200000, 300000, 400000}, 32<<10)
	info, _ := mi.UnmarshalInfo()
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	leecher := newNode(t, nil)
	m := mi.Magnet(info)
	m.Select = []metainfo.Range{{First: 2, Last: 2}}
	lt, err := leecher.c.AddMagnet(m.String(), torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-lt.GotInfo():
	case <-time.After(20 * time.Second):
		t.Fatal("no metadata from the seeder")
	}
	waitComplete(t, lt, 30*time.Second)
	root := filepath.Join(leecher.dir, "pack")
	checkFiles(t, root, map[string][]byte{"sub/c.bin": data["sub/c.bin"]})
	// The first file shares no piece with the selected one, so it never appears.
	if _, err := os.Stat(filepath.Join(root, "first.bin")); !os.IsNotExist(err) {
		t.Fatalf("unselected file exists: %v", err)
	}
}

func TestManyLeechers(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "crowd", []int{2 << 20}, 32<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	var leechers []*node
	var ts []*torrent.Torrent
	for i := 0; i < 4; i++ {
		n := newNode(t, nil)
		peers := []string{seeder.addr}
		for _, l := range leechers {
			peers = append(peers, l.addr)
		}
		tt, err := n.c.AddTorrent(mi, torrent.AddOptions{Peers: peers})
		if err != nil {
			t.Fatal(err)
		}
		leechers = append(leechers, n)
		ts = append(ts, tt)
	}
	for i, tt := range ts {
		waitComplete(t, tt, 60*time.Second)
		checkFiles(t, filepath.Join(leechers[i].dir, "crowd"), data)
	}
}

func TestResumeSkipsVerified(t *testing.T) {
	seeder := newNode(t, func(c *torrent.Config) { c.UploadRate = 2 << 20 })
	mi, data := makeContent(t, seeder.dir, "resume", []int{4 << 20}, 64<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir), Dialers: map[string]transport.Dialer{transport.TCP: tcp.Dialer{}}})
	lt, err := first.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for lt.Stats().PiecesHave < 20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	have := lt.Stats().PiecesHave
	if have < 20 {
		t.Fatalf("only %d pieces before the restart", have)
	}
	first.Close()

	second := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir), Dialers: map[string]transport.Dialer{transport.TCP: tcp.Dialer{}}})
	defer second.Close()
	lt2, err := second.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	if got := lt2.Stats().PiecesHave; got < have {
		t.Fatalf("after restart %d pieces, before %d", got, have)
	}
	waitComplete(t, lt2, 30*time.Second)
	s := lt2.Stats()
	if max := int64(4<<20) - int64(have)*(64<<10); s.DownloadedTotal > max+64<<10 {
		t.Fatalf("downloaded %d after restart, at most %d was missing", s.DownloadedTotal, max)
	}
	checkFiles(t, filepath.Join(dir, "resume"), data)
}

// The engine must not depend on transports, WebRTC, HTTP or WebSockets.
func TestEngineImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "pion/") || strings.Contains(dep, "websocket") || dep == "net/http" ||
			strings.HasSuffix(dep, "/transport/tcp") || strings.HasSuffix(dep, "/transport/webrtc") {
			t.Errorf("package torrent depends on %s", dep)
		}
	}
}

var _ = bytes.Equal

// Leechers that only know the seeder find each other through PEX (BEP 11)
// and trade pieces among themselves.
func TestPEXJoinsLeechers(t *testing.T) {
	seeder := newNode(t, func(c *torrent.Config) { c.UploadRate = 1 << 20 })
	mi, data := makeContent(t, seeder.dir, "pex", []int{6 << 20}, 64<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	var ts []*torrent.Torrent
	var nodes []*node
	for i := 0; i < 3; i++ {
		n := newNode(t, func(c *torrent.Config) {})
		tt, err := n.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
		if err != nil {
			t.Fatal(err)
		}
		ts, nodes = append(ts, tt), append(nodes, n)
	}
	for i, tt := range ts {
		waitComplete(t, tt, 60*time.Second)
		checkFiles(t, filepath.Join(nodes[i].dir, "pex"), data)
	}
	var fromLeechers int64
	for _, tt := range ts {
		fromLeechers += tt.Stats().UploadedTotal
	}
	if fromLeechers == 0 {
		t.Fatal("the leechers never traded pieces with each other")
	}
	t.Logf("leechers uploaded %d bytes to each other; the seeder %d", fromLeechers, int64(6<<20)*3-fromLeechers)
}

// A downloader goes into end-game (asking a second peer for blocks already
// asked of one) only when no piece is left to start: a fast peer that has
// given us all it has, while pieces that only a slow seed has are still to
// start, is not asked again for blocks on their way from the seed. The
// seed's copies then arrived anyway, and were thrown away: a site's peers
// behind a slow link each received megabytes twice, most of it over the
// link.
func TestNoEndGameWhilePiecesAreLeft(t *testing.T) {
	seeder := newNode(t, func(c *torrent.Config) { c.UploadRate = 2 << 20 })
	mi, data := makeContent(t, seeder.dir, "content", []int{8 << 20}, 64<<10)
	st, err := seeder.c.AddTorrent(mi, torrent.AddOptions{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, st, 10*time.Second)
	a, b := newNode(t, nil), newNode(t, nil)
	at, err := a.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	bt, err := b.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr, a.addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, at, 60*time.Second)
	waitComplete(t, bt, 60*time.Second)
	checkFiles(t, filepath.Join(b.dir, "content"), data)
	for name, tt := range map[string]*torrent.Torrent{"a": at, "b": bt} {
		s := tt.Stats()
		t.Logf("%s: wasted %d bytes, %d from peers", name, s.Wasted, s.DownloadedTotal)
		// The real end-game's duplicates: some blocks (96-256 KiB in
		// runs here), not pipelines of them (850 KB-1 MB before).
		if s.Wasted > 512<<10 {
			t.Errorf("%s received %d bytes it did not use (duplicates) while downloading %d", name, s.Wasted, s.DownloadedTotal)
		}
	}
}
