package utprefuse

import (
	"testing"
	"time"
)

// The limiter lets ResetsPerSecond through at once, then refills at that
// rate.
func TestLimiter(t *testing.T) {
	var l Limiter
	now := time.Now()
	n := 0
	for l.Allow(now) {
		n++
	}
	if n != ResetsPerSecond {
		t.Fatalf("%d allowed at once, want %d", n, ResetsPerSecond)
	}
	if got := l.Allow(now.Add(10 * time.Millisecond)); !got {
		t.Fatal("nothing allowed 10 ms later (2 tokens refilled)")
	}
}

func TestIsSyn(t *testing.T) {
	syn := make([]byte, HeaderLen)
	syn[0] = 0x41
	for _, tc := range []struct {
		b    []byte
		want bool
	}{{syn, true}, {syn[:19], false}, {[]byte("d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:aa1:y1:qe"), false}, {append([]byte{0x21}, syn[1:]...), false}} {
		if got := IsSyn(tc.b); got != tc.want {
			t.Errorf("IsSyn(% x) = %v", tc.b[:4], got)
		}
	}
}
