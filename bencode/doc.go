// Package bencode implements the bencoding of BEP 3, the serialization format
// of .torrent files, tracker responses and BitTorrent extension messages.
//
// The API mirrors encoding/json: Marshal and Unmarshal, NewEncoder and
// NewDecoder, struct tags (`bencode:"name,omitempty"`, `bencode:"-"`), the
// Marshaler and Unmarshaler interfaces, and RawMessage, which keeps the exact
// bytes of a value. RawMessage matters for torrents: the info hash is the SHA-1
// of the info dictionary's bytes as they were read, never of a re-encoding.
//
// Decoding is strict where BEP 3 is strict: integers have no leading zeros and
// no "-0", string lengths are plain decimal, and input ends where the value
// ends. Integers run from math.MinInt64 to math.MaxUint64; decoded into an
// interface, an integer is an int64, or a uint64 above math.MaxInt64. It is bounded: nesting depth is limited, and a string can never claim
// more bytes than the input holds, so a few hostile bytes cannot make the
// decoder allocate gigabytes. Dictionary keys that are out of order are
// accepted (many real torrents have them), and the last duplicate wins.
//
// Bencode has no boolean, float or null. Booleans encode as i0e and i1e,
// nil pointers and nil interfaces are omitted from dictionaries, and floats are
// refused.
package bencode
