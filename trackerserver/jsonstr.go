package trackerserver

import (
	"unicode/utf16"
	"unicode/utf8"
)

// JSON strings: WebTorrent's "binary strings" (one character U+0000–U+00FF
// per byte) both ways, and the general decoding of offer IDs.

// decodeHash decodes a raw JSON string holding a 20-character binary string.
func decodeHash(raw []byte, h *[20]byte) bool {
	if len(raw) < 22 || raw[0] != '"' {
		return false
	}
	var buf [21]byte
	n, ok := decodeLatin1(raw, buf[:])
	if !ok || n != 20 {
		return false
	}
	copy(h[:], buf[:20])
	return true
}

// decodeLatin1 decodes a raw, valid JSON string (quotes included) whose
// characters are all U+0000–U+00FF into one byte per character, as
// WebTorrent's "binary strings" are. It fails for any other character, for a
// value that is not a string, and when dst is too short.
func decodeLatin1(raw []byte, dst []byte) (int, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return 0, false
	}
	s := raw[1 : len(raw)-1]
	n := 0
	for i := 0; i < len(s); {
		if n == len(dst) {
			return 0, false
		}
		c := s[i]
		switch {
		case c < 0x80 && c != '\\':
			dst[n] = c
			i++
		case c == '\\':
			r, size := unescape(s[i:])
			if size == 0 || r > 0xFF {
				return 0, false
			}
			dst[n] = byte(r)
			i += size
		case (c == 0xC2 || c == 0xC3) && i+1 < len(s) && s[i+1]&0xC0 == 0x80:
			dst[n] = (c&0x1F)<<6 | s[i+1]&0x3F
			i += 2
		default:
			return 0, false
		}
		n++
	}
	return n, true
}

// decodeString decodes a raw, valid JSON string (quotes included) into UTF-8
// in dst. It fails when dst is too short. Lone surrogates become U+FFFD.
func decodeString(raw []byte, dst []byte) (int, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return 0, false
	}
	s := raw[1 : len(raw)-1]
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			if n == len(dst) {
				return 0, false
			}
			dst[n] = c
			n++
			i++
			continue
		}
		r, size := unescape(s[i:])
		if size == 0 {
			return 0, false
		}
		i += size
		if utf16.IsSurrogate(r) {
			if r2, size2 := unescape(s[i:]); size2 == 6 {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += size2
				}
			}
		}
		size = utf8.RuneLen(r)
		if size < 0 {
			size = 3 // written as U+FFFD
		}
		if n+size > len(dst) {
			return 0, false
		}
		n += utf8.EncodeRune(dst[n:], r)
	}
	return n, true
}

// unescape decodes the escape at the start of s ("\n", "\u00e9"), returning
// the rune and the escape's length, or 0 for an invalid escape.
func unescape(s []byte) (rune, int) {
	if len(s) < 2 || s[0] != '\\' {
		return 0, 0
	}
	switch s[1] {
	case '"', '\\', '/':
		return rune(s[1]), 2
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		if len(s) < 6 {
			return 0, 0
		}
		var r rune
		for _, c := range s[2:6] {
			r <<= 4
			switch {
			case c >= '0' && c <= '9':
				r |= rune(c - '0')
			case c >= 'a' && c <= 'f':
				r |= rune(c - 'a' + 10)
			case c >= 'A' && c <= 'F':
				r |= rune(c - 'A' + 10)
			default:
				return 0, 0
			}
		}
		return r, 6
	}
	return 0, 0
}

// appendBinaryString appends s as a JSON string of one character per byte,
// exactly as JavaScript's JSON.stringify writes a binary string: control
// characters escaped (short forms where JSON has them), bytes 0x80–0xFF as
// the two-byte UTF-8 of U+0080–U+00FF, everything else as it is.
func appendBinaryString(dst []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"':
			dst = append(dst, '\\', '"')
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case c >= 0x20 && c < 0x80:
			dst = append(dst, c)
		case c >= 0x80:
			dst = append(dst, 0xC0|c>>6, 0x80|c&0x3F)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
	}
	return append(dst, '"')
}

// appendJSONText appends s, ASCII text of our own, as a JSON string.
func appendJSONText(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c >= 0x80:
			dst = append(dst, '?')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
