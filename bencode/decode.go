package bencode

import (
	"fmt"
	"math"
	"reflect"
)

// MaxDepth is the deepest nesting of lists and dictionaries that the decoder
// accepts. Real torrents and extension messages nest fewer than ten levels;
// the limit keeps hostile input from exhausting the stack.
const MaxDepth = 128

// Unmarshaler is implemented by types that decode themselves from one
// bencoded value. UnmarshalBencode receives the value's exact bytes and must
// copy them if it keeps them.
type Unmarshaler interface {
	UnmarshalBencode([]byte) error
}

// RawMessage is a raw bencoded value. It keeps the exact bytes it was decoded
// from, and Marshal writes it out unchanged.
type RawMessage []byte

// UnmarshalBencode stores a copy of data.
func (m *RawMessage) UnmarshalBencode(data []byte) error {
	*m = append((*m)[:0], data...)
	return nil
}

// MarshalBencode returns m, which must hold one complete bencoded value.
func (m RawMessage) MarshalBencode() ([]byte, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("bencode: empty RawMessage")
	}
	return m, nil
}

var (
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
)

// Unmarshal decodes the single bencoded value in data into v, which must be a
// non-nil pointer. Input after the value is an error. When a value does not
// fit the Go type it is meant for, Unmarshal skips it, goes on with the rest,
// and returns the first such *UnmarshalTypeError at the end.
func Unmarshal(data []byte, v any) error {
	rest, err := UnmarshalPrefix(data, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return &SyntaxError{Offset: int64(len(data) - len(rest)), msg: "data after the end of the value"}
	}
	return nil
}

// UnmarshalPrefix decodes the bencoded value at the start of data into v and
// returns the bytes after it. It is for messages that put raw bytes after a
// bencoded dictionary, as BEP 9 metadata messages do.
func UnmarshalPrefix(data []byte, v any) (rest []byte, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, &InvalidUnmarshalError{reflect.TypeOf(v)}
	}
	d := decodeState{data: data}
	if err := d.value(rv.Elem()); err != nil {
		return nil, err
	}
	return data[d.off:], d.typeErr
}

// Valid reports whether data is exactly one well-formed bencoded value.
func Valid(data []byte) bool {
	end, err := skipValue(data, 0)
	return err == nil && end == len(data)
}

type decodeState struct {
	data    []byte
	off     int
	depth   int
	keys    [][]byte // dictionary keys from the root to the current value
	typeErr error    // the first type mismatch; decoding goes on after it
}

// field returns the dotted path of the current value, for error messages. It
// is built only when needed, so that decoding allocates nothing per key.
func (d *decodeState) field() string {
	var b []byte
	for i, k := range d.keys {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, k...)
	}
	return string(b)
}

func (d *decodeState) syntax(off int, format string, args ...any) error {
	return &SyntaxError{Offset: int64(off), msg: fmt.Sprintf(format, args...)}
}

func (d *decodeState) mismatch(kind string, t reflect.Type, off int) error {
	if d.typeErr == nil {
		d.typeErr = &UnmarshalTypeError{Value: kind, Type: t, Offset: int64(off), Field: d.field()}
	}
	end, err := skipValue(d.data, off)
	if err != nil {
		return err
	}
	d.off = end
	return nil
}

// indirect walks v down through pointers, allocating them, and stops early at
// a type that implements Unmarshaler.
func indirect(v reflect.Value) (Unmarshaler, reflect.Value) {
	for {
		if v.Kind() == reflect.Interface && !v.IsNil() {
			e := v.Elem()
			if e.Kind() == reflect.Pointer && !e.IsNil() {
				v = e
				continue
			}
		}
		if v.CanAddr() && v.Type().Kind() != reflect.Pointer && reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
			return v.Addr().Interface().(Unmarshaler), reflect.Value{}
		}
		if v.Kind() != reflect.Pointer {
			return nil, v
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		if v.Type().Implements(unmarshalerType) {
			return v.Interface().(Unmarshaler), reflect.Value{}
		}
		v = v.Elem()
	}
}

func (d *decodeState) value(v reflect.Value) error {
	if d.off >= len(d.data) {
		return d.syntax(d.off, "unexpected end of input")
	}
	u, v := indirect(v)
	if u != nil {
		start := d.off
		end, err := skipValue(d.data, start)
		if err != nil {
			return err
		}
		d.off = end
		if err := u.UnmarshalBencode(d.data[start:end]); err != nil {
			return fmt.Errorf("bencode: field %q at offset %d: %w", d.field(), start, err)
		}
		return nil
	}
	switch c := d.data[d.off]; {
	case c == 'i':
		return d.integer(v)
	case c >= '0' && c <= '9':
		return d.str(v)
	case c == 'l':
		return d.list(v)
	case c == 'd':
		return d.dict(v)
	default:
		return d.syntax(d.off, "unexpected byte %q at the start of a value", c)
	}
}

func (d *decodeState) integer(v reflect.Value) error {
	start := d.off
	n, neg, end, err := parseInt(d.data, start)
	if err != nil {
		return err
	}
	fits := func(ok bool) error {
		if !ok {
			return d.mismatch("integer "+string(d.data[start+1:end-1]), v.Type(), start)
		}
		d.off = end
		return nil
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if neg {
			if n > 1<<63 {
				return fits(false)
			}
			i = int64(-n)
		} else {
			if n > math.MaxInt64 {
				return fits(false)
			}
			i = int64(n)
		}
		if v.OverflowInt(i) {
			return fits(false)
		}
		v.SetInt(i)
		return fits(true)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if neg || v.OverflowUint(n) {
			return fits(false)
		}
		v.SetUint(n)
		return fits(true)
	case reflect.Bool:
		v.SetBool(n != 0)
		return fits(true)
	case reflect.Interface:
		if v.NumMethod() != 0 {
			return fits(false)
		}
		// An integer is an int64, unless it is above math.MaxInt64: then
		// it is a uint64, so that every integer Valid accepts decodes.
		switch {
		case neg:
			v.Set(reflect.ValueOf(int64(-n)))
		case n > math.MaxInt64:
			v.Set(reflect.ValueOf(n))
		default:
			v.Set(reflect.ValueOf(int64(n)))
		}
		return fits(true)
	}
	return fits(false)
}

// parseInt reads "i<decimal>e" at off and returns its magnitude, sign and end.
func parseInt(data []byte, off int) (n uint64, neg bool, end int, err error) {
	i := off + 1
	if i < len(data) && data[i] == '-' {
		neg = true
		i++
	}
	digits := i
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		d := uint64(data[i] - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false, 0, &SyntaxError{Offset: int64(off), msg: "integer overflows 64 bits"}
		}
		n = n*10 + d
		i++
	}
	switch {
	case i >= len(data):
		return 0, false, 0, &SyntaxError{Offset: int64(off), msg: "unterminated integer"}
	case data[i] != 'e':
		return 0, false, 0, &SyntaxError{Offset: int64(i), msg: fmt.Sprintf("unexpected byte %q in integer", data[i])}
	case i == digits:
		return 0, false, 0, &SyntaxError{Offset: int64(off), msg: "integer has no digits"}
	case data[digits] == '0' && i-digits > 1:
		return 0, false, 0, &SyntaxError{Offset: int64(off), msg: "integer has a leading zero"}
	case neg && n == 0:
		return 0, false, 0, &SyntaxError{Offset: int64(off), msg: "negative zero"}
	case neg && n > 1<<63:
		return 0, false, 0, &SyntaxError{Offset: int64(off), msg: "negative integer below the 64-bit minimum"}
	}
	return n, neg, i + 1, nil
}

// parseString reads "<len>:<bytes>" at off and returns the bytes (aliasing
// data) and the end offset. The length can never exceed what data holds.
func parseString(data []byte, off int) ([]byte, int, error) {
	i := off
	n := 0
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		if i-off >= 10 { // 10 digits already exceed any input we could hold
			return nil, 0, &SyntaxError{Offset: int64(off), msg: "string length too large"}
		}
		n = n*10 + int(data[i]-'0')
		i++
	}
	switch {
	case i >= len(data):
		return nil, 0, &SyntaxError{Offset: int64(off), msg: "unterminated string length"}
	case data[i] != ':':
		return nil, 0, &SyntaxError{Offset: int64(i), msg: fmt.Sprintf("unexpected byte %q in string length", data[i])}
	case data[off] == '0' && i-off > 1:
		return nil, 0, &SyntaxError{Offset: int64(off), msg: "string length has a leading zero"}
	}
	i++
	if n > len(data)-i {
		return nil, 0, &SyntaxError{Offset: int64(off), msg: fmt.Sprintf("string of %d bytes runs past the end of the input (%d bytes left)", n, len(data)-i)}
	}
	return data[i : i+n], i + n, nil
}

func (d *decodeState) str(v reflect.Value) error {
	start := d.off
	b, end, err := parseString(d.data, start)
	if err != nil {
		return err
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(string(b))
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Uint8 {
			return d.mismatch("string", v.Type(), start)
		}
		v.SetBytes(append(make([]byte, 0, len(b)), b...))
	case reflect.Array:
		if v.Type().Elem().Kind() != reflect.Uint8 || v.Len() != len(b) {
			return d.mismatch(fmt.Sprintf("string of length %d", len(b)), v.Type(), start)
		}
		reflect.Copy(v, reflect.ValueOf(b))
	case reflect.Interface:
		if v.NumMethod() != 0 {
			return d.mismatch("string", v.Type(), start)
		}
		v.Set(reflect.ValueOf(string(b)))
	default:
		return d.mismatch("string", v.Type(), start)
	}
	d.off = end
	return nil
}

func (d *decodeState) enter() error {
	d.depth++
	if d.depth > MaxDepth {
		return &SyntaxError{Offset: int64(d.off), msg: ErrTooDeep.Error()}
	}
	return nil
}

func (d *decodeState) list(v reflect.Value) error {
	start := d.off
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
	case reflect.Interface:
		if v.NumMethod() != 0 {
			return d.mismatch("list", v.Type(), start)
		}
		var l []any
		lv := reflect.ValueOf(&l).Elem()
		if err := d.list(lv); err != nil {
			return err
		}
		if l == nil {
			l = []any{}
		}
		v.Set(reflect.ValueOf(l))
		return nil
	default:
		return d.mismatch("list", v.Type(), start)
	}
	if err := d.enter(); err != nil {
		return err
	}
	d.off++
	i := 0
	if v.Kind() == reflect.Slice {
		v.SetLen(0)
	}
	for {
		if d.off >= len(d.data) {
			return d.syntax(start, "unterminated list")
		}
		if d.data[d.off] == 'e' {
			d.off++
			break
		}
		if v.Kind() == reflect.Slice {
			if i >= v.Cap() {
				v.Grow(1)
			}
			v.SetLen(i + 1)
		}
		if i < v.Len() {
			if err := d.value(v.Index(i)); err != nil {
				return err
			}
		} else {
			end, err := skipValue(d.data, d.off)
			if err != nil {
				return err
			}
			d.off = end
		}
		i++
	}
	if v.Kind() == reflect.Array {
		for ; i < v.Len(); i++ {
			v.Index(i).SetZero()
		}
	} else if v.IsNil() {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
	}
	d.depth--
	return nil
}

func (d *decodeState) dict(v reflect.Value) error {
	start := d.off
	var fields *structFields
	switch v.Kind() {
	case reflect.Struct:
		fields = cachedFields(v.Type())
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return d.mismatch("dictionary", v.Type(), start)
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
	case reflect.Interface:
		if v.NumMethod() != 0 {
			return d.mismatch("dictionary", v.Type(), start)
		}
		m := map[string]any{}
		if err := d.dict(reflect.ValueOf(&m).Elem()); err != nil {
			return err
		}
		v.Set(reflect.ValueOf(m))
		return nil
	default:
		return d.mismatch("dictionary", v.Type(), start)
	}
	if err := d.enter(); err != nil {
		return err
	}
	d.off++
	var elem reflect.Value
	for {
		if d.off >= len(d.data) {
			return d.syntax(start, "unterminated dictionary")
		}
		if d.data[d.off] == 'e' {
			d.off++
			break
		}
		if c := d.data[d.off]; c < '0' || c > '9' {
			return d.syntax(d.off, "dictionary key must be a string, found %q", c)
		}
		key, end, err := parseString(d.data, d.off)
		if err != nil {
			return err
		}
		d.off = end
		if d.off >= len(d.data) || d.data[d.off] == 'e' {
			return d.syntax(d.off, "dictionary key %q has no value", key)
		}
		d.keys = append(d.keys, key)
		if fields != nil {
			f, ok := fields.byName[string(key)]
			if !ok {
				end, err := skipValue(d.data, d.off)
				if err != nil {
					return err
				}
				d.off = end
				d.keys = d.keys[:len(d.keys)-1]
				continue
			}
			fv, ok := fieldByIndex(v, f.index)
			if !ok {
				return d.syntax(d.off, "cannot set embedded pointer to unexported struct for key %q", key)
			}
			if err := d.value(fv); err != nil {
				return err
			}
			d.keys = d.keys[:len(d.keys)-1]
			continue
		}
		et := v.Type().Elem()
		if !elem.IsValid() {
			elem = reflect.New(et).Elem()
		} else {
			elem.SetZero()
		}
		if err := d.value(elem); err != nil {
			return err
		}
		d.keys = d.keys[:len(d.keys)-1]
		kv := reflect.ValueOf(string(key))
		if v.Type().Key() != kv.Type() {
			kv = kv.Convert(v.Type().Key())
		}
		v.SetMapIndex(kv, elem)
	}
	d.depth--
	return nil
}

// fieldByIndex is v.FieldByIndex that allocates nil embedded pointers.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// skipValue returns the end offset of the value that starts at off, checking
// its syntax without recursion, so that depth costs no stack.
func skipValue(data []byte, off int) (int, error) {
	depth := 0
	// inDict[i] tracks, per open container, whether it is a dictionary and
	// whether the next item is a key.
	type frame struct{ dict, wantKey bool }
	var stackBuf [16]frame
	stack := stackBuf[:0]
	for {
		if off >= len(data) {
			return 0, &SyntaxError{Offset: int64(off), msg: "unexpected end of input"}
		}
		c := data[off]
		if depth > 0 && c == 'e' {
			top := &stack[len(stack)-1]
			if top.dict && !top.wantKey {
				return 0, &SyntaxError{Offset: int64(off), msg: "dictionary key has no value"}
			}
			stack = stack[:len(stack)-1]
			depth--
			off++
		} else {
			if depth > 0 {
				top := &stack[len(stack)-1]
				if top.dict {
					if top.wantKey && (c < '0' || c > '9') {
						return 0, &SyntaxError{Offset: int64(off), msg: fmt.Sprintf("dictionary key must be a string, found %q", c)}
					}
					top.wantKey = !top.wantKey
				}
			}
			switch {
			case c == 'i':
				_, _, end, err := parseInt(data, off)
				if err != nil {
					return 0, err
				}
				off = end
			case c >= '0' && c <= '9':
				_, end, err := parseString(data, off)
				if err != nil {
					return 0, err
				}
				off = end
			case c == 'l' || c == 'd':
				depth++
				if depth > MaxDepth {
					return 0, &SyntaxError{Offset: int64(off), msg: ErrTooDeep.Error()}
				}
				stack = append(stack, frame{dict: c == 'd', wantKey: true})
				off++
				continue
			default:
				return 0, &SyntaxError{Offset: int64(off), msg: fmt.Sprintf("unexpected byte %q at the start of a value", c)}
			}
		}
		if depth == 0 {
			return off, nil
		}
	}
}
