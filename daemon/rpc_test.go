package daemon

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func rpcResult(t *testing.T, d *Daemon, body string) RPCResponse {
	t.Helper()
	return d.Call(context.Background(), []byte(body))
}

// torrent-add of a URL fetches it (the default fetcher, over real HTTP).
func TestAddByURL(t *testing.T) {
	src := seed(t, "w.bin", map[string]int{"w.bin": 64 << 10}, 16<<10, 0)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/w.torrent" {
			w.Write(src.raw)
			return
		}
		http.NotFound(w, r)
	}))
	defer origin.Close()
	n := startNode(t, t.TempDir(), []string{src.addr}, func(c *Config) { c.FetchTorrent = nil })
	var added map[string]map[string]any
	n.call(t, "torrent-add", map[string]any{"filename": origin.URL + "/w.torrent"}, &added)
	if added["torrent-added"]["hashString"] != src.hashHex {
		t.Fatalf("added %v", added)
	}
	r := rpcResult(t, n.d, `{"method":"torrent-add","arguments":{"filename":"`+origin.URL+`/missing.torrent"}}`)
	if r.Result == "success" || !strings.Contains(r.Result, "404") {
		t.Errorf("a URL that answers 404: %q", r.Result)
	}
	n.waitFor(t, "the download", done, "percentDone", "leftUntilDone")
}

func TestMaxTorrents(t *testing.T) {
	n := startNode(t, t.TempDir(), nil, func(c *Config) { c.MaxTorrents = 2 })
	for i, h := range []string{strings.Repeat("1", 40), strings.Repeat("2", 40), strings.Repeat("3", 40)} {
		r := rpcResult(t, n.d, `{"method":"torrent-add","arguments":{"filename":"magnet:?xt=urn:btih:`+h+`"}}`)
		if want := i < 2; (r.Result == "success") != want {
			t.Errorf("torrent %d: %q", i+1, r.Result)
		}
		if i == 2 && !strings.Contains(r.Result, "too many torrents") {
			t.Errorf("the third torrent refused with %q", r.Result)
		}
	}
}

// Answers that say what swarmcast cannot do, rather than pretend.
func TestHonestRefusals(t *testing.T) {
	n := startNode(t, t.TempDir(), nil, nil)
	for _, tc := range []struct{ body, want string }{
		{`{"method":"port-test"}`, "cannot test"},
		{`{"method":"session-set","arguments":{"alt-speed-down":5,"alt-speed-enabled":true}}`, "alt-speed-down"},
		{`{"method":"session-set","arguments":{"speed-limit-down":-5}}`, "speed-limit-down"},
		{`{"method":"session-set","arguments":{"no-such-setting":1}}`, "no-such-setting"},
		{`{"method":"torrent-reannounce","arguments":{"ids":[1]}}`, "not supported"},
		{`{"method":"torrent-set-location","arguments":{"ids":[1],"location":"/tmp"}}`, "not supported"},
		{`{"method":"blocklist-update"}`, "not supported"},
		{`{"method":"session-close"}`, "SIGTERM"},
		{`{"method":"no-such-method"}`, "not recognized"},
		{`{"method":"torrent-get","arguments":{}}`, "no fields"},
		{`not json`, "invalid request"},
	} {
		if r := rpcResult(t, n.d, tc.body); r.Result == "success" || !strings.Contains(r.Result, tc.want) {
			t.Errorf("%s: %q, want an error with %q", tc.body, r.Result, tc.want)
		}
	}
	// A form sent back with the values it was given changes nothing and is accepted.
	var sess map[string]any
	n.call(t, "session-get", map[string]any{"fields": []string{"peer-port", "dht-enabled", "download-dir"}}, &sess)
	if len(sess) != 3 {
		t.Fatalf("session-get with fields: %v", sess)
	}
	n.call(t, "session-set", sess, nil)
	var free map[string]any
	n.call(t, "free-space", map[string]any{"path": n.dlDir}, &free)
	if free["size-bytes"].(float64) <= 0 || free["total_size"].(float64) < free["size-bytes"].(float64) {
		t.Errorf("free-space: %v", free)
	}
	// The table format of Transmission 4.
	src := seed(t, "tb.bin", map[string]int{"tb.bin": 16 << 10}, 16<<10, 0)
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(src.raw), "paused": true}, nil)
	var table struct {
		Torrents [][]any `json:"torrents"`
	}
	n.call(t, "torrent-get", map[string]any{"fields": []string{"id", "name", "status"}, "format": "table"}, &table)
	if len(table.Torrents) != 2 || table.Torrents[0][1] != "name" || table.Torrents[1][1] != "tb.bin" || table.Torrents[1][2] != 0.0 {
		t.Errorf("table format: %v", table.Torrents)
	}
}

// With credentials set, any Host is answered, as Transmission does: the
// credentials are what a rebinding page lacks.
func TestHostAnyWithAuth(t *testing.T) {
	n := startNode(t, t.TempDir(), nil, func(c *Config) { c.Auth = "u:p" })
	req, _ := http.NewRequest(http.MethodGet, n.srv.URL+"/api/client", nil)
	req.Host = "nas.example"
	req.SetBasicAuth("u", "p")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s", resp.Status)
	}
}
