package peerwire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Encoder writes messages to a stream. Messages are appended to a buffer and
// written when Flush is called or the buffer is full, so that a burst of
// messages costs one Write. A writer goroutine typically writes everything
// it has queued, then calls Flush before waiting for more.
//
// A write error is final: every later call returns it, since a message may
// have been cut in half.
type Encoder struct {
	w    io.Writer
	buf  []byte // cap(buf) is the buffer size; it never grows
	err  error
	hdr  [pieceHeaderLen]byte // header of a message written around the buffer
	vec  [3][]byte            // backing array of vectored writes, reused
	bufs buffers              // in e, not on the stack, so WriteTo does not allocate
}

// NewEncoder returns an Encoder with a buffer of DefaultBufferSize that
// writes to w.
func NewEncoder(w io.Writer) *Encoder { return NewEncoderSize(w, DefaultBufferSize) }

// NewEncoderSize returns an Encoder with a buffer of size bytes (at least
// one piece message of DefaultMaxBlockLength) that writes to w.
func NewEncoderSize(w io.Writer, size int) *Encoder {
	size = max(size, pieceHeaderLen+DefaultMaxBlockLength)
	return &Encoder{w: w, buf: make([]byte, 0, size)}
}

// Reset discards buffered data and any error and makes e write to w.
func (e *Encoder) Reset(w io.Writer) {
	e.w, e.buf, e.err = w, e.buf[:0], nil
}

// Buffered returns the number of bytes written to e but not yet to the stream.
func (e *Encoder) Buffered() int { return len(e.buf) }

// Flush writes the buffered messages to the stream.
func (e *Encoder) Flush() error {
	if e.err != nil {
		return e.err
	}
	if len(e.buf) == 0 {
		return nil
	}
	n, err := e.w.Write(e.buf)
	if err == nil && n < len(e.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		e.err = fmt.Errorf("peerwire: write: %w", err)
		return e.err
	}
	e.buf = e.buf[:0]
	return nil
}

// reserve makes room for n more bytes in the buffer, flushing if needed;
// n must not exceed the buffer's size.
func (e *Encoder) reserve(n int) error {
	if len(e.buf)+n <= cap(e.buf) {
		return nil
	}
	return e.Flush()
}

// WriteMessage buffers m. A piece message is written as WritePiece does it.
// Bitfield and extension messages larger than the buffer are written at once,
// with the buffered messages, and are not copied.
func (e *Encoder) WriteMessage(m Message) error {
	if e.err != nil {
		return e.err
	}
	if m.Type == Piece {
		return e.WritePiece(m.Index, m.Begin, m.Piece)
	}
	n, err := m.wireLen()
	if err != nil {
		return err
	}
	if prefixLen+n > cap(e.buf) {
		// Too large to buffer: write it, after the buffered messages, from
		// where it is.
		hdr := binary.BigEndian.AppendUint32(e.hdr[:0], uint32(n))
		hdr = append(hdr, byte(m.Type))
		payload := m.Bitfield
		if m.Type == Extended {
			hdr = append(hdr, m.ExtendedID)
			payload = m.ExtendedPayload
		}
		return e.writev(hdr, payload)
	}
	if err := e.reserve(prefixLen + n); err != nil {
		return err
	}
	e.buf, _ = m.AppendBinary(e.buf)
	return nil
}

// WritePiece buffers a piece message carrying block. A block too large to
// batch (half the buffer or more) that does not fit in what is left of the
// buffer is not copied: the buffered messages, the header and the block go
// out in one vectored write (writev on a TCP connection).
func (e *Encoder) WritePiece(index, begin uint32, block []byte) error {
	if e.err != nil {
		return e.err
	}
	if uint64(len(block)) > maxMessageValue-9 {
		return fmt.Errorf("%w: block of %d bytes does not fit a 32-bit length prefix", ErrBadMessage, len(block))
	}
	size := pieceHeaderLen + len(block)
	if len(e.buf)+size > cap(e.buf) && len(block) >= cap(e.buf)/2 {
		return e.writev(appendPieceHeader(e.hdr[:0], index, begin, len(block)), block)
	}
	if err := e.reserve(size); err != nil {
		return err
	}
	e.buf = appendPieceHeader(e.buf, index, begin, len(block))
	e.buf = append(e.buf, block...)
	return nil
}

// WritePieceFrom buffers a piece message whose block of length bytes is read
// from r at offset off, straight into the Encoder's buffer: a seeder's
// storage read is the only copy of the data before the kernel's. If the read
// fails before anything was written, the message is dropped and the error
// (wrapping the read error) is not final.
func (e *Encoder) WritePieceFrom(index, begin uint32, length int, r io.ReaderAt, off int64) error {
	if e.err != nil {
		return e.err
	}
	if length < 0 || uint64(length) > maxMessageValue-9 {
		return fmt.Errorf("%w: block length %d", ErrBadMessage, length)
	}
	if err := e.reserve(pieceHeaderLen + min(length, cap(e.buf)-pieceHeaderLen)); err != nil {
		return err
	}
	start := len(e.buf)
	e.buf = appendPieceHeader(e.buf, index, begin, length)
	for length > 0 {
		if len(e.buf) == cap(e.buf) {
			// Only a block larger than the buffer gets here.
			if err := e.Flush(); err != nil {
				return err
			}
			start = -1 // part of the message is out: a failure is final
		}
		k := min(length, cap(e.buf)-len(e.buf))
		chunk := e.buf[len(e.buf) : len(e.buf)+k]
		n, err := r.ReadAt(chunk, off)
		if n < k {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			err = fmt.Errorf("peerwire: reading block %d+%d of piece %d: %w", off, k, index, err)
			if start < 0 {
				e.err = err
				return err
			}
			e.buf = e.buf[:start]
			return err
		}
		e.buf = e.buf[:len(e.buf)+k]
		off += int64(k)
		length -= k
	}
	return nil
}

// writev writes the buffered bytes, hdr and payload with one vectored write.
func (e *Encoder) writev(hdr, payload []byte) error {
	// WriteTo consumes the slice it is given, so rebuild it on e.vec each time.
	e.bufs = e.vec[:0]
	if len(e.buf) > 0 {
		e.bufs = append(e.bufs, e.buf)
	}
	e.bufs = append(e.bufs, hdr, payload)
	want := int64(len(e.buf) + len(hdr) + len(payload))
	n, err := e.bufs.WriteTo(e.w)
	e.vec = [3][]byte{} // drop references to the caller's payload
	if err == nil && n < want {
		err = io.ErrShortWrite
	}
	if err != nil {
		e.err = fmt.Errorf("peerwire: write: %w", err)
		return e.err
	}
	e.buf = e.buf[:0]
	return nil
}

func appendPieceHeader(b []byte, index, begin uint32, length int) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+8+length))
	b = append(b, byte(Piece))
	b = binary.BigEndian.AppendUint32(b, index)
	return binary.BigEndian.AppendUint32(b, begin)
}
