package peerwire

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Protocol is the protocol name that opens every handshake (BEP 3).
const Protocol = "BitTorrent protocol"

// Handshake sizes from BEP 3: the length byte, the protocol name, 8 reserved
// bytes, the 20-byte info hash and the 20-byte peer id.
const (
	// HandshakeHeaderLen is the length of the part ReadHandshakeHeader reads:
	// everything up to and including the info hash.
	HandshakeHeaderLen = 1 + len(Protocol) + 8 + 20
	// HandshakeLen is the length of a whole handshake.
	HandshakeLen = HandshakeHeaderLen + 20
)

// ExtensionBit names one bit of the handshake's reserved bytes: the index of
// the byte in its high 8 bits, the mask within that byte in its low 8 bits.
type ExtensionBit uint16

// Reserved bits in use; values from the BEPs cited (byte index, mask).
const (
	// ExtendedBit announces the extension protocol: reserved[5] & 0x10 (BEP 10).
	ExtendedBit ExtensionBit = 5<<8 | 0x10
	// FastBit announces the Fast extension: reserved[7] & 0x04 (BEP 6).
	FastBit ExtensionBit = 7<<8 | 0x04
	// DHTBit announces a DHT node and the port message: reserved[7] & 0x01 (BEP 5).
	DHTBit ExtensionBit = 7<<8 | 0x01
)

// ExtensionBits are the 8 reserved bytes of a handshake, in which each side
// announces the extensions it supports (BEP 4 lists the assignments).
type ExtensionBits [8]byte

// Has reports whether bit e is set.
func (b ExtensionBits) Has(e ExtensionBit) bool {
	i, mask := e.split()
	return b[i]&mask != 0
}

// Set sets bit e.
func (b *ExtensionBits) Set(e ExtensionBit) {
	i, mask := e.split()
	b[i] |= mask
}

// Clear clears bit e.
func (b *ExtensionBits) Clear(e ExtensionBit) {
	i, mask := e.split()
	b[i] &^= mask
}

func (e ExtensionBit) split() (int, byte) { return int(e>>8) & 7, byte(e) }

// String returns the bits as hex followed by the names of the known ones,
// such as "0000000000100005 (extended,fast,dht)".
func (b ExtensionBits) String() string {
	var names []string
	for _, k := range [...]struct {
		bit  ExtensionBit
		name string
	}{{ExtendedBit, "extended"}, {FastBit, "fast"}, {DHTBit, "dht"}} {
		if b.Has(k.bit) {
			names = append(names, k.name)
		}
	}
	s := hex.EncodeToString(b[:])
	if len(names) == 0 {
		return s
	}
	return s + " (" + strings.Join(names, ",") + ")"
}

// Handshake is the first message each side sends (BEP 3).
type Handshake struct {
	Reserved ExtensionBits // the extensions the sender supports
	InfoHash [20]byte      // the v1 info hash of the torrent
	PeerID   [20]byte      // the sender's peer id
}

// AppendBinary appends the 68-byte wire form of h to b. It implements
// encoding.BinaryAppender and never fails.
func (h Handshake) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(len(Protocol)))
	b = append(b, Protocol...)
	b = append(b, h.Reserved[:]...)
	b = append(b, h.InfoHash[:]...)
	return append(b, h.PeerID[:]...), nil
}

// MarshalBinary returns the 68-byte wire form of h. It never fails.
func (h Handshake) MarshalBinary() ([]byte, error) {
	return h.AppendBinary(make([]byte, 0, HandshakeLen))
}

// WriteHandshake writes h to w with a single Write.
func WriteHandshake(w io.Writer, h Handshake) error {
	var buf [HandshakeLen]byte
	b, _ := h.AppendBinary(buf[:0])
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("peerwire: writing handshake: %w", err)
	}
	return nil
}

// ReadHandshake reads a whole handshake from r. It reads exactly HandshakeLen
// bytes, so r need not be buffered and nothing after the handshake is consumed.
func ReadHandshake(r io.Reader) (Handshake, error) {
	h, err := ReadHandshakeHeader(r)
	if err != nil {
		return h, err
	}
	h.PeerID, err = ReadPeerID(r)
	return h, err
}

// ReadHandshakeHeader reads the first HandshakeHeaderLen bytes of a handshake
// (protocol name, reserved bytes, info hash) and returns them with a zero
// PeerID. A listener serving many torrents calls it, looks up the torrent by
// InfoHash, writes its own handshake and then calls ReadPeerID.
//
// Errors wrap ErrBadHandshake when the bytes are not a BitTorrent handshake
// (and io.ErrUnexpectedEOF as well when the stream ends inside one); a stream
// that ends before its first byte gives an error wrapping io.EOF.
func ReadHandshakeHeader(r io.Reader) (Handshake, error) {
	var buf [HandshakeHeaderLen]byte
	// The length byte and the protocol name are read and checked before the
	// rest, so that a stream that is not BitTorrent (an HTTP request, a
	// few stray bytes) is refused at once instead of after waiting for bytes
	// that never come.
	var n int
	var err error
	for _, end := range [...]int{1, 1 + len(Protocol), HandshakeHeaderLen} {
		var m int
		m, err = io.ReadFull(r, buf[n:end])
		n += m
		if perr := checkProtocol(buf[:n]); perr != nil {
			return Handshake{}, perr
		}
		if err != nil {
			if err == io.EOF && n > 0 {
				err = io.ErrUnexpectedEOF
			}
			break
		}
	}
	switch {
	case err == io.EOF:
		return Handshake{}, fmt.Errorf("peerwire: reading handshake: peer closed the connection before sending one: %w", io.EOF)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Handshake{}, fmt.Errorf("%w: stream ends after %d of %d bytes: %w", ErrBadHandshake, n, HandshakeLen, io.ErrUnexpectedEOF)
	case err != nil:
		return Handshake{}, fmt.Errorf("peerwire: reading handshake: %w", err)
	}
	var h Handshake
	copy(h.Reserved[:], buf[1+len(Protocol):])
	copy(h.InfoHash[:], buf[1+len(Protocol)+8:])
	return h, nil
}

// ReadPeerID reads the 20-byte peer id that ends a handshake, after
// ReadHandshakeHeader.
func ReadPeerID(r io.Reader) ([20]byte, error) {
	var id [20]byte
	n, err := io.ReadFull(r, id[:])
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return id, fmt.Errorf("%w: stream ends after %d of %d bytes: %w", ErrBadHandshake, HandshakeHeaderLen+n, HandshakeLen, io.ErrUnexpectedEOF)
	case err != nil:
		return id, fmt.Errorf("peerwire: reading handshake peer id: %w", err)
	}
	return id, nil
}

// checkProtocol checks as much of the length byte and protocol name as b holds.
func checkProtocol(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if b[0] != byte(len(Protocol)) {
		return fmt.Errorf("%w: protocol name length is %d, want %d (the peer does not speak plain BitTorrent; encrypted connections are not supported)",
			ErrBadHandshake, b[0], len(Protocol))
	}
	got := b[1:min(len(b), 1+len(Protocol))]
	if string(got) != Protocol[:len(got)] {
		return fmt.Errorf("%w: protocol name is %q, want %q", ErrBadHandshake, got, Protocol)
	}
	return nil
}
