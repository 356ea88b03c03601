package swarmcast_test

import (
	"bytes"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast"
	"github.com/swarmcast/swarmcast/bencode"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
)

// sniffer is a UDP socket playing a DHT node that knows no other: it
// answers every query with its id (and a token for get_peers), and records
// the info hashes that get_peers and announce_peer queries name.
type sniffer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	seen map[string]int // "get_peers <hex>" and "announce_peer <hex>"
	hit  chan string
}

func startSniffer(t *testing.T) *sniffer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &sniffer{conn: c, seen: map[string]int{}, hit: make(chan string, 1024)}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			var m struct {
				T string `bencode:"t"`
				Y string `bencode:"y"`
				Q string `bencode:"q"`
				A struct {
					InfoHash string `bencode:"info_hash"`
				} `bencode:"a"`
			}
			if bencode.Unmarshal(buf[:n], &m) != nil || m.Y != "q" {
				continue
			}
			if m.A.InfoHash != "" {
				key := m.Q + " " + metainfo.Hash([]byte(m.A.InfoHash)).String()
				s.mu.Lock()
				s.seen[key]++
				s.mu.Unlock()
				select {
				case s.hit <- key:
				default:
				}
			}
			r := map[string]any{"id": strings.Repeat("S", 20)}
			if m.Q == "get_peers" {
				r["token"] = "tok"
			}
			b, _ := bencode.Marshal(map[string]any{"t": m.T, "y": "r", "r": r})
			c.WriteToUDP(b, from)
		}
	}()
	return s
}

func (s *sniffer) addr() string { return s.conn.LocalAddr().String() }

func (s *sniffer) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[key]
}

// A private torrent (BEP 27) never reaches the DHT, while a public one in
// the same client is looked up: the DHT node the client bootstraps from
// sees get_peers for the public torrent twice (so the private one was
// passed over on two rounds) and never a query naming the private one.
func TestDHTNeverSeesPrivateTorrent(t *testing.T) {
	sn := startSniffer(t)
	src := t.TempDir() // before the client: cleanups run last first, and Close writes resume data here
	c := newClient(t, swarmcast.Config{Storage: storage.NewMemory(), DHTBootstrap: []string{sn.addr()}})
	writeRandom(t, src, "public.bin", 100<<10)
	writeRandom(t, src, "private.bin", 100<<10)
	public, _, err := c.Seed(filepath.Join(src, "public.bin"), metainfo.CreateOptions{PieceLength: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	private, _, err := c.Seed(filepath.Join(src, "private.bin"), metainfo.CreateOptions{PieceLength: 32 << 10, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	// Two lookups of the public torrent (so the private one was passed
	// over on two rounds) and its announce, which follows a lookup's
	// answers and may come after the second lookup on a loaded machine.
	pub := "get_peers " + public.InfoHash().String()
	ann := "announce_peer " + public.InfoHash().String()
	deadline := time.After(testTimeout)
	for sn.count(pub) < 2 || sn.count(ann) == 0 {
		select {
		case <-sn.hit:
		case <-deadline:
			t.Fatalf("within %v the DHT node saw %d get_peers and %d announce_peer for the public torrent (want 2 and 1)",
				testTimeout, sn.count(pub), sn.count(ann))
		}
	}
	for _, q := range []string{"get_peers", "announce_peer"} {
		if k := q + " " + private.InfoHash().String(); sn.count(k) > 0 {
			t.Fatalf("the DHT node saw %s for the private torrent", q)
		}
	}
}

// The DHT stays off on loopback without DHTBootstrap, and with NoDHT; with
// a bootstrap node given, it starts on loopback too (the case that shows
// the log line looked for is the right one).
func TestDHTOffWhenPointless(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  swarmcast.Config
		on   bool
	}{
		{"loopback", swarmcast.Config{}, false},
		{"no-dht", swarmcast.Config{NoDHT: true, DHTBootstrap: []string{"127.0.0.1:9"}}, false},
		{"loopback-with-bootstrap", swarmcast.Config{DHTBootstrap: []string{"127.0.0.1:9"}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log syncBuffer
			tt.cfg.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			tt.cfg.Storage = storage.NewMemory()
			c := newClient(t, tt.cfg)
			c.Close()
			if on := strings.Contains(log.String(), "DHT on"); on != tt.on {
				t.Fatalf("DHT on: %v, want %v:\n%s", on, tt.on, log.String())
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
