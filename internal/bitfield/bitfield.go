// Package bitfield is a set of piece indices stored as BitTorrent sends it:
// bit 7 of byte 0 is piece 0 (BEP 3).
package bitfield

import (
	"fmt"
	"math/bits"
)

// Bitfield holds n bits. Its bytes are the wire form.
type Bitfield struct {
	b []byte
	n int
}

// New returns an empty bitfield of n bits.
func New(n int) Bitfield { return Bitfield{b: make([]byte, (n+7)/8), n: n} }

// FromBytes reads a wire bitfield of n bits. It fails when the length is not
// (n+7)/8 bytes or a spare bit at the end is set, as BEP 3 says peers must
// drop such a connection.
func FromBytes(p []byte, n int) (Bitfield, error) {
	if len(p) != (n+7)/8 {
		return Bitfield{}, fmt.Errorf("bitfield of %d bytes for %d pieces", len(p), n)
	}
	if n%8 != 0 && p[len(p)-1]&(0xff>>(n%8)) != 0 {
		return Bitfield{}, fmt.Errorf("bitfield has spare bits set")
	}
	return Bitfield{b: append([]byte(nil), p...), n: n}, nil
}

// Len returns the number of bits.
func (f Bitfield) Len() int { return f.n }

// Get reports whether bit i is set. Out-of-range bits are unset.
func (f Bitfield) Get(i int) bool {
	if i < 0 || i >= f.n {
		return false
	}
	return f.b[i>>3]&(0x80>>(i&7)) != 0
}

// Set sets bit i.
func (f Bitfield) Set(i int) { f.b[i>>3] |= 0x80 >> (i & 7) }

// Clear clears bit i.
func (f Bitfield) Clear(i int) { f.b[i>>3] &^= 0x80 >> (i & 7) }

// SetAll sets every bit.
func (f Bitfield) SetAll() {
	for i := range f.b {
		f.b[i] = 0xff
	}
	if f.n%8 != 0 {
		f.b[len(f.b)-1] = 0xff << (8 - f.n%8)
	}
}

// Count returns the number of set bits.
func (f Bitfield) Count() int {
	c := 0
	for _, x := range f.b {
		c += bits.OnesCount8(x)
	}
	return c
}

// All reports whether every bit is set.
func (f Bitfield) All() bool { return f.Count() == f.n }

// Bytes returns the wire form. It shares memory with f.
func (f Bitfield) Bytes() []byte { return f.b }

// Clone returns a copy.
func (f Bitfield) Clone() Bitfield { return Bitfield{b: append([]byte(nil), f.b...), n: f.n} }
