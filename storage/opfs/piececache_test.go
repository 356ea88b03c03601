package opfs

import (
	"math/rand/v2"
	"testing"
)

// TestPieceCache writes a torrent's bytes in random blocks through a cache
// too small for all of it, over a "file" (a byte slice), and checks that
// reads see every byte written, from the cache or the file, and that taking
// a piece hands back its bytes and frees its room.
func TestPieceCache(t *testing.T) {
	const pieceLength, total = 1000, 10500
	rng := rand.New(rand.NewPCG(3, 4))
	want := make([]byte, total)
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	file := make([]byte, total)
	through := func(p []byte, off int64) error { copy(file[off:], p); return nil }
	fill := func(p []byte, off int64) error { copy(p, file[off:]); return nil }
	c := newPieceCache(pieceLength, total, 3*pieceLength)
	written := make([]bool, total)
	for range 300 {
		off := rng.IntN(total)
		n := 1 + rng.IntN(min(2500, total-off))
		if err := c.write(want[off:off+n], int64(off), through); err != nil {
			t.Fatal(err)
		}
		for i := off; i < off+n; i++ {
			written[i] = true
		}
		if c.used > c.cap {
			t.Fatalf("cache holds %d bytes, over its cap %d", c.used, c.cap)
		}
	}
	got := make([]byte, total)
	if err := c.read(got, 0, fill); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if written[i] && got[i] != want[i] {
			t.Fatalf("byte %d reads %d, was written %d", i, got[i], want[i])
		}
	}
	if len(c.pieces) == 0 || len(c.through) == 0 {
		t.Fatalf("the test used the cache for %d pieces and wrote %d through: want both", len(c.pieces), len(c.through))
	}
	// Taking every cached piece moves its bytes to the file: all reads
	// then come from the file alone.
	for i := range (total + pieceLength - 1) / pieceLength {
		if b := c.take(i); b != nil {
			through(b, int64(i)*pieceLength)
		}
	}
	if c.used != 0 || len(c.pieces) != 0 {
		t.Fatalf("after taking every piece, %d bytes in %d pieces remain", c.used, len(c.pieces))
	}
	for i := range file {
		if written[i] && file[i] != want[i] {
			t.Fatalf("file byte %d is %d, was written %d", i, file[i], want[i])
		}
	}
	// The last piece is shorter than the others.
	if s := c.pieceSize(10); s != 500 {
		t.Errorf("last piece size %d, want 500", s)
	}
}
