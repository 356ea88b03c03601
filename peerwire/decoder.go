package peerwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Decoder limits and buffer size.
const (
	// DefaultMaxBlockLength is the largest block a piece message may carry by
	// default: 16 KiB, the request size every client uses and the largest
	// most accept (BEP 3 notes that larger requests are refused).
	DefaultMaxBlockLength = 16 << 10
	// DefaultMaxMessageLength is the largest length prefix accepted by
	// default for any message other than piece. It bounds bitfields (1 MiB
	// covers 8 million pieces) and extension messages (a ut_metadata data
	// message is 16 KiB plus a small dictionary, BEP 9).
	DefaultMaxMessageLength = 1 << 20
	// DefaultBufferSize is the default size of a Decoder's and an Encoder's
	// buffer: four full piece messages (just over 64 KiB), so that one read
	// or write system call moves up to four blocks while a connection's two
	// buffers stay small enough for hundreds of peers.
	DefaultBufferSize = 4 * (pieceHeaderLen + DefaultMaxBlockLength)
)

// maxLimit caps the configurable limits, so that length arithmetic stays
// within 32 bits and a mistaken setting cannot size a giant buffer.
const maxLimit = 256 << 20

// maxEmptyReads is how many successive (0, nil) reads Decode tolerates before
// giving up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// DecoderConfig configures a Decoder. The zero value gives the defaults.
type DecoderConfig struct {
	// MaxBlockLength is the largest block accepted in a piece message;
	// 0 means DefaultMaxBlockLength. Limits above 256 MiB are lowered to it.
	MaxBlockLength int
	// MaxMessageLength is the largest length prefix accepted for any other
	// message; 0 means DefaultMaxMessageLength. Set it from the torrent's
	// bitfield size when that is larger.
	MaxMessageLength int
	// BufferSize is the size of the read buffer; 0 means DefaultBufferSize.
	// It is raised to hold at least one piece message of MaxBlockLength.
	BufferSize int
	// Blocks, when set, is where piece data goes: each Piece message's
	// Piece field is a buffer from Blocks that the caller owns and should
	// Put back when done. Its Size should be at least MaxBlockLength, or
	// larger blocks are allocated. When nil, piece data aliases the
	// Decoder's buffer and is valid only until the next call to Decode.
	Blocks *BlockPool
}

// Decoder reads messages from a stream, after the handshake.
type Decoder struct {
	rd       io.Reader
	buf      []byte // len(buf) is the buffer size
	r, w     int    // buf[r:w] holds unread bytes
	rerr     error  // error from rd, returned once buf[r:w] runs out
	err      error  // sticky error: the stream cannot be read further
	maxBlock int
	maxMsg   int
	blocks   *BlockPool
}

// NewDecoder returns a Decoder with the default configuration that reads from r.
func NewDecoder(r io.Reader) *Decoder { return NewDecoderConfig(r, DecoderConfig{}) }

// NewDecoderConfig returns a Decoder configured by c that reads from r.
func NewDecoderConfig(r io.Reader, c DecoderConfig) *Decoder {
	d := &Decoder{
		rd:       r,
		maxBlock: min(orDefault(c.MaxBlockLength, DefaultMaxBlockLength), maxLimit),
		maxMsg:   min(orDefault(c.MaxMessageLength, DefaultMaxMessageLength), maxLimit),
		blocks:   c.Blocks,
	}
	size := max(orDefault(c.BufferSize, DefaultBufferSize), pieceHeaderLen+d.maxBlock)
	d.buf = make([]byte, size)
	return d
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// Reset makes d read from r, discarding buffered data and any error, so that
// a Decoder and its buffer can be reused for another connection.
func (d *Decoder) Reset(r io.Reader) {
	d.rd, d.r, d.w, d.rerr, d.err = r, 0, 0, nil, nil
}

// Buffered returns the number of bytes read from the stream but not yet
// decoded. A reader loop can use it to handle every message already received
// before waking the writer.
func (d *Decoder) Buffered() int { return d.w - d.r }

// MessageBuffered reports whether a whole message is already buffered, so
// that the next Decode returns without reading from the stream. A reader
// loop can batch the messages that arrived together and hand them on at
// once, without holding any back while it waits for more bytes.
func (d *Decoder) MessageBuffered() bool {
	if d.w-d.r < prefixLen {
		return false
	}
	n := int(binary.BigEndian.Uint32(d.buf[d.r:]))
	return d.w-d.r >= prefixLen+n
}

// Decode reads the next message into m.
//
// The Bitfield and ExtendedPayload slices of m, and Piece unless the
// DecoderConfig has Blocks, point into the Decoder's buffer: they are valid
// only until the next call to Decode, and must be copied to be kept.
// (Bitfield and extension messages larger than the buffer get a buffer of
// their own, but callers should not rely on it.)
//
// At the end of the stream, between messages, Decode returns io.EOF; a
// stream that ends inside a message gives an error wrapping
// io.ErrUnexpectedEOF. A message longer than the limits gives
// ErrMessageTooLong without reading or allocating its payload, a message
// whose length does not fit its type gives ErrBadLength. These errors, and
// read errors, are final: every later call returns the same error. A
// message with an unknown id is skipped and gives an error wrapping
// ErrUnknownMessage, after which Decode may be called again.
func (d *Decoder) Decode(m *Message) error {
	if d.err != nil {
		return d.err
	}
	err := d.decode(m)
	if err != nil && !errors.Is(err, ErrUnknownMessage) {
		d.err = err
	}
	return err
}

func (d *Decoder) decode(m *Message) error {
	if err := d.fill(prefixLen); err != nil {
		if err == io.EOF && d.r == d.w {
			return io.EOF
		}
		return d.readErr(err, "a length prefix")
	}
	n32 := binary.BigEndian.Uint32(d.buf[d.r:])
	if n32 == 0 {
		d.r += prefixLen
		*m = Message{Type: KeepAlive}
		return nil
	}
	// Refuse anything longer than every limit before waiting for more bytes.
	if limit := max(1+8+d.maxBlock, d.maxMsg); n32 > uint32(limit) {
		return fmt.Errorf("%w: length prefix %d exceeds every limit (largest accepted is %d)", ErrMessageTooLong, n32, limit)
	}
	n := int(n32)
	if err := d.fill(headerLen); err != nil {
		return d.readErr(err, "a message id")
	}
	t := MessageType(d.buf[d.r+prefixLen])
	if err := d.checkLen(t, n); err != nil {
		return err
	}
	if !t.known() {
		if err := d.discard(prefixLen + n); err != nil {
			return d.readErr(err, "an unknown message")
		}
		return fmt.Errorf("%w %d (length %d); message skipped", ErrUnknownMessage, int(t), n)
	}
	if prefixLen+n > len(d.buf) {
		return d.decodeLarge(m, t, n)
	}
	if err := d.fill(prefixLen + n); err != nil {
		return d.readErr(err, "the "+t.String()+" message")
	}
	p := d.buf[d.r+headerLen : d.r+prefixLen+n]
	d.r += prefixLen + n
	m.parse(t, p)
	if t == Piece && d.blocks != nil {
		b := d.blocks.Get(len(m.Piece))
		copy(b, m.Piece)
		m.Piece = b
	}
	return nil
}

// checkLen checks length prefix n against type t and the limits.
func (d *Decoder) checkLen(t MessageType, n int) error {
	if want := fixedLen(t); want > 0 {
		if n != want {
			return fmt.Errorf("%w: %v message has length %d, want %d", ErrBadLength, t, n, want)
		}
		return nil
	}
	switch t {
	case Piece:
		if n < 1+8 {
			return fmt.Errorf("%w: piece message has length %d, want at least 9", ErrBadLength, n)
		}
		if n-9 > d.maxBlock {
			return fmt.Errorf("%w: piece message carries a block of %d bytes, limit is %d (DecoderConfig.MaxBlockLength)", ErrMessageTooLong, n-9, d.maxBlock)
		}
		return nil
	case Extended:
		if n < 2 {
			return fmt.Errorf("%w: extended message has length %d, want at least 2", ErrBadLength, n)
		}
	}
	if n > d.maxMsg {
		return fmt.Errorf("%w: %v message of %d bytes, limit is %d (DecoderConfig.MaxMessageLength)", ErrMessageTooLong, t, n, d.maxMsg)
	}
	return nil
}

// decodeLarge reads a bitfield or extended message that does not fit the
// buffer into a slice of its own. The slice grows as bytes arrive, so a peer
// that announces a long message and sends little costs little memory.
func (d *Decoder) decodeLarge(m *Message, t MessageType, n int) error {
	d.r += headerLen
	size := n - 1
	p := make([]byte, 0, len(d.buf))
	for len(p) < size {
		if d.r == d.w {
			if err := d.fill(1); err != nil {
				return d.readErr(err, "the "+t.String()+" message")
			}
		}
		k := min(size-len(p), d.w-d.r)
		if len(p)+k > cap(p) {
			q := make([]byte, len(p), min(size, 2*cap(p)+k))
			copy(q, p)
			p = q
		}
		p = append(p, d.buf[d.r:d.r+k]...)
		d.r += k
	}
	m.parse(t, p)
	return nil
}

// discard skips n bytes of the stream.
func (d *Decoder) discard(n int) error {
	for n > 0 {
		if d.r == d.w {
			if err := d.fill(1); err != nil {
				return err
			}
		}
		k := min(n, d.w-d.r)
		d.r += k
		n -= k
	}
	return nil
}

// fill makes at least need bytes available in buf[r:w]; need must not
// exceed len(buf). It reads as much as the stream gives, to make the fewest
// system calls.
func (d *Decoder) fill(need int) error {
	if d.w-d.r >= need {
		return nil
	}
	if d.r == d.w {
		d.r, d.w = 0, 0
	} else if d.r+need > len(d.buf) {
		d.w = copy(d.buf, d.buf[d.r:d.w])
		d.r = 0
	}
	for empty := 0; d.w-d.r < need; {
		if d.rerr != nil {
			return d.rerr
		}
		n, err := d.rd.Read(d.buf[d.w:])
		if n < 0 || n > len(d.buf)-d.w {
			return errors.New("peerwire: reader returned an invalid count")
		}
		d.w += n
		d.rerr = err
		if n > 0 {
			empty = 0
		} else if err == nil {
			if empty++; empty >= maxEmptyReads {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

// readErr describes a read error met while reading what.
func (d *Decoder) readErr(err error, what string) error {
	if err == io.EOF {
		return fmt.Errorf("peerwire: stream ends inside %s: %w", what, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("peerwire: reading %s: %w", what, err)
}
