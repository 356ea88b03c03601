package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/swarmcast/swarmcast/metainfo"
)

// The resume sidecar, all integers little-endian:
//
//	magic      4 bytes  "SWRS"
//	version    uint32   resumeVersion
//	info hash  20 bytes
//	pieces     uint32   piece count
//	files      uint32   file count
//	bitfield   (pieces+7)/8 bytes, BEP 3 order, spare bits zero
//	per file   size int64 (-1: missing), mtime int64 (Unix nanoseconds)
//	checksum   uint32   CRC-32C of everything before it
//
// The checksum catches a torn or damaged file that would otherwise decode
// into a plausible but wrong bitfield.
const (
	resumeMagic      = "SWRS"
	resumeVersion    = 1
	resumeHeaderSize = 4 + 4 + metainfo.HashSize + 4 + 4
	resumeFileSize   = 8 + 8
	resumeCRCSize    = 4
	resumeSuffix     = ".resume"
	// maxResumePieces keeps the piece count an int on 32-bit platforms; no
	// torrent comes near it (a 1 TiB torrent of 16 KiB pieces has 2^26).
	maxResumePieces = 1<<31 - 1
)

// errBadResume reports a sidecar that cannot be decoded; OpenTorrent ignores
// such a file and the engine verifies everything again.
var errBadResume = errors.New("storage: damaged resume file")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// fileStamp is what the sidecar remembers of a file to tell whether it
// changed since: its size (-1 when it did not exist) and modification time.
type fileStamp struct {
	size, mtime int64
}

// missingStamp is the stamp of a file that does not exist.
var missingStamp = fileStamp{size: -1}

// resumeData is a decoded sidecar.
type resumeData struct {
	infoHash  metainfo.Hash
	numPieces int
	bitfield  []byte // wire format, (numPieces+7)/8 bytes
	files     []fileStamp
}

// resumeSize returns the encoded size of a sidecar.
func resumeSize(numPieces, numFiles int) int {
	return resumeHeaderSize + (numPieces+7)/8 + numFiles*resumeFileSize + resumeCRCSize
}

// appendResume appends the encoding of a sidecar to b; bitfield must be in
// wire format with its spare bits zero.
func appendResume(b []byte, ih metainfo.Hash, numPieces int, bitfield []byte, files []fileStamp) []byte {
	start := len(b)
	b = append(b, resumeMagic...)
	b = binary.LittleEndian.AppendUint32(b, resumeVersion)
	b = append(b, ih[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(numPieces))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(files)))
	b = append(b, bitfield...)
	for _, f := range files {
		b = binary.LittleEndian.AppendUint64(b, uint64(f.size))
		b = binary.LittleEndian.AppendUint64(b, uint64(f.mtime))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

// decodeResume decodes a sidecar. It checks everything it can without the
// torrent (the caller compares the info hash and counts) and allocates
// nothing in proportion to the counts it reads, only to len(b).
func decodeResume(b []byte) (*resumeData, error) {
	if len(b) < resumeHeaderSize+resumeCRCSize {
		return nil, fmt.Errorf("%w: %d bytes is too short", errBadResume, len(b))
	}
	if string(b[:4]) != resumeMagic {
		return nil, fmt.Errorf("%w: not a resume file", errBadResume)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != resumeVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", errBadResume, v, resumeVersion)
	}
	var d resumeData
	copy(d.infoHash[:], b[8:])
	pieces := uint64(binary.LittleEndian.Uint32(b[28:]))
	files := uint64(binary.LittleEndian.Uint32(b[32:]))
	if pieces > maxResumePieces {
		return nil, fmt.Errorf("%w: %d pieces", errBadResume, pieces)
	}
	// In uint64 the sum cannot overflow, even on 32-bit platforms.
	if want := resumeHeaderSize + (pieces+7)/8 + files*resumeFileSize + resumeCRCSize; uint64(len(b)) != want {
		return nil, fmt.Errorf("%w: %d bytes for %d pieces and %d files, want %d", errBadResume, len(b), pieces, files, want)
	}
	body := len(b) - resumeCRCSize
	if crc32.Checksum(b[:body], crcTable) != binary.LittleEndian.Uint32(b[body:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errBadResume)
	}
	d.numPieces = int(pieces)
	p := resumeHeaderSize
	d.bitfield = b[p : p+(d.numPieces+7)/8]
	p += len(d.bitfield)
	if r := d.numPieces & 7; r != 0 && d.bitfield[len(d.bitfield)-1]&(0xff>>r) != 0 {
		return nil, fmt.Errorf("%w: bits set past the last piece", errBadResume)
	}
	d.files = make([]fileStamp, files)
	for i := range d.files {
		size := int64(binary.LittleEndian.Uint64(b[p:]))
		mtime := int64(binary.LittleEndian.Uint64(b[p+8:]))
		p += resumeFileSize
		if size < -1 || (size == -1 && mtime != 0) {
			return nil, fmt.Errorf("%w: file %d has size %d", errBadResume, i, size)
		}
		d.files[i] = fileStamp{size: size, mtime: mtime}
	}
	return &d, nil
}
