package sha1

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// FIPS 180-4's examples and the usual edge lengths around the padding.
func TestKnownAnswers(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
		{string(bytes.Repeat([]byte("a"), 1000000)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f"},
	} {
		got := sumPure([]byte(c.in))
		if hex.EncodeToString(got[:]) != c.want {
			name := c.in
			if len(name) > 20 {
				name = name[:20] + "..."
			}
			t.Errorf("sumPure(%q) = %x, want %s", name, got, c.want)
		}
	}
}

// TestMatchesCryptoSHA1 compares the pure digest with crypto/sha1 for every
// length up to a few blocks, written whole and in random pieces, and checks
// that Sum leaves the digest usable and Reset starts again.
func TestMatchesCryptoSHA1(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 4*BlockSize+3)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for n := 0; n <= len(data); n++ {
		in := data[:n]
		want := sha1.Sum(in)
		if got := sumPure(in); got != want {
			t.Fatalf("sumPure of %d bytes = %x, want %x", n, got, want)
		}
		d := newDigest()
		for rest := in; len(rest) > 0; {
			k := min(len(rest), rng.IntN(BlockSize+10))
			d.Write(rest[:k])
			rest = rest[k:]
		}
		if got := d.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("written in pieces, %d bytes: %x, want %x", n, got, want)
		}
		d.Write([]byte("more"))
		if got, want := d.Sum(nil), sha1.Sum(append(append([]byte{}, in...), "more"...)); !bytes.Equal(got, want[:]) {
			t.Fatalf("written after Sum, %d bytes: %x, want %x", n, got, want)
		}
		d.Reset()
		d.Write(in)
		if got := d.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("after Reset, %d bytes: %x, want %x", n, got, want)
		}
	}
}

// TestPackageFunctions checks New and Sum, whichever implementation the build
// uses, against crypto/sha1.
func TestPackageFunctions(t *testing.T) {
	in := []byte("swarmcast")
	want := sha1.Sum(in)
	if Sum(in) != want {
		t.Errorf("Sum = %x, want %x", Sum(in), want)
	}
	h := New()
	h.Write(in)
	if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
		t.Errorf("New().Sum = %x, want %x", got, want)
	}
	if h.Size() != Size || h.BlockSize() != BlockSize {
		t.Errorf("Size %d, BlockSize %d", h.Size(), h.BlockSize())
	}
}

func FuzzMatchesCryptoSHA1(f *testing.F) {
	f.Add([]byte("abc"), uint8(1))
	f.Add(make([]byte, 200), uint8(63))
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		want := sha1.Sum(in)
		d := newDigest()
		k := min(int(split), len(in))
		d.Write(in[:k])
		d.Write(in[k:])
		if got := d.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("%x, want %x", got, want)
		}
	})
}

func BenchmarkPure16K(b *testing.B) {
	data := make([]byte, 16<<10)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sumPure(data)
	}
}

// BenchmarkCrypto16K is crypto/sha1 on the same input, for comparison (in the
// browser build both are pure Go).
func BenchmarkCrypto16K(b *testing.B) {
	data := make([]byte, 16<<10)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sha1.Sum(data)
	}
}
