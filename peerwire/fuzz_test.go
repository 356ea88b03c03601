package peerwire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// fuzzConfig keeps limits small so the fuzzer reaches them.
var fuzzConfig = DecoderConfig{MaxBlockLength: 64, MaxMessageLength: 300, BufferSize: 1}

// decodeAll decodes messages until an error other than an unknown id.
func decodeAll(r io.Reader) ([]Message, error) {
	d := NewDecoderConfig(r, fuzzConfig)
	var msgs []Message
	for {
		var m Message
		err := d.Decode(&m)
		if errors.Is(err, ErrUnknownMessage) {
			continue
		}
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, clone(m))
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range allMessages() {
		if m.Type == Piece && len(m.Piece) > 64 {
			m.Piece = m.Piece[:64]
		}
		b, _ := m.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 7})
	f.Add([]byte{0, 0, 0, 5, 4, 0, 0})
	f.Add([]byte{0, 0, 0, 3, 99, 1, 2, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := decodeAll(bytes.NewReader(data))
		// Reading one byte at a time must give the same messages and error.
		msgs1, err1 := decodeAll(iotest.OneByteReader(bytes.NewReader(data)))
		if len(msgs) != len(msgs1) || (err == nil) != (err1 == nil) || (err != nil && err.Error() != err1.Error()) {
			t.Fatalf("whole reads: %d messages, %v; one byte reads: %d messages, %v", len(msgs), err, len(msgs1), err1)
		}
		for i := range msgs {
			if !msgEqual(msgs[i], msgs1[i]) {
				t.Fatalf("message %d: %v vs %v", i, msgs[i], msgs1[i])
			}
		}
		// Every message decoded re-encodes to bytes that decode to it again.
		var buf bytes.Buffer
		e := NewEncoder(&buf)
		for _, m := range msgs {
			if err := e.WriteMessage(m); err != nil {
				t.Fatalf("re-encoding %v: %v", m, err)
			}
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		again, err := decodeAll(&buf)
		if err != io.EOF || len(again) != len(msgs) {
			t.Fatalf("re-decoding: %d of %d messages, %v", len(again), len(msgs), err)
		}
		for i := range msgs {
			if !msgEqual(msgs[i], again[i]) {
				t.Fatalf("message %d: %v re-decodes as %v", i, msgs[i], again[i])
			}
		}
	})
}

func FuzzHandshake(f *testing.F) {
	good, _ := testHandshake().MarshalBinary()
	f.Add(good)
	f.Add(good[:47])
	f.Add(append([]byte{18}, good[1:]...))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadHandshake(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadHandshake) && !errors.Is(err, io.EOF) {
				t.Fatalf("error %v wraps neither ErrBadHandshake nor io.EOF", err)
			}
			return
		}
		b, _ := h.MarshalBinary()
		if !bytes.Equal(b, data[:HandshakeLen]) {
			t.Fatalf("re-encoded %q, read %q", b, data[:HandshakeLen])
		}
	})
}

func FuzzExtensionHandshake(f *testing.F) {
	f.Add([]byte("d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei5e6:yourip4:\x7f\x00\x00\x01e"))
	f.Add([]byte("d1:md1:ai300e1:bi-1ee1:pi70000e4:reqqi-1e4:ipv44:abcd4:ipv616:0123456789abcdef1:v3:abce"))
	f.Add([]byte("d1:mdee"))
	f.Add([]byte("d6:yourip16:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x01\x02\x03\x0411:upload_onlyi1ee"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h ExtensionHandshake
		if err := h.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrBadExtension) {
				t.Fatalf("error %v does not wrap ErrBadExtension", err)
			}
			return
		}
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", h, err)
		}
		var h2 ExtensionHandshake
		if err := h2.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-decoding %q: %v", b, err)
		}
		if !reflect.DeepEqual(h, h2) {
			t.Fatalf("%+v re-decodes as %+v", h, h2)
		}
	})
}

func FuzzMetadataMessage(f *testing.F) {
	f.Add([]byte("d8:msg_typei0e5:piecei0ee"))
	f.Add([]byte("d8:msg_typei2e5:piecei3ee"))
	f.Add([]byte("d8:msg_typei1e5:piecei0e10:total_sizei3eeabc"))
	f.Add([]byte("d8:msg_typei1e5:piecei1e10:total_sizei16387ee123"))
	f.Add([]byte("d8:msg_typei9e5:piecei0e3:fooli1eee"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadataMessage(data, 1<<16)
		if err != nil {
			if !errors.Is(err, ErrBadExtension) {
				t.Fatalf("error %v does not wrap ErrBadExtension", err)
			}
			return
		}
		if m.Type == MetadataData && len(m.Data) != MetadataPieceLen(m.Piece, m.TotalSize) {
			t.Fatalf("accepted %d bytes for piece %d of %d", len(m.Data), m.Piece, m.TotalSize)
		}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		m2, err := ParseMetadataMessage(b, 1<<16)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", b, err)
		}
		if m.Type != m2.Type || m.Piece != m2.Piece || m.TotalSize != m2.TotalSize || !bytes.Equal(m.Data, m2.Data) {
			t.Fatalf("%+v re-decodes as %+v", m, m2)
		}
	})
}

func FuzzPEX(f *testing.F) {
	f.Add([]byte("d5:added6:\xc0\x00\x02\x01\x1a\xe17:added.f1:\x127:dropped6:\xcb\x00\x71\x09\x00\x01e"))
	f.Add([]byte("d6:added618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe18:added6.f1:\x09e"))
	f.Add([]byte("d6:added618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x01\x02\x03\x04\x00\x01e"))
	f.Add([]byte("de"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p PEX
		if err := p.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrBadExtension) {
				t.Fatalf("error %v does not wrap ErrBadExtension", err)
			}
			return
		}
		if len(p.Added) > 2*MaxPEXPeers || len(p.Dropped) > 2*MaxPEXPeers {
			t.Fatalf("%d added, %d dropped: above MaxPEXPeers", len(p.Added), len(p.Dropped))
		}
		// Encoding puts IPv4-mapped addresses in the IPv4 lists, so the
		// first encoding is canonical and must survive another round.
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", p, err)
		}
		var p2 PEX
		if err := p2.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-decoding %q: %v", b, err)
		}
		b2, err := p2.MarshalBinary()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("encoding not stable: %q then %q (%v)", b, b2, err)
		}
	})
}
