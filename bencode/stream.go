package bencode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxValueSize is the largest value a Decoder reads unless told
// otherwise with SetMaxSize: 64 MiB, well above the largest real .torrent
// files (a few MiB) while keeping a hostile stream from taking unbounded
// memory.
const DefaultMaxValueSize = 64 << 20

// readChunk is how much of a long string a Decoder reads at a time, so that
// memory grows with the bytes that really arrive, not with the length a
// string claims.
const readChunk = 64 << 10

// A Decoder reads bencoded values from an input stream.
type Decoder struct {
	r       *bufio.Reader
	off     int64 // bytes consumed from r
	maxSize int64
	buf     []byte
}

// NewDecoder returns a decoder that reads from r. It buffers, and may read
// past the end of the value it decodes.
func NewDecoder(r io.Reader) *Decoder {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &Decoder{r: br, maxSize: DefaultMaxValueSize}
}

// SetMaxSize sets the largest value, in bytes, that Decode accepts.
func (dec *Decoder) SetMaxSize(n int64) { dec.maxSize = n }

// InputOffset returns the offset in the stream of the decoder's position.
func (dec *Decoder) InputOffset() int64 { return dec.off }

// Decode reads the next bencoded value from the stream and stores it in v.
// At a clean end of stream it returns io.EOF.
func (dec *Decoder) Decode(v any) error {
	start := dec.off
	raw, err := dec.readValue()
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.Offset += start
		}
		return err
	}
	err = Unmarshal(raw, v)
	var se *SyntaxError
	var te *UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		se.Offset += start
	case errors.As(err, &te):
		te.Offset += start
	}
	return err
}

func (dec *Decoder) readByte() (byte, error) {
	c, err := dec.r.ReadByte()
	if err != nil {
		return 0, err
	}
	dec.off++
	dec.buf = append(dec.buf, c)
	if int64(len(dec.buf)) > dec.maxSize {
		return 0, fmt.Errorf("bencode: value larger than %d bytes", dec.maxSize)
	}
	return c, nil
}

// readValue copies one value's bytes from the stream into dec.buf, checking
// only its framing; Unmarshal checks the rest.
func (dec *Decoder) readValue() ([]byte, error) {
	dec.buf = dec.buf[:0]
	depth := 0
	start := dec.off
	unexpected := func(err error) error {
		if err == io.EOF {
			if dec.off == start {
				return io.EOF
			}
			return io.ErrUnexpectedEOF
		}
		return err
	}
	for {
		c, err := dec.readByte()
		if err != nil {
			return nil, unexpected(err)
		}
		switch {
		case c == 'e' && depth > 0:
			depth--
		case c == 'l' || c == 'd':
			depth++
			if depth > MaxDepth {
				return nil, &SyntaxError{Offset: dec.off - 1 - start, msg: ErrTooDeep.Error()}
			}
			continue
		case c == 'i':
			for c != 'e' {
				if c, err = dec.readByte(); err != nil {
					return nil, unexpected(err)
				}
				if len(dec.buf) > 0 && (c < '0' || c > '9') && c != '-' && c != 'e' {
					return nil, &SyntaxError{Offset: dec.off - 1 - start, msg: fmt.Sprintf("unexpected byte %q in integer", c)}
				}
			}
		case c >= '0' && c <= '9':
			n := int64(c - '0')
			for {
				if c, err = dec.readByte(); err != nil {
					return nil, unexpected(err)
				}
				if c == ':' {
					break
				}
				if c < '0' || c > '9' {
					return nil, &SyntaxError{Offset: dec.off - 1 - start, msg: fmt.Sprintf("unexpected byte %q in string length", c)}
				}
				n = n*10 + int64(c-'0')
				if n > dec.maxSize {
					return nil, fmt.Errorf("bencode: string of %d bytes is larger than the limit of %d", n, dec.maxSize)
				}
			}
			if int64(len(dec.buf))+n > dec.maxSize {
				return nil, fmt.Errorf("bencode: value larger than %d bytes", dec.maxSize)
			}
			for n > 0 {
				k := min(n, readChunk)
				l := len(dec.buf)
				dec.buf = append(dec.buf, make([]byte, k)...)
				got, err := io.ReadFull(dec.r, dec.buf[l:])
				dec.off += int64(got)
				if err != nil {
					return nil, unexpected(err)
				}
				n -= k
			}
		default:
			return nil, &SyntaxError{Offset: dec.off - 1 - start, msg: fmt.Sprintf("unexpected byte %q at the start of a value", c)}
		}
		if depth == 0 {
			return dec.buf, nil
		}
	}
}
