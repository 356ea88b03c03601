package storage

import (
	"math/bits"
	"sync/atomic"
)

// Bitfield is a set of piece indexes of a fixed length, laid out as in the
// BitTorrent bitfield message (BEP 3): the high bit of the first byte is
// piece 0, and the spare bits of the last byte are zero. The zero value is
// an empty bitfield of length 0.
type Bitfield struct {
	b []byte
	n int
}

// NewBitfield returns a bitfield of n pieces, none set.
func NewBitfield(n int) Bitfield {
	return Bitfield{b: make([]byte, (n+7)/8), n: n}
}

// Len returns the number of pieces the bitfield covers.
func (f Bitfield) Len() int { return f.n }

// Has reports whether piece i is set; it is false for i outside 0..Len()-1.
func (f Bitfield) Has(i int) bool {
	return i >= 0 && i < f.n && f.b[i>>3]&(0x80>>(i&7)) != 0
}

// Set sets or clears piece i. It panics if i is outside 0..Len()-1, as a
// slice index would.
func (f *Bitfield) Set(i int, v bool) {
	if i < 0 || i >= f.n {
		panic("storage: Bitfield.Set index out of range")
	}
	if v {
		f.b[i>>3] |= 0x80 >> (i & 7)
	} else {
		f.b[i>>3] &^= 0x80 >> (i & 7)
	}
}

// Count returns the number of pieces set.
func (f Bitfield) Count() int {
	n := 0
	for _, c := range f.b {
		n += bits.OnesCount8(c)
	}
	return n
}

// Bytes returns the bitfield in wire format, ready for a bitfield message.
// It shares memory with f.
func (f Bitfield) Bytes() []byte { return f.b }

// completion is the set of verified pieces, readable without a lock on the
// write path (one atomic load per piece written) and updated with atomic
// bit operations. Bit i lives in word i/64 at bit i%64.
type completion struct {
	words []atomic.Uint64
	n     int
}

func newCompletion(n int) completion {
	return completion{words: make([]atomic.Uint64, (n+63)/64), n: n}
}

func (c *completion) has(i int) bool {
	return c.words[i>>6].Load()&(1<<(i&63)) != 0
}

// set changes piece i and reports whether it was different before.
func (c *completion) set(i int, v bool) bool {
	mask := uint64(1) << (i & 63)
	var old uint64
	if v {
		old = c.words[i>>6].Or(mask)
	} else {
		old = c.words[i>>6].And(^mask)
	}
	return (old&mask != 0) != v
}

// anyIn reports whether a piece of first..last (inclusive) is set.
func (c *completion) anyIn(first, last int) bool {
	for i := first; i <= last; i++ {
		if c.has(i) {
			return true
		}
	}
	return false
}

func (c *completion) clearAll() {
	for i := range c.words {
		c.words[i].Store(0)
	}
}

// bitfield returns a copy in wire format.
func (c *completion) bitfield() Bitfield {
	f := NewBitfield(c.n)
	c.appendWire(f.b[:0])
	return f
}

// appendWire appends the set in wire format ((n+7)/8 bytes) to b.
func (c *completion) appendWire(b []byte) []byte {
	for i := 0; i < c.n; i += 8 {
		w := c.words[i>>6].Load() >> (i & 63) // the 8 bits of this byte, LSB first
		b = append(b, bits.Reverse8(uint8(w)))
	}
	if r := c.n & 7; r != 0 { // bits past n are never set, but keep the wire format strict
		b[len(b)-1] &= 0xff << (8 - r)
	}
	return b
}

// loadWire sets the pieces of a wire-format bitfield of at least (n+7)/8 bytes.
func (c *completion) loadWire(b []byte) {
	for i := 0; i < c.n; i++ {
		if b[i>>3]&(0x80>>(i&7)) != 0 {
			c.set(i, true)
		}
	}
}
