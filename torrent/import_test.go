package torrent_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
)

// TestImport: bytes that came another way (a page's fetch from the origin)
// make whole pieces ours once their hashes match; pieces only partly given,
// pieces that fail their hash and pieces already had are not taken, and
// bytes outside the torrent are refused.
func TestImport(t *testing.T) {
	const pl = 64 << 10
	mi, data := makeContent(t, t.TempDir(), "imp", []int{16*pl + 1000}, pl)
	content := data["first.bin"]
	c := torrent.NewClient(torrent.Config{Storage: storage.NewFile(t.TempDir())})
	defer c.Close()
	tt, err := c.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 100,000 to 400,000: pieces 2-5 whole, 1 and 6 in part.
	n, err := tt.Import(100_000, content[100_000:400_000])
	if err != nil || n != 4 {
		t.Fatalf("Import of pieces 2-5: %d pieces, %v; want 4", n, err)
	}
	// Piece 8 with one byte changed: taken, then found wrong.
	bad := bytes.Clone(content[8*pl : 9*pl])
	bad[77] ^= 1
	if n, err := tt.Import(8*pl, bad); err != nil || n != 1 {
		t.Fatalf("Import of a wrong piece 8: %d pieces, %v; want 1 taken", n, err)
	}
	// The last piece is short: whole when the bytes reach the end.
	if n, err := tt.Import(16*pl-10, content[16*pl-10:]); err != nil || n != 1 {
		t.Fatalf("Import of the last piece: %d pieces, %v; want 1", n, err)
	}
	waitChecked(t, tt)
	for i := 0; i < 17; i++ {
		want := (i >= 2 && i <= 5) || i == 16
		if got := tt.HavePiece(i); got != want {
			t.Errorf("piece %d had: %v, want %v", i, got, want)
		}
	}
	if n, err := tt.Import(2*pl, content[2*pl:3*pl]); err != nil || n != 0 {
		t.Errorf("Import of piece 2 again: %d pieces, %v; want 0", n, err)
	}
	if _, err := tt.Import(16*pl, content[16*pl-10:]); err == nil {
		t.Error("Import past the torrent's end: no error")
	}
	if _, err := tt.Import(-1, content[:10]); err == nil {
		t.Error("Import at -1: no error")
	}
	if _, err := tt.Import(0, make([]byte, torrent.MaxImport+1)); err == nil {
		t.Error("Import above MaxImport: no error")
	}
	// What was taken reads back from storage, exactly.
	r := tt.NewReader()
	defer r.Close()
	if _, err := r.Seek(2*pl, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4*pl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := io.ReadFull(readerCtx{r, ctx}, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content[2*pl:6*pl]) {
		t.Error("pieces 2-5 read back differ from what was imported")
	}
}
