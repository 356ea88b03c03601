package peerwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// allMessages has one message of every type, with payloads of several sizes.
func allMessages() []Message {
	block := bytes.Repeat([]byte("0123456789abcdef"), DefaultMaxBlockLength/16)
	return []Message{
		{Type: KeepAlive},
		{Type: Choke},
		{Type: Unchoke},
		{Type: Interested},
		{Type: NotInterested},
		{Type: Have, Index: 0xdeadbeef},
		{Type: Bitfield, Bitfield: []byte{0xff, 0x80}},
		{Type: Bitfield, Bitfield: []byte{}},
		{Type: Request, Index: 1, Begin: 16384, Length: 16384},
		{Type: Piece, Index: 2, Begin: 32768, Piece: block},
		{Type: Piece, Index: 3, Begin: 0, Piece: []byte("x")},
		{Type: Piece, Index: 3, Begin: 7, Piece: []byte{}},
		{Type: Cancel, Index: 4, Begin: 5, Length: 6},
		{Type: Port, Port: 6881},
		{Type: Suggest, Index: 7},
		{Type: HaveAll},
		{Type: HaveNone},
		{Type: RejectRequest, Index: 8, Begin: 9, Length: 10},
		{Type: AllowedFast, Index: 11},
		{Type: Extended, ExtendedID: 0, ExtendedPayload: []byte("d1:md11:ut_metadatai3eee")},
		{Type: Extended, ExtendedID: 3, ExtendedPayload: []byte{}},
	}
}

func msgEqual(a, b Message) bool {
	return a.Type == b.Type && a.Index == b.Index && a.Begin == b.Begin && a.Length == b.Length &&
		bytes.Equal(a.Piece, b.Piece) && bytes.Equal(a.Bitfield, b.Bitfield) &&
		a.ExtendedID == b.ExtendedID && bytes.Equal(a.ExtendedPayload, b.ExtendedPayload) && a.Port == b.Port
}

// clone copies m's slices, which a Decoder lends only until the next Decode.
func clone(m Message) Message {
	m.Piece = bytes.Clone(m.Piece)
	m.Bitfield = bytes.Clone(m.Bitfield)
	m.ExtendedPayload = bytes.Clone(m.ExtendedPayload)
	return m
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range allMessages() {
		t.Run(m.String(), func(t *testing.T) {
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			want, _ := m.wireLen()
			if len(b) != 4+want || binary.BigEndian.Uint32(b) != uint32(want) {
				t.Fatalf("encoded %d bytes with prefix %d, want prefix %d", len(b), binary.BigEndian.Uint32(b), want)
			}
			for _, rd := range []struct {
				name string
				r    io.Reader
			}{{"whole", bytes.NewReader(b)}, {"one byte", iotest.OneByteReader(bytes.NewReader(b))}, {"data+EOF", iotest.DataErrReader(bytes.NewReader(b))}} {
				d := NewDecoder(rd.r)
				var got Message
				if err := d.Decode(&got); err != nil {
					t.Fatalf("%s: %v", rd.name, err)
				}
				if !msgEqual(got, m) {
					t.Fatalf("%s: decoded %v, want %v", rd.name, got, m)
				}
				if err := d.Decode(&got); err != io.EOF {
					t.Fatalf("%s: after the message: %v, want io.EOF", rd.name, err)
				}
			}
		})
	}
}

// TestStreamRoundTrip writes every message through one Encoder and reads them
// back through one Decoder, with and without a BlockPool.
func TestStreamRoundTrip(t *testing.T) {
	msgs := allMessages()
	var buf bytes.Buffer
	e := NewEncoder(&buf)
	for range 5 {
		for _, m := range msgs {
			if err := e.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	wire := buf.Bytes()
	var pool BlockPool
	for _, cfg := range []DecoderConfig{{}, {Blocks: &pool}, {BufferSize: 1}} {
		d := NewDecoderConfig(iotest.HalfReader(bytes.NewReader(wire)), cfg)
		for i := range 5 * len(msgs) {
			var got Message
			if err := d.Decode(&got); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if want := msgs[i%len(msgs)]; !msgEqual(got, want) {
				t.Fatalf("message %d: got %v, want %v", i, got, want)
			}
			if got.Type == Piece && cfg.Blocks != nil {
				if cap(got.Piece) != pool.Size() {
					t.Fatalf("piece buffer has cap %d, not from the pool", cap(got.Piece))
				}
				pool.Put(got.Piece)
			}
		}
		if err := d.Decode(new(Message)); err != io.EOF {
			t.Fatalf("at the end: %v, want io.EOF", err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	msg := func(n uint32, id byte, payload ...byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, n)
		return append(append(b, id), payload...)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"have too short", msg(4, 4, 0, 0, 0), ErrBadLength},
		{"have too long", msg(6, 4, 0, 0, 0, 0, 0), ErrBadLength},
		{"choke with payload", msg(2, 0, 0), ErrBadLength},
		{"request 12", msg(12, 6, make([]byte, 11)...), ErrBadLength},
		{"cancel 14", msg(14, 8, make([]byte, 13)...), ErrBadLength},
		{"reject 9", msg(9, 16, make([]byte, 8)...), ErrBadLength},
		{"port 2", msg(2, 9, 0), ErrBadLength},
		{"have all with payload", msg(5, 14, 0, 0, 0, 0), ErrBadLength},
		{"piece without begin", msg(5, 7, 0, 0, 0, 0), ErrBadLength},
		{"extended without id", msg(1, 20), ErrBadLength},
		{"piece block too long", msg(9+DefaultMaxBlockLength+1, 7), ErrMessageTooLong},
		{"bitfield too long", msg(DefaultMaxMessageLength+1, 5), ErrMessageTooLong},
		{"length 0x7fffffff", msg(0x7fffffff, 7), ErrMessageTooLong},
		{"length 0xffffffff", msg(0xffffffff, 20), ErrMessageTooLong},
		{"truncated prefix", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"truncated before id", []byte{0, 0, 0, 1}, io.ErrUnexpectedEOF},
		{"truncated have", msg(5, 4, 0, 0), io.ErrUnexpectedEOF},
		{"truncated piece", msg(9+100, 7, make([]byte, 50)...), io.ErrUnexpectedEOF},
		{"truncated unknown", msg(100, 99, 1, 2), io.ErrUnexpectedEOF},
		{"unknown id", msg(3, 99, 1, 2), ErrUnknownMessage},
		{"unknown too long", msg(DefaultMaxMessageLength+1, 99), ErrMessageTooLong},
		{"empty stream", nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(bytes.NewReader(tt.in))
			var m Message
			err := d.Decode(&m)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != io.EOF && !strings.HasPrefix(err.Error(), "peerwire: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			// Errors other than an unknown id are final.
			err2 := d.Decode(&m)
			if tt.want == ErrUnknownMessage {
				if err2 != io.EOF {
					t.Fatalf("after an unknown message: %v, want io.EOF", err2)
				}
			} else if err2 != err {
				t.Fatalf("second Decode: %v, want the same error %v", err2, err)
			}
		})
	}
}

func TestUnknownMessageSkipped(t *testing.T) {
	var in []byte
	in = append(in, 0, 0, 0, 3, 21, 1, 2) // BEP 52 hash request, not supported
	big := make([]byte, 3*DefaultBufferSize)
	in = binary.BigEndian.AppendUint32(in, uint32(1+len(big)))
	in = append(append(in, 200), big...)
	in = append(in, 0, 0, 0, 5, 4, 0, 0, 0, 9) // have 9
	d := NewDecoder(iotest.HalfReader(bytes.NewReader(in)))
	var m Message
	for i := range 2 {
		if err := d.Decode(&m); !errors.Is(err, ErrUnknownMessage) {
			t.Fatalf("message %d: %v, want ErrUnknownMessage", i, err)
		}
	}
	if err := d.Decode(&m); err != nil || m.Type != Have || m.Index != 9 {
		t.Fatalf("after the unknown messages: %v %v, want have(9)", m, err)
	}
}

func TestLargeMessage(t *testing.T) {
	// A bitfield larger than the read buffer, but within the limit.
	bf := bytes.Repeat([]byte{0xa5}, 5*DefaultBufferSize+3)
	for _, m := range []Message{{Type: Bitfield, Bitfield: bf}, {Type: Extended, ExtendedID: 2, ExtendedPayload: bf}} {
		var buf bytes.Buffer
		e := NewEncoder(&buf)
		if err := e.WriteMessage(Message{Type: Have, Index: 1}); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
		if e.Buffered() != 0 {
			t.Fatalf("%d bytes still buffered after a large message", e.Buffered())
		}
		if err := e.WriteMessage(Message{Type: Have, Index: 2}); err != nil {
			t.Fatal(err)
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		d := NewDecoder(iotest.HalfReader(&buf))
		for i, want := range []Message{{Type: Have, Index: 1}, m, {Type: Have, Index: 2}} {
			var got Message
			if err := d.Decode(&got); err != nil || !msgEqual(got, want) {
				t.Fatalf("message %d: %v, %v", i, got, err)
			}
		}
	}
}

// TestHostileLengthAllocatesNothing: a length prefix of almost 2 GiB is
// refused after its 4 bytes, without allocating the payload.
func TestHostileLengthAllocatesNothing(t *testing.T) {
	for _, id := range []byte{byte(Piece), byte(Bitfield), byte(Extended), 99} {
		in := []byte{0x7f, 0xff, 0xff, 0xff, id}
		r := bytes.NewReader(in)
		d := NewDecoder(r)
		var m Message
		const runs = 100
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			r.Reset(in)
			d.Reset(r)
			if err := d.Decode(&m); !errors.Is(err, ErrMessageTooLong) {
				t.Fatalf("id %d: %v, want ErrMessageTooLong", id, err)
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 1024 {
			t.Errorf("id %d: %d bytes allocated per hostile message, want only the error's", id, per)
		}
	}
}

// TestAnnouncedLengthCostsLittle: a bitfield within the limit that never
// arrives costs at most about one buffer, not the announced megabyte.
func TestAnnouncedLengthCostsLittle(t *testing.T) {
	in := binary.BigEndian.AppendUint32(nil, DefaultMaxMessageLength)
	in = append(in, byte(Bitfield), 1, 2, 3)
	r := bytes.NewReader(in)
	d := NewDecoder(r)
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		r.Reset(in)
		d.Reset(r)
		if err := d.Decode(new(Message)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%v, want io.ErrUnexpectedEOF", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 2*DefaultBufferSize {
		t.Errorf("%d bytes allocated for a bitfield that never came", per)
	}
}

func TestDecoderLimits(t *testing.T) {
	block := make([]byte, 32<<10)
	wire, _ := Message{Type: Piece, Index: 1, Piece: block}.MarshalBinary()
	if err := NewDecoder(bytes.NewReader(wire)).Decode(new(Message)); !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("32 KiB block with default limits: %v, want ErrMessageTooLong", err)
	}
	d := NewDecoderConfig(bytes.NewReader(wire), DecoderConfig{MaxBlockLength: 32 << 10, BufferSize: 1024})
	var m Message
	if err := d.Decode(&m); err != nil || len(m.Piece) != len(block) {
		t.Fatalf("32 KiB block with MaxBlockLength 32 KiB: %v, %v", m, err)
	}
	bf, _ := Message{Type: Bitfield, Bitfield: make([]byte, 100)}.MarshalBinary()
	d = NewDecoderConfig(bytes.NewReader(bf), DecoderConfig{MaxMessageLength: 100})
	if err := d.Decode(&m); !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("101-byte bitfield with MaxMessageLength 100: %v", err)
	}
}

// errReader fails after giving its data.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestDecodeReadError(t *testing.T) {
	boom := errors.New("boom")
	wire, _ := Message{Type: Have, Index: 1}.MarshalBinary()
	d := NewDecoder(&errReader{data: append(wire, 0, 0), err: boom})
	var m Message
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(&m); !errors.Is(err, boom) {
		t.Fatalf("%v, want boom", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	if _, err := (Message{Type: 99}).MarshalBinary(); !errors.Is(err, ErrBadMessage) {
		t.Errorf("unknown type: %v", err)
	}
	e := NewEncoder(io.Discard)
	if err := e.WriteMessage(Message{Type: 12}); !errors.Is(err, ErrBadMessage) {
		t.Errorf("unknown type: %v", err)
	}
	// A bad message is not a write error: the Encoder goes on.
	if err := e.WriteMessage(Message{Type: Choke}); err != nil {
		t.Errorf("after a bad message: %v", err)
	}
}

// shortWriter accepts n bytes, then fails.
type shortWriter struct{ n int }

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	k := w.n
	w.n = 0
	return k, errors.New("disk full")
}

func TestEncoderWriteErrorIsFinal(t *testing.T) {
	e := NewEncoder(&shortWriter{n: 10})
	if err := e.WriteMessage(Message{Type: Bitfield, Bitfield: make([]byte, 100)}); err != nil {
		t.Fatal(err)
	}
	err := e.Flush()
	if err == nil {
		t.Fatal("Flush succeeded on a failing writer")
	}
	if err2 := e.WriteMessage(Message{Type: Choke}); err2 != err {
		t.Fatalf("after a write error: %v, want %v", err2, err)
	}
}

// countingWriter records each Write and each vectored write.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestEncoderBatches(t *testing.T) {
	w := new(countingWriter)
	e := NewEncoder(w)
	for i := range 1000 {
		if err := e.WriteMessage(Message{Type: Have, Index: uint32(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 || w.Len() != 9000 {
		t.Fatalf("1000 have messages took %d writes and %d bytes, want 1 and 9000", w.writes, w.Len())
	}
	block := make([]byte, DefaultMaxBlockLength)
	w.writes = 0
	for i := range 40 {
		if err := e.WritePiece(0, uint32(i)*DefaultMaxBlockLength, block); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.writes != 10 {
		t.Fatalf("40 blocks took %d writes, want 10 (4 blocks per buffer)", w.writes)
	}
}

func TestWritePieceLargeBlockNotCopied(t *testing.T) {
	w := new(countingWriter)
	e := NewEncoderSize(w, 0)
	block := bytes.Repeat([]byte{7}, 3*DefaultBufferSize)
	if err := e.WriteMessage(Message{Type: Unchoke}); err != nil {
		t.Fatal(err)
	}
	if err := e.WritePiece(5, 6, block); err != nil {
		t.Fatal(err)
	}
	if e.Buffered() != 0 {
		t.Fatalf("large block left %d bytes buffered", e.Buffered())
	}
	d := NewDecoderConfig(&w.Buffer, DecoderConfig{MaxBlockLength: len(block)})
	var m Message
	if err := d.Decode(&m); err != nil || m.Type != Unchoke {
		t.Fatalf("%v %v", m, err)
	}
	if err := d.Decode(&m); err != nil || !msgEqual(m, Message{Type: Piece, Index: 5, Begin: 6, Piece: block}) {
		t.Fatalf("%v %v", m, err)
	}
}

// failingReaderAt gives n good bytes, then fails.
type failingReaderAt struct{ n int }

func (r failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= int64(r.n) {
		for i := range p {
			p[i] = byte(off + int64(i))
		}
		return len(p), nil
	}
	return 0, errors.New("bad sector")
}

func TestWritePieceFrom(t *testing.T) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	e := NewEncoder(&buf)
	lengths := []int{DefaultMaxBlockLength, 100, 0, DefaultMaxBlockLength, 3 * DefaultBufferSize}
	off := 0
	for i, n := range lengths {
		if err := e.WritePieceFrom(uint32(i), uint32(off), n, bytes.NewReader(data), int64(off)); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	// A failed read before anything was sent drops the message only.
	if err := e.WritePieceFrom(9, 0, 100, failingReaderAt{}, 0); err == nil {
		t.Fatal("WritePieceFrom succeeded on a failing ReaderAt")
	}
	if err := e.WritePieceFrom(9, 0, 1000, bytes.NewReader(data), int64(len(data)-10)); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Fatalf("read past the end: %v", err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	d := NewDecoderConfig(&buf, DecoderConfig{MaxBlockLength: 3 * DefaultBufferSize})
	off = 0
	for i, n := range lengths {
		var m Message
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if want := (Message{Type: Piece, Index: uint32(i), Begin: uint32(off), Piece: data[off : off+n]}); !msgEqual(m, want) {
			t.Fatalf("message %d: got %v, want %v", i, m, want)
		}
		off += n
	}
	if err := d.Decode(new(Message)); err != io.EOF {
		t.Fatalf("after the pieces: %v", err)
	}

	// A failure after part of a block was sent is final.
	e = NewEncoder(io.Discard)
	if err := e.WritePieceFrom(1, 0, 2*DefaultBufferSize, failingReaderAt{n: DefaultBufferSize}, 0); err == nil {
		t.Fatal("WritePieceFrom succeeded")
	}
	if err := e.WriteMessage(Message{Type: Choke}); err == nil {
		t.Fatal("Encoder usable after a half-written message")
	}
}

func TestBlockPool(t *testing.T) {
	p := NewBlockPool(1024)
	b := p.Get(100)
	if len(b) != 100 || cap(b) != 1024 {
		t.Fatalf("Get(100): len %d cap %d", len(b), cap(b))
	}
	p.Put(b)
	if b := p.Get(2000); len(b) != 2000 {
		t.Fatalf("Get(2000): len %d", len(b))
	}
	p.Put(make([]byte, 10)) // foreign buffers are dropped
	if b := p.Get(1024); cap(b) != 1024 {
		t.Fatalf("cap %d", cap(b))
	}
	var zero BlockPool
	if zero.Size() != DefaultMaxBlockLength {
		t.Fatalf("zero pool size %d", zero.Size())
	}
	allocs := testing.AllocsPerRun(1000, func() {
		zero.Put(zero.Get(DefaultMaxBlockLength))
	})
	if allocs != 0 {
		t.Fatalf("Get+Put allocates %v times", allocs)
	}
}

func TestMessageString(t *testing.T) {
	for _, tt := range []struct {
		m    Message
		want string
	}{
		{Message{Type: KeepAlive}, "keep-alive"},
		{Message{Type: Request, Index: 3, Begin: 16384, Length: 16384}, "request(3, 16384, 16384)"},
		{Message{Type: Piece, Index: 3, Piece: make([]byte, 5)}, "piece(3, 0, 5 bytes)"},
		{Message{Type: 42}, "message id 42"},
	} {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestTCPVectoredWrite sends blocks too large to buffer over real TCP, where
// the Encoder writes buffered bytes, header and block with one writev.
func TestTCPVectoredWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback TCP:", err)
	}
	defer ln.Close()
	block := bytes.Repeat([]byte("swarmcast"), 30000)
	bf := bytes.Repeat([]byte{0x5a}, 200000)
	want := []Message{
		{Type: Unchoke},
		{Type: Piece, Index: 1, Begin: 2, Piece: block},
		{Type: Have, Index: 3},
		{Type: Bitfield, Bitfield: bf},
		{Type: Piece, Index: 4, Begin: 5, Piece: block[:100]},
	}
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		e := NewEncoder(c)
		for _, m := range want {
			if err := e.WriteMessage(m); err != nil {
				errc <- err
				return
			}
		}
		errc <- e.Flush()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := NewDecoderConfig(c, DecoderConfig{MaxBlockLength: len(block)})
	for i, w := range want {
		var m Message
		if err := d.Decode(&m); err != nil || !msgEqual(m, w) {
			t.Fatalf("message %d: %v, %v; want %v", i, m, err, w)
		}
	}
	if err := d.Decode(new(Message)); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestMessageBuffered(t *testing.T) {
	var wire []byte
	wire, _ = Message{Type: Have, Index: 1}.AppendBinary(wire)
	wire, _ = Message{Type: Have, Index: 2}.AppendBinary(wire)
	r := &slowReader{data: wire, chunk: len(wire) - 2} // the second message arrives short
	d := NewDecoder(r)
	var m Message
	if d.MessageBuffered() {
		t.Fatal("nothing read yet, but a message is buffered")
	}
	if err := d.Decode(&m); err != nil || m.Index != 1 {
		t.Fatalf("first: %v %v", m, err)
	}
	if d.MessageBuffered() {
		t.Fatal("half a message counts as buffered")
	}
	if err := d.Decode(&m); err != nil || m.Index != 2 {
		t.Fatalf("second: %v %v", m, err)
	}
}

// slowReader returns at most chunk bytes per Read.
type slowReader struct {
	data  []byte
	chunk int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}
