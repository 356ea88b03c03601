package securerand

import (
	"bytes"
	"testing"
)

// TestRead fills buffers of several sizes (one over the browser's 64 KiB
// bound per call) and checks that every byte was written: a buffer of zeros
// keeps a zero byte only with probability 1/256 per byte, so all-zero tails or
// two equal draws mean bytes were skipped.
func TestRead(t *testing.T) {
	for _, n := range []int{1, 20, maxChunk, maxChunk + 100} {
		a, b := make([]byte, n), make([]byte, n)
		Read(a)
		Read(b)
		if n >= 20 && bytes.Equal(a, b) {
			t.Errorf("two reads of %d bytes are equal", n)
		}
		if n >= 64 {
			tail := a[n-64:]
			if bytes.Equal(tail, make([]byte, 64)) {
				t.Errorf("the last 64 of %d bytes were not filled", n)
			}
		}
	}
}
