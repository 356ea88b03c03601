package peerwire

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// loopReader serves the same bytes forever, as a steady download would.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

// pieceStream returns n piece messages of 16 KiB blocks, encoded.
func pieceStream(b testing.TB, n int) []byte {
	var buf bytes.Buffer
	e := NewEncoder(&buf)
	block := make([]byte, DefaultMaxBlockLength)
	for i := range n {
		if err := e.WritePiece(uint32(i/16), uint32(i%16)*DefaultMaxBlockLength, block); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func benchmarkDecodePiece(b *testing.B, cfg DecoderConfig) {
	r := &loopReader{data: pieceStream(b, 61)} // a prime count, so reads fall at every offset
	d := NewDecoderConfig(r, cfg)
	var m Message
	b.SetBytes(pieceHeaderLen + DefaultMaxBlockLength)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(&m); err != nil || len(m.Piece) != DefaultMaxBlockLength {
			b.Fatal(err)
		}
		if cfg.Blocks != nil {
			cfg.Blocks.Put(m.Piece)
		}
	}
}

// BenchmarkDecodePiece: piece data lent from the Decoder's buffer.
func BenchmarkDecodePiece(b *testing.B) { benchmarkDecodePiece(b, DecoderConfig{}) }

// BenchmarkDecodePiecePool: piece data copied into a pooled buffer.
func BenchmarkDecodePiecePool(b *testing.B) {
	benchmarkDecodePiece(b, DecoderConfig{Blocks: NewBlockPool(0)})
}

func BenchmarkDecodeSmall(b *testing.B) {
	var buf bytes.Buffer
	e := NewEncoder(&buf)
	for i := range 997 {
		_ = e.WriteMessage(Message{Type: Request, Index: uint32(i), Begin: 16384, Length: 16384})
		_ = e.WriteMessage(Message{Type: Have, Index: uint32(i)})
	}
	_ = e.Flush()
	d := NewDecoder(&loopReader{data: buf.Bytes()})
	var m Message
	b.SetBytes(13 + 9)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(&m); err != nil {
			b.Fatal(err)
		}
		if err := d.Decode(&m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodePiece(b *testing.B) {
	e := NewEncoder(io.Discard)
	block := make([]byte, DefaultMaxBlockLength)
	b.SetBytes(pieceHeaderLen + DefaultMaxBlockLength)
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		if err := e.WritePiece(i/16, i%16*DefaultMaxBlockLength, block); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := e.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEncodePieceFrom: the seeder's path, storage read straight into
// the Encoder's buffer.
func BenchmarkEncodePieceFrom(b *testing.B) {
	e := NewEncoder(io.Discard)
	data := bytes.NewReader(make([]byte, 1<<20))
	b.SetBytes(pieceHeaderLen + DefaultMaxBlockLength)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		off := i % 64 * DefaultMaxBlockLength
		if err := e.WritePieceFrom(uint32(off>>18), uint32(off&(1<<18-1)), DefaultMaxBlockLength, data, int64(off)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := e.Flush(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkEncodeSmall(b *testing.B) {
	e := NewEncoder(io.Discard)
	b.SetBytes(13)
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		if err := e.WriteMessage(Message{Type: Request, Index: i, Begin: 16384, Length: 16384}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := e.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoopbackTCP moves piece messages between an Encoder and a Decoder
// over a real loopback TCP connection: WritePieceFrom on one side, Decode
// with lent buffers on the other.
func BenchmarkLoopbackTCP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Skip("no loopback TCP:", err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		e := NewEncoder(c)
		data := bytes.NewReader(make([]byte, 1<<20))
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- e.Flush()
				return
			default:
			}
			off := i % 64 * DefaultMaxBlockLength
			if err := e.WritePieceFrom(uint32(i), 0, DefaultMaxBlockLength, data, int64(off)); err != nil {
				done <- nil // the reader hung up
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	d := NewDecoder(c)
	var m Message
	b.SetBytes(pieceHeaderLen + DefaultMaxBlockLength)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(&m); err != nil || m.Type != Piece {
			b.Fatal(m, err)
		}
	}
	b.StopTimer()
	close(stop)
	c.Close()
	<-done
}
