package daemon

import (
	"encoding/base64"
	"net/http"
	"testing"
)

// torrent-get's "peers" and "peersFrom" list the connections as
// Transmission does, and /api/torrents/<hash> has them too.
func TestPeersInTorrentGet(t *testing.T) {
	// 2 MiB at 512 KiB/s: the download lasts ~4 s, time to look.
	src := seed(t, "slow.bin", map[string]int{"slow.bin": 2 << 20}, 64<<10, 512<<10)
	n := startNode(t, t.TempDir(), []string{src.addr}, nil)
	var added map[string]map[string]any
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(src.raw)}, &added)
	list := n.waitFor(t, "a peer sending", func(tr map[string]any) bool {
		ps, _ := tr["peers"].([]any)
		return len(ps) == 1 && ps[0].(map[string]any)["rateToClient"].(float64) > 0
	}, "peers", "peersFrom")
	p := list[0]["peers"].([]any)[0].(map[string]any)
	if p["address"] != "127.0.0.1" || p["isIncoming"] != false || p["clientIsChoked"] != false || p["clientIsInterested"] != true ||
		p["progress"] != 1.0 || p["isDownloadingFrom"] != true || p["clientName"] == "" {
		t.Errorf("peer %v", p)
	}
	if f, _ := p["flagStr"].(string); f != "D" {
		t.Errorf("flagStr %q, want D (downloading from it; found by the user, outgoing, unencrypted)", f)
	}
	if from := list[0]["peersFrom"].(map[string]any); from["fromIncoming"] != 0.0 || from["fromTracker"] != 0.0 {
		t.Errorf("peersFrom %v", from)
	}
	var tj TorrentJSON
	if code := n.apiDo(t, http.MethodGet, "/api/torrents/"+src.hashHex, "", nil, &tj); code != http.StatusOK {
		t.Fatalf("GET /api/torrents/<hash>: %d", code)
	}
	if len(tj.Peers) != 1 || tj.Peers[0].Network != "tcp" || tj.Peers[0].Source != "user" {
		t.Errorf("/api/ peers %+v", tj.Peers)
	}
}
