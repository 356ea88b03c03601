package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/bencode"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

// dhtTestTimeout bounds each DHT test's processes.
const dhtTestTimeout = 60 * time.Second

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
	c := torrent.NewClient(torrent.Config{})
	defer c.Close()
	public, private := dhtTestTorrent(t, false), dhtTestTorrent(t, true)
	for _, mi := range []*metainfo.MetaInfo{public, private} {
		if _, err := c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
			t.Fatal(err)
		}
	}
	f := dhtFlags{bootstrap: stringList{sn.addr()}}
	n := f.start(c, "127.0.0.1:6", nil)
	if n == nil {
		t.Fatal("no DHT node started though --dht-bootstrap was given")
	}
	defer n.Close()
	pub := "get_peers " + public.HashInfoBytes().String()
	deadline := time.After(dhtTestTimeout)
	for sn.count(pub) < 2 {
		select {
		case <-sn.hit:
		case <-deadline:
			t.Fatalf("the DHT node saw %d get_peers for the public torrent within %v", sn.count(pub), dhtTestTimeout)
		}
	}
	for _, q := range []string{"get_peers", "announce_peer"} {
		if k := q + " " + private.HashInfoBytes().String(); sn.count(k) > 0 {
			t.Fatalf("the DHT node saw %s for the private torrent", q)
		}
	}
	if k := "announce_peer " + public.HashInfoBytes().String(); sn.count(k) == 0 {
		t.Errorf("the public torrent was looked up but not announced")
	}
}

// The DHT stays off on loopback without --dht-bootstrap, and with --no-dht.
func TestDHTOffWhenPointless(t *testing.T) {
	c := torrent.NewClient(torrent.Config{})
	defer c.Close()
	for _, tt := range []struct {
		name   string
		f      dhtFlags
		listen string
	}{
		{"loopback", dhtFlags{}, "127.0.0.1:6"},
		{"no-dht", dhtFlags{off: true, bootstrap: stringList{"127.0.0.1:9"}}, "127.0.0.1:6"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if n := tt.f.start(c, tt.listen, nil); n != nil {
				n.Close()
				t.Fatal("a DHT node started")
			}
		})
	}
}

func dhtTestTorrent(t *testing.T, private bool) *metainfo.MetaInfo {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, 100<<10)
	rand.Read(data)
	p := filepath.Join(dir, "x.bin")
	os.WriteFile(p, data, 0o644)
	mi, _, err := metainfo.Create(p, metainfo.CreateOptions{Private: private, PieceLength: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return mi
}

// startLines starts bin with args and returns a channel of its stdout lines.
func startLines(t *testing.T, ctx context.Context, env []string, bin string, args ...string) (<-chan string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	killGroupOnCancel(cmd)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		<-done
		cmd.Wait()
	})
	return lines, &stderr
}

// waitLine returns the rest of the first line that starts with prefix.
func waitLine(t *testing.T, lines <-chan string, prefix string, stderr *bytes.Buffer) string {
	t.Helper()
	deadline := time.After(dhtTestTimeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("no line %q before the process ended", prefix)
			}
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return rest
			}
		case <-deadline:
			t.Fatalf("no line %q within %v", prefix, dhtTestTimeout)
		}
	}
}

// A magnet link with no tracker and no peer resolves through the DHT:
// `swarmcast dht-node` runs a bootstrap node, `swarmcast seed` announces to
// the DHT through it, and `swarmcast download MAGNET --dht-bootstrap NODE`
// finds the seeder, fetches the info and the data, and counts the seeder's
// address as found by the DHT. Every process is on its own loopback
// address.
func TestDHTMagnetDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildSwarmcast(t)
	dir := t.TempDir()
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	ctx, cancel := context.WithTimeout(context.Background(), dhtTestTimeout)
	defer cancel()
	nodeLines, nodeErr := startLines(t, ctx, env, bin, "dht-node", "--listen", "127.0.0.1:0")
	node := waitLine(t, nodeLines, "dht node listening on ", nodeErr)

	data := make([]byte, 2<<20+77)
	rand.Read(data)
	src := filepath.Join(dir, "dht.bin")
	os.WriteFile(src, data, 0o644)
	seedLines, seedErr := startLines(t, ctx, env, bin, "seed", src, "--listen", "127.0.0.2:0", "--dht-bootstrap", node)
	magnet := waitLine(t, seedLines, "magnet: ", seedErr)
	if strings.Contains(magnet, "tr=") || strings.Contains(magnet, "x.pe=") {
		t.Fatalf("the magnet link names a tracker or a peer: %s", magnet)
	}
	out := filepath.Join(dir, "out")
	dl := exec.CommandContext(ctx, bin, "download", magnet, "-o", out, "--listen", "127.0.0.3:0", "--dht-bootstrap", node, "--json")
	killGroupOnCancel(dl)
	dl.Env = env
	var errb bytes.Buffer
	dl.Stderr = &errb
	start := time.Now()
	if err := dl.Run(); err != nil {
		t.Fatalf("download: %v\n%s\n--- seed\n%s", err, errb.String(), seedErr.String())
	}
	t.Logf("magnet resolved and downloaded through the DHT in %v", time.Since(start).Round(time.Millisecond))
	got, err := os.ReadFile(filepath.Join(out, "dht.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs: %v", err)
	}
	var last progressLine
	for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if strings.HasPrefix(l, "{") {
			json.Unmarshal([]byte(l), &last)
		}
	}
	if last.Addresses["dht"] == 0 {
		t.Fatalf("the last progress line counts no address found by the DHT: %+v", last)
	}
}
