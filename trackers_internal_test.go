package swarmcast

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/bencode"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/transport/webrtc"
)

// The tracker cache keeps at most max clients open: opening another closes
// the least recently used idle one, whose handle opens a fresh client at
// its next use; when every open client has a call in flight, a new tracker
// is refused for now (and so is reopening an evicted one). Real HTTP
// tracker clients against a loopback tracker that can be made to hang.
func TestTrackerCacheBounded(t *testing.T) {
	var hang atomic.Bool
	release := make(chan struct{})
	var announces atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		announces.Add(1)
		if hang.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		b, _ := bencode.Marshal(map[string]any{"interval": 1800, "peers": ""})
		w.Write(b)
	}))
	defer srv.Close()
	c := newTrackerCache(nil, "test", false, webrtc.Config{}, nil)
	c.max = 3
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := func(i int) string { return fmt.Sprintf("%s/%d/announce", srv.URL, i) }
	announce := func(cl tracker.Client) error {
		_, err := cl.Announce(ctx, tracker.AnnounceRequest{Port: 1, Left: 1})
		return err
	}

	var handles []tracker.Client
	for i := range 5 {
		h, err := c.get(url(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := announce(h); err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
		if n := c.open.Len(); n > c.max {
			t.Fatalf("%d clients open, max %d", n, c.max)
		}
	}
	// Handles 0 and 1 were closed, the least recently used; using 0 again
	// reopens it (closing 2).
	c.mu.Lock()
	evicted := handles[0].(*sharedTracker).cl == nil && handles[1].(*sharedTracker).cl == nil && c.byURL[url(0)] == nil
	c.mu.Unlock()
	if !evicted {
		t.Fatal("the least recently used clients are still open or handed out")
	}
	if err := announce(handles[0]); err != nil {
		t.Fatalf("an evicted handle does not reopen: %v", err)
	}
	if n := c.open.Len(); n != c.max {
		t.Fatalf("%d clients open, want %d", n, c.max)
	}

	// Every open client busy: a new tracker waits for room.
	hang.Store(true)
	before := announces.Load()
	var open []tracker.Client
	for e := c.open.Front(); e != nil; e = e.Next() {
		open = append(open, e.Value.(*sharedTracker))
	}
	done := make(chan error, len(open))
	for _, h := range open {
		go func() { done <- announce(h) }()
	}
	for announces.Load() < before+int64(len(open)) {
		select {
		case <-ctx.Done():
			t.Fatal("the announces did not reach the tracker")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if _, err := c.get(url(9)); !errors.Is(err, errTooManyTrackers) {
		t.Fatalf("a new tracker while every open one is busy: %v", err)
	}
	close(release)
	for range open {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	h, err := c.get(url(9))
	if err != nil {
		t.Fatalf("no room after the calls ended: %v", err)
	}
	if err := announce(h); err != nil {
		t.Fatal(err)
	}
}
