package httpstream_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/httpstream"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// setup seeds a two-file torrent from a rate-limited seeder and serves the
// leecher's client over HTTP.
func setup(t *testing.T) (*httptest.Server, *torrent.Torrent, []byte) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "show")
	os.MkdirAll(root, 0o755)
	video := make([]byte, 5<<20+333)
	rand.Read(video)
	os.WriteFile(filepath.Join(root, "episode 1.mp4"), video, 0o644)
	os.WriteFile(filepath.Join(root, "notes.txt"), []byte("hello"), 0o644)
	mi, _, err := metainfo.Create(root, metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tcp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seeder := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir), UploadRate: 3 << 20})
	t.Cleanup(func() { seeder.Close() })
	go seeder.Serve(l)
	if _, err := seeder.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	leecher := torrent.NewClient(torrent.Config{Storage: storage.NewFile(t.TempDir()),
		Dialers: map[string]transport.Dialer{transport.TCP: tcp.Dialer{}}})
	t.Cleanup(func() { leecher.Close() })
	lt, err := leecher.AddTorrent(mi, torrent.AddOptions{Peers: []string{l.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpstream.New(leecher))
	t.Cleanup(srv.Close)
	return srv, lt, video
}

func get(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestRangesWhileDownloading(t *testing.T) {
	srv, lt, video := setup(t)
	url := srv.URL + "/webtorrent/" + lt.InfoHash().String() + "/show/episode%201.mp4"
	rng := mrand.New(mrand.NewPCG(7, 8))
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 24; i++ {
		start := rng.Int64N(int64(len(video)))
		end := min(start+rng.Int64N(256<<10), int64(len(video))-1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, video[start:end+1]) {
				errs <- fmt.Sprintf("range %d-%d: status %d, %d bytes, err %v", start, end, resp.StatusCode, len(b), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	// Suffix range, HEAD, If-Range, whole file.
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Range", "bytes=-1000")
	resp, b := get(t, req)
	if resp.StatusCode != 206 || !bytes.Equal(b, video[len(video)-1000:]) || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("suffix range: %d %d bytes %q", resp.StatusCode, len(b), resp.Header.Get("Content-Type"))
	}
	etag := resp.Header.Get("ETag")
	req, _ = http.NewRequest("HEAD", url, nil)
	resp, _ = get(t, req)
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(video)) || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("HEAD: %d length %d", resp.StatusCode, resp.ContentLength)
	}
	req, _ = http.NewRequest("GET", url, nil)
	req.Header.Set("Range", "bytes=0-9")
	req.Header.Set("If-Range", `"stale"`)
	resp, b = get(t, req)
	if resp.StatusCode != 200 || len(b) != len(video) {
		t.Fatalf("If-Range with a stale ETag must send the whole file: %d, %d bytes", resp.StatusCode, len(b))
	}
	req.Header.Set("If-Range", etag)
	resp, b = get(t, req)
	if resp.StatusCode != 206 || !bytes.Equal(b, video[:10]) {
		t.Fatalf("If-Range with the ETag: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", url, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", len(video)+10))
	if resp, _ = get(t, req); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("range past the end: %d", resp.StatusCode)
	}
}

func TestListingAndErrors(t *testing.T) {
	srv, lt, _ := setup(t)
	<-lt.GotInfo()
	ih := lt.InfoHash().String()
	resp, b := get(t, mustReq("GET", srv.URL+"/webtorrent/"))
	var list []httpstream.TorrentJSON
	if err := json.Unmarshal(b, &list); err != nil || resp.StatusCode != 200 || len(list) != 1 {
		t.Fatalf("listing: %d %v %s", resp.StatusCode, err, b)
	}
	if f := list[0].Files; len(f) != 2 || f[0].Path != "show/episode 1.mp4" || f[0].URL != "/webtorrent/"+ih+"/show/episode%201.mp4" {
		t.Fatalf("files: %+v", f)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !lt.Complete() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_, b = get(t, mustReq("GET", srv.URL+"/api/torrents/"+ih))
	var one httpstream.TorrentJSON
	if err := json.Unmarshal(b, &one); err != nil {
		t.Fatal(err)
	}
	if !one.Complete || one.ServedByPeers != 100 || len(one.PiecesMap) != one.Pieces || one.Downloaded["tcp"] == 0 {
		t.Fatalf("stats: %+v", one)
	}
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/webtorrent/" + ih + "/show/missing.mp4", 404},
		{"GET", "/webtorrent/0000000000000000000000000000000000000001/x", 404},
		{"GET", "/webtorrent/nothex/x", 404},
		{"POST", "/webtorrent/" + ih + "/show/notes.txt", 405},
		{"GET", "/elsewhere", 404},
	} {
		if resp, _ := get(t, mustReq(c.method, srv.URL+c.path)); resp.StatusCode != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.code)
		}
	}
	resp, b = get(t, mustReq("GET", srv.URL+"/webtorrent/"+ih+"/show/notes.txt"))
	if string(b) != "hello" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("notes.txt: %q %q", b, resp.Header.Get("Content-Type"))
	}
}

func mustReq(method, url string) *http.Request {
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return r
}
