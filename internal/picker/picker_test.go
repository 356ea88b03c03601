package picker

import "testing"

func all(int) bool { return true }

func TestTiersAndRarity(t *testing.T) {
	p := New(8, 1)
	for i := 0; i < 8; i++ {
		p.SetPriority(i, Normal)
		for k := 0; k < 8-i; k++ {
			p.PeerHas(i) // piece 7 is rarest
		}
	}
	if i, _ := p.Pick(all, nil); i != 7 {
		t.Fatalf("rarest: got %d, want 7", i)
	}
	p.SetPriority(2, High)
	if i, _ := p.Pick(all, nil); i != 2 {
		t.Fatalf("high beats rarer normal: got %d", i)
	}
	p.SetPriority(5, Readahead)
	p.SetPriority(4, Readahead)
	if i, _ := p.Pick(all, nil); i != 4 {
		t.Fatalf("readahead in index order: got %d", i)
	}
	p.SetPriority(6, Now)
	if i, _ := p.Pick(all, nil); i != 6 {
		t.Fatalf("now first: got %d", i)
	}
	p.SetHave(6, true)
	if i, _ := p.Pick(all, func(i int) bool { return i == 4 }); i != 5 {
		t.Fatalf("skip: got %d", i)
	}
	if i, _ := p.Pick(func(i int) bool { return i == 0 }, nil); i != 0 {
		t.Fatalf("peer has only 0: got %d", i)
	}
	for i := 0; i < 8; i++ {
		p.SetPriority(i, None)
	}
	if _, ok := p.Pick(all, nil); ok {
		t.Fatal("picked an unwanted piece")
	}
}

func TestRandomTieBreak(t *testing.T) {
	p := New(100, 42)
	for i := 0; i < 100; i++ {
		p.SetPriority(i, Normal)
	}
	seen := map[int]bool{}
	for k := 0; k < 50; k++ {
		i, _ := p.Pick(all, nil)
		seen[i] = true
	}
	if len(seen) < 20 {
		t.Fatalf("ties broken too predictably: %d distinct picks of 50", len(seen))
	}
	p.PeerHas(3)
	p.PeerLost(3)
	p.PeerLost(3)
	if p.Avail(3) != 0 {
		t.Fatal("availability went negative")
	}
}

