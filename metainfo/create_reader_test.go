package metainfo

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// TestCreateFromReaderMatchesCreate checks that a torrent made from a
// reader is the one Create makes of the same bytes in a file: same info
// hash, so a browser that seeds a Blob and a native seeder of the file meet
// in one swarm.
func TestCreateFromReaderMatchesCreate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int64{0, 1, 16 << 10, 16<<10 + 1, 3<<20 + 12345} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		path := filepath.Join(t.TempDir(), "video.mp4")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		opt := CreateOptions{NoDate: true, Trackers: []string{"ws://127.0.0.1:1"}}
		want, _, err := Create(path, opt)
		if err != nil {
			t.Fatal(err)
		}
		// One byte at a time: reads shorter than a piece must add up.
		got, info, err := CreateFromReader(iotest.OneByteReader(bytes.NewReader(data)), "video.mp4", size, opt)
		if size > 1<<20 {
			got, info, err = CreateFromReaderAt(bytes.NewReader(data), "video.mp4", size, opt)
		}
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got.HashInfoBytes() != want.HashInfoBytes() {
			t.Errorf("size %d: info hash %v, Create gives %v", size, got.HashInfoBytes(), want.HashInfoBytes())
		}
		if info.Length != size || info.Name != "video.mp4" {
			t.Errorf("size %d: info says %q of %d bytes", size, info.Name, info.Length)
		}
	}
}

func TestCreateFromReaderErrors(t *testing.T) {
	tests := []struct {
		name   string
		r      string
		length int64
		opt    CreateOptions
		want   string
	}{
		{name: "", r: "abc", length: 3, want: "needs a name"},
		{name: "x", r: "abc", length: 4, want: "ended after 3 of 4 bytes"},
		{name: "x", r: "abc", length: -1, want: "negative length"},
		{name: "x", r: "abc", length: 3, opt: CreateOptions{PieceLength: -5}, want: "piece length"},
		{name: "../x", r: "abc", length: 3, want: "metainfo"},
	}
	for _, tc := range tests {
		_, _, err := CreateFromReader(strings.NewReader(tc.r), tc.name, tc.length, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q, %d bytes: error %v, want one saying %q", tc.name, tc.length, err, tc.want)
		}
	}
	_, _, err := CreateFromReader(iotest.ErrReader(errors.New("disk on fire")), "x", 10, CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("a failing reader gives %v", err)
	}
}
