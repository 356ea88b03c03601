// Package sha1 is the engine's SHA-1 (FIPS 180-4), the hash of BitTorrent v1
// info hashes and pieces. Natively it is crypto/sha1, with its assembly (SHA-NI
// or AVX2 on amd64). The browser build (GOOS=js) uses the pure-Go digest of
// this package instead: crypto/sha1 has no assembly there either, and it
// imports the FIPS 140 module's other algorithms (AES, GCM, SHA-2, SHA-3, HMAC,
// a DRBG: ~90 KB of wasm code) for checks a browser never makes. The wasm's
// size over the wire is a goal of its own.
package sha1

import (
	"encoding/binary"
	"hash"
	"math/bits"
)

// Size is the size of a SHA-1 sum in bytes; BlockSize is its block size.
const (
	Size      = 20
	BlockSize = 64
)

// digest is a running SHA-1 in pure Go.
type digest struct {
	h   [5]uint32
	buf [BlockSize]byte
	n   int    // bytes in buf
	len uint64 // bytes written in all
}

// newDigest returns a pure-Go SHA-1 hash.
func newDigest() hash.Hash {
	d := new(digest)
	d.Reset()
	return d
}

func (d *digest) Reset() {
	d.h = [5]uint32{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}
	d.n, d.len = 0, 0
}

func (d *digest) Size() int      { return Size }
func (d *digest) BlockSize() int { return BlockSize }

func (d *digest) Write(p []byte) (int, error) {
	n := len(p)
	d.len += uint64(n)
	if d.n > 0 {
		k := copy(d.buf[d.n:], p)
		d.n += k
		p = p[k:]
		if d.n < BlockSize {
			return n, nil
		}
		block(&d.h, d.buf[:])
		d.n = 0
	}
	if full := len(p) &^ (BlockSize - 1); full > 0 {
		block(&d.h, p[:full])
		p = p[full:]
	}
	d.n = copy(d.buf[:], p)
	return n, nil
}

// Sum appends the sum of what was written so far to in; d is unchanged.
func (d *digest) Sum(in []byte) []byte {
	c := *d
	sum := c.finish()
	return append(in, sum[:]...)
}

// finish pads the message and returns its sum.
func (d *digest) finish() [Size]byte {
	bitLen := d.len << 3
	var pad [BlockSize + 8]byte
	pad[0] = 0x80
	// Pad to 56 bytes past a block's start, then the length in bits.
	k := (55-int(d.len))&(BlockSize-1) + 1
	binary.BigEndian.PutUint64(pad[k:], bitLen)
	d.Write(pad[:k+8])
	var sum [Size]byte
	for i, v := range d.h {
		binary.BigEndian.PutUint32(sum[4*i:], v)
	}
	return sum
}

// sumPure is the pure-Go SHA-1 of data.
func sumPure(data []byte) [Size]byte {
	var d digest
	d.Reset()
	d.Write(data)
	return d.finish()
}

// Round constants, one per 20 rounds.
const (
	k0 = 0x5A827999
	k1 = 0x6ED9EBA1
	k2 = 0x8F1BBCDC
	k3 = 0xCA62C1D6
)

// block hashes p, a whole number of blocks, into h. The four kinds of round
// are four loops, so that no round decides which kind it is.
func block(h *[5]uint32, p []byte) {
	var w [16]uint32
	h0, h1, h2, h3, h4 := h[0], h[1], h[2], h[3], h[4]
	for ; len(p) >= BlockSize; p = p[BlockSize:] {
		for i := range w {
			w[i] = binary.BigEndian.Uint32(p[4*i:])
		}
		a, b, c, d, e := h0, h1, h2, h3, h4
		i := 0
		for ; i < 16; i++ {
			t := bits.RotateLeft32(a, 5) + (b&c | ^b&d) + e + w[i] + k0
			a, b, c, d, e = t, a, bits.RotateLeft32(b, 30), c, d
		}
		for ; i < 20; i++ {
			x := bits.RotateLeft32(w[(i-3)&15]^w[(i-8)&15]^w[(i-14)&15]^w[i&15], 1)
			w[i&15] = x
			t := bits.RotateLeft32(a, 5) + (b&c | ^b&d) + e + x + k0
			a, b, c, d, e = t, a, bits.RotateLeft32(b, 30), c, d
		}
		for ; i < 40; i++ {
			x := bits.RotateLeft32(w[(i-3)&15]^w[(i-8)&15]^w[(i-14)&15]^w[i&15], 1)
			w[i&15] = x
			t := bits.RotateLeft32(a, 5) + (b ^ c ^ d) + e + x + k1
			a, b, c, d, e = t, a, bits.RotateLeft32(b, 30), c, d
		}
		for ; i < 60; i++ {
			x := bits.RotateLeft32(w[(i-3)&15]^w[(i-8)&15]^w[(i-14)&15]^w[i&15], 1)
			w[i&15] = x
			t := bits.RotateLeft32(a, 5) + ((b&c | b&d) | c&d) + e + x + k2
			a, b, c, d, e = t, a, bits.RotateLeft32(b, 30), c, d
		}
		for ; i < 80; i++ {
			x := bits.RotateLeft32(w[(i-3)&15]^w[(i-8)&15]^w[(i-14)&15]^w[i&15], 1)
			w[i&15] = x
			t := bits.RotateLeft32(a, 5) + (b ^ c ^ d) + e + x + k3
			a, b, c, d, e = t, a, bits.RotateLeft32(b, 30), c, d
		}
		h0 += a
		h1 += b
		h2 += c
		h3 += d
		h4 += e
	}
	h[0], h[1], h[2], h[3], h[4] = h0, h1, h2, h3, h4
}
