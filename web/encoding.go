package web

import (
	"strconv"
	"strings"
)

// codingPreference orders the precompressed variants when a request accepts
// several equally: brotli is about a quarter smaller than gzip for the wasm.
var codingPreference = []string{"br", "gzip"}

// chooseEncoding picks, from the codings we have, the one an Accept-Encoding
// header (RFC 9110, section 12.5.3) prefers: the highest q-value, brotli
// before gzip on a tie, none when neither is acceptable (identity is then
// served, even if the header refused it: a 406 helps nobody). "*" stands
// for every coding not named; "x-gzip" is gzip. A malformed element is
// ignored, as if absent.
func chooseEncoding(header string, have map[string]string) string {
	best, bestQ := "", 0
	for _, coding := range codingPreference {
		if _, ok := have[coding]; !ok {
			continue
		}
		q, named, star := 0, false, -1
		for elem := range strings.SplitSeq(header, ",") {
			name, qv, ok := parseCoding(elem)
			if !ok {
				continue
			}
			switch {
			case name == coding || (coding == "gzip" && name == "x-gzip"):
				if !named || qv > q {
					q = qv
				}
				named = true
			case name == "*":
				star = max(star, qv)
			}
		}
		if !named && star >= 0 {
			q = star
		}
		if q > bestQ {
			best, bestQ = coding, q
		}
	}
	return best
}

// parseCoding parses one element of Accept-Encoding: a coding name and an
// optional weight, "gzip;q=0.5". The weight is returned in thousandths
// (0..1000); ok is false for a malformed element.
func parseCoding(elem string) (name string, q int, ok bool) {
	name, params, _ := strings.Cut(elem, ";")
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || strings.ContainsAny(name, " \t\"=") {
		return "", 0, false
	}
	q = 1000
	for p := range strings.SplitSeq(params, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, found := strings.Cut(p, "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue // an extension parameter: not ours to judge
		}
		if q, ok = parseQ(strings.TrimSpace(v)); !ok {
			return "", 0, false
		}
	}
	return name, q, true
}

// parseQ parses a qvalue ("0", "0.5", "1.000") into thousandths.
func parseQ(v string) (int, bool) {
	if v == "" || len(v) > 5 || (v[0] != '0' && v[0] != '1') {
		return 0, false
	}
	if len(v) == 1 {
		return int(v[0]-'0') * 1000, true
	}
	if v[1] != '.' {
		return 0, false
	}
	frac := v[2:]
	if frac == "" {
		return int(v[0]-'0') * 1000, true
	}
	n, err := strconv.Atoi(frac)
	if err != nil || n < 0 || strings.ContainsAny(frac, "+-") {
		return 0, false
	}
	for range 3 - len(frac) {
		n *= 10
	}
	q := int(v[0]-'0')*1000 + n
	if q > 1000 {
		return 0, false
	}
	return q, true
}
