package interop

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"sort"
	"strconv"
)

// bencode encodes v for the crafted test torrents. It is deliberately tiny and independent of swarmcast's
// own bencode package: the interop tests must not trust the code they check. It knows int, int64,
// string, []byte, []any and map[string]any (keys sorted, as BEP 3 requires).
func bencode(v any) []byte {
	var b bytes.Buffer
	var enc func(v any)
	enc = func(v any) {
		switch v := v.(type) {
		case int:
			fmt.Fprintf(&b, "i%de", v)
		case int64:
			fmt.Fprintf(&b, "i%de", v)
		case string:
			b.WriteString(strconv.Itoa(len(v)) + ":" + v)
		case []byte:
			b.WriteString(strconv.Itoa(len(v)) + ":")
			b.Write(v)
		case []any:
			b.WriteByte('l')
			for _, e := range v {
				enc(e)
			}
			b.WriteByte('e')
		case []string:
			b.WriteByte('l')
			for _, e := range v {
				enc(e)
			}
			b.WriteByte('e')
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteByte('d')
			for _, k := range keys {
				enc(k)
				enc(v[k])
			}
			b.WriteByte('e')
		default:
			panic(fmt.Sprintf("bencode: unsupported type %T", v))
		}
	}
	enc(v)
	return b.Bytes()
}

// fakePieces returns the pieces string of a torrent of total bytes in pieces of pieceLength: the right
// number of 20-byte hashes, each the SHA-1 of its index (the crafted torrents carry no content).
func fakePieces(total, pieceLength int64) []byte {
	n := (total + pieceLength - 1) / pieceLength
	var b bytes.Buffer
	for i := range n {
		h := sha1.Sum([]byte(strconv.FormatInt(i, 10)))
		b.Write(h[:])
	}
	return b.Bytes()
}
