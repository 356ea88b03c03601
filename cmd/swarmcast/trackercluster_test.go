package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/httptracker"
)

// runTrackerCmd runs the tracker command until the returned stop is called,
// and returns what it printed, by label, once it prints its http, ws and
// stats lines (one write).
func runTrackerCmd(t *testing.T, args ...string) (map[string]string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveTracker(ctx, args, pw, io.Discard)
		pw.Close()
	}()
	printed := map[string]string{}
	sc := bufio.NewScanner(pr)
	for printed["stats"] == "" && sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		printed[k] = strings.TrimSpace(v)
	}
	go io.Copy(io.Discard, pr)
	if printed["http"] == "" {
		cancel()
		t.Fatalf("tracker %v printed %v, ended with %v", args, printed, <-done)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tracker: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("tracker did not stop")
		}
	}
	t.Cleanup(stop)
	return printed, stop
}

// TestTrackerClusterCommand: two tracker commands with --nats-embedded on
// one host form one tracker; when the one serving NATS stops, the other
// takes NATS over, and a third joins it.
func TestTrackerClusterCommand(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the trackers' own cleanups
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := ln.Addr().String()
	ln.Close()
	args := []string{"--http", "127.0.0.1:0", "--nats-embedded", "--nats-listen", natsAddr}
	p1, stop1 := runTrackerCmd(t, args...)
	if !strings.HasPrefix(p1["nats"], "serving NATS") {
		t.Fatalf("first instance: %v", p1)
	}
	p2, _ := runTrackerCmd(t, args...)
	if !strings.HasPrefix(p2["nats"], "using the NATS server") || !strings.HasSuffix(p2["cluster"], "of 2") {
		t.Fatalf("second instance: %v", p2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	announce := func(url string, id byte, port uint16, ih metainfo.Hash) []string {
		t.Helper()
		c, err := httptracker.New(url, httptracker.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{id}, Port: port, Left: 1})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range r.Peers {
			got = append(got, p.String())
		}
		return got
	}
	// Whichever instance owns a swarm, announces on either meet.
	for i := range 8 {
		var ih metainfo.Hash
		copy(ih[:], "cluster-command-swarm")
		ih[19] = byte(i)
		announce(p1["http"], 1, 7001, ih)
		if got := announce(p2["http"], 2, 7002, ih); !slices.Equal(got, []string{"127.0.0.1:7001"}) {
			t.Fatalf("swarm %d: instance 2 returned %v", i, got)
		}
	}
	stop1()
	p3, _ := runTrackerCmd(t, args...)
	// The second took NATS over, or the third did; either way they meet.
	var ih metainfo.Hash
	copy(ih[:], "cluster-command-after")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _ := httptracker.New(p2["http"], httptracker.Config{})
		_, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{3}, Port: 7003, Left: 1})
		c.Close()
		if err == nil {
			if got := announce(p3["http"], 4, 7004, ih); slices.Contains(got, "127.0.0.1:7003") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances 2 and 3 did not meet after instance 1 stopped: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
