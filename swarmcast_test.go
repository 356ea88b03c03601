package swarmcast_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/swarmcast/swarmcast"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
)

// Every client the tests start is closed by then, with its listener, DHT,
// LSD and tracker goroutines: none may outlive the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every wait of these tests.
const testTimeout = 30 * time.Second

// newClient starts a client on loopback (so no DHT and no LSD: nothing
// leaves the host) that keeps its data in dir, closed when the test ends.
func newClient(t testing.TB, cfg swarmcast.Config) *swarmcast.Client {
	t.Helper()
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	cfg.WebRTCLoopback = true
	c, err := swarmcast.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// writeRandom writes n random bytes to dir/name and returns them.
func writeRandom(t testing.TB, dir, name string, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// Two clients on loopback: one seeds a folder from where it is, the other
// is given the folder's magnet link and the seeder's address, and gets
// every file byte for byte into its DataDir, over TCP.
func TestMagnetFromKnownPeer(t *testing.T) {
	src := t.TempDir()
	a := writeRandom(t, src, "show/a.bin", 1<<20+123)
	b := writeRandom(t, src, "show/sub/b.bin", 300<<10)
	seeder := newClient(t, swarmcast.Config{DataDir: t.TempDir()}) // DataDir elsewhere: Seed reads in place
	st, mi, err := seeder.Seed(filepath.Join(src, "show"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Complete() {
		t.Fatal("a seeded torrent is not complete")
	}
	magnet := mi.Magnet(st.Info()).String()

	out := t.TempDir()
	leecher := newClient(t, swarmcast.Config{DataDir: out})
	lt, err := leecher.AddMagnet(magnet, torrent.AddOptions{Peers: []string{seeder.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := lt.WaitComplete(ctx); err != nil {
		t.Fatalf("not complete: %v; %+v", err, lt.Stats())
	}
	for name, want := range map[string][]byte{"show/a.bin": a, "show/sub/b.bin": b} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s differs from the seeder's: %v", name, err)
		}
	}
	if s := lt.Stats(); s.Downloaded["tcp"] < int64(len(a)+len(b)) {
		t.Fatalf("bytes by source: %v", s.Downloaded)
	}
}

// Config.Trackers are announced to for every torrent, as the torrent's own
// trackers are: a leecher that knows the seeder only through a tracker in
// its Config finds it. The tracker is an HTTP server of the test's that
// hands out the seeder's address.
func TestConfigTrackers(t *testing.T) {
	src := t.TempDir()
	data := writeRandom(t, src, "t.bin", 200<<10)
	seeder := newClient(t, swarmcast.Config{})
	st, _, err := seeder.Seed(filepath.Join(src, "t.bin"), metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	announced := make(chan struct{}, 1)
	tr := startFakeTracker(t, seeder.Addr(), announced)
	leecher := newClient(t, swarmcast.Config{Storage: storage.NewMemory(), Trackers: []string{tr}})
	lt, err := leecher.AddMagnet("magnet:?xt=urn:btih:"+st.InfoHash().String(), torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := lt.WaitComplete(ctx); err != nil {
		t.Fatalf("not complete through Config.Trackers: %v; %+v", err, lt.Stats())
	}
	r := lt.NewReader()
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("data differs: %v", err)
	}
}

// ListenAddr is used as written: a taken port is an error that says so.
func TestListenAddrTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := swarmcast.NewClient(swarmcast.Config{ListenAddr: l.Addr().String()})
	if err == nil {
		c.Close()
		t.Fatal("a client listens on a taken port")
	}
	if !errors.Is(err, swarmcast.ErrPortTaken) {
		t.Fatalf("error %v does not wrap ErrPortTaken", err)
	}
}

// A Config no client can run with is refused with an error saying which
// field is wrong.
func TestBadConfig(t *testing.T) {
	for _, cfg := range []swarmcast.Config{
		{ListenAddr: "127.0.0.1:0", UploadRate: -1},
		{ListenAddr: "127.0.0.1:0", DownloadRate: -5},
		{ListenAddr: "127.0.0.1:0", MaxConns: -1},
		{ListenAddr: "127.0.0.1:0", Encryption: "maybe"},
	} {
		c, err := swarmcast.NewClient(cfg)
		if err == nil {
			c.Close()
			t.Fatalf("%+v accepted", cfg)
		}
		if !errors.Is(err, swarmcast.ErrBadConfig) {
			t.Fatalf("%+v: %v does not wrap ErrBadConfig", cfg, err)
		}
	}
}

// Close stops the listener (a dial is refused after) and may be called
// twice.
func TestCloseStopsListener(t *testing.T) {
	c, err := swarmcast.NewClient(swarmcast.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.Addr()
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Fatalf("the client does not accept on %s: %v", addr, err)
	} else {
		conn.Close()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts after Close", addr)
	}
}

// Seeding the same content twice is refused (the torrent is there), and
// the first seed keeps serving.
func TestSeedTwice(t *testing.T) {
	src := t.TempDir()
	writeRandom(t, src, "x.bin", 1000)
	c := newClient(t, swarmcast.Config{})
	if _, _, err := c.Seed(filepath.Join(src, "x.bin"), metainfo.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Seed(filepath.Join(src, "x.bin"), metainfo.CreateOptions{}); !errors.Is(err, torrent.ErrDuplicate) {
		t.Fatalf("second Seed: %v, want ErrDuplicate", err)
	}
	if _, _, err := c.Seed(filepath.Join(src, "missing"), metainfo.CreateOptions{}); err == nil {
		t.Fatal("seeding a path that does not exist succeeded")
	}
}

// The cost of a client on loopback, started and closed: a listener, the
// engine's hash workers and the tracker cache (no DHT, no LSD there).
func BenchmarkNewClientClose(b *testing.B) {
	for b.Loop() {
		c, err := swarmcast.NewClient(swarmcast.Config{ListenAddr: "127.0.0.1:0", Storage: storage.NewMemory()})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// Config's rate limits reach the engine: 4 MiB at a 2 MiB/s download limit
// take at least 1.5 s (2 s less the limiter's burst), where loopback
// without a limit takes tens of milliseconds; the same for the seeder's
// upload limit.
func TestRateLimits(t *testing.T) {
	for _, tt := range []struct {
		name            string
		seeder, leecher swarmcast.Config
	}{
		{"download", swarmcast.Config{}, swarmcast.Config{DownloadRate: 2 << 20}},
		{"upload", swarmcast.Config{UploadRate: 2 << 20}, swarmcast.Config{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			writeRandom(t, src, "r.bin", 4<<20)
			seeder := newClient(t, tt.seeder)
			st, mi, err := seeder.Seed(filepath.Join(src, "r.bin"), metainfo.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tt.leecher.Storage = storage.NewMemory()
			leecher := newClient(t, tt.leecher)
			start := time.Now()
			lt, err := leecher.AddMagnet(mi.Magnet(st.Info()).String(), torrent.AddOptions{Peers: []string{seeder.Addr()}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := lt.WaitComplete(ctx); err != nil {
				t.Fatalf("not complete: %v", err)
			}
			if took := time.Since(start); took < 1500*time.Millisecond {
				t.Fatalf("4 MiB at 2 MiB/s took %v", took)
			} else {
				t.Logf("4 MiB at 2 MiB/s took %v", took.Round(time.Millisecond))
			}
		})
	}
}
