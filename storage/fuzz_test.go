package storage

import (
	"bytes"
	"testing"
)

// FuzzDecodeResume feeds the sidecar decoder arbitrary bytes (a sidecar on
// disk can be damaged): it must not panic, must not allocate beyond the
// input, and whatever it accepts must encode back to the same bytes.
func FuzzDecodeResume(f *testing.F) {
	bf := NewBitfield(13)
	bf.Set(0, true)
	bf.Set(12, true)
	f.Add(appendResume(nil, hashOf("seed"), 13, bf.Bytes(), []fileStamp{{size: 100, mtime: 1700000000123456789}, missingStamp}))
	f.Add(appendResume(nil, hashOf("empty"), 0, nil, nil))
	f.Add([]byte(resumeMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeResume(b)
		if err != nil {
			return
		}
		if len(d.files)*resumeFileSize > len(b) || len(d.bitfield) > len(b) {
			t.Fatalf("decoded more than the input holds: %d files, %d bitfield bytes from %d bytes", len(d.files), len(d.bitfield), len(b))
		}
		if again := appendResume(nil, d.infoHash, d.numPieces, d.bitfield, d.files); !bytes.Equal(again, b) {
			t.Fatalf("round trip changed the bytes:\n in %x\nout %x", b, again)
		}
	})
}
