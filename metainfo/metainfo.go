// Package metainfo reads and writes BitTorrent metainfo (.torrent files, BEP 3)
// and magnet links (BEP 9, BEP 53), computes info hashes, lays files out over
// pieces, and refuses file paths that would escape a download folder.
//
// Only v1 torrents are supported for now. Hybrid v1/v2 torrents load as v1
// (their v1 info hash and pieces are complete); a v2-only torrent is
// recognised and refused with ErrV2Only.
package metainfo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/swarmcast/swarmcast/bencode"
	"github.com/swarmcast/swarmcast/internal/sha1"
)

// MaxTorrentSize is the largest .torrent file Load reads. The largest real
// torrents (hundreds of thousands of files) are a few tens of MiB.
const MaxTorrentSize = 64 << 20

var (
	// ErrV2Only is returned for a BitTorrent v2 torrent that has no v1 part.
	ErrV2Only = errors.New("metainfo: this is a BitTorrent v2-only torrent (BEP 52), which swarmcast cannot load yet; ask for a v1 or hybrid torrent")
	// ErrNoInfo is returned for a metainfo file without an info dictionary.
	ErrNoInfo = errors.New("metainfo: no info dictionary (is this a .torrent file?)")
	// ErrUnsafePath is wrapped by errors about file names that could escape
	// the download folder or cannot be written.
	ErrUnsafePath = errors.New("unsafe file path")
)

// MetaInfo is the outer dictionary of a .torrent file. The info dictionary is
// kept as its exact bytes, since the info hash is their SHA-1.
type MetaInfo struct {
	InfoBytes    bencode.RawMessage `bencode:"info"`
	Announce     string             `bencode:"announce,omitempty"`
	AnnounceList [][]string         `bencode:"announce-list,omitempty"` // BEP 12 tiers
	URLList      URLList            `bencode:"url-list,omitempty"`      // BEP 19 web seeds
	Comment      string             `bencode:"comment,omitempty"`
	CreatedBy    string             `bencode:"created by,omitempty"`
	CreationDate int64              `bencode:"creation date,omitempty"` // Unix seconds
	Encoding     string             `bencode:"encoding,omitempty"`
	PieceLayers  bencode.RawMessage `bencode:"piece layers,omitempty"` // BEP 52, kept for hybrids
}

// URLList is the BEP 19 url-list, which torrents write either as one string or
// as a list of strings.
type URLList []string

// UnmarshalBencode accepts a string or a list of strings. An empty string
// means no web seed.
func (u *URLList) UnmarshalBencode(b []byte) error {
	var s string
	if err := bencode.Unmarshal(b, &s); err == nil {
		*u = nil
		if s != "" {
			*u = URLList{s}
		}
		return nil
	}
	var l []string
	if err := bencode.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("url-list is neither a string nor a list of strings")
	}
	*u = l
	return nil
}

// Load reads a .torrent file's contents from r. Fields outside the info
// dictionary that have the wrong type are ignored, as other clients do; the
// info dictionary itself is checked by UnmarshalInfo.
func Load(r io.Reader) (*MetaInfo, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxTorrentSize+1))
	if err != nil {
		return nil, fmt.Errorf("metainfo: %w", err)
	}
	if len(data) > MaxTorrentSize {
		return nil, fmt.Errorf("metainfo: file larger than %d bytes", MaxTorrentSize)
	}
	return Parse(data)
}

// Parse reads a .torrent file held in memory.
func Parse(data []byte) (*MetaInfo, error) {
	var mi MetaInfo
	if err := bencode.Unmarshal(data, &mi); err != nil {
		var te *bencode.UnmarshalTypeError
		if !errors.As(err, &te) || te.Field == "info" || strings.HasPrefix(te.Field, "info.") {
			return nil, fmt.Errorf("metainfo: %w", err)
		}
		// A mistyped optional field (a string creation date, say) is skipped.
	}
	if len(mi.InfoBytes) == 0 {
		return nil, ErrNoInfo
	}
	if mi.InfoBytes[0] != 'd' {
		return nil, fmt.Errorf("metainfo: info is not a dictionary")
	}
	return &mi, nil
}

// LoadFile reads the .torrent file at path.
func LoadFile(path string) (*MetaInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metainfo: %w", err)
	}
	defer f.Close()
	mi, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return mi, nil
}

// HashInfoBytes returns the v1 info hash: the SHA-1 of the info dictionary's
// bytes exactly as they were read.
func (mi *MetaInfo) HashInfoBytes() Hash {
	return sha1.Sum(mi.InfoBytes)
}

// UnmarshalInfo decodes and checks the info dictionary.
func (mi *MetaInfo) UnmarshalInfo() (*Info, error) {
	return ParseInfo(mi.InfoBytes)
}

// Write writes mi as a .torrent file.
func (mi *MetaInfo) Write(w io.Writer) error {
	return bencode.NewEncoder(w).Encode(mi)
}

// AnnounceURLs returns every tracker URL as one flat list: the announce-list
// tiers in order if there are any, else announce, without duplicates. This
// is the list WebTorrent's parse-torrent calls announce.
func (mi *MetaInfo) AnnounceURLs() []string {
	var all []string
	for _, tier := range mi.Tiers() {
		all = append(all, tier...)
	}
	return uniqueURLs(all)
}

// Tiers returns the BEP 12 tiers of trackers: announce-list if present, else
// one tier holding announce.
func (mi *MetaInfo) Tiers() [][]string {
	var tiers [][]string
	for _, tier := range mi.AnnounceList {
		var t []string
		for _, u := range tier {
			if u != "" {
				t = append(t, u)
			}
		}
		if len(t) > 0 {
			tiers = append(tiers, t)
		}
	}
	if len(tiers) == 0 && mi.Announce != "" {
		tiers = [][]string{{mi.Announce}}
	}
	return tiers
}

// WebSeeds returns the BEP 19 web seed URLs without duplicates.
func (mi *MetaInfo) WebSeeds() []string { return uniqueURLs(mi.URLList) }

// uniqueURLs returns the non-empty URLs of list in order, each once.
func uniqueURLs(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, u := range list {
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// Magnet returns a magnet link for this torrent with its name, trackers and
// web seeds.
func (mi *MetaInfo) Magnet(info *Info) Magnet {
	m := Magnet{InfoHash: mi.HashInfoBytes(), Trackers: mi.AnnounceURLs(), WebSeeds: mi.WebSeeds()}
	if info != nil {
		m.DisplayName = info.BestName()
	}
	return m
}

// IsTorrentData reports whether data looks like a .torrent file rather than,
// say, a magnet link or a path.
func IsTorrentData(data []byte) bool {
	return bytes.HasPrefix(data, []byte("d")) && bytes.Contains(data, []byte("4:info"))
}
