package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// apiDo sends a request to the node's API with the session id, and decodes
// a JSON answer into out.
func (n *node) apiDo(t *testing.T, method, path, ctype string, body io.Reader, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, n.srv.URL+path, body)
	req.Header.Set(SessionHeader, n.d.SessionID())
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func TestAPIEventsStreamAndMetrics(t *testing.T) {
	src := seed(t, "show", map[string]int{"e1.mp4": 600 << 10, "e2.mp4": 200 << 10}, 16<<10, 0)
	n := startNode(t, t.TempDir(), []string{src.addr}, nil)

	// The event stream, opened before anything is added, sees the torrent
	// come and complete.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.srv.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events Content-Type %q", ct)
	}

	var added TorrentJSON
	if code := n.apiDo(t, http.MethodPost, "/api/torrents", "application/json", strings.NewReader(`{"magnet":"`+src.magnet+`"}`), &added); code != http.StatusCreated {
		t.Fatalf("POST /api/torrents: %d", code)
	}
	if added.InfoHash != src.hashHex || added.ID != 1 {
		t.Fatalf("added %+v", added)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var seenComplete bool
	for sc.Scan() && !seenComplete {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Client   ClientJSON    `json:"client"`
			Torrents []TorrentJSON `json:"torrents"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		for _, tr := range ev.Torrents {
			if tr.InfoHash == src.hashHex && tr.PercentText == "100%" && tr.State == "seeding" {
				seenComplete = true
				if ev.Client.Downloaded["tcp"] == 0 || tr.ServedByPeers != 100 {
					t.Errorf("complete, but client bytes by source %v, served by peers %v%%", ev.Client.Downloaded, tr.ServedByPeers)
				}
			}
		}
	}
	if !seenComplete {
		t.Fatalf("the event stream ended without the torrent at 100%%: %v", sc.Err())
	}
	// EndStreams (at the server's shutdown) ends the stream from our side.
	n.d.EndStreams()
	for sc.Scan() {
	}
	if ctx.Err() != nil {
		t.Fatal("the event stream did not end after EndStreams")
	}

	var detail TorrentJSON
	n.apiDo(t, http.MethodGet, "/api/torrents/"+src.hashHex, "", nil, &detail)
	if len(detail.Files) != 2 || detail.PiecesMap != strings.Repeat("1", detail.Pieces) || detail.Files[0].Downloaded != detail.Files[0].Length {
		t.Fatalf("detail: files %+v, pieces map %q", detail.Files, detail.PiecesMap)
	}
	if !strings.HasPrefix(detail.Files[0].PlayerURL, "/player.html?torrent="+src.hashHex) {
		t.Errorf("player URL %q", detail.Files[0].PlayerURL)
	}
	// A seek into the stream: the bytes the seeder has, and a seek latency observed.
	sreq, _ := http.NewRequest(http.MethodGet, n.srv.URL+detail.Files[0].URL, nil)
	sreq.Header.Set("Range", "bytes=1000-1999")
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(sresp.Body)
	sresp.Body.Close()
	if sresp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, src.data["e1.mp4"][1000:2000]) {
		t.Fatalf("stream Range: %s, %d bytes, equal %v", sresp.Status, len(got), bytes.Equal(got, src.data["e1.mp4"][1000:2000]))
	}

	if code := n.apiDo(t, http.MethodPost, "/api/torrents/"+src.hashHex+"/pause", "", nil, &detail); code != http.StatusOK || detail.State != "stopped" {
		t.Fatalf("pause: %d, state %q", code, detail.State)
	}
	if code := n.apiDo(t, http.MethodPost, "/api/torrents/"+src.hashHex+"/resume", "", nil, &detail); code != http.StatusOK || detail.Paused {
		t.Fatalf("resume: %d, paused %v", code, detail.Paused)
	}
	n.get(t, "id") // one RPC request, counted below

	mresp, err := http.Get(n.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	metrics := string(mb)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`swarmcast_daemon_bytes_total\{direction="down",source="tcp"\} (\d+)`),
		regexp.MustCompile(`swarmcast_daemon_rpc_requests_total\{method="torrent-get",result="success"\} (\d+)`),
		regexp.MustCompile(`swarmcast_daemon_stream_seek_seconds_count (\d+)`),
		regexp.MustCompile(`swarmcast_daemon_pieces_verified (\d+)`),
		regexp.MustCompile(`swarmcast_daemon_torrents\{state="(?:seeding|downloading)"\} (1)`),
	} {
		m := want.FindStringSubmatch(metrics)
		if m == nil {
			t.Errorf("/metrics lacks %s", want)
			continue
		}
		if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 {
			t.Errorf("/metrics: %s is %v", want, m[1])
		}
	}

	if code := n.apiDo(t, http.MethodDelete, "/api/torrents/"+src.hashHex+"?deleteData=1", "", nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	var list []TorrentJSON
	n.apiDo(t, http.MethodGet, "/api/torrents", "", nil, &list)
	if len(list) != 0 {
		t.Fatalf("listed after DELETE: %+v", list)
	}
}

func TestAPIUploadAndErrors(t *testing.T) {
	src := seed(t, "u.bin", map[string]int{"u.bin": 100 << 10}, 16<<10, 0)
	n := startNode(t, t.TempDir(), []string{src.addr}, nil)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("torrent", "u.torrent")
	fw.Write(src.raw)
	mw.Close()
	var added TorrentJSON
	if code := n.apiDo(t, http.MethodPost, "/api/torrents", mw.FormDataContentType(), &body, &added); code != http.StatusCreated || added.InfoHash != src.hashHex {
		t.Fatalf("upload: %d %+v", code, added)
	}
	var e map[string]string
	if code := n.apiDo(t, http.MethodPost, "/api/torrents", "application/json", strings.NewReader(`{"magnet":"`+src.magnet+`"}`), &e); code != http.StatusConflict {
		t.Errorf("adding again: %d %v, want 409", code, e)
	}
	if code := n.apiDo(t, http.MethodPost, "/api/torrents", "application/json", strings.NewReader(`{"magnet":"magnet:?xt=urn:btih:nothex"}`), &e); code != http.StatusBadRequest || e["error"] == "" {
		t.Errorf("a bad magnet: %d %v, want 400 with an error", code, e)
	}
	if code := n.apiDo(t, http.MethodGet, "/api/torrents/"+strings.Repeat("ab", 20), "", nil, &e); code != http.StatusNotFound {
		t.Errorf("unknown torrent: %d", code)
	}
	// The UI page is one document with nothing from elsewhere.
	resp, err := http.Get(n.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("EventSource")) {
		t.Fatalf("UI: %s", resp.Status)
	}
	if ext := regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`).Find(page); ext != nil {
		t.Errorf("the UI loads %q from elsewhere", ext)
	}
}
