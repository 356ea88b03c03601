package peerwire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func testHandshake() Handshake {
	h := Handshake{}
	h.Reserved.Set(ExtendedBit)
	h.Reserved.Set(FastBit)
	copy(h.InfoHash[:], "0123456789abcdefghij")
	copy(h.PeerID[:], "-SC0001-abcdefghijkl")
	return h
}

func TestExtensionBits(t *testing.T) {
	var b ExtensionBits
	for _, bit := range []ExtensionBit{ExtendedBit, FastBit, DHTBit} {
		if b.Has(bit) {
			t.Fatalf("zero bits have %x", bit)
		}
	}
	b.Set(ExtendedBit)
	b.Set(DHTBit)
	if b != (ExtensionBits{5: 0x10, 7: 0x01}) {
		t.Fatalf("bits %x", b)
	}
	if !b.Has(ExtendedBit) || !b.Has(DHTBit) || b.Has(FastBit) {
		t.Fatalf("Has wrong for %x", b)
	}
	b.Set(FastBit)
	if b[7] != 0x05 {
		t.Fatalf("reserved[7] = %#x, want 0x05", b[7])
	}
	b.Clear(DHTBit)
	if b.Has(DHTBit) || !b.Has(FastBit) {
		t.Fatalf("Clear wrong: %x", b)
	}
	if got, want := b.String(), "0000000000100004 (extended,fast)"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}

func TestHandshakeRoundTrip(t *testing.T) {
	h := testHandshake()
	var buf bytes.Buffer
	if err := WriteHandshake(&buf, h); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != HandshakeLen || !strings.HasPrefix(buf.String(), "\x13BitTorrent protocol") {
		t.Fatalf("wire %q", buf.Bytes())
	}
	wire := bytes.Clone(buf.Bytes())
	got, err := ReadHandshake(iotest.OneByteReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if got != h {
		t.Fatalf("got %+v, want %+v", got, h)
	}
	if b, _ := h.MarshalBinary(); !bytes.Equal(b, wire) {
		t.Fatalf("MarshalBinary %q differs from WriteHandshake %q", b, wire)
	}
}

// TestHandshakeTwoSteps is the listener's path: read up to the info hash,
// answer, read the peer id, then messages, with nothing read too far.
func TestHandshakeTwoSteps(t *testing.T) {
	h := testHandshake()
	var buf bytes.Buffer
	if err := WriteHandshake(&buf, h); err != nil {
		t.Fatal(err)
	}
	bf, _ := Message{Type: Bitfield, Bitfield: []byte{0xf0}}.MarshalBinary()
	buf.Write(bf)

	head, err := ReadHandshakeHeader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if head.InfoHash != h.InfoHash || head.Reserved != h.Reserved || head.PeerID != ([20]byte{}) {
		t.Fatalf("header %+v", head)
	}
	id, err := ReadPeerID(&buf)
	if err != nil || id != h.PeerID {
		t.Fatalf("peer id %q, %v", id, err)
	}
	var m Message
	if err := NewDecoder(&buf).Decode(&m); err != nil || m.Type != Bitfield || m.Bitfield[0] != 0xf0 {
		t.Fatalf("message after the handshake: %v, %v", m, err)
	}
}

func TestHandshakeErrors(t *testing.T) {
	good, _ := testHandshake().MarshalBinary()
	tests := []struct {
		name    string
		in      []byte
		want    []error
		message string
	}{
		{"empty", nil, []error{io.EOF}, "closed the connection"},
		{"wrong length byte", append([]byte{18}, good[1:]...), []error{ErrBadHandshake}, "length is 18"},
		{"encrypted", bytes.Repeat([]byte{0xc3}, 96), []error{ErrBadHandshake}, "encrypted"},
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []error{ErrBadHandshake}, "length is 71"},
		{"wrong protocol", append([]byte("\x13BitTorrent protocoL"), good[20:]...), []error{ErrBadHandshake}, "protocol name is"},
		{"wrong protocol, short", []byte("\x13Bad"), []error{ErrBadHandshake}, "protocol name is"},
		{"short in name", good[:10], []error{ErrBadHandshake, io.ErrUnexpectedEOF}, "after 10 of 68"},
		{"short in info hash", good[:40], []error{ErrBadHandshake, io.ErrUnexpectedEOF}, "after 40 of 68"},
		{"short in peer id", good[:60], []error{ErrBadHandshake, io.ErrUnexpectedEOF}, "after 60 of 68"},
		{"no peer id", good[:48], []error{ErrBadHandshake, io.ErrUnexpectedEOF}, "after 48 of 68"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadHandshake(bytes.NewReader(tt.in))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not wrap %v", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "peerwire: ") || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q: want the package prefix and %q", err, tt.message)
			}
		})
	}
}

func TestHandshakeReadError(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := ReadHandshake(&errReader{data: []byte("\x13BitTorrent"), err: boom})
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "peerwire: ") {
		t.Fatalf("%v", err)
	}
}
