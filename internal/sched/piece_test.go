package sched

import (
	"crypto/sha1"
	"testing"
	"time"
)

type peer struct{ name string }

func never(*peer) bool { return false }

func TestBlocksAndLengths(t *testing.T) {
	st := NewPiece[*peer](3, 3*BlockSize+100)
	if st.Blocks != 4 || st.BlockLen(0) != BlockSize || st.BlockLen(3) != 100 || st.Free() != 4 {
		t.Fatalf("blocks %d, lengths %d/%d, free %d", st.Blocks, st.BlockLen(0), st.BlockLen(3), st.Free())
	}
}

func TestRequestReleaseReceive(t *testing.T) {
	a := &peer{"a"}
	st := NewPiece[*peer](0, 4*BlockSize)
	for want := 0; want < 4; want++ {
		b := st.NextFree()
		if b != want {
			t.Fatalf("next free %d, want %d", b, want)
		}
		st.Request(b)
	}
	if st.NextFree() != -1 || st.Free() != 0 {
		t.Fatal("all requested, yet a block is free")
	}
	st.Release(2) // rejected: free again
	if st.NextFree() != 2 {
		t.Fatal("a released block is not free")
	}
	st.Request(2)
	for b := range 4 {
		st.Release(b)
		if st.Receive(b, a) {
			t.Fatalf("block %d: nobody else was asked", b)
		}
	}
	if !st.Complete() || st.Free() != 0 {
		t.Fatal("not complete after every block")
	}
}

// The end game asks a second peer for a block one peer has, at most two
// peers per block, never the same peer twice; the first copy to arrive
// says the others are to be cancelled.
func TestEndGameDuplicates(t *testing.T) {
	a := &peer{"a"}
	st := NewPiece[*peer](0, 2*BlockSize)
	mineA := map[int]bool{}
	for blk := st.NextFree(); blk >= 0; blk = st.NextFree() {
		st.Request(blk)
		mineA[blk] = true
	}
	if _, ok := st.Duplicate(func(blk int) bool { return mineA[blk] }); ok {
		t.Fatal("a duplicate for the peer that has every block")
	}
	mineB := map[int]bool{}
	for {
		blk, ok := st.Duplicate(func(blk int) bool { return mineB[blk] })
		if !ok {
			break
		}
		mineB[blk] = true
	}
	if len(mineB) != 2 {
		t.Fatalf("second peer got %d duplicates, want 2", len(mineB))
	}
	c := &peer{"c"}
	if _, ok := st.Duplicate(func(int) bool { return false }); ok {
		t.Fatalf("a third copy of a block for %s", c.name)
	}
	st.Release(0) // a's copy of block 0, as its arrival releases it
	if !st.Receive(0, a) {
		t.Fatal("b's request for the same block was not reported")
	}
}

// A piece that failed with blocks from one peer names it; with several, it
// becomes exclusive to one peer, and once it verifies the peer whose block
// differs is named a liar, the honest one not.
func TestFailedAndSmartBan(t *testing.T) {
	honest, liar := &peer{"honest"}, &peer{"liar"}
	good := []byte("good block")
	bad := []byte("bad block!")
	st := NewPiece[*peer](0, 2*BlockSize)
	st.Receive(0, liar)
	st.Receive(1, liar)
	if _, who, found := st.Failed(nil); !found || who != liar {
		t.Fatal("the only sender is not named")
	}

	st = NewPiece[*peer](1, 2*BlockSize)
	st.Receive(0, honest)
	st.Receive(1, liar)
	sums := [][20]byte{sha1.Sum(good), sha1.Sum(bad)}
	senders, _, found := st.Failed(sums)
	if found || len(senders) != 2 || !st.Exclusive() {
		t.Fatalf("mixed failure: senders %d, found %v, exclusive %v", len(senders), found, st.Exclusive())
	}
	if st.Free() != 2 || st.Complete() {
		t.Fatal("the piece did not start again")
	}
	// Exclusive: the first peer to ask has it alone until it is gone.
	if !st.UsableBy(honest, never) || st.UsableBy(liar, never) {
		t.Fatal("exclusive piece usable by two peers")
	}
	if !st.UsableBy(liar, func(p *peer) bool { return p == honest }) {
		t.Fatal("exclusive piece not passed on when its owner left")
	}
	verified := [][20]byte{sha1.Sum(good), sha1.Sum(good)}
	liars := st.Liars(verified)
	if len(liars) != 1 || liars[0] != liar {
		t.Fatalf("liars %v", liars)
	}
}

func TestRequestTimeout(t *testing.T) {
	for _, tc := range []struct {
		outstanding int
		rate        float64
		want        time.Duration
	}{
		{10, 0, UnmeasuredRequestTimeout},           // no rate yet
		{10, 100 * BlockSize, MinRequestTimeout},    // 0.1 s of queue: the floor
		{400, 100 * BlockSize, 4 * 4 * time.Second}, // 4 s of queue: 4x
		{1, 1 << 30, MinRequestTimeout},             // a fast peer still gets the floor
	} {
		if got := RequestTimeout(tc.outstanding, tc.rate); got != tc.want {
			t.Errorf("RequestTimeout(%d, %.0f) = %v, want %v", tc.outstanding, tc.rate, got, tc.want)
		}
	}
}

// A tracked piece keeps the caller's sum of free blocks exact through
// requests, releases, arrivals and a reset, and leaves it when untracked.
func TestTrackFreeBlocks(t *testing.T) {
	var total int
	a := NewPiece[int](0, 4*BlockSize)
	b := NewPiece[int](1, 2*BlockSize)
	a.Track(&total)
	b.Track(&total)
	check := func(step string) {
		t.Helper()
		if total != a.Free()+b.Free() {
			t.Fatalf("%s: total %d, pieces' free blocks %d + %d", step, total, a.Free(), b.Free())
		}
	}
	check("start")
	a.Request(0)
	a.Request(0) // a duplicate takes no second free block
	b.Request(1)
	check("requests")
	a.Release(0)
	check("one of two requests released")
	a.Receive(0, 1)
	a.Receive(2, 2) // never requested
	check("arrivals")
	a.Reset()
	check("reset")
	b.Untrack()
	if total != a.Free() {
		t.Fatalf("after Untrack: total %d, want %d", total, a.Free())
	}
	b.Release(1) // no longer counted
	a.Untrack()
	if total != 0 {
		t.Fatalf("after both Untrack: total %d", total)
	}
}
