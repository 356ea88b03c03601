package torrent_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport"
)

// recordingDialer records the addresses dialled and connects to none.
type recordingDialer struct {
	mu    sync.Mutex
	addrs []string
}

func (d *recordingDialer) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	return nil, errors.New("refused by the test")
}

func (d *recordingDialer) dialled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.addrs)
}

// Peers on our own network are dialled before others, one dial at a time
// here, so the order shows.
func TestLocalPeersDialledFirst(t *testing.T) {
	d := &recordingDialer{}
	n := newNode(t, func(c *torrent.Config) {
		c.Dialers = map[string]transport.Dialer{transport.TCP: d}
		c.MaxHalfOpen = 1
	})
	mi, _ := makeContent(t, t.TempDir(), "local", []int{64 << 10}, 16<<10)
	tt, err := n.c.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	public := []string{"198.51.100.7:6881", "203.0.113.9:6881", "[2001:db8::1]:6881"}
	local := []string{"192.168.1.20:6881", "10.1.2.3:6881", "[fe80::1]:6881", "172.16.0.9:6881"}
	tt.AddPeers(append(slices.Clone(public), local...)...)
	deadline := time.Now().Add(10 * time.Second)
	for len(d.dialled()) < len(public)+len(local) {
		if time.Now().After(deadline) {
			t.Fatalf("dialled only %q", d.dialled())
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := d.dialled()
	for i, a := range got[:len(local)] {
		if !slices.Contains(local, a) {
			t.Fatalf("dial %d went to %s before every local peer was tried: %q", i, a, got)
		}
	}
}
