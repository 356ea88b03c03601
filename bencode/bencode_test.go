package bencode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

type inner struct {
	Length int64    `bencode:"length"`
	Path   []string `bencode:"path"`
}

type outer struct {
	Name    string     `bencode:"name"`
	Files   []inner    `bencode:"files,omitempty"`
	Private bool       `bencode:"private,omitempty"`
	Pieces  []byte     `bencode:"pieces"`
	Raw     RawMessage `bencode:"raw,omitempty"`
	Skip    string     `bencode:"-"`
	Hash    [4]byte    `bencode:"hash"`
	Ptr     *int       `bencode:"ptr,omitempty"`
	Any     any        `bencode:"any,omitempty"`
}

func TestRoundTrip(t *testing.T) {
	seven := 7
	in := outer{
		Name:    "a",
		Files:   []inner{{Length: 3, Path: []string{"x", "y"}}, {Length: 0, Path: []string{"z"}}},
		Private: true,
		Pieces:  []byte{0, 1, 2},
		Raw:     RawMessage("d1:ai1ee"),
		Hash:    [4]byte{'a', 'b', 'c', 'd'},
		Ptr:     &seven,
		Any:     map[string]any{"k": []any{int64(1), "s"}},
	}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := "d3:anyd1:kli1e1:see5:files" +
		"ld6:lengthi3e4:pathl1:x1:yeed6:lengthi0e4:pathl1:zeee" +
		"4:hash4:abcd4:name1:a6:pieces3:\x00\x01\x027:privatei1e3:ptri7e3:rawd1:ai1eee"
	if string(b) != want {
		t.Fatalf("Marshal:\n got %q\nwant %q", b, want)
	}
	var out outer
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"i0e", int64(0)},
		{"i-42e", int64(-42)},
		{"i9223372036854775807e", int64(9223372036854775807)},
		{"i-9223372036854775808e", int64(-9223372036854775808)},
		{"i9223372036854775808e", uint64(9223372036854775808)}, // above int64: a uint64
		{"i18446744073709551615e", uint64(18446744073709551615)},
		{"0:", ""},
		{"4:spam", "spam"},
		{"le", []any{}},
		{"de", map[string]any{}},
		{"l4:spami3ee", []any{"spam", int64(3)}},
		{"d3:bar4:spam3:fooi42ee", map[string]any{"bar": "spam", "foo": int64(42)}},
		{"d1:bi1e1:ai2ee", map[string]any{"a": int64(2), "b": int64(1)}}, // unsorted keys are accepted
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got any
			if err := Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		in     string
		offset int64
		msg    string
	}{
		{"", 0, "end of input"},
		{"i-0e", 0, "negative zero"},
		{"i03e", 0, "leading zero"},
		{"i-03e", 0, "leading zero"},
		{"ie", 0, "no digits"},
		{"i-e", 0, "no digits"},
		{"i1", 0, "unterminated integer"},
		{"i1x", 2, "in integer"},
		{"i99999999999999999999e", 0, "overflows"},
		{"i18446744073709551616e", 0, "overflows"},
		{"i-9223372036854775809e", 0, "below the 64-bit minimum"},
		{"01:a", 0, "leading zero"},
		{"5:abc", 0, "past the end"},
		{"4294967296:abc", 0, "past the end"},
		{"99999999999:abc", 0, "too large"},
		{"3", 0, "unterminated string length"},
		{"3x", 1, "string length"},
		{"l", 0, "unterminated list"},
		{"li1e", 0, "unterminated list"},
		{"d", 0, "unterminated dictionary"},
		{"di1ei2ee", 1, "key must be a string"},
		{"d1:ae", 4, "no value"},
		{"x", 0, "unexpected byte"},
		{"i1ei2e", 3, "after the end"},
		{"e", 0, "unexpected byte"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var v any
			err := Unmarshal([]byte(tt.in), &v)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SyntaxError", err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Error(), tt.msg) {
				t.Fatalf("got %q (offset %d), want offset %d and %q", se, se.Offset, tt.offset, tt.msg)
			}
			if Valid([]byte(tt.in)) {
				t.Fatalf("Valid(%q) = true", tt.in)
			}
		})
	}
}

func TestDepthLimit(t *testing.T) {
	deep := strings.Repeat("l", MaxDepth+1) + strings.Repeat("e", MaxDepth+1)
	var v any
	if err := Unmarshal([]byte(deep), &v); err == nil || !strings.Contains(err.Error(), "too deep") {
		t.Fatalf("got %v, want a depth error", err)
	}
	ok := strings.Repeat("l", MaxDepth) + strings.Repeat("e", MaxDepth)
	if err := Unmarshal([]byte(ok), &v); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	if err := NewDecoder(strings.NewReader(deep)).Decode(&v); err == nil {
		t.Fatal("Decoder accepted a value past MaxDepth")
	}
}

// A few bytes that claim a huge string must fail without allocating it.
func TestHugeClaimedLength(t *testing.T) {
	in := []byte("4294967295:aaaaaaaaa")
	var v any
	if err := Unmarshal(in, &v); err == nil {
		t.Fatal("accepted a string past the end of the input")
	}
	// What counts is the bytes, not the number of allocations (the race
	// detector's runtime adds a few now and then): nothing near the 4 GiB
	// claimed may be allocated.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		_ = Unmarshal(in, &v)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 64<<10 {
		t.Fatalf("%d bytes allocated per decode of a 20-byte input", per)
	}
	dec := NewDecoder(strings.NewReader("3999999999:aaaaaaaaa"))
	if err := dec.Decode(&v); err == nil {
		t.Fatal("Decoder accepted a truncated huge string")
	}
	if cap(dec.buf) > 1<<20 {
		t.Fatalf("Decoder buffered %d bytes for a 20-byte input", cap(dec.buf))
	}
}

func TestTypeMismatchContinues(t *testing.T) {
	var v struct {
		A int    `bencode:"a"`
		B string `bencode:"b"`
		C int    `bencode:"c"`
	}
	err := Unmarshal([]byte("d1:a3:str1:b2:ok1:ci5ee"), &v)
	var te *UnmarshalTypeError
	if !errors.As(err, &te) || te.Field != "a" || te.Offset != 4 {
		t.Fatalf("got %v, want a type error for field a at offset 4", err)
	}
	if v.B != "ok" || v.C != 5 {
		t.Fatalf("decoding stopped at the mismatch: %+v", v)
	}
	var small struct {
		N int8 `bencode:"n"`
	}
	if err := Unmarshal([]byte("d1:ni300ee"), &small); !errors.As(err, &te) {
		t.Fatalf("int8 overflow: got %v", err)
	}
	var u uint
	if err := Unmarshal([]byte("i-1e"), &u); !errors.As(err, &te) {
		t.Fatalf("negative into uint: got %v", err)
	}
}

func TestRawMessageKeepsBytes(t *testing.T) {
	// Unsorted keys inside info: a re-encoding would differ, RawMessage must not.
	in := "d4:infod4:name1:x6:lengthi1ee3:zzzi1ee"
	var v struct {
		Info RawMessage `bencode:"info"`
	}
	if err := Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	if string(v.Info) != "d4:name1:x6:lengthi1ee" {
		t.Fatalf("RawMessage = %q", v.Info)
	}
	out, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "d4:infod4:name1:x6:lengthi1eee" {
		t.Fatalf("Marshal = %q", out)
	}
}

func TestUnmarshalPrefix(t *testing.T) {
	var m map[string]int
	rest, err := UnmarshalPrefix([]byte("d8:msg_typei1e5:piecei0eeRAWDATA"), &m)
	if err != nil || string(rest) != "RAWDATA" || m["msg_type"] != 1 {
		t.Fatalf("got %v %q %v", m, rest, err)
	}
}

func TestDecoderStream(t *testing.T) {
	in := "i1e4:spamli2ee" + "d1:ai3ee"
	dec := NewDecoder(strings.NewReader(in))
	var got []any
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := []any{int64(1), "spam", []any{int64(2)}, map[string]any{"a": int64(3)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
	var v any
	err := NewDecoder(strings.NewReader("i1ei-0e")).Decode(&v)
	if err != nil {
		t.Fatal(err)
	}
	dec = NewDecoder(strings.NewReader("i1ei-0e"))
	_ = dec.Decode(&v)
	var se *SyntaxError
	if err := dec.Decode(&v); !errors.As(err, &se) || se.Offset != 3 {
		t.Fatalf("second value: got %v, want a syntax error at offset 3", err)
	}
	if err := NewDecoder(strings.NewReader("l4:sp")).Decode(&v); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated stream: got %v", err)
	}
	small := NewDecoder(strings.NewReader("10:abcdefghij"))
	small.SetMaxSize(8)
	if err := small.Decode(&v); err == nil {
		t.Fatal("SetMaxSize was ignored")
	}
}

func TestEncoder(t *testing.T) {
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	for _, v := range []any{1, "x", map[string]int{"b": 2, "a": 1}} {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	if buf.String() != "i1e1:xd1:ai1e1:bi2ee" {
		t.Fatalf("got %q", buf.String())
	}
}

type custom struct{ n int }

func (c custom) MarshalBencode() ([]byte, error) { return []byte(fmt.Sprintf("i%de", c.n)), nil }
func (c *custom) UnmarshalBencode(b []byte) error {
	return Unmarshal(b, &c.n)
}

type badMarshaler struct{}

func (badMarshaler) MarshalBencode() ([]byte, error) { return []byte("i1"), nil }

func TestMarshalers(t *testing.T) {
	b, err := Marshal(map[string]custom{"k": {5}})
	if err != nil || string(b) != "d1:ki5ee" {
		t.Fatalf("got %q %v", b, err)
	}
	var m map[string]custom
	if err := Unmarshal(b, &m); err != nil || m["k"].n != 5 {
		t.Fatalf("got %v %v", m, err)
	}
	var me *MarshalerError
	if _, err := Marshal(badMarshaler{}); !errors.As(err, &me) {
		t.Fatalf("invalid Marshaler output: got %v", err)
	}
}

func TestMarshalUnsupported(t *testing.T) {
	for _, v := range []any{1.5, make(chan int), func() {}, map[int]int{1: 1}, nil} {
		if _, err := Marshal(v); err == nil {
			t.Errorf("Marshal(%T) succeeded", v)
		}
	}
	if err := Unmarshal([]byte("i1e"), nil); err == nil {
		t.Error("Unmarshal(nil) succeeded")
	}
	var x int
	if err := Unmarshal([]byte("i1e"), x); err == nil {
		t.Error("Unmarshal(non-pointer) succeeded")
	}
}
