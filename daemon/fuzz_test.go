package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
)

// FuzzCall feeds request bodies to the RPC of a daemon holding no torrent
// (nothing to fetch, nothing of value to remove): every answer is one RPC
// response, whatever the bytes, and adding a torrent never escapes the
// download folder.
func FuzzCall(f *testing.F) {
	for _, s := range []string{
		`{"method":"session-get"}`,
		`{"method":"torrent-get","arguments":{"fields":["id","name","files","fileStats","pieces","trackers"],"ids":[1,"recently-active"]},"tag":7}`,
		`{"method":"torrent-add","arguments":{"filename":"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567","download-dir":"../x"}}`,
		`{"method":"torrent-add","arguments":{"metainfo":"ZDQ6aW5mb2Q0Om5hbWUxOmE2Omxlbmd0aGkxZTEyOnBpZWNlIGxlbmd0aGkxNjM4NGU2OnBpZWNlczIwOmFhYWFhYWFhYWFhYWFhYWFhYWFhZWU="}}`,
		`{"method":"torrent-set","arguments":{"ids":"recently-active","files-wanted":[],"priority-high":[0]}}`,
		`{"method":"torrent-remove","arguments":{"ids":[1],"delete-local-data":true}}`,
		`{"method":"free-space","arguments":{"path":"."}}`,
		`{"method":"session-set","arguments":{"peer-port":1}}`,
		`[1,2]`, `{"method":7}`, `{"arguments":null}`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	dl := filepath.Join(dir, "downloads")
	c := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dl)})
	defer c.Close()
	d, err := New(Config{Client: c, DataDir: dir, DownloadDir: dl, MaxTorrents: 4,
		FetchTorrent: func(context.Context, string) ([]byte, error) { return nil, os.ErrNotExist }})
	if err != nil {
		f.Fatal(err)
	}
	defer d.Close()
	f.Fuzz(func(t *testing.T, body []byte) {
		r := d.Call(context.Background(), body)
		if r.Result == "" {
			t.Fatalf("empty result for %q", body)
		}
		if enc := r.appendJSON(nil); !json.Valid(enc) {
			t.Fatalf("answer is not JSON: %s", enc)
		}
		for _, e := range d.entries() {
			d.remove(e, true)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if n := e.Name(); n != "downloads" && n != torrentsName && n != stateFileName {
				t.Fatalf("something written outside the daemon's folders: %s", n)
			}
		}
	})
}

// FuzzParseIDs: any ids argument parses or is refused with an RPC error.
func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{`{"ids":1}`, `{"ids":[1,"0123456789abcdef0123456789abcdef01234567"]}`, `{"ids":"recently-active"}`, `{"ids":[[1]]}`, `{"ids":1e300}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseIDs(b)
		if err != nil {
			if _, ok := err.(rpcError); !ok {
				t.Fatalf("not an RPC error: %v", err)
			}
			return
		}
		if a.all && (len(a.ids) > 0 || len(a.hashes) > 0) {
			t.Fatalf("all and a list at once: %+v", a)
		}
	})
}

// FuzzState starts a daemon on a state.json of any bytes: it starts with
// what it can read, or refuses with an error naming the file; it never
// panics and never writes outside its folder.
func FuzzState(f *testing.F) {
	f.Add([]byte(`{"version":1,"nextId":3,"torrents":[{"id":1,"infoHash":"0123456789abcdef0123456789abcdef01234567","magnet":"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567","paused":true,"priorities":[0,1]},{"id":1,"infoHash":"zz"}]}`))
	f.Add([]byte(`{"version":99}`))
	f.Add([]byte(`{"torrents":[{"id":-1,"infoHash":"0123456789abcdef0123456789abcdef01234567"}]}`))
	f.Add([]byte(`nope`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, stateFileName), b, 0o600)
		dl := filepath.Join(dir, "downloads")
		c := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dl)})
		defer c.Close()
		d, err := New(Config{Client: c, DataDir: dir, DownloadDir: dl})
		if err != nil {
			if !strings.Contains(err.Error(), "daemon:") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if n := len(d.entries()); n > 0 && d.nextID <= n {
			t.Errorf("next id %d with %d torrents", d.nextID, n)
		}
		d.Close()
	})
}

// FuzzJSONString: the fast string encoder agrees with encoding/json.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"plain", `q"uote`, "back\\slash", "ctl\x01", "<html>&", "\xff\xfe", "ünï", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("%q encoded as %s: %v", s, enc, err)
		}
		var want string
		w, _ := json.Marshal(s)
		json.Unmarshal(w, &want)
		if back != want {
			t.Fatalf("%q: decodes to %q, encoding/json's to %q", s, back, want)
		}
	})
}
