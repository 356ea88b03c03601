package minijson

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// toAny turns a Value into what encoding/json decodes into an any (with
// the last of duplicate keys kept, as both do).
func toAny(v Value) any {
	switch v.Kind {
	case Null:
		return nil
	case Bool:
		return v.Bool
	case Number:
		return v.Num
	case String:
		return v.Str
	case Array:
		out := make([]any, len(v.Items))
		for i, it := range v.Items {
			out[i] = toAny(it)
		}
		return out
	}
	out := map[string]any{}
	for i, k := range v.Keys {
		out[k] = toAny(v.Vals[i])
	}
	return out
}

var corpus = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e3`, `-12.25E-2`, `"x"`, ` { "a" : [1, 2, {"b": null}] } `,
	`{"action":"announce","info_hash":"\u0012\u00ff abc","offer":{"type":"offer","sdp":"v=0\r\n"}}`,
	`"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`, "\"\xff\xfe\"", `"a\/b"`,
	`{"a":1,"a":2}`, `[1,]`, `{"a":1,}`, `01`, `1.`, `.5`, `+1`, `1e`, `"\x"`, `"` + "\x01" + `"`, `nul`, `[`, `{"a"}`,
	`1e400`, `"\u00e9"`, `[[[[[]]]]]`, `{"a":{"b":{"c":[true,false,null]}}}`, `"unterminated`, ``, `  `,
}

func TestParseAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range corpus {
		checkAgree(t, []byte(in))
	}
}

func checkAgree(t *testing.T, in []byte) {
	t.Helper()
	var want any
	wantErr := json.Unmarshal(in, &want)
	got, err := Parse(in)
	if err != nil && wantErr == nil && bytes.Count(in, []byte("["))+bytes.Count(in, []byte("{")) > maxDepth {
		return // deeper than minijson takes, by design (TestDepthBounded)
	}
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: minijson err %v, encoding/json err %v", in, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(toAny(got), want) {
		t.Fatalf("%q: minijson %#v, encoding/json %#v", in, toAny(got), want)
	}
}

func TestDepthBounded(t *testing.T) {
	deep := make([]byte, 0, 2*100)
	for range 100 {
		deep = append(deep, '[')
	}
	for range 100 {
		deep = append(deep, ']')
	}
	if _, err := Parse(deep); err == nil {
		t.Fatal("100 levels of nesting parsed; want refused past 64")
	}
}

func TestAppendStringAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "\x00\x01\x1f\x7f", "\n\r\t\b\f", "é\u2028\u2029😀", "\xff\xfe", "<&>", string([]byte{0xc3})} {
		checkString(t, s)
	}
}

func checkString(t *testing.T, s string) {
	t.Helper()
	b := AppendString(nil, s)
	var back string
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%q: wrote %s, which encoding/json cannot read: %v", s, b, err)
	}
	want, _ := json.Marshal(s)
	var wantBack string
	json.Unmarshal(want, &wantBack)
	if back != wantBack {
		t.Fatalf("%q: wrote %s, read back %q; encoding/json's round trip gives %q", s, b, back, wantBack)
	}
	got, err := Parse(b)
	if err != nil || got.Str != wantBack {
		t.Fatalf("%q: minijson read %s back as %q, %v", s, b, got.Str, err)
	}
}

func TestObject(t *testing.T) {
	b := NewObject(nil).String("action", "announce").Int("numwant", 10).Float("speed", 1.5).
		Float("nan", math.NaN()).Bool("done", true).Strings("list", []string{"a", "\"b"}).
		Raw("offer", []byte(`{"type":"offer"}`)).Bytes()
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := map[string]any{"action": "announce", "numwant": 10.0, "speed": 1.5, "nan": 0.0, "done": true,
		"list": []any{"a", "\"b"}, "offer": map[string]any{"type": "offer"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s decodes to %v, want %v", b, got, want)
	}
	if e := NewObject(nil).Bytes(); string(e) != "{}" {
		t.Fatalf("empty object %s", e)
	}
}

func FuzzParse(f *testing.F) {
	for _, in := range corpus {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkAgree(t, in) })
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"\\\x00", "\xff", "😀\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkString(t, s) })
}
