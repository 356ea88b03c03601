package web

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// testSite is a site whose client files are small stand-ins: the real wasm
// is built by scripts/build-wasm.sh, not by go test.
func testSite(t *testing.T, withWasm bool) (*site, map[string][]byte) {
	t.Helper()
	raw := map[string][]byte{
		"swarmcast.js": []byte("window.Swarmcast = {};\n"),
		"worker.js":    []byte("importScripts('wasm_exec.js');\n"),
		"wasm_exec.js": []byte("// Go's wasm_exec.js\n"),
		"sw.js":        []byte("self.addEventListener('fetch', () => {});\n"),
	}
	client := fstest.MapFS{}
	for n, b := range raw {
		client[n] = &fstest.MapFile{Data: b}
	}
	client["dist/.gitkeep"] = &fstest.MapFile{}
	if withWasm {
		wasm := bytes.Repeat([]byte("\x00asm\x01\x00\x00\x00 the engine "), 4096)
		raw["swarmcast.wasm"] = wasm
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(wasm)
		zw.Close()
		client["dist/swarmcast.wasm"] = &fstest.MapFile{Data: wasm}
		client["dist/swarmcast.wasm.gz"] = &fstest.MapFile{Data: gz.Bytes()}
		// Not real brotli: the handler never decodes, it picks a file.
		client["dist/swarmcast.wasm.br"] = &fstest.MapFile{Data: []byte("brotli bytes")}
		raw["swarmcast.wasm.br"] = []byte("brotli bytes")
		raw["swarmcast.wasm.gz"] = gz.Bytes()
	}
	pages := fstest.MapFS{
		"watch.html": &fstest.MapFile{Data: []byte("<!doctype html><title>watch</title>")},
		"watch.js":   &fstest.MapFile{Data: []byte("'use strict';\n")},
		"style.css":  &fstest.MapFile{Data: []byte("body{}\n")},
	}
	for n, f := range pages {
		raw[n] = f.Data
	}
	return newSite(client, pages), raw
}

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWasmByAcceptEncoding(t *testing.T) {
	s, raw := testSite(t, true)
	for _, tc := range []struct {
		accept, coding, file string
	}{
		{"", "", "swarmcast.wasm"},
		{"gzip, deflate, br, zstd", "br", "swarmcast.wasm.br"}, // what Chromium sends
		{"gzip", "gzip", "swarmcast.wasm.gz"},
		{"br;q=0.5, gzip", "gzip", "swarmcast.wasm.gz"},
		{"br;q=0, gzip;q=0", "", "swarmcast.wasm"},
		{"identity", "", "swarmcast.wasm"},
		{"*", "br", "swarmcast.wasm.br"},
		{"*;q=0.2, gzip;q=0.3", "gzip", "swarmcast.wasm.gz"},
		{"x-gzip", "gzip", "swarmcast.wasm.gz"},
		{"BR", "br", "swarmcast.wasm.br"},
		{"br;q=2", "", "swarmcast.wasm"}, // malformed: ignored
	} {
		t.Run(tc.accept, func(t *testing.T) {
			resp := get(t, s, "GET", "/swarmcast.wasm", "Accept-Encoding", tc.accept)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/wasm" {
				t.Errorf("Content-Type %q", got)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tc.coding {
				t.Errorf("Content-Encoding %q, want %q", got, tc.coding)
			}
			if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary %q", got)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q", got)
			}
			if !bytes.Equal(body(t, resp), raw[tc.file]) {
				t.Errorf("body is not %s", tc.file)
			}
		})
	}
}

func TestETagPerEncodingAndNotModified(t *testing.T) {
	s, _ := testSite(t, true)
	tags := map[string]bool{}
	for _, accept := range []string{"", "gzip", "br"} {
		resp := get(t, s, "GET", "/swarmcast.wasm", "Accept-Encoding", accept)
		tag := resp.Header.Get("ETag")
		if tag == "" || tags[tag] {
			t.Fatalf("Accept-Encoding %q: ETag %q empty or shared with another encoding", accept, tag)
		}
		tags[tag] = true
		again := get(t, s, "GET", "/swarmcast.wasm", "Accept-Encoding", accept, "If-None-Match", tag)
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("Accept-Encoding %q: revalidation gave %d, want 304", accept, again.StatusCode)
		}
	}
}

func TestRangeIsByteExact(t *testing.T) {
	s, raw := testSite(t, true)
	resp := get(t, s, "GET", "/swarmcast.wasm", "Range", "bytes=1000-1999")
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !bytes.Equal(body(t, resp), raw["swarmcast.wasm"][1000:2000]) {
		t.Error("range body differs from the file")
	}
}

func TestClientFilesHeaders(t *testing.T) {
	s, raw := testSite(t, true)
	for name, want := range map[string]string{
		"swarmcast.js": "text/javascript; charset=utf-8",
		"worker.js":    "text/javascript; charset=utf-8",
		"wasm_exec.js": "text/javascript; charset=utf-8",
		"sw.js":        "text/javascript; charset=utf-8",
		"watch.html":   "text/html; charset=utf-8",
		"watch.js":     "text/javascript; charset=utf-8",
		"style.css":    "text/css; charset=utf-8",
	} {
		resp := get(t, s, "GET", "/"+name, "Accept-Encoding", "br, gzip")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want {
			t.Errorf("%s: %d %q, want 200 %q", name, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
		if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Vary") != "" {
			t.Errorf("%s: has no precompressed copy but says Content-Encoding %q, Vary %q", name,
				resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
		}
		if !bytes.Equal(body(t, resp), raw[name]) {
			t.Errorf("%s: body differs", name)
		}
		sw := resp.Header.Get("Service-Worker-Allowed")
		if (name == "sw.js") != (sw == "/") {
			t.Errorf("%s: Service-Worker-Allowed %q", name, sw)
		}
	}
	if head := get(t, s, "HEAD", "/swarmcast.wasm"); head.StatusCode != 200 || len(body(t, head)) != 0 ||
		head.ContentLength != int64(len(raw["swarmcast.wasm"])) {
		t.Errorf("HEAD: %d, %d bytes of body, Content-Length %d", head.StatusCode, len(body(t, head)), head.ContentLength)
	}
	if post := get(t, s, "POST", "/swarmcast.js"); post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", post.StatusCode)
	}
	for _, p := range []string{"/", "/player.html", "/dist/swarmcast.wasm", "/swarmcast.wasm.br", "/.gitkeep", "/watch.html/x"} {
		if resp := get(t, s, "GET", p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404 (the client handler serves exact names only)", p, resp.StatusCode)
		}
	}
}

func TestUnbuiltWasmIs503(t *testing.T) {
	s, _ := testSite(t, false)
	resp := get(t, s, "GET", "/swarmcast.wasm")
	b := string(body(t, resp))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "scripts/build-wasm.sh") {
		t.Fatalf("%d %q, want 503 saying how to build it", resp.StatusCode, b)
	}
	if resp := get(t, s, "GET", "/swarmcast.js"); resp.StatusCode != 200 {
		t.Errorf("swarmcast.js: %d: the other files are still served", resp.StatusCode)
	}
}

// TestRealClientDecodes fetches through a real socket with Go's HTTP client,
// which asks for gzip and decodes it transparently.
func TestRealClientDecodes(t *testing.T) {
	s, raw := testSite(t, true)
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/swarmcast.wasm")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !resp.Uncompressed || !bytes.Equal(body(t, resp), raw["swarmcast.wasm"]) {
		t.Fatalf("uncompressed=%v, body differs from the wasm", resp.Uncompressed)
	}
}

func TestExport(t *testing.T) {
	s, raw := testSite(t, true)
	dir := filepath.Join(t.TempDir(), "site")
	names, err := s.export(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(raw) {
		t.Errorf("wrote %v, want %d files", names, len(raw))
	}
	for name, want := range raw {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, or the bytes differ", name, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(raw) {
		t.Errorf("%d entries in the folder, want %d (no temporary files left)", len(ents), len(raw))
	}
	// Again over the same folder: files are replaced.
	if _, err := s.export(dir); err != nil {
		t.Fatal(err)
	}

	unbuilt, _ := testSite(t, false)
	empty := filepath.Join(t.TempDir(), "none")
	if _, err := unbuilt.export(empty); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("export without wasm: %v, want ErrNotBuilt", err)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Error("export without wasm created the folder")
	}
}

// TestEmbeddedSite checks the real embedded files: the watch page is always
// there; the wasm only after scripts/build-wasm.sh.
func TestEmbeddedSite(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/watch.html", "/watch.js", "/style.css", "/player.html"} {
		if resp := get(t, h, "GET", p); resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	resp := get(t, h, "GET", "/swarmcast.wasm", "Accept-Encoding", "br")
	switch {
	case Built() && (resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/wasm"):
		t.Errorf("built: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	case !Built() && resp.StatusCode != http.StatusServiceUnavailable:
		t.Errorf("not built: %d, want 503", resp.StatusCode)
	}
	if resp := get(t, ClientHandler(), "GET", "/player.html"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("ClientHandler served /player.html: %d", resp.StatusCode)
	}
}
