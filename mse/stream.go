package mse

import (
	"crypto/rc4"
	"io"
	"sync"
)

// writeChunk is how much a Stream encrypts at a time into its own buffer
// (Write may not change the caller's bytes): 64 KiB keeps system calls few
// for the engine's batched writes and costs each RC4 connection 64 KiB.
const writeChunk = 64 << 10

// Stream is the payload stream after a handshake: plain bytes, or RC4 in
// both directions, as the two sides chose. One goroutine may Read while
// another Writes.
type Stream struct {
	rw     io.ReadWriter
	method Method
	skey   [20]byte
	dec    *rc4.Cipher // nil for plaintext
	// pending is the initial payload and whatever the handshake read past
	// its end, already decrypted; Read returns it first.
	pending []byte

	wmu  sync.Mutex
	enc  *rc4.Cipher // nil for plaintext
	wbuf []byte
}

func newStream(rw io.ReadWriter, m Method, enc, dec *rc4.Cipher, ia, rest []byte) *Stream {
	s := &Stream{rw: rw, method: m}
	if m == RC4 {
		s.enc, s.dec = enc, dec
		dec.XORKeyStream(rest, rest)
	}
	if n := len(ia) + len(rest); n > 0 {
		s.pending = make([]byte, 0, n)
		s.pending = append(append(s.pending, ia...), rest...)
	}
	return s
}

// Method returns the crypto method the two sides chose: Plaintext or RC4.
func (s *Stream) Method() Method { return s.method }

// SKey returns, on the receiver's side, the info hash the initiator asked
// for.
func (s *Stream) SKey() [20]byte { return s.skey }

// Read reads payload.
func (s *Stream) Read(p []byte) (int, error) {
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		return n, nil
	}
	n, err := s.rw.Read(p)
	if s.dec != nil && n > 0 {
		s.dec.XORKeyStream(p[:n], p[:n])
	}
	return n, err
}

// Write writes payload.
func (s *Stream) Write(p []byte) (int, error) {
	if s.enc == nil {
		return s.rw.Write(p)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wbuf == nil {
		s.wbuf = make([]byte, writeChunk)
	}
	var done int
	for done < len(p) {
		chunk := p[done:min(len(p), done+writeChunk)]
		buf := s.wbuf[:len(chunk)]
		s.enc.XORKeyStream(buf, chunk)
		n, err := s.rw.Write(buf)
		done += n
		if err != nil {
			// The key stream has moved past bytes the peer never got:
			// the stream cannot go on.
			return done, err
		}
	}
	return done, nil
}
