package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
)

// infoJSON is what `info --json` prints, with parse-torrent's field names
// where it has one, so that scripts written for WebTorrent read it as is.
type infoJSON struct {
	InfoHash        string     `json:"infoHash"`
	Name            string     `json:"name,omitempty"`
	Length          *int64     `json:"length,omitempty"`
	PieceLength     int64      `json:"pieceLength,omitempty"`
	LastPieceLength int64      `json:"lastPieceLength,omitempty"`
	PieceCount      *int       `json:"pieceCount,omitempty"`
	Private         *bool      `json:"private,omitempty"`
	Hybrid          bool       `json:"hybrid,omitempty"`
	Created         string     `json:"created,omitempty"`
	CreatedBy       string     `json:"createdBy,omitempty"`
	Comment         string     `json:"comment,omitempty"`
	Files           []fileJSON `json:"files,omitempty"`
	Announce        []string   `json:"announce"`
	URLList         []string   `json:"urlList"`
	Select          []int      `json:"select,omitempty"`
	Peers           []string   `json:"peerAddresses,omitempty"`
	MagnetURI       string     `json:"magnetURI"`
}

type fileJSON struct {
	Path    string `json:"path"`
	Name    string `json:"name"`
	Length  int64  `json:"length"`
	Offset  int64  `json:"offset"`
	Padding bool   `json:"padding,omitempty"`
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("info", "TORRENT|MAGNET [--json]", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object (parse-torrent's field names)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "a .torrent file or a magnet link"); err != nil {
		return err
	}
	var out infoJSON
	if isMagnetArg(pos[0]) {
		m, err := parseMagnetArg(pos[0])
		if err != nil {
			return err
		}
		out = magnetToJSON(m)
	} else {
		mi, err := metainfo.LoadFile(pos[0])
		if err != nil {
			return err
		}
		info, err := mi.UnmarshalInfo()
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		out = torrentToJSON(mi, info)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printInfo(stdout, out)
	return nil
}

// isMagnetArg tells a magnet link (or a bare info hash) from a file path.
func isMagnetArg(s string) bool {
	if strings.HasPrefix(s, "magnet:") {
		return true
	}
	_, err := metainfo.ParseHash(s)
	return err == nil && (len(s) == 40)
}

func parseMagnetArg(s string) (metainfo.Magnet, error) {
	if !strings.HasPrefix(s, "magnet:") {
		h, err := metainfo.ParseHash(s)
		return metainfo.Magnet{InfoHash: h}, err
	}
	return metainfo.ParseMagnet(s)
}

func torrentToJSON(mi *metainfo.MetaInfo, info *metainfo.Info) infoJSON {
	total := info.TotalLength()
	n := info.NumPieces()
	out := infoJSON{
		InfoHash:    mi.HashInfoBytes().String(),
		Name:        info.BestName(),
		Length:      &total,
		PieceLength: info.PieceLength,
		PieceCount:  &n,
		Private:     &info.Private,
		Hybrid:      info.IsHybrid(),
		CreatedBy:   mi.CreatedBy,
		Comment:     mi.Comment,
		Announce:    nonNil(mi.AnnounceURLs()),
		URLList:     nonNil(mi.WebSeeds()),
		MagnetURI:   mi.Magnet(info).String(),
	}
	if n > 0 {
		out.LastPieceLength = info.PieceSize(n - 1)
	}
	if mi.CreationDate > 0 {
		out.Created = time.Unix(mi.CreationDate, 0).UTC().Format(time.RFC3339)
	}
	for _, f := range info.FileList() {
		p := f.DisplayPath()
		if info.IsDir() {
			p = info.BestName() + "/" + p
		}
		out.Files = append(out.Files, fileJSON{Path: p, Name: f.Path[len(f.Path)-1], Length: f.Length, Offset: f.Offset, Padding: f.IsPadding()})
	}
	return out
}

func magnetToJSON(m metainfo.Magnet) infoJSON {
	out := infoJSON{
		Name:      m.DisplayName,
		Announce:  uniq(m.Trackers),
		URLList:   uniq(m.WebSeeds),
		Select:    metainfo.Indices(m.Select),
		Peers:     m.Peers,
		MagnetURI: m.String(),
	}
	if !m.InfoHash.IsZero() {
		out.InfoHash = m.InfoHash.String()
	}
	return out
}

// uniq returns s without repeats, in order, as parse-torrent lists them.
func uniq(s []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func printInfo(w io.Writer, in infoJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("name", in.Name)
	row("info hash", in.InfoHash)
	if in.Length != nil {
		row("size", fmt.Sprintf("%s (%d bytes)", formatBytes(*in.Length), *in.Length))
		row("pieces", fmt.Sprintf("%d of %s", *in.PieceCount, formatBytes(in.PieceLength)))
		row("private", map[bool]string{true: "yes", false: "no"}[*in.Private])
	}
	if in.Hybrid {
		row("format", "hybrid v1/v2 (loaded as v1)")
	}
	row("created", in.Created)
	row("created by", in.CreatedBy)
	row("comment", in.Comment)
	for i, a := range in.Announce {
		row(map[bool]string{true: "trackers", false: ""}[i == 0], a)
	}
	for i, u := range in.URLList {
		row(map[bool]string{true: "web seeds", false: ""}[i == 0], u)
	}
	if len(in.Select) > 0 {
		row("select", fmt.Sprint(in.Select))
	}
	row("magnet", in.MagnetURI)
	tw.Flush()
	if len(in.Files) > 0 {
		fmt.Fprintf(w, "files (%d):\n", len(in.Files))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, f := range in.Files {
			pad := ""
			if f.Padding {
				pad = " (padding)"
			}
			fmt.Fprintf(tw, "  %s\t  %s%s\n", formatBytes(f.Length), f.Path, pad)
		}
		tw.Flush()
	}
}
