// Package minijson reads JSON into a tree and writes JSON strings, with no
// reflection. It exists for the browser engine's size: encoding/json costs
// the WebAssembly build ~236 KB of code, and the engine's JSON is a few
// small messages (the WebSocket tracker protocol, the worker's calls) that
// read as well from a tree. Elsewhere, use encoding/json.
//
// Parse follows RFC 8259 as encoding/json reads it: invalid UTF-8 in a
// string becomes U+FFFD, and of duplicate keys Get returns the last.
package minijson

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is a JSON value's type.
type Kind uint8

// The kinds of JSON value.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

// Value is a parsed JSON value. Only the fields of its Kind are set.
type Value struct {
	Kind Kind
	Bool bool
	Num  float64
	Str  string
	// Items are an array's elements.
	Items []Value
	// Keys and Vals are an object's members, in order.
	Keys []string
	Vals []Value
}

// Get returns the value of an object's member key (the last, when the
// key repeats). ok is false when v is no object or has no such member.
func (v Value) Get(key string) (Value, bool) {
	for i := len(v.Keys) - 1; i >= 0; i-- {
		if v.Keys[i] == key {
			return v.Vals[i], true
		}
	}
	return Value{}, false
}

// String returns the member key's string, if it is one.
func (v Value) String(key string) (string, bool) {
	m, ok := v.Get(key)
	if !ok || m.Kind != String {
		return "", false
	}
	return m.Str, true
}

// Number returns the member key's number, if it is one.
func (v Value) Number(key string) (float64, bool) {
	m, ok := v.Get(key)
	if !ok || m.Kind != Number {
		return 0, false
	}
	return m.Num, true
}

// maxDepth bounds nesting: what a tracker or page sends is a few levels
// deep, and a deeper input is refused before it can exhaust the stack.
const maxDepth = 64

// ErrSyntax is returned for input that is not one JSON value.
var ErrSyntax = errors.New("minijson: invalid JSON")

// Parse reads data, which must hold exactly one JSON value (with
// whitespace around it).
func Parse(data []byte) (Value, error) {
	p := parser{s: data}
	p.space()
	v, ok := p.value(0)
	if !ok {
		return Value{}, ErrSyntax
	}
	p.space()
	if p.i != len(p.s) {
		return Value{}, ErrSyntax
	}
	return v, nil
}

type parser struct {
	s []byte
	i int
}

func (p *parser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) lit(word string) bool {
	if len(p.s)-p.i < len(word) || string(p.s[p.i:p.i+len(word)]) != word {
		return false
	}
	p.i += len(word)
	return true
}

func (p *parser) value(depth int) (Value, bool) {
	if p.i >= len(p.s) || depth > maxDepth {
		return Value{}, false
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, ok := p.str()
		return Value{Kind: String, Str: s}, ok
	case c == 't':
		return Value{Kind: Bool, Bool: true}, p.lit("true")
	case c == 'f':
		return Value{Kind: Bool}, p.lit("false")
	case c == 'n':
		return Value{Kind: Null}, p.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	}
	return Value{}, false
}

func (p *parser) object(depth int) (Value, bool) {
	p.i++ // {
	v := Value{Kind: Object}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return v, true
	}
	for {
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return Value{}, false
		}
		k, ok := p.str()
		if !ok {
			return Value{}, false
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return Value{}, false
		}
		p.i++
		p.space()
		m, ok := p.value(depth + 1)
		if !ok {
			return Value{}, false
		}
		v.Keys = append(v.Keys, k)
		v.Vals = append(v.Vals, m)
		p.space()
		if p.i >= len(p.s) {
			return Value{}, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return v, true
		default:
			return Value{}, false
		}
	}
}

func (p *parser) array(depth int) (Value, bool) {
	p.i++ // [
	v := Value{Kind: Array}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return v, true
	}
	for {
		p.space()
		m, ok := p.value(depth + 1)
		if !ok {
			return Value{}, false
		}
		v.Items = append(v.Items, m)
		p.space()
		if p.i >= len(p.s) {
			return Value{}, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return v, true
		default:
			return Value{}, false
		}
	}
}

// number reads a number with JSON's grammar (no leading zeros, no '+', no
// bare '.').
func (p *parser) number() (Value, bool) {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.s[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.s) && p.s[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return Value{}, false
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return Value{}, false
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return Value{}, false
		}
	}
	f, err := strconv.ParseFloat(string(p.s[start:p.i]), 64)
	if err != nil {
		return Value{}, false // out of float64's range, as encoding/json refuses it
	}
	return Value{Kind: Number, Num: f}, true
}

// str reads a string at p.i (its opening quote).
func (p *parser) str() (string, bool) {
	p.i++ // "
	// The common case: no escapes and valid UTF-8.
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '"' {
			s := p.s[start:p.i]
			if utf8.Valid(s) {
				p.i++
				return string(s), true
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	p.i = start
	b := make([]byte, 0, 64)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", false
			}
			p.i += 2
			switch e := p.s[p.i-1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					// A pair makes one rune; a lone half is U+FFFD.
					r2 := rune(-1)
					if p.i+1 < len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
						save := p.i
						p.i += 2
						if r2, ok = p.hex4(); !ok {
							return "", false
						}
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							b = utf8.AppendRune(b, d)
							continue
						}
						p.i = save
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", false
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.i++
		default:
			r, n := utf8.DecodeRune(p.s[p.i:])
			b = utf8.AppendRune(b, r) // invalid bytes become U+FFFD
			p.i += n
		}
	}
	return "", false
}

func (p *parser) hex4() (rune, bool) {
	if len(p.s)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.s[p.i : p.i+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// AppendString appends s as a JSON string. As encoding/json without HTML
// escaping: quotes, backslashes and control characters are escaped,
// U+2028 and U+2029 too (JavaScript once read them as line ends), and
// invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// AppendArray appends a JSON array of n elements, element i written by
// item.
func AppendArray(b []byte, n int, item func(b []byte, i int) []byte) []byte {
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = item(b, i)
	}
	return append(b, ']')
}

// Builder writes a JSON object member by member: start it with
// NewObject, add members, then take Bytes.
type Builder struct {
	b []byte
	n int
}

// NewObject starts an object appended to b.
func NewObject(b []byte) *Builder { return &Builder{b: append(b, '{')} }

func (o *Builder) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = AppendString(o.b, k)
	o.b = append(o.b, ':')
}

// String adds a string member.
func (o *Builder) String(k, v string) *Builder {
	o.key(k)
	o.b = AppendString(o.b, v)
	return o
}

// Int adds an integer member.
func (o *Builder) Int(k string, v int64) *Builder {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
	return o
}

// Float adds a number member (NaN and infinities, which JSON cannot hold,
// as 0).
func (o *Builder) Float(k string, v float64) *Builder {
	o.key(k)
	if v != v || v > 1e308 || v < -1e308 {
		v = 0
	}
	o.b = strconv.AppendFloat(o.b, v, 'g', -1, 64)
	return o
}

// Bool adds a boolean member.
func (o *Builder) Bool(k string, v bool) *Builder {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
	return o
}

// Raw adds a member whose value is already JSON.
func (o *Builder) Raw(k string, v []byte) *Builder {
	o.key(k)
	o.b = append(o.b, v...)
	return o
}

// Strings adds an array of strings.
func (o *Builder) Strings(k string, v []string) *Builder {
	o.key(k)
	o.b = AppendArray(o.b, len(v), func(b []byte, i int) []byte { return AppendString(b, v[i]) })
	return o
}

// Bytes closes the object and returns everything appended.
func (o *Builder) Bytes() []byte { return append(o.b, '}') }
