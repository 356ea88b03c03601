package bitfield

import "testing"

func TestBitfield(t *testing.T) {
	f := New(10)
	f.Set(0)
	f.Set(9)
	if !f.Get(0) || !f.Get(9) || f.Get(5) || f.Get(10) || f.Get(-1) || f.Count() != 2 {
		t.Fatalf("bits %08b", f.Bytes())
	}
	if f.Bytes()[0] != 0x80 || f.Bytes()[1] != 0x40 {
		t.Fatalf("wire form %08b", f.Bytes())
	}
	g, err := FromBytes(f.Bytes(), 10)
	if err != nil || !g.Get(9) {
		t.Fatal(err)
	}
	if _, err := FromBytes([]byte{0, 0x20}, 10); err == nil {
		t.Fatal("spare bit accepted")
	}
	if _, err := FromBytes([]byte{0}, 10); err == nil {
		t.Fatal("short bitfield accepted")
	}
	f.SetAll()
	if !f.All() || f.Bytes()[1] != 0xc0 {
		t.Fatalf("SetAll %08b", f.Bytes())
	}
	f.Clear(3)
	if f.Get(3) || f.All() {
		t.Fatal("Clear")
	}
}
