package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "serve.json")
	os.WriteFile(cfg, []byte(`{"http": "127.0.0.1:1", "tracker": ["http://a/announce", "udp://b:1"], "no-dht": true, "max-conns": 7}`), 0o600)
	fs := newFlagSet("serve", "", io.Discard)
	var cf clientFlags
	cf.register(fs)
	httpAddr := fs.String("http", "127.0.0.1:9091", "")
	fs.String("config", "", "")
	if err := fs.Parse([]string{"--http", "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(fs, cfg); err != nil {
		t.Fatal(err)
	}
	if *httpAddr != "127.0.0.1:2" {
		t.Errorf("--http from the command line replaced by the file's: %s", *httpAddr)
	}
	if len(cf.trackers) != 2 || !cf.dht.off || cf.maxConns != 7 {
		t.Errorf("from the file: trackers %v, no-dht %v, max-conns %d", cf.trackers, cf.dht.off, cf.maxConns)
	}
	os.WriteFile(cfg, []byte(`{"no-such-flag": 1}`), 0o600)
	if err := applyConfigFile(fs, cfg); err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("unknown key: %v", err)
	}
}

// FuzzConfigFile: any --config file sets flags or is refused with an error
// naming the file; it never panics.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte(`{"http": "127.0.0.1:1", "tracker": ["x"], "no-dht": true, "max-conns": 7}`))
	f.Add([]byte(`{"max-conns": "x"}`))
	f.Add([]byte(`{"tracker": [{"a": 1}]}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "c.json")
		os.WriteFile(p, b, 0o600)
		fs := newFlagSet("serve", "", io.Discard)
		var cf clientFlags
		cf.register(fs)
		fs.String("http", "", "")
		fs.String("config", "", "")
		if err := applyConfigFile(fs, p); err != nil && !strings.Contains(err.Error(), "--config") {
			t.Fatalf("error without the flag's name: %v", err)
		}
	})
}
