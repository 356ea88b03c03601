package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/httptracker"
	"github.com/swarmcast/swarmcast/tracker/udptracker"
	"go.uber.org/goleak"
)

// TestTrackerCommand runs the tracker command on loopback, uses all three
// protocols, and stops it as a signal would.
func TestTrackerCommand(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- serveTracker(ctx, []string{"--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--interval", "1m"}, pw, &stderr)
		pw.Close()
	}()
	urls := map[string]string{}
	sc := bufio.NewScanner(pr)
	for len(urls) < 4 && sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		urls[k] = strings.TrimSpace(v)
	}
	go io.Copy(io.Discard, pr)
	if urls["http"] == "" || urls["ws"] == "" || urls["udp"] == "" {
		t.Fatalf("printed %v", urls)
	}
	tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer tcancel()

	var ih metainfo.Hash
	copy(ih[:], "0123456789abcdefghij")
	hc, err := httptracker.New(urls["http"], httptracker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	r, err := hc.Announce(tctx, tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{1}, Port: 6881, Left: 1})
	if err != nil || r.Interval != time.Minute {
		t.Fatalf("HTTP announce: %+v, %v", r, err)
	}
	uc, err := udptracker.New(urls["udp"], udptracker.Config{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	r, err = uc.Announce(tctx, tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{2}, Port: 6882})
	if err != nil || len(r.Peers) != 1 {
		t.Fatalf("UDP announce: %+v, %v", r, err)
	}
	ws, _, err := websocket.Dial(tctx, urls["ws"]+"/announce", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	msg, _ := json.Marshal(map[string]any{"action": "scrape", "info_hash": string([]rune(string(ih[:])))})
	if err := ws.Write(tctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	_, reply, err := ws.Read(tctx)
	if err != nil || !strings.Contains(string(reply), `"complete":1,"incomplete":1`) {
		t.Fatalf("WebSocket scrape: %s, %v", reply, err)
	}
	resp, err := http.Get(strings.TrimSuffix(urls["http"], "/announce") + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// What SIGINT does: the WebSocket gets a goodbye, the command returns.
	cancel()
	if _, _, err := ws.Read(tctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("WebSocket after stop: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tracker: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tracker did not stop")
	}
	if !strings.Contains(stderr.String(), "tracker stopped") {
		t.Fatalf("stderr %q", stderr.String())
	}
}

func TestTrackerCommandErrors(t *testing.T) {
	tests := []struct {
		args  []string
		usage bool
		msg   string
	}{
		{[]string{"extra"}, true, "no arguments"},
		{[]string{"--http", ""}, true, "nothing to serve"},
		{[]string{"--interval", "10ms"}, true, "too short"},
		{[]string{"--nats-flush-delay", "0s"}, true, "--nats-flush-delay"},
		{[]string{"--nats-flush-delay", "2s"}, true, "--nats-flush-delay"},
		{[]string{"--nats-near-picks", "1"}, true, "--nats-near-picks"},
		{[]string{"--nats-near-picks", "-0.1"}, true, "--nats-near-picks"},
		{[]string{"--nats-near-picks", "NaN"}, true, "--nats-near-picks"},
		{[]string{"--max-conns", "0"}, true, "--max-conns"},
		{[]string{"--max-torrents", "-1"}, true, "--max-torrents"},
		{[]string{"--max-peers", "0"}, true, "--max-peers"},
		{[]string{"--ws-message-rate", "0"}, true, "--ws-message-rate"},
		{[]string{"--ws-message-rate", "NaN"}, true, "--ws-message-rate"},
		{[]string{"--ws-message-burst", "0"}, true, "--ws-message-burst"},
		{[]string{"--bogus"}, false, "not defined"},
		{[]string{"--http", "256.0.0.1:1"}, false, "HTTP"},
		{[]string{"--stats-allow", "10.0.0.0/99"}, true, "--stats-allow"},
		{[]string{"--stats-token-file", "/nonexistent/token"}, false, "--stats-token-file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			err := runTracker(tt.args, io.Discard, &stderr)
			if err == nil || errors.Is(err, errUsage) != tt.usage || !strings.Contains(err.Error()+stderr.String(), tt.msg) {
				t.Fatalf("err %v (stderr %q), want usage=%v with %q", err, stderr.String(), tt.usage, tt.msg)
			}
		})
	}
	if err := runTracker([]string{"-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	// Through the command table: a usage error exits 2, help 0.
	if code, _, errs := runCLI(t, "tracker", "--http", ""); code != 2 || !strings.Contains(errs, "nothing to serve") {
		t.Fatalf("swarmcast tracker --http '': exit %d, %q", code, errs)
	}
	if code, _, _ := runCLI(t, "tracker", "-h"); code != 0 {
		t.Fatalf("swarmcast tracker -h: exit %d", code)
	}
}

// TestTrackerStatsAccess: --stats-allow and --stats-token-file keep /stats
// and /metrics from strangers, not from admins or the token's holder.
func TestTrackerStatsAccess(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveTracker(ctx, []string{"--http", "127.0.0.1:0", "--stats-allow", "127.0.0.2", "--stats-token-file", tokenFile}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var statsURL string
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "stats: "); ok {
			statsURL = v
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if statsURL == "" {
		t.Fatal("no stats URL printed")
	}
	client := func(ip string) *http.Client {
		tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	status := func(c *http.Client, url, auth string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	stranger, admin := client("127.0.0.1"), client("127.0.0.2")
	metricsURL := strings.TrimSuffix(statsURL, "/stats") + "/metrics"
	for _, url := range []string{statsURL, metricsURL} {
		if got := status(stranger, url, ""); got != http.StatusForbidden {
			t.Errorf("%s from a stranger: %d, want 403", url, got)
		}
		if got := status(stranger, url, "Bearer s3cret"); got != http.StatusOK {
			t.Errorf("%s with the token: %d, want 200", url, got)
		}
		if got := status(admin, url, ""); got != http.StatusOK {
			t.Errorf("%s from the admin address: %d, want 200", url, got)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tracker: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tracker did not stop")
	}
	stranger.CloseIdleConnections()
	admin.CloseIdleConnections()
}

// TestTrackerMaxConns: --max-conns caps the WebSockets open at once; one
// more gets 503, and gets in once another closes. --max-torrents caps the
// torrents kept.
func TestTrackerMaxConns(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	urls, stop := runTrackerCmd(t, "--http", "127.0.0.1:0", "--max-conns", "1", "--max-torrents", "5", "--max-peers", "5")
	defer stop()
	wsURL := urls["ws"]
	tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer tcancel()

	hc, err := httptracker.New(urls["http"], httptracker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	for i := range 6 {
		var ih metainfo.Hash
		ih[0] = byte(i + 1)
		_, err := hc.Announce(tctx, tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{1}, Port: 6881, Left: 1})
		if full := err != nil && strings.Contains(err.Error(), "too many torrents"); full != (i == 5) {
			t.Fatalf("announce for torrent %d with --max-torrents 5: %v", i+1, err)
		}
	}

	first, _, err := websocket.Dial(tctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.CloseNow()
	second, resp, err := websocket.Dial(tctx, wsURL, nil)
	if err == nil {
		second.CloseNow()
		t.Fatal("a second WebSocket was let in with --max-conns 1")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second WebSocket: %v (response %v), want 503", err, resp)
	}
	first.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		third, _, err := websocket.Dial(tctx, wsURL, nil)
		if err == nil {
			third.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no WebSocket let in after the first closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --ws-message-rate and --ws-message-burst are each WebSocket's limit: with
// a burst of 3 and 1 message a second, a socket's fourth message at once
// closes it (1008, too many messages).
func TestTrackerMessageRate(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	urls, stop := runTrackerCmd(t, "--http", "127.0.0.1:0", "--ws-message-rate", "1", "--ws-message-burst", "3")
	defer stop()
	wsURL := urls["ws"]
	tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer tcancel()
	c, _, err := websocket.Dial(tctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	scrape := []byte(`{"action":"scrape","info_hash":[]}`)
	for i := range 4 {
		if err := c.Write(tctx, websocket.MessageText, scrape); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	replies := 0
	for {
		_, _, err := c.Read(tctx)
		if err == nil {
			replies++
			continue
		}
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || replies != 3 {
			t.Fatalf("after %d replies: %v, want the socket closed (1008) after 3", replies, err)
		}
		return
	}
}
