package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmcast/swarmcast/bencode"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCreateAndInfo(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "My Show")
	os.MkdirAll(filepath.Join(src, "s1"), 0o755)
	os.WriteFile(filepath.Join(src, "s1", "e1.mp4"), bytes.Repeat([]byte("v"), 70000), 0o644)
	os.WriteFile(filepath.Join(src, "readme.txt"), []byte("hi"), 0o644)
	torrent := filepath.Join(dir, "show.torrent")
	code, out, errs := runCLI(t, "create", src, "-o", torrent, "--tracker", "udp://t:1", "--tracker", "wss://w/announce",
		"--webseed", "http://origin/", "--piece-length", "32KiB", "--private", "--comment", "c", "--name", "Show")
	if code != 0 {
		t.Fatalf("create exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "magnet:?xt=urn:btih:") {
		t.Fatalf("create printed no magnet: %s", out)
	}
	code, out, errs = runCLI(t, "info", "--json", torrent)
	if code != 0 {
		t.Fatalf("info exit %d: %s", code, errs)
	}
	var got infoJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "Show" || *got.Length != 70002 || got.PieceLength != 32768 || *got.PieceCount != 3 || !*got.Private || got.Comment != "c" {
		t.Fatalf("info: %+v", got)
	}
	if len(got.Files) != 2 || got.Files[0].Path != "Show/readme.txt" || got.Files[1].Path != "Show/s1/e1.mp4" || got.Files[1].Offset != 2 {
		t.Fatalf("files: %+v", got.Files)
	}
	if strings.Join(got.Announce, " ") != "udp://t:1 wss://w/announce" || strings.Join(got.URLList, " ") != "http://origin/" {
		t.Fatalf("announce %v urlList %v", got.Announce, got.URLList)
	}
	code, out, _ = runCLI(t, "info", got.MagnetURI+"&so=1,3-4")
	if code != 0 || !strings.Contains(out, "[1 3 4]") || !strings.Contains(out, got.InfoHash) {
		t.Fatalf("magnet info exit %d: %s", code, out)
	}
	code, out, _ = runCLI(t, "info", "--json", got.InfoHash)
	if code != 0 || !strings.Contains(out, got.InfoHash) {
		t.Fatalf("bare info hash: %d %s", code, out)
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.torrent")
	os.WriteFile(bad, []byte("d4:infoi1ee"), 0o644)
	evilInfo, _ := bencode.Marshal(map[string]any{"name": "x", "piece length": 16, "pieces": strings.Repeat("a", 20),
		"files": []any{map[string]any{"length": 1, "path": []string{"..", "..", "etc"}}}})
	evil, _ := bencode.Marshal(map[string]any{"info": bencode.RawMessage(evilInfo)})
	evilPath := filepath.Join(dir, "evil.torrent")
	os.WriteFile(evilPath, evil, 0o644)
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"info"}, 2, "want a .torrent file"},
		{[]string{"info", filepath.Join(dir, "missing.torrent")}, 1, "no such file"},
		{[]string{"info", bad}, 1, "not a dictionary"},
		{[]string{"info", evilPath}, 1, "unsafe file path"},
		{[]string{"info", "magnet:?dn=x"}, 1, "no BitTorrent info hash"},
		{[]string{"create", dir, "--piece-length", "1000"}, 2, "power of two"},
		{[]string{"create", filepath.Join(dir, "nothing-here")}, 1, "no such file"},
	}
	for _, tt := range tests {
		code, _, errs := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.msg) {
			t.Errorf("%v: exit %d %q, want %d and %q", tt.args, code, errs, tt.code, tt.msg)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"16384": 16384, "256KiB": 256 << 10, "1MiB": 1 << 20, "8MB": 8e6, "512k": 512 << 10, "1.5 GiB": 3 << 29} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "5 parsecs", "-1"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}
