package bencode

import (
	"errors"
	"fmt"
	"reflect"
)

// ErrTooDeep is returned when lists and dictionaries nest deeper than MaxDepth.
var ErrTooDeep = errors.New("bencode: nesting too deep")

// A SyntaxError describes malformed bencoded input and where it was found.
type SyntaxError struct {
	Offset int64 // byte offset of the error in the input
	msg    string
}

// Error says what is wrong, starting with "bencode:".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("bencode: syntax error at offset %d: %s", e.Offset, e.msg)
}

// An UnmarshalTypeError describes a bencoded value that cannot be stored in a
// Go value of the given type.
type UnmarshalTypeError struct {
	Value  string       // "integer", "string", "list" or "dictionary"
	Type   reflect.Type // the Go type it could not be assigned to
	Offset int64        // byte offset of the value in the input
	Field  string       // the dotted path of the struct field, if any
}

// Error says what is wrong, starting with "bencode:".
func (e *UnmarshalTypeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("bencode: cannot unmarshal %s into field %s of type %s (offset %d)", e.Value, e.Field, e.Type, e.Offset)
	}
	return fmt.Sprintf("bencode: cannot unmarshal %s into Go value of type %s (offset %d)", e.Value, e.Type, e.Offset)
}

// An InvalidUnmarshalError describes an invalid argument passed to Unmarshal:
// it must be a non-nil pointer.
type InvalidUnmarshalError struct {
	Type reflect.Type
}

// Error says what is wrong, starting with "bencode:".
func (e *InvalidUnmarshalError) Error() string {
	if e.Type == nil {
		return "bencode: Unmarshal(nil)"
	}
	if e.Type.Kind() != reflect.Pointer {
		return "bencode: Unmarshal(non-pointer " + e.Type.String() + ")"
	}
	return "bencode: Unmarshal(nil " + e.Type.String() + ")"
}

// An UnsupportedTypeError is returned by Marshal for a Go type that bencode
// cannot represent, such as a float, a channel or a function.
type UnsupportedTypeError struct {
	Type reflect.Type
}

// Error says what is wrong, starting with "bencode:".
func (e *UnsupportedTypeError) Error() string {
	return "bencode: unsupported type " + e.Type.String()
}

// A MarshalerError wraps an error returned by a Marshaler.
type MarshalerError struct {
	Type reflect.Type
	Err  error
}

// Error says what is wrong, starting with "bencode:".
func (e *MarshalerError) Error() string {
	return "bencode: error calling MarshalBencode for type " + e.Type.String() + ": " + e.Err.Error()
}

// Unwrap returns the Marshaler's error.
func (e *MarshalerError) Unwrap() error { return e.Err }
