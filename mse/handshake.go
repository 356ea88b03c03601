package mse

import (
	"bytes"
	"crypto/rand"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"syscall"
)

// prime is the specification's 768-bit DH modulus P; the generator is 2.
var prime, _ = new(big.Int).SetString(
	"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"+
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"+
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563", 16)

var (
	generator  = big.NewInt(2)
	primeLess1 = new(big.Int).Sub(prime, big.NewInt(1))
)

// privLen is the length of a private key: 160 bits, as the specification
// asks (libtorrent and Transmission use the same).
const privLen = 20

// dh is one side's key pair.
type dh struct {
	priv *big.Int
	pub  [KeyLen]byte
}

func newDH(rnd io.Reader) (*dh, error) {
	var b [privLen]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return nil, fmt.Errorf("mse: random key: %w", err)
	}
	k := &dh{priv: new(big.Int).SetBytes(b[:])}
	new(big.Int).Exp(generator, k.priv, prime).FillBytes(k.pub[:])
	return k, nil
}

// secret returns S from the peer's public key. Keys 0, 1 and P-1 (and any
// not below P) are refused: with them S is predictable.
func (k *dh) secret(peer []byte) ([KeyLen]byte, error) {
	var s [KeyLen]byte
	y := new(big.Int).SetBytes(peer)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(primeLess1) >= 0 {
		return s, ErrBadKey
	}
	new(big.Int).Exp(y, k.priv, prime).FillBytes(s[:])
	return s, nil
}

// newCipher returns HASH(name, S, SKEY)'s RC4 with the first 1024 bytes
// of its key stream discarded.
func newCipher(name string, s [KeyLen]byte, skey [20]byte) *rc4.Cipher {
	key := hash([]byte(name), s[:], skey[:])
	c, _ := rc4.NewCipher(key[:]) // a 20-byte key is always valid
	var junk [discard]byte
	c.XORKeyStream(junk[:], junk[:])
	return c
}

// randomPad returns 0 to MaxPad random bytes.
func randomPad(rnd io.Reader) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(rnd, n[:]); err != nil {
		return nil, fmt.Errorf("mse: random padding: %w", err)
	}
	pad := make([]byte, int(binary.BigEndian.Uint16(n[:]))%(MaxPad+1))
	if _, err := io.ReadFull(rnd, pad); err != nil {
		return nil, fmt.Errorf("mse: random padding: %w", err)
	}
	return pad, nil
}

// bufLen is the handshake reader's buffer: the longest handshake a peer may
// send (the receiver's side: Ya, PadA, two hashes, VC, crypto_provide,
// len(PadC), PadC, len(IA), IA = 2,220 bytes) fits, so it is never moved or
// grown, and what follows it in the same read is kept for the stream.
const bufLen = 4096

// reader reads a handshake through a fixed buffer. Bytes are consumed from
// buf[off:end]; whatever it read past the handshake is handed to the Stream.
type reader struct {
	r        io.Reader
	buf      [bufLen]byte
	off, end int
}

// want makes at least n unconsumed bytes available.
func (h *reader) want(n int) error {
	if h.off+n > len(h.buf) {
		return ErrTooLong // cannot happen within the bounds above
	}
	for h.end-h.off < n {
		m, err := h.r.Read(h.buf[h.end:])
		h.end += m
		if err != nil {
			if h.end-h.off >= n {
				break
			}
			if err == io.EOF {
				if h.end == 0 {
					return io.EOF
				}
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// next consumes n bytes.
func (h *reader) next(n int) ([]byte, error) {
	if err := h.want(n); err != nil {
		return nil, err
	}
	b := h.buf[h.off : h.off+n]
	h.off += n
	return b, nil
}

// sync consumes bytes up to and including pattern, which must start within
// the next limit bytes (the peer's padding): ErrNoSync otherwise. It reads
// no more than it must, so a peer that stops sending is waited for only as
// long as the caller's deadline allows.
func (h *reader) sync(pattern []byte, limit int) error {
	for {
		if i := bytes.Index(h.buf[h.off:h.end], pattern); i >= 0 && i <= limit {
			h.off += i + len(pattern)
			return nil
		}
		if h.end-h.off >= limit+len(pattern) {
			return ErrNoSync
		}
		if err := h.want(h.end - h.off + 1); err != nil {
			return err
		}
	}
}

// rest returns what was read past the handshake.
func (h *reader) rest() []byte { return h.buf[h.off:h.end] }

// Initiate runs the initiator's side (A) of the handshake on rw, for the
// torrent whose info hash is skey, offering provide, with ia (usually the
// BitTorrent handshake) as the initial payload. rnd is the source of keys
// and padding; nil means crypto/rand. The returned Stream reads and writes
// the payload.
//
// Initiate sends Ya and reads nothing beyond Yb before it sends step 3, so
// a peer that does not speak MSE (and hangs up on Ya) is detected after one
// round trip: the error then wraps io.EOF, io.ErrUnexpectedEOF or a reset.
func Initiate(rw io.ReadWriter, skey [20]byte, provide Method, ia []byte, rnd io.Reader) (*Stream, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if len(ia) > MaxInitialPayload {
		return nil, fmt.Errorf("mse: initial payload of %d bytes: %w", len(ia), ErrTooLong)
	}
	provide &= Plaintext | RC4
	if provide == 0 {
		return nil, ErrNoMethod
	}
	k, err := newDH(rnd)
	if err != nil {
		return nil, err
	}
	pad, err := randomPad(rnd)
	if err != nil {
		return nil, err
	}
	if _, err := rw.Write(append(k.pub[:], pad...)); err != nil {
		return nil, fmt.Errorf("mse: sending key: %w", err)
	}
	h := &reader{r: rw}
	yb, err := h.next(KeyLen)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("%w: %w", ErrNoPeerKey, err)
		}
		return nil, fmt.Errorf("mse: reading peer's key: %w", err)
	}
	s, err := k.secret(yb)
	if err != nil {
		return nil, err
	}

	// Step 3.
	req1 := hash([]byte("req1"), s[:])
	req2 := SKeyHash(skey)
	req3 := hash([]byte("req3"), s[:])
	msg := make([]byte, 0, 40+vcLen+4+2+2+len(ia))
	msg = append(msg, req1[:]...)
	for i := range req2 {
		msg = append(msg, req2[i]^req3[i])
	}
	enc := newCipher("keyA", s, skey)
	plain := len(msg)
	msg = append(msg, make([]byte, vcLen)...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(provide))
	msg = binary.BigEndian.AppendUint16(msg, 0) // len(PadC): none, as every client sends
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(ia)))
	msg = append(msg, ia...)
	enc.XORKeyStream(msg[plain:], msg[plain:])
	if _, err := rw.Write(msg); err != nil {
		return nil, fmt.Errorf("mse: sending step 3: %w", err)
	}

	// Step 4: B's VC, encrypted, follows PadB.
	dec := newCipher("keyB", s, skey)
	var vc [vcLen]byte
	dec.XORKeyStream(vc[:], vc[:])
	if err := h.sync(vc[:], MaxPad); err != nil {
		return nil, fmt.Errorf("mse: looking for the peer's verification constant: %w", err)
	}
	b, err := h.next(4 + 2)
	if err != nil {
		return nil, fmt.Errorf("mse: reading crypto_select: %w", err)
	}
	dec.XORKeyStream(b, b)
	sel := Method(binary.BigEndian.Uint32(b))
	if sel != Plaintext && sel != RC4 || sel&provide == 0 {
		return nil, fmt.Errorf("mse: peer selected %v, offered %v: %w", sel, provide, ErrNoMethod)
	}
	padLen := int(binary.BigEndian.Uint16(b[4:]))
	if padLen > MaxPad {
		return nil, fmt.Errorf("mse: PadD of %d bytes: %w", padLen, ErrTooLong)
	}
	padD, err := h.next(padLen)
	if err != nil {
		return nil, fmt.Errorf("mse: reading PadD: %w", err)
	}
	dec.XORKeyStream(padD, padD)
	return newStream(rw, sel, enc, dec, nil, h.rest()), nil
}

// AcceptConfig is the receiver's side of a handshake.
type AcceptConfig struct {
	// SKey finds the torrent an initiator asks for by HASH('req2', SKEY)
	// (SKeyHash of its info hash), and returns its info hash. Required.
	SKey func(req2 [20]byte) (skey [20]byte, ok bool)
	// Select chooses crypto_select from what the initiator provides; 0
	// refuses. Nil means Prefer.Select.
	Select func(provided Method) Method
	// Rand is the source of keys and padding; nil means crypto/rand.
	Rand io.Reader
}

// Accept runs the receiver's side (B) of the handshake on rw. prefix holds
// bytes already read from rw (the first bytes, read to tell an encrypted
// connection from a plain one), at most KeyLen of them. The returned
// Stream's first bytes are the initiator's initial payload.
func Accept(rw io.ReadWriter, prefix []byte, cfg AcceptConfig) (*Stream, error) {
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	sel := cfg.Select
	if sel == nil {
		sel = Prefer.Select
	}
	if len(prefix) > KeyLen {
		return nil, fmt.Errorf("mse: %d bytes read before the handshake: %w", len(prefix), ErrTooLong)
	}
	h := &reader{r: rw}
	h.end = copy(h.buf[:], prefix)
	ya, err := h.next(KeyLen)
	if err != nil {
		return nil, fmt.Errorf("mse: reading peer's key: %w", err)
	}
	k, err := newDH(rnd)
	if err != nil {
		return nil, err
	}
	s, err := k.secret(ya)
	if err != nil {
		return nil, err
	}
	pad, err := randomPad(rnd)
	if err != nil {
		return nil, err
	}
	if _, err := rw.Write(append(k.pub[:], pad...)); err != nil {
		return nil, fmt.Errorf("mse: sending key: %w", err)
	}

	// Step 3: HASH('req1', S) follows PadA.
	req1 := hash([]byte("req1"), s[:])
	if err := h.sync(req1[:], MaxPad); err != nil {
		return nil, fmt.Errorf("mse: looking for the peer's req1 hash: %w", err)
	}
	b, err := h.next(20)
	if err != nil {
		return nil, fmt.Errorf("mse: reading the torrent's hash: %w", err)
	}
	var req2 [20]byte
	req3 := hash([]byte("req3"), s[:])
	for i := range req2 {
		req2[i] = b[i] ^ req3[i]
	}
	if cfg.SKey == nil {
		return nil, ErrUnknownSKey
	}
	skey, ok := cfg.SKey(req2)
	if !ok {
		return nil, ErrUnknownSKey
	}
	dec := newCipher("keyA", s, skey)
	b, err = h.next(vcLen + 4 + 2)
	if err != nil {
		return nil, fmt.Errorf("mse: reading crypto_provide: %w", err)
	}
	dec.XORKeyStream(b, b)
	if !bytes.Equal(b[:vcLen], make([]byte, vcLen)) {
		return nil, ErrBadVC
	}
	provided := Method(binary.BigEndian.Uint32(b[vcLen:]))
	padLen := int(binary.BigEndian.Uint16(b[vcLen+4:]))
	if padLen > MaxPad {
		return nil, fmt.Errorf("mse: PadC of %d bytes: %w", padLen, ErrTooLong)
	}
	b, err = h.next(padLen + 2)
	if err != nil {
		return nil, fmt.Errorf("mse: reading PadC: %w", err)
	}
	dec.XORKeyStream(b, b)
	iaLen := int(binary.BigEndian.Uint16(b[padLen:]))
	if iaLen > MaxInitialPayload {
		return nil, fmt.Errorf("mse: initial payload of %d bytes: %w", iaLen, ErrTooLong)
	}
	ia, err := h.next(iaLen)
	if err != nil {
		return nil, fmt.Errorf("mse: reading the initial payload: %w", err)
	}
	dec.XORKeyStream(ia, ia)
	chosen := sel(provided)
	if chosen != Plaintext && chosen != RC4 || chosen&provided == 0 {
		return nil, fmt.Errorf("mse: peer offered %v: %w", provided, ErrNoMethod)
	}

	// Step 4.
	enc := newCipher("keyB", s, skey)
	msg := make([]byte, vcLen, vcLen+4+2)
	msg = binary.BigEndian.AppendUint32(msg, uint32(chosen))
	msg = binary.BigEndian.AppendUint16(msg, 0) // len(PadD)
	enc.XORKeyStream(msg, msg)
	if _, err := rw.Write(msg); err != nil {
		return nil, fmt.Errorf("mse: sending step 4: %w", err)
	}
	st := newStream(rw, chosen, enc, dec, ia, h.rest())
	st.skey = skey
	return st, nil
}
