package metainfo

import (
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// HashSize is the length in bytes of a v1 info hash (SHA-1).
const HashSize = 20

// Hash is a v1 info hash: the SHA-1 of the bencoded info dictionary.
type Hash [HashSize]byte

// String returns the hash as 40 lowercase hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// HexString is String, named for callers that want to say which form they get.
func (h Hash) HexString() string { return h.String() }

// IsZero reports whether h is all zero bytes.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText implements encoding.TextMarshaler with the hex form.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it takes hex or base32.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash reads an info hash written as 40 hex digits or 32 base32 characters
// (both forms appear in magnet links).
func ParseHash(s string) (Hash, error) {
	var h Hash
	switch len(s) {
	case 2 * HashSize:
		if _, err := hex.Decode(h[:], []byte(s)); err != nil {
			return Hash{}, fmt.Errorf("metainfo: info hash %q is not hex: %w", s, err)
		}
	case 32:
		b, err := base32.StdEncoding.DecodeString(strings.ToUpper(s))
		if err != nil || len(b) != HashSize {
			return Hash{}, fmt.Errorf("metainfo: info hash %q is not base32", s)
		}
		copy(h[:], b)
	default:
		return Hash{}, fmt.Errorf("metainfo: info hash %q has length %d, want 40 hex or 32 base32 characters", s, len(s))
	}
	return h, nil
}
