package mse

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/big"
	"testing"
)

// constReader is a deterministic "random" source, so a fuzz input can be
// built against the keys the code under test will choose.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func fixedDH(b byte) *dh {
	k, _ := newDH(constReader(b))
	return k
}

type inOut struct {
	io.Reader
	io.Writer
}

func input(b []byte) io.ReadWriter { return inOut{bytes.NewReader(b), io.Discard} }

// FuzzAccept feeds raw bytes to the receiver: they cannot find the sync
// hash, so this exercises key checks, the bounded search and short input.
func FuzzAccept(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, KeyLen))
	f.Add(append(fixedDH(7).pub[:], make([]byte, 700)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		prefix := in[:min(len(in), 20)]
		if _, err := Accept(input(in[len(prefix):]), prefix, AcceptConfig{SKey: lookup(testSKey)}); err == nil {
			t.Fatal("accepted bytes that cannot hold a handshake")
		}
	})
}

// FuzzAcceptStep3 feeds the receiver a valid key exchange and sync hash for
// testSKey followed by the fuzzer's bytes, encrypted as the initiator would:
// the fuzzer controls VC, crypto_provide, the padding and the initial payload.
func FuzzAcceptStep3(f *testing.F) {
	const ourByte = 0x5a
	peer := fixedDH(0x33)
	s, err := fixedDH(ourByte).secret(peer.pub[:])
	if err != nil {
		f.Fatal(err)
	}
	fake := &fakeInitiator{peer, s}
	f.Add(fields(make([]byte, 8), RC4, 0, []byte("hi"), 2))
	f.Add(fields(make([]byte, 8), Plaintext|RC4, 3, nil, 0))
	f.Add(fields(make([]byte, 8), RC4, 0, nil, 70))
	f.Fuzz(func(t *testing.T, tail []byte) {
		in := append(peer.pub[:], fake.step3(testSKey, tail)...)
		st, err := Accept(input(in), nil, AcceptConfig{SKey: lookup(testSKey), Rand: constReader(ourByte)})
		if err != nil {
			return
		}
		if len(st.pending) > len(in) {
			t.Fatalf("%d bytes pending from %d of input", len(st.pending), len(in))
		}
		if m := st.Method(); m != Plaintext && m != RC4 {
			t.Fatalf("method %v", m)
		}
	})
}

// FuzzInitiate feeds raw bytes to the initiator as the receiver's answer.
func FuzzInitiate(f *testing.F) {
	f.Add([]byte{})
	f.Add(append(fixedDH(7).pub[:], make([]byte, 700)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, err := Initiate(input(in), testSKey, RC4|Plaintext, []byte("ia"), constReader(1)); err == nil {
			t.Fatal("handshake succeeded on bytes that cannot hold one")
		}
	})
}

// FuzzInitiateStep4 feeds the initiator a valid key and encrypted VC,
// followed by the fuzzer's bytes encrypted as the receiver would:
// crypto_select, PadD and the start of the payload.
func FuzzInitiateStep4(f *testing.F) {
	const ourByte = 0x5a
	peer := fixedDH(0x33)
	s, err := fixedDH(ourByte).secret(peer.pub[:])
	if err != nil {
		f.Fatal(err)
	}
	step4 := func(sel Method, padLen int, rest []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(sel))
		b = binary.BigEndian.AppendUint16(b, uint16(padLen))
		return append(append(b, make([]byte, min(padLen, 600))...), rest...)
	}
	f.Add([]byte{}, step4(RC4, 0, []byte("payload")))
	f.Add([]byte{1, 2, 3}, step4(Plaintext, 10, nil))
	f.Add(make([]byte, 512), step4(3, 513, nil))
	f.Fuzz(func(t *testing.T, padB, tail []byte) {
		if len(padB) > 600 {
			return
		}
		enc := newCipher("keyB", s, testSKey)
		msg := append(make([]byte, vcLen), tail...)
		enc.XORKeyStream(msg, msg)
		in := append(append(peer.pub[:], padB...), msg...)
		st, err := Initiate(input(in), testSKey, RC4|Plaintext, nil, constReader(ourByte))
		if err != nil {
			return
		}
		if len(padB) > MaxPad && !bytes.Contains(padB, msg[:vcLen]) {
			t.Fatalf("synchronised after %d bytes of padding", len(padB))
		}
		if len(st.pending) > len(in) {
			t.Fatalf("%d bytes pending from %d of input", len(st.pending), len(in))
		}
	})
}

// TestFixedKeysAreValid guards the fuzz targets: their fixed keys must be
// usable, or the targets would test nothing past the key check.
func TestFixedKeysAreValid(t *testing.T) {
	for _, b := range []byte{0x33, 0x5a, 1, 7} {
		k := fixedDH(b)
		y := new(big.Int).SetBytes(k.pub[:])
		if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(primeLess1) >= 0 {
			t.Fatalf("key from %#x out of range", b)
		}
	}
	// A valid tail is accepted: the step-3 target reaches past the sync.
	peer := fixedDH(0x33)
	s, _ := fixedDH(0x5a).secret(peer.pub[:])
	fake := &fakeInitiator{peer, s}
	in := append(peer.pub[:], fake.step3(testSKey, fields(make([]byte, 8), RC4, 0, []byte("hi"), 2))...)
	st, err := Accept(input(in), nil, AcceptConfig{SKey: lookup(testSKey), Rand: constReader(0x5a)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(io.LimitReader(st, 2)); string(got) != "hi" {
		t.Fatalf("initial payload %q", got)
	}
}
