package peerwire

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/swarmcast/swarmcast/bencode"
)

// Extension message ids and names.
const (
	// ExtensionHandshakeID is the ExtendedID of the extension handshake (BEP 10).
	ExtensionHandshakeID = 0
	// UtMetadata is the extension name of metadata exchange (BEP 9).
	UtMetadata = "ut_metadata"
	// UtPex is the extension name of peer exchange (BEP 11).
	UtPex = "ut_pex"
)

// ExtensionHandshake is the payload of the extension handshake: the
// Extended message with ExtendedID 0 (BEP 10), sent right after the
// handshake by peers that set ExtendedBit.
//
// Decoding is lenient, as real clients differ: a key of the wrong type, an
// "m" id outside 0-255, an address of the wrong length, a port outside
// 1-65535 or a metadata_size outside 1-MaxMetadataSize is ignored (left
// zero), not an error. Keys this type does not name are ignored too.
type ExtensionHandshake struct {
	// M maps extension names (UtMetadata, UtPex, ...) to the ExtendedID the
	// sender wants to receive them with. Id 0 means the extension is
	// disabled, which a later handshake may say to turn one off.
	M map[string]uint8
	// V is the client's name and version, such as "swarmcast 0.1".
	V string
	// P is the sender's listening port, 0 if not given.
	P uint16
	// Reqq is how many outstanding requests the sender queues, 0 if not given.
	Reqq int
	// MetadataSize is the size in bytes of the info dictionary (BEP 9), 0 if
	// not given.
	MetadataSize int
	// YourIP is the receiver's address as the sender sees it.
	YourIP netip.Addr
	// IPv4 and IPv6 are addresses at which the sender can be reached.
	IPv4, IPv6 netip.Addr
	// UploadOnly says the sender only uploads: it is a seed or a partial
	// seed with everything it wants (BEP 21).
	UploadOnly bool
}

type extensionHandshakeWire struct {
	M            map[string]int64 `bencode:"m"`
	V            string           `bencode:"v,omitempty"`
	P            int64            `bencode:"p,omitempty"`
	Reqq         int64            `bencode:"reqq,omitempty"`
	MetadataSize int64            `bencode:"metadata_size,omitempty"`
	YourIP       []byte           `bencode:"yourip,omitempty"`
	IPv4         []byte           `bencode:"ipv4,omitempty"`
	IPv6         []byte           `bencode:"ipv6,omitempty"`
	UploadOnly   int64            `bencode:"upload_only,omitempty"`
}

// MarshalBinary returns the bencoded payload of h. It fails if IPv4 holds
// an IPv6 address or IPv6 an IPv4 one.
func (h ExtensionHandshake) MarshalBinary() ([]byte, error) {
	w := extensionHandshakeWire{
		M:            make(map[string]int64, len(h.M)),
		V:            h.V,
		P:            int64(h.P),
		Reqq:         int64(h.Reqq),
		MetadataSize: int64(h.MetadataSize),
		YourIP:       addrBytes(h.YourIP),
	}
	for k, v := range h.M {
		w.M[k] = int64(v)
	}
	if h.IPv4.IsValid() {
		if a := h.IPv4.Unmap(); a.Is4() {
			w.IPv4 = addrBytes(a)
		} else {
			return nil, fmt.Errorf("%w: extension handshake ipv4 field holds %v", ErrBadExtension, h.IPv4)
		}
	}
	if h.IPv6.IsValid() {
		if !h.IPv6.Is6() || h.IPv6.Is4In6() {
			return nil, fmt.Errorf("%w: extension handshake ipv6 field holds %v", ErrBadExtension, h.IPv6)
		}
		w.IPv6 = addrBytes(h.IPv6)
	}
	if h.UploadOnly {
		w.UploadOnly = 1
	}
	b, err := bencode.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadExtension, err)
	}
	return b, nil
}

// UnmarshalBinary decodes the bencoded payload of an extension handshake
// into h. Only bytes that are not one bencoded dictionary are an error.
func (h *ExtensionHandshake) UnmarshalBinary(b []byte) error {
	var w extensionHandshakeWire
	if err := unmarshalDict(b, &w); err != nil {
		return fmt.Errorf("%w: extension handshake: %w", ErrBadExtension, err)
	}
	*h = ExtensionHandshake{V: w.V, UploadOnly: w.UploadOnly != 0}
	h.M = make(map[string]uint8, len(w.M))
	for k, v := range w.M {
		if v >= 0 && v <= 255 {
			h.M[k] = uint8(v)
		}
	}
	if w.P > 0 && w.P <= 65535 {
		h.P = uint16(w.P)
	}
	if w.Reqq > 0 && w.Reqq <= 1<<31-1 {
		h.Reqq = int(w.Reqq)
	}
	if w.MetadataSize > 0 && w.MetadataSize <= MaxMetadataSize {
		h.MetadataSize = int(w.MetadataSize)
	}
	if a, ok := netip.AddrFromSlice(w.YourIP); ok {
		h.YourIP = a.Unmap()
	}
	if len(w.IPv4) == 4 {
		h.IPv4 = netip.AddrFrom4([4]byte(w.IPv4))
	}
	if len(w.IPv6) == 16 {
		h.IPv6 = netip.AddrFrom16([16]byte(w.IPv6))
	}
	return nil
}

// addrBytes returns the compact form of a: 4 bytes for IPv4 (and IPv4
// mapped into IPv6), 16 for IPv6, nil for the zero Addr.
func addrBytes(a netip.Addr) []byte {
	if !a.IsValid() {
		return nil
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return b[:]
	}
	b := a.As16()
	return b[:]
}

// unmarshalDict decodes b, which must be one bencoded dictionary, into v,
// ignoring values whose type does not fit their field: lenient towards
// clients that put, say, a string where BEP 10 says integer.
func unmarshalDict(b []byte, v any) error {
	if len(b) == 0 || b[0] != 'd' {
		return errors.New("not a bencoded dictionary")
	}
	err := bencode.Unmarshal(b, v)
	if _, ok := errors.AsType[*bencode.UnmarshalTypeError](err); ok {
		return nil
	}
	return err
}
