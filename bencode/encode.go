package bencode

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
)

// Marshaler is implemented by types that encode themselves as one bencoded
// value.
type Marshaler interface {
	MarshalBencode() ([]byte, error)
}

var marshalerType = reflect.TypeFor[Marshaler]()

// Marshal returns the bencoding of v. Struct fields and map keys are written
// in sorted byte order, as BEP 3 requires, so equal values always give equal
// bytes.
func Marshal(v any) ([]byte, error) {
	return AppendMarshal(nil, v)
}

// AppendMarshal appends the bencoding of v to b.
func AppendMarshal(b []byte, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil, fmt.Errorf("bencode: cannot marshal nil")
	}
	e := encodeState{buf: b}
	if err := e.value(rv); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// An Encoder writes bencoded values to an output stream.
type Encoder struct {
	w   io.Writer
	buf []byte
}

// NewEncoder returns an encoder that writes to w.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

// Encode writes the bencoding of v to the stream.
func (enc *Encoder) Encode(v any) error {
	b, err := AppendMarshal(enc.buf[:0], v)
	if err != nil {
		return err
	}
	enc.buf = b
	_, err = enc.w.Write(b)
	return err
}

type encodeState struct {
	buf   []byte
	depth int
}

func (e *encodeState) str(s string) {
	e.buf = strconv.AppendInt(e.buf, int64(len(s)), 10)
	e.buf = append(e.buf, ':')
	e.buf = append(e.buf, s...)
}

func (e *encodeState) bytes(b []byte) {
	e.buf = strconv.AppendInt(e.buf, int64(len(b)), 10)
	e.buf = append(e.buf, ':')
	e.buf = append(e.buf, b...)
}

func (e *encodeState) value(v reflect.Value) error {
	if v.Type().Implements(marshalerType) {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return fmt.Errorf("bencode: cannot marshal nil %s", v.Type())
		}
		return e.marshaler(v.Interface().(Marshaler), v.Type())
	}
	if v.Kind() != reflect.Pointer && v.CanAddr() && reflect.PointerTo(v.Type()).Implements(marshalerType) {
		return e.marshaler(v.Addr().Interface().(Marshaler), v.Type())
	}
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			e.buf = append(e.buf, "i1e"...)
		} else {
			e.buf = append(e.buf, "i0e"...)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.buf = append(e.buf, 'i')
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
		e.buf = append(e.buf, 'e')
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.buf = append(e.buf, 'i')
		e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
		e.buf = append(e.buf, 'e')
	case reflect.String:
		e.str(v.String())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			e.bytes(v.Bytes())
			return nil
		}
		return e.list(v)
	case reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			n := v.Len()
			e.buf = strconv.AppendInt(e.buf, int64(n), 10)
			e.buf = append(e.buf, ':')
			if v.CanAddr() {
				e.buf = append(e.buf, v.Slice(0, n).Bytes()...)
			} else {
				for i := 0; i < n; i++ {
					e.buf = append(e.buf, byte(v.Index(i).Uint()))
				}
			}
			return nil
		}
		return e.list(v)
	case reflect.Map:
		return e.mapv(v)
	case reflect.Struct:
		return e.structv(v)
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return fmt.Errorf("bencode: cannot marshal nil %s", v.Type())
		}
		return e.value(v.Elem())
	default:
		return &UnsupportedTypeError{v.Type()}
	}
	return nil
}

func (e *encodeState) marshaler(m Marshaler, t reflect.Type) error {
	b, err := m.MarshalBencode()
	if err != nil {
		return &MarshalerError{Type: t, Err: err}
	}
	if !Valid(b) {
		return &MarshalerError{Type: t, Err: fmt.Errorf("not one valid bencoded value")}
	}
	e.buf = append(e.buf, b...)
	return nil
}

func (e *encodeState) enter(t reflect.Type) error {
	e.depth++
	if e.depth > MaxDepth {
		return fmt.Errorf("bencode: %s nests deeper than %d levels (a cycle?)", t, MaxDepth)
	}
	return nil
}

func (e *encodeState) list(v reflect.Value) error {
	if err := e.enter(v.Type()); err != nil {
		return err
	}
	e.buf = append(e.buf, 'l')
	for i := 0; i < v.Len(); i++ {
		if isNil(v.Index(i)) {
			continue
		}
		if err := e.value(v.Index(i)); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, 'e')
	e.depth--
	return nil
}

func (e *encodeState) mapv(v reflect.Value) error {
	if v.Type().Key().Kind() != reflect.String {
		return &UnsupportedTypeError{v.Type()}
	}
	if err := e.enter(v.Type()); err != nil {
		return err
	}
	keys := v.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int {
		switch x, y := a.String(), b.String(); {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	e.buf = append(e.buf, 'd')
	for _, k := range keys {
		val := v.MapIndex(k)
		if isNil(val) {
			continue
		}
		e.str(k.String())
		if err := e.value(val); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, 'e')
	e.depth--
	return nil
}

func (e *encodeState) structv(v reflect.Value) error {
	if err := e.enter(v.Type()); err != nil {
		return err
	}
	e.buf = append(e.buf, 'd')
	for _, f := range cachedFields(v.Type()).list {
		fv, ok := fieldByIndexRead(v, f.index)
		if !ok || isNil(fv) || (f.omitEmpty && isEmpty(fv)) {
			continue
		}
		e.str(f.name)
		if err := e.value(fv); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, 'e')
	e.depth--
	return nil
}

// fieldByIndexRead is v.FieldByIndex that reports a nil embedded pointer
// instead of panicking.
func fieldByIndexRead(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// isNil reports values bencode cannot write at all: it has no null.
func isNil(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return v.Len() == 0
	case reflect.Struct:
		return v.IsZero()
	}
	return v.IsZero()
}
