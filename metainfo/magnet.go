package metainfo

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// ErrNotMagnet is returned by ParseMagnet for a string that is not a magnet URI.
var ErrNotMagnet = errors.New("metainfo: not a magnet link (want magnet:?xt=urn:btih:...)")

// MaxSelectIndex bounds BEP 53 file indices, as no torrent has more files
// than MaxFiles.
const MaxSelectIndex = MaxFiles

// Magnet is a parsed magnet URI (BEP 9), with the BEP 53 file selection.
type Magnet struct {
	InfoHash    Hash     // xt=urn:btih: (v1); zero when the link only has btmh
	V2Hash      []byte   // xt=urn:btmh: multihash bytes (BEP 52), if given
	DisplayName string   // dn
	Trackers    []string // tr, in order
	WebSeeds    []string // ws (BEP 19 web seeds, as WebTorrent writes them)
	Sources     []string // xs: exact sources, e.g. a .torrent URL
	Acceptable  []string // as: acceptable sources
	Peers       []string // x.pe: peer addresses host:port
	Select      []Range  // so (BEP 53)
	Params      url.Values
}

// Range is an inclusive range of file indices in a BEP 53 selection.
type Range struct{ First, Last int }

// Indices expands a selection to the file indices it names, sorted, without
// duplicates.
func Indices(sel []Range) []int {
	seen := map[int]bool{}
	var out []int
	for _, r := range sel {
		for i := r.First; i <= r.Last; i++ {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	sort.Ints(out)
	return out
}

// ParseSelect parses a BEP 53 list like "0,2-4,7".
func ParseSelect(s string) ([]Range, error) {
	var out []Range
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		a, b, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(a)
		if err != nil || first < 0 || first > MaxSelectIndex {
			return nil, fmt.Errorf("metainfo: bad file index %q in selection %q", a, s)
		}
		last := first
		if isRange {
			last, err = strconv.Atoi(b)
			if err != nil || last < first || last > MaxSelectIndex {
				return nil, fmt.Errorf("metainfo: bad file range %q in selection %q", part, s)
			}
		}
		out = append(out, Range{first, last})
	}
	return out, nil
}

// FormatSelect writes a selection in BEP 53 form.
func FormatSelect(sel []Range) string {
	parts := make([]string, len(sel))
	for i, r := range sel {
		if r.First == r.Last {
			parts[i] = strconv.Itoa(r.First)
		} else {
			parts[i] = strconv.Itoa(r.First) + "-" + strconv.Itoa(r.Last)
		}
	}
	return strings.Join(parts, ",")
}

// ParseMagnet parses a magnet URI. It needs a BitTorrent exact topic: a v1
// info hash (hex or base32) or a v2 multihash.
func ParseMagnet(s string) (Magnet, error) {
	var m Magnet
	rest, ok := strings.CutPrefix(s, "magnet:?")
	if !ok {
		return m, ErrNotMagnet
	}
	haveXT := false
	for _, kv := range strings.Split(rest, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == "dn" {
			v = strings.ReplaceAll(v, "+", "%20") // form encoding writes spaces as +
		}
		val, err := url.PathUnescape(v)
		if err != nil {
			return m, fmt.Errorf("metainfo: magnet parameter %s: %w", k, err)
		}
		// Strip BEP 9's numbered variants: tr.1, xt.2 ...
		base := k
		if i := strings.LastIndexByte(k, '.'); i > 0 && k[:i] != "x" {
			if _, err := strconv.Atoi(k[i+1:]); err == nil {
				base = k[:i]
			}
		}
		switch base {
		case "xt":
			switch {
			case strings.HasPrefix(val, "urn:btih:"):
				h, err := ParseHash(val[len("urn:btih:"):])
				if err != nil {
					return m, err
				}
				if h.IsZero() {
					return m, fmt.Errorf("metainfo: magnet link's info hash is all zeros")
				}
				m.InfoHash = h
				haveXT = true
			case strings.HasPrefix(val, "urn:btmh:"):
				b, err := hex.DecodeString(val[len("urn:btmh:"):])
				// A SHA-256 multihash: 0x12, length 0x20, 32 bytes.
				if err != nil || len(b) != 34 || b[0] != 0x12 || b[1] != 0x20 {
					return m, fmt.Errorf("metainfo: bad v2 multihash %q", val)
				}
				m.V2Hash = b
				haveXT = true
			default:
				m.addParam(k, val)
			}
		case "dn":
			m.DisplayName = val
		case "tr":
			m.Trackers = append(m.Trackers, val)
		case "ws":
			m.WebSeeds = append(m.WebSeeds, val)
		case "xs":
			m.Sources = append(m.Sources, val)
		case "as":
			m.Acceptable = append(m.Acceptable, val)
		case "x.pe":
			m.Peers = append(m.Peers, val)
		case "so":
			sel, err := ParseSelect(val)
			if err != nil {
				return m, err
			}
			m.Select = append(m.Select, sel...)
		default:
			m.addParam(k, val)
		}
	}
	if !haveXT {
		return m, fmt.Errorf("metainfo: magnet link has no BitTorrent info hash (xt=urn:btih:...)")
	}
	return m, nil
}

func (m *Magnet) addParam(k, v string) {
	if m.Params == nil {
		m.Params = url.Values{}
	}
	m.Params.Add(k, v)
}

// magnetEscape escapes a parameter value, keeping the characters that are
// safe in a query and readable in URLs (:/ and the like), as WebTorrent does.
func magnetEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~:/@!$'()*,;", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// String formats the magnet URI. Parsing the result gives back m.
func (m Magnet) String() string {
	var parts []string
	if !m.InfoHash.IsZero() {
		parts = append(parts, "xt=urn:btih:"+m.InfoHash.String())
	}
	if len(m.V2Hash) > 0 {
		parts = append(parts, "xt=urn:btmh:"+hex.EncodeToString(m.V2Hash))
	}
	if m.DisplayName != "" {
		parts = append(parts, "dn="+magnetEscape(m.DisplayName))
	}
	add := func(k string, vs []string) {
		for _, v := range vs {
			parts = append(parts, k+"="+magnetEscape(v))
		}
	}
	add("tr", m.Trackers)
	add("ws", m.WebSeeds)
	add("xs", m.Sources)
	add("as", m.Acceptable)
	add("x.pe", m.Peers)
	if len(m.Select) > 0 {
		parts = append(parts, "so="+FormatSelect(m.Select))
	}
	keys := make([]string, 0, len(m.Params))
	for k := range m.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, m.Params[k])
	}
	return "magnet:?" + strings.Join(parts, "&")
}
