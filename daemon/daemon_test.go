package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// Every client, daemon and server the tests start is closed by then.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds each wait of a test; downloads here are a few MiB over
// loopback and take well under a second.
const testTimeout = 30 * time.Second

// seeded is a torrent seeded from a client of its own on loopback.
type seeded struct {
	mi      *metainfo.MetaInfo
	raw     []byte // the .torrent
	data    map[string][]byte
	addr    string
	magnet  string
	client  *torrent.Client
	hashHex string
}

// seed writes files (name → size) of random bytes under a folder named
// name (or one file if a single entry is named name), makes their torrent
// and seeds it.
func seed(t *testing.T, name string, sizes map[string]int, pieceLength int64, uploadRate int64) *seeded {
	t.Helper()
	dir := t.TempDir()
	s := &seeded{data: map[string][]byte{}}
	path := filepath.Join(dir, name)
	for rel, n := range sizes {
		b := make([]byte, n)
		rand.Read(b)
		p := filepath.Join(dir, name, rel)
		if rel == name {
			p = filepath.Join(dir, name)
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s.data[rel] = b
	}
	mi, _, err := metainfo.Create(path, metainfo.CreateOptions{PieceLength: pieceLength})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	mi.Write(&buf)
	s.mi, s.raw = mi, buf.Bytes()
	s.hashHex = mi.HashInfoBytes().String()
	s.magnet = "magnet:?xt=urn:btih:" + s.hashHex + "&dn=" + name
	l, err := tcp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.client = torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir), UploadRate: uploadRate})
	t.Cleanup(func() { s.client.Close() })
	go s.client.Serve(l)
	if _, err := s.client.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr()
	return s
}

// node is a daemon with its client, served over real HTTP on loopback.
type node struct {
	d       *Daemon
	client  *torrent.Client
	srv     *httptest.Server
	rpc     *RPCClient
	dataDir string
	dlDir   string
}

func startNode(t *testing.T, dataDir string, peers []string, mod func(*Config)) *node {
	t.Helper()
	return startNodeWith(t, dataDir, peers, nil, mod)
}

// startNodeWith is startNode with clientMod changing the engine's settings.
func startNodeWith(t *testing.T, dataDir string, peers []string, clientMod func(*torrent.Config), mod func(*Config)) *node {
	t.Helper()
	dl := filepath.Join(dataDir, "downloads")
	os.MkdirAll(dl, 0o755)
	ccfg := torrent.Config{Storage: storage.NewFile(dl), Dialers: map[string]transport.Dialer{transport.TCP: tcp.Dialer{}}}
	if clientMod != nil {
		clientMod(&ccfg)
	}
	c := torrent.NewClient(ccfg)
	cfg := Config{Client: c, DataDir: dataDir, DownloadDir: dl, AddOptions: torrent.AddOptions{Peers: peers}, Version: "test",
		FetchTorrent: func(context.Context, string) ([]byte, error) { return nil, errors.New("no fetching in tests") }}
	if mod != nil {
		mod(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	n := &node{d: d, client: c, srv: httptest.NewServer(d.Handler()), dataDir: dataDir, dlDir: dl}
	n.rpc = &RPCClient{URL: n.srv.URL + "/transmission/rpc"}
	if user, pass, ok := strings.Cut(cfg.Auth, ":"); ok {
		n.rpc.User, n.rpc.Password = user, pass
	}
	t.Cleanup(n.close)
	return n
}

// close shuts the node down as serve does: HTTP, daemon, client.
func (n *node) close() {
	if n.srv == nil {
		return
	}
	n.srv.Close()
	n.d.Close()
	n.client.Close()
	n.srv = nil
}

func (n *node) call(t *testing.T, method string, args any, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := n.rpc.Call(ctx, method, args, out); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

type tget struct {
	Torrents []map[string]any `json:"torrents"`
}

func (n *node) get(t *testing.T, fields ...string) []map[string]any {
	t.Helper()
	var out tget
	n.call(t, "torrent-get", map[string]any{"fields": fields}, &out)
	return out.Torrents
}

// waitFor polls torrent-get until cond holds for every torrent.
func (n *node) waitFor(t *testing.T, what string, cond func(map[string]any) bool, fields ...string) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		list := n.get(t, fields...)
		ok := len(list) > 0
		for _, tr := range list {
			ok = ok && cond(tr)
		}
		if ok {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func done(tr map[string]any) bool { return tr["percentDone"] == 1.0 && tr["leftUntilDone"] == 0.0 }

func TestRPCLifecycle(t *testing.T) {
	src := seed(t, "movie", map[string]int{"a.mp4": 700 << 10, "b.srt": 90 << 10, "c/d.txt": 300 << 10}, 32<<10, 0)
	n := startNode(t, t.TempDir(), []string{src.addr}, nil)

	var added map[string]map[string]any
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(src.raw), "files-unwanted": []int{1}}, &added)
	if added["torrent-added"]["hashString"] != src.hashHex || added["torrent-added"]["id"] != 1.0 {
		t.Fatalf("torrent-add answered %v", added)
	}
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(src.raw)}, &added)
	if _, dup := added["torrent-duplicate"]; !dup {
		t.Fatalf("adding again answered %v, want torrent-duplicate", added)
	}
	list := n.waitFor(t, "the download", done, "id", "percentDone", "leftUntilDone", "status", "fileStats", "sizeWhenDone", "files")
	tr := list[0]
	if tr["status"] != float64(statusSeed) {
		t.Errorf("status %v, want %d (seeding)", tr["status"], statusSeed)
	}
	// files come in the info's order: a.mp4, b.srt, c/d.txt
	fs := tr["fileStats"].([]any)
	if w := fs[1].(map[string]any)["wanted"]; w != false {
		t.Errorf("file 1 wanted = %v after files-unwanted", w)
	}
	if want := float64(700<<10 + 300<<10); tr["sizeWhenDone"].(float64) > want+64<<10 || tr["sizeWhenDone"].(float64) < want {
		t.Errorf("sizeWhenDone %v, want about %v (the unwanted file left out)", tr["sizeWhenDone"], want)
	}
	got, err := os.ReadFile(filepath.Join(n.dlDir, "movie", "a.mp4"))
	if err != nil || !bytes.Equal(got, src.data["a.mp4"]) {
		t.Fatalf("a.mp4 differs from the seeder's (err %v)", err)
	}

	n.call(t, "torrent-stop", map[string]any{"ids": []int{1}}, nil)
	n.waitFor(t, "stopped", func(tr map[string]any) bool { return tr["status"] == float64(statusStopped) }, "status", "error", "errorString")
	if tr := n.get(t, "error", "errorString")[0]; tr["error"] != 0.0 || tr["errorString"] != "" {
		t.Errorf("a stopped torrent reports an error: %v", tr)
	}
	n.call(t, "torrent-start", map[string]any{"ids": []string{src.hashHex}}, nil)
	n.waitFor(t, "seeding again", func(tr map[string]any) bool { return tr["status"] == float64(statusSeed) }, "status")

	// The torrent was complete, but a byte changed on disk: verify finds the piece and fetches it again.
	p := filepath.Join(n.dlDir, "movie", "a.mp4")
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	f.WriteAt([]byte{^src.data["a.mp4"][5]}, 5)
	f.Close()
	n.call(t, "torrent-verify", map[string]any{"ids": 1}, nil)
	n.waitFor(t, "the damaged piece fetched again", func(tr map[string]any) bool {
		return done(tr) && tr["corruptEver"] == 0.0 && tr["downloadedEver"].(float64) > float64(700<<10+300<<10)
	}, "percentDone", "leftUntilDone", "corruptEver", "downloadedEver")
	if got, _ := os.ReadFile(p); !bytes.Equal(got, src.data["a.mp4"]) {
		t.Fatal("a.mp4 not repaired by verify")
	}

	n.call(t, "torrent-set", map[string]any{"ids": []int{1}, "files-unwanted": []int{0}}, nil)
	tr = n.get(t, "wanted")[0]
	if w := tr["wanted"].([]any); w[0] != 0.0 || w[2] != 1.0 {
		t.Errorf("wanted %v after files-unwanted [0]", w)
	}
	var refused RPCResponse
	ctx := context.Background()
	refused = n.d.Call(ctx, []byte(`{"method":"torrent-set","arguments":{"ids":[1],"seedRatioLimit":2,"seedRatioMode":1}}`))
	if refused.Result == "success" || !strings.Contains(refused.Result, "seedRatioLimit") {
		t.Errorf("torrent-set of a setting the engine lacks answered %q", refused.Result)
	}

	n.call(t, "torrent-remove", map[string]any{"ids": []int{1}, "delete-local-data": true}, nil)
	if list := n.get(t, "id"); len(list) != 0 {
		t.Fatalf("still listed after torrent-remove: %v", list)
	}
	if _, err := os.Stat(filepath.Join(n.dlDir, "movie", "a.mp4")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data still there after remove with delete-local-data: %v", err)
	}
	if _, err := os.Stat(filepath.Join(n.dataDir, torrentsName, src.hashHex+".torrent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("saved .torrent still there after remove: %v", err)
	}
}

// SIGTERM-like shutdown, then a restart with the seeder gone: both
// torrents (one added by magnet) come back complete, a paused one stays
// paused, file choices stay, and nothing is fetched.
func TestRestartRestoresWithoutFetching(t *testing.T) {
	a := seed(t, "a.bin", map[string]int{"a.bin": 1 << 20}, 64<<10, 0)
	b := seed(t, "b", map[string]int{"x.bin": 512 << 10, "y.bin": 512 << 10}, 32<<10, 0)
	c := seed(t, "c.bin", map[string]int{"c.bin": 256 << 10}, 16<<10, 0)
	dataDir := t.TempDir()
	n := startNode(t, dataDir, []string{a.addr, b.addr, c.addr}, nil)
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(a.raw)}, nil)
	n.call(t, "torrent-add", map[string]any{"filename": b.magnet, "files-unwanted": []int{1}}, nil)
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(c.raw)}, nil)
	n.waitFor(t, "three downloads", done, "percentDone", "leftUntilDone")
	n.call(t, "torrent-stop", map[string]any{"ids": []int{3}}, nil)
	// The magnet's info is saved within a second of its arrival.
	deadline := time.Now().Add(testTimeout)
	for {
		if _, err := os.Stat(filepath.Join(dataDir, torrentsName, b.hashHex+".torrent")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the magnet's info was never saved")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.close()
	a.client.Close()
	b.client.Close()
	c.client.Close()
	// A byte of a.bin changed behind the engine's back, its size and
	// modification time kept: a restart that trusts the resume data does
	// not notice (it reads no data); only a verify does.
	ap := filepath.Join(n.dlDir, "a.bin")
	st, _ := os.Stat(ap)
	f, _ := os.OpenFile(ap, os.O_RDWR, 0)
	f.WriteAt([]byte{^a.data["a.bin"][100]}, 100)
	f.Close()
	os.Chtimes(ap, st.ModTime(), st.ModTime())

	n2 := startNode(t, dataDir, nil, nil)
	list := n2.waitFor(t, "restored torrents",
		func(tr map[string]any) bool { return tr["metadataPercentComplete"] == 1.0 },
		"id", "hashString", "status", "percentDone", "metadataPercentComplete", "wanted", "downloadedEver")
	if len(list) != 3 {
		t.Fatalf("%d torrents after restart, want 3: %v", len(list), list)
	}
	byID := map[float64]map[string]any{}
	for _, tr := range list {
		byID[tr["id"].(float64)] = tr
	}
	if byID[1]["hashString"] != a.hashHex || byID[2]["hashString"] != b.hashHex || byID[3]["hashString"] != c.hashHex {
		t.Fatalf("ids not kept: %v", list)
	}
	if byID[3]["status"] != float64(statusStopped) {
		t.Errorf("paused torrent restored with status %v", byID[3]["status"])
	}
	if w := byID[2]["wanted"].([]any); w[1] != 0.0 {
		t.Errorf("file choice of the magnet lost: wanted %v", w)
	}
	n2.waitFor(t, "complete after restart", func(tr map[string]any) bool {
		return tr["percentDone"] == 1.0 && (tr["status"] == float64(statusSeed) || tr["status"] == float64(statusStopped))
	}, "percentDone", "status")
	for _, tr := range n2.get(t, "downloadedEver", "corruptEver") {
		if tr["downloadedEver"] != 0.0 {
			t.Errorf("a restored torrent fetched %v bytes", tr["downloadedEver"])
		}
	}
	if tr := n2.get(t, "percentDone")[0]; tr["percentDone"] != 1.0 {
		t.Fatalf("torrent 1 at %v after restart: its unchanged-looking data was checked again", tr["percentDone"])
	}
	n2.call(t, "torrent-verify", map[string]any{"ids": []int{1}}, nil)
	deadline = time.Now().Add(testTimeout)
	for n2.get(t, "percentDone")[0]["percentDone"] == 1.0 {
		if time.Now().After(deadline) {
			t.Fatal("verify did not find the changed byte")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSecurity(t *testing.T) {
	n := startNode(t, t.TempDir(), nil, func(c *Config) { c.Auth = "alice:s3cret" })
	rpcURL := n.srv.URL + "/transmission/rpc"
	post := func(t *testing.T, mod func(*http.Request)) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, rpcURL, strings.NewReader(`{"method":"session-get"}`))
		mod(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	t.Run("no credentials", func(t *testing.T) {
		resp := post(t, func(r *http.Request) {})
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("%s, WWW-Authenticate %q; want 401 with a Basic challenge", resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		resp := post(t, func(r *http.Request) { r.SetBasicAuth("alice", "s3cre") })
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s, want 401", resp.Status)
		}
	})
	for _, path := range []string{"/metrics", "/api/torrents", "/", "/webtorrent/"} {
		resp, err := http.Get(n.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %s, want 401", path, resp.Status)
		}
	}
	t.Run("no session id", func(t *testing.T) {
		resp := post(t, func(r *http.Request) { r.SetBasicAuth("alice", "s3cret") })
		if resp.StatusCode != http.StatusConflict || resp.Header.Get(SessionHeader) != n.d.SessionID() {
			t.Fatalf("%s with %s %q; want 409 with the daemon's id", resp.Status, SessionHeader, resp.Header.Get(SessionHeader))
		}
	})
	t.Run("wrong session id", func(t *testing.T) {
		resp := post(t, func(r *http.Request) {
			r.SetBasicAuth("alice", "s3cret")
			r.Header.Set(SessionHeader, "0123")
		})
		if resp.StatusCode != http.StatusConflict || resp.Header.Get(SessionHeader) != n.d.SessionID() {
			t.Fatalf("%s with %s %q; want 409 with the daemon's id", resp.Status, SessionHeader, resp.Header.Get(SessionHeader))
		}
	})
	t.Run("right session id", func(t *testing.T) {
		resp := post(t, func(r *http.Request) {
			r.SetBasicAuth("alice", "s3cret")
			r.Header.Set(SessionHeader, n.d.SessionID())
		})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s, want 200", resp.Status)
		}
	})
	t.Run("api changes need the session id", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/api/torrents", strings.NewReader(`{"magnet":"`+strings.Repeat("a", 40)+`"}`))
		req.SetBasicAuth("alice", "s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || len(n.d.entries()) != 0 {
			t.Fatalf("%s and %d torrents; want 409 and none added", resp.Status, len(n.d.entries()))
		}
	})
}

func TestHostCheck(t *testing.T) {
	n := startNode(t, t.TempDir(), nil, func(c *Config) { c.AllowedHosts = []string{"nas.example"} })
	for _, tc := range []struct {
		host string
		want int
	}{
		{"evil.example", http.StatusMisdirectedRequest},
		{"evil.example:9091", http.StatusMisdirectedRequest},
		{"127.0.0.1.evil.example", http.StatusMisdirectedRequest},
		{"localhost.evil.example", http.StatusMisdirectedRequest},
		{"localhost:9091", http.StatusConflict},
		{"127.0.0.1:9091", http.StatusConflict},
		{"[::1]:9091", http.StatusConflict},
		{"NAS.example.", http.StatusConflict},
	} {
		t.Run(tc.host, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/transmission/rpc", strings.NewReader("{}"))
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("Host %q: %s, want %d", tc.host, resp.Status, tc.want)
			}
		})
	}
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr string
		auth bool
		ok   bool
	}{
		{"127.0.0.1:9091", false, true},
		{"[::1]:9091", false, true},
		{"localhost:9091", false, true},
		{"0.0.0.0:9091", false, false},
		{":9091", false, false},
		{"[::]:9091", false, false},
		{"192.168.1.2:9091", false, false},
		{"0.0.0.0:9091", true, true},
	} {
		err := CheckListen(tc.addr, tc.auth)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrExposed)) {
			t.Errorf("CheckListen(%q, auth %v) = %v", tc.addr, tc.auth, err)
		}
	}
}

func TestDownloadDirAndFileNamesRefused(t *testing.T) {
	src := seed(t, "x.bin", map[string]int{"x.bin": 64 << 10}, 16<<10, 0)
	n := startNode(t, t.TempDir(), nil, nil)
	for _, dir := range []string{"../../etc", n.dlDir + "/../..", n.dlDir + "/../other", "/etc", n.dlDir + "/sub/../../x", "sub/../.."} {
		r := n.d.Call(context.Background(), mustMarshal(map[string]any{"method": "torrent-add",
			"arguments": map[string]any{"metainfo": base64.StdEncoding.EncodeToString(src.raw), "download-dir": dir}}))
		if r.Result == "success" || !strings.Contains(r.Result, "download-dir") {
			t.Errorf("download-dir %q: %q, want refused", dir, r.Result)
		}
	}
	if len(n.d.entries()) != 0 {
		t.Fatal("a refused torrent was added")
	}
	r := n.d.Call(context.Background(), mustMarshal(map[string]any{"method": "torrent-add",
		"arguments": map[string]any{"metainfo": base64.StdEncoding.EncodeToString(src.raw), "download-dir": n.dlDir + "/"}}))
	if r.Result != "success" {
		t.Errorf("the daemon's own download-dir refused: %q", r.Result)
	}
	// A .torrent whose file path climbs out of the folder.
	evil := []byte("d4:infod5:filesld6:lengthi5e4:pathl2:..4:evileee4:name4:good12:piece lengthi16384e6:pieces20:" + strings.Repeat("a", 20) + "ee")
	r = n.d.Call(context.Background(), mustMarshal(map[string]any{"method": "torrent-add",
		"arguments": map[string]any{"metainfo": base64.StdEncoding.EncodeToString(evil)}}))
	if r.Result == "success" || !strings.Contains(r.Result, "..") {
		t.Errorf("a .torrent with a ../ file path: %q, want refused", r.Result)
	}
	r = n.d.Call(context.Background(), []byte(`{"method":"torrent-add","arguments":{"filename":"/etc/passwd"}}`))
	if r.Result == "success" || !strings.Contains(r.Result, "does not read paths") {
		t.Errorf("filename naming a local path: %q, want refused", r.Result)
	}
}

// A download-dir inside the daemon's folder (absolute, or relative to it)
// holds that torrent's files, torrent-get reports it, and a restart finds
// the data there.
func TestDownloadDirInside(t *testing.T) {
	src := seed(t, "in.bin", map[string]int{"in.bin": 256 << 10}, 16<<10, 0)
	other := seed(t, "other.bin", map[string]int{"other.bin": 128 << 10}, 16<<10, 0)
	dataDir := t.TempDir()
	n := startNode(t, dataDir, []string{src.addr, other.addr}, nil)
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(src.raw), "download-dir": n.dlDir + "/films/new"}, nil)
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(other.raw), "download-dir": "series"}, nil)
	list := n.waitFor(t, "both downloads", done, "percentDone", "leftUntilDone", "downloadDir", "name")
	want := map[string]string{"in.bin": filepath.Join(n.dlDir, "films", "new"), "other.bin": filepath.Join(n.dlDir, "series")}
	for _, tr := range list {
		name := tr["name"].(string)
		if tr["downloadDir"] != want[name] {
			t.Errorf("%s: downloadDir %v, want %s", name, tr["downloadDir"], want[name])
		}
		b, err := os.ReadFile(filepath.Join(want[name], name))
		if err != nil || len(b) == 0 {
			t.Errorf("%s not in its folder: %v", name, err)
		}
	}
	n.close()
	src.client.Close()
	other.client.Close()
	n = startNode(t, dataDir, nil, nil)
	n.waitFor(t, "both torrents complete after the restart, with no seeder", done, "percentDone", "leftUntilDone")
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
