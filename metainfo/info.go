package metainfo

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/swarmcast/swarmcast/bencode"
)

// Limits on what an info dictionary may declare. They are far above any real
// torrent and keep a hostile one from making us allocate without bound.
const (
	// MaxPieceLength is the largest piece length accepted (real torrents use
	// at most 16–64 MiB).
	MaxPieceLength = 512 << 20
	// MaxFiles is the most files a torrent may list.
	MaxFiles = 1 << 20
)

// Info is the info dictionary of a v1 (or hybrid) torrent.
type Info struct {
	Name        string     `bencode:"name"`
	NameUTF8    string     `bencode:"name.utf-8,omitempty"`
	PieceLength int64      `bencode:"piece length"`
	Pieces      []byte     `bencode:"pieces"`
	Length      int64      `bencode:"length,omitempty"` // single-file torrents
	Files       []FileInfo `bencode:"files,omitempty"`  // multi-file torrents
	Private     bool       `bencode:"private,omitempty"`
	Source      string     `bencode:"source,omitempty"`
	Attr        string     `bencode:"attr,omitempty"` // BEP 47, single-file torrents

	MetaVersion int64              `bencode:"meta version,omitempty"` // BEP 52
	FileTree    bencode.RawMessage `bencode:"file tree,omitempty"`    // BEP 52
}

// FileInfo is one entry of a multi-file torrent's files list.
type FileInfo struct {
	Length   int64    `bencode:"length"`
	Path     []string `bencode:"path"`
	PathUTF8 []string `bencode:"path.utf-8,omitempty"`
	Attr     string   `bencode:"attr,omitempty"` // BEP 47: p padding, x executable, h hidden, l symlink
}

// File is a file of a torrent placed in the torrent's byte stream.
type File struct {
	// Path is the file's path components below the torrent's folder; for a
	// single-file torrent it is the one component Name.
	Path   []string
	Length int64
	Offset int64  // offset of the file's first byte in the torrent
	Attr   string // BEP 47 attributes
}

// IsPadding reports whether the file is a BEP 47 padding file, which is
// never written to disk.
func (f File) IsPadding() bool {
	return strings.Contains(f.Attr, "p") ||
		(len(f.Path) > 0 && strings.HasPrefix(f.Path[len(f.Path)-1], "_____padding_file_"))
}

// DisplayPath returns the file's path components joined with "/".
func (f File) DisplayPath() string { return strings.Join(f.Path, "/") }

// ParseInfo decodes and checks an info dictionary.
func ParseInfo(b []byte) (*Info, error) {
	var info Info
	if err := bencode.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("metainfo: info: %w", err)
	}
	if err := info.Validate(); err != nil {
		return nil, err
	}
	return &info, nil
}

// IsHybrid reports whether the torrent also carries BEP 52 (v2) data.
func (info *Info) IsHybrid() bool {
	return info.MetaVersion == 2 && len(info.Pieces) > 0
}

// BestName returns name.utf-8 if present, else name: what WebTorrent shows.
func (info *Info) BestName() string {
	if info.NameUTF8 != "" {
		return info.NameUTF8
	}
	return info.Name
}

// IsDir reports whether the torrent is multi-file: its files live in a folder
// named after the torrent.
func (info *Info) IsDir() bool { return len(info.Files) > 0 }

// Validate checks the info dictionary: sizes that agree with each other and
// file paths that stay inside the download folder.
func (info *Info) Validate() error {
	if info.MetaVersion == 2 && len(info.Pieces) == 0 {
		return ErrV2Only
	}
	if info.MetaVersion != 0 && info.MetaVersion != 1 && info.MetaVersion != 2 {
		return fmt.Errorf("metainfo: unknown meta version %d", info.MetaVersion)
	}
	if err := checkComponent(info.BestName()); err != nil {
		return fmt.Errorf("metainfo: torrent name %q: %w", info.BestName(), err)
	}
	if info.PieceLength <= 0 || info.PieceLength > MaxPieceLength {
		return fmt.Errorf("metainfo: piece length %d is outside 1..%d", info.PieceLength, MaxPieceLength)
	}
	if len(info.Pieces)%HashSize != 0 {
		return fmt.Errorf("metainfo: pieces has %d bytes, not a multiple of %d", len(info.Pieces), HashSize)
	}
	if len(info.Files) > MaxFiles {
		return fmt.Errorf("metainfo: %d files, more than the limit of %d", len(info.Files), MaxFiles)
	}
	var total int64
	if info.IsDir() {
		if info.Length != 0 {
			return errors.New("metainfo: info has both length and files")
		}
		dirs := map[string]bool{}
		files := make(map[string]bool, len(info.Files))
		for i, f := range info.Files {
			if f.Length < 0 {
				return fmt.Errorf("metainfo: file %d has negative length %d", i, f.Length)
			}
			if total > math.MaxInt64-f.Length {
				return errors.New("metainfo: total length overflows")
			}
			total += f.Length
			p := info.filePath(i)
			if len(p) == 0 {
				return fmt.Errorf("metainfo: file %d: %w: empty path", i, ErrUnsafePath)
			}
			for _, c := range p {
				if err := checkComponent(c); err != nil {
					return fmt.Errorf("metainfo: file %d %q: %w", i, strings.Join(p, "/"), err)
				}
			}
			if strings.Contains(f.Attr, "p") {
				continue // padding files are never written, so they cannot clash
			}
			// One path may not be both a file and a folder, nor two files.
			full := strings.Join(p, "/")
			if files[full] || dirs[full] {
				return fmt.Errorf("metainfo: file %d %q: %w: path used twice", i, full, ErrUnsafePath)
			}
			files[full] = true
			for j := 1; j < len(p); j++ {
				d := strings.Join(p[:j], "/")
				if files[d] {
					return fmt.Errorf("metainfo: file %d %q: %w: %q is a file and a folder", i, full, ErrUnsafePath, d)
				}
				dirs[d] = true
			}
		}
	} else {
		if info.Length < 0 {
			return fmt.Errorf("metainfo: negative length %d", info.Length)
		}
		total = info.Length
	}
	want := (total + info.PieceLength - 1) / info.PieceLength
	if got := int64(len(info.Pieces) / HashSize); got != want {
		return fmt.Errorf("metainfo: %d piece hashes for %d bytes in pieces of %d (want %d)", got, total, info.PieceLength, want)
	}
	return nil
}

// checkComponent refuses a path component that could escape the download
// folder or name something other than a plain file: "..", ".", empty names,
// separators, NUL, and drive letters.
func checkComponent(c string) error {
	switch {
	case c == "":
		return fmt.Errorf("%w: empty name", ErrUnsafePath)
	case c == "." || c == "..":
		return fmt.Errorf("%w: %q is not allowed", ErrUnsafePath, c)
	case strings.ContainsRune(c, 0):
		return fmt.Errorf("%w: name contains NUL", ErrUnsafePath)
	case strings.ContainsAny(c, `/\`):
		return fmt.Errorf("%w: name contains a path separator", ErrUnsafePath)
	case len(c) >= 2 && c[1] == ':' && ((c[0] >= 'a' && c[0] <= 'z') || (c[0] >= 'A' && c[0] <= 'Z')):
		return fmt.Errorf("%w: name starts with a drive letter", ErrUnsafePath)
	}
	return nil
}

// filePath returns the path of file i, preferring path.utf-8.
func (info *Info) filePath(i int) []string {
	f := info.Files[i]
	if len(f.PathUTF8) > 0 {
		return f.PathUTF8
	}
	return f.Path
}

// TotalLength returns the size of the torrent's content in bytes, padding
// files included.
func (info *Info) TotalLength() int64 {
	if !info.IsDir() {
		return info.Length
	}
	var n int64
	for _, f := range info.Files {
		n += f.Length
	}
	return n
}

// NumPieces returns the number of pieces.
func (info *Info) NumPieces() int { return len(info.Pieces) / HashSize }

// PieceHash returns the SHA-1 of piece i.
func (info *Info) PieceHash(i int) (h [HashSize]byte) {
	copy(h[:], info.Pieces[i*HashSize:])
	return h
}

// PieceSize returns the length of piece i; only the last piece may be short.
func (info *Info) PieceSize(i int) int64 {
	if i == info.NumPieces()-1 {
		if rem := info.TotalLength() % info.PieceLength; rem != 0 {
			return rem
		}
	}
	return info.PieceLength
}

// FileList returns the torrent's files in order, with their offsets. A
// single-file torrent has one file whose path is the torrent's name.
func (info *Info) FileList() []File {
	if !info.IsDir() {
		return []File{{Path: []string{info.BestName()}, Length: info.Length, Attr: info.Attr}}
	}
	out := make([]File, len(info.Files))
	var off int64
	for i, f := range info.Files {
		out[i] = File{Path: info.filePath(i), Length: f.Length, Offset: off, Attr: f.Attr}
		off += f.Length
	}
	return out
}

// FilePieces returns the pieces [first, end) that hold bytes of f. An empty
// file spans no pieces (first == end).
func (info *Info) FilePieces(f File) (first, end int) {
	if f.Length == 0 {
		p := int(f.Offset / info.PieceLength)
		return p, p
	}
	return int(f.Offset / info.PieceLength), int((f.Offset + f.Length + info.PieceLength - 1) / info.PieceLength)
}

func marshal(v any) ([]byte, error) { return bencode.Marshal(v) }
