package wstracker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// testTracker is a WebSocket tracker that speaks as bittorrent-tracker's
// server does (lib/server/parse-websocket.js and server.js): announce
// responses, offers relayed to other peers of the swarm, answers relayed to
// to_peer_id, scrapes, and {"failure reason"} alone for requests it cannot
// parse.
type testTracker struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	swarms   map[string]map[string]*websocket.Conn // info hash -> peer id -> socket
	conns    map[*websocket.Conn]bool
	fail     map[string]string // info hash -> failure reason
	bareFail map[string]bool   // info hashes answered like an unparsable request
	silent   bool              // receive but never respond
	requests []map[string]any  // every message received, decoded
	notify   chan struct{}     // signalled on every message received
	wg       sync.WaitGroup
}

func newTestTracker(t testing.TB) *testTracker {
	tt := &testTracker{
		t:        t,
		swarms:   map[string]map[string]*websocket.Conn{},
		conns:    map[*websocket.Conn]bool{},
		fail:     map[string]string{},
		bareFail: map[string]bool{},
		notify:   make(chan struct{}, 1),
	}
	tt.srv = httptest.NewServer(http.HandlerFunc(tt.serve))
	t.Cleanup(tt.close)
	return tt
}

func (tt *testTracker) url() string {
	return "ws" + strings.TrimPrefix(tt.srv.URL, "http") + "/announce"
}

func (tt *testTracker) close() {
	tt.dropAll()
	tt.srv.Close()
	tt.wg.Wait()
}

// dropAll closes every client socket, as a tracker restart would.
func (tt *testTracker) dropAll() {
	tt.mu.Lock()
	conns := tt.conns
	tt.conns = map[*websocket.Conn]bool{}
	tt.swarms = map[string]map[string]*websocket.Conn{}
	tt.mu.Unlock()
	for c := range conns {
		c.CloseNow()
	}
}

func (tt *testTracker) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	tt.wg.Add(1)
	defer tt.wg.Done()
	tt.mu.Lock()
	tt.conns[ws] = true
	tt.mu.Unlock()
	defer ws.CloseNow()
	ctx := context.Background()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			tt.mu.Lock()
			delete(tt.conns, ws)
			for _, sw := range tt.swarms {
				for id, c := range sw {
					if c == ws {
						delete(sw, id)
					}
				}
			}
			tt.mu.Unlock()
			return
		}
		tt.handle(ws, data)
	}
}

func (tt *testTracker) send(ws *websocket.Conn, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		tt.t.Error(err)
		return
	}
	ws.Write(context.Background(), websocket.MessageText, b)
}

// isBinary20 checks a binary string as parse-websocket.js does (length 20 in
// UTF-16 units), and that every character is one byte.
func isBinary20(v any) bool {
	s, ok := v.(string)
	if !ok || utf8.RuneCountInString(s) != 20 {
		return false
	}
	for _, r := range s {
		if r > 0xff {
			return false
		}
	}
	return true
}

func (tt *testTracker) handle(ws *websocket.Conn, data []byte) {
	var req map[string]any
	if err := json.Unmarshal(data, &req); err != nil {
		tt.send(ws, map[string]any{"failure reason": "invalid JSON"})
		return
	}
	tt.mu.Lock()
	tt.requests = append(tt.requests, req)
	silent := tt.silent
	tt.mu.Unlock()
	defer func() {
		select {
		case tt.notify <- struct{}{}:
		default:
		}
	}()
	if silent {
		return
	}
	switch req["action"] {
	case "announce":
		ih, _ := req["info_hash"].(string)
		if !isBinary20(req["info_hash"]) || !isBinary20(req["peer_id"]) {
			tt.send(ws, map[string]any{"failure reason": "invalid info_hash or peer_id"})
			return
		}
		peer := req["peer_id"].(string)
		tt.mu.Lock()
		reason, bare := tt.fail[ih], tt.bareFail[ih]
		tt.mu.Unlock()
		if bare {
			tt.send(ws, map[string]any{"failure reason": "refused"})
			return
		}
		if reason != "" {
			tt.send(ws, map[string]any{"action": "announce", "failure reason": reason, "info_hash": ih})
			return
		}
		if req["answer"] != nil {
			if !isBinary20(req["to_peer_id"]) {
				tt.send(ws, map[string]any{"failure reason": "invalid `to_peer_id` (required with `answer`)"})
				return
			}
			tt.mu.Lock()
			to := tt.swarms[ih][req["to_peer_id"].(string)]
			tt.mu.Unlock()
			if to != nil {
				tt.send(to, map[string]any{"action": "announce", "answer": req["answer"],
					"offer_id": req["offer_id"], "peer_id": peer, "info_hash": ih})
			}
			return
		}
		tt.mu.Lock()
		sw := tt.swarms[ih]
		if sw == nil {
			sw = map[string]*websocket.Conn{}
			tt.swarms[ih] = sw
		}
		if req["event"] == "stopped" {
			delete(sw, peer)
		} else {
			sw[peer] = ws
		}
		var others []*websocket.Conn
		for id, c := range sw {
			if id != peer {
				others = append(others, c)
			}
		}
		n := len(sw)
		tt.mu.Unlock()
		tt.send(ws, map[string]any{"action": "announce", "interval": 120, "complete": 0,
			"incomplete": n, "info_hash": ih})
		offers, _ := req["offers"].([]any)
		for i, c := range others {
			if i >= len(offers) {
				break
			}
			o, _ := offers[i].(map[string]any)
			tt.send(c, map[string]any{"action": "announce", "offer": o["offer"],
				"offer_id": o["offer_id"], "peer_id": peer, "info_hash": ih})
		}
	case "scrape":
		var hashes []string
		switch v := req["info_hash"].(type) {
		case string:
			hashes = []string{v}
		case []any:
			for _, h := range v {
				s, _ := h.(string)
				hashes = append(hashes, s)
			}
		}
		files := map[string]any{}
		tt.mu.Lock()
		for _, h := range hashes {
			files[h] = map[string]any{"complete": 0, "incomplete": len(tt.swarms[h]), "downloaded": 0}
		}
		tt.mu.Unlock()
		tt.send(ws, map[string]any{"action": "scrape", "files": files,
			"flags": map[string]any{"min_request_interval": 600}})
	default:
		tt.send(ws, map[string]any{"failure reason": "invalid action in WS request"})
	}
}

// sendToAll sends raw text to every connected client.
func (tt *testTracker) sendToAll(data string) {
	tt.mu.Lock()
	var conns []*websocket.Conn
	for c := range tt.conns {
		conns = append(conns, c)
	}
	tt.mu.Unlock()
	for _, c := range conns {
		c.Write(context.Background(), websocket.MessageText, []byte(data))
	}
}

// waitRequests waits until the tracker has received n messages, and
// returns them.
func (tt *testTracker) waitRequests(ctx context.Context, n int) []map[string]any {
	tt.t.Helper()
	for {
		tt.mu.Lock()
		reqs := tt.requests
		tt.mu.Unlock()
		if len(reqs) >= n {
			return reqs
		}
		select {
		case <-tt.notify:
		case <-ctx.Done():
			tt.t.Fatalf("tracker received %d messages, want %d", len(reqs), n)
		}
	}
}
