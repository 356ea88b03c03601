package bencode

import (
	"bytes"
	"testing"
)

func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{"i1e", "4:spam", "l4:spami3ee", "d3:bar4:spam3:fooi42ee", "d4:infod6:lengthi1e4:name1:aee", "i-0e", "4294967295:aaaa", "lllllllle"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		err := Unmarshal(data, &v)
		if (err == nil) != Valid(data) {
			t.Fatalf("Unmarshal error %v but Valid = %v", err, Valid(data))
		}
		if err != nil {
			return
		}
		// A valid input re-encodes to a valid value that decodes to the same thing.
		out, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal of decoded value: %v", err)
		}
		var again any
		if err := Unmarshal(out, &again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		out2, _ := Marshal(again)
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable: %q vs %q", out, out2)
		}
		var dv any
		if err := NewDecoder(bytes.NewReader(data)).Decode(&dv); err != nil {
			t.Fatalf("Decoder refused what Unmarshal took: %v", err)
		}
	})
}

func FuzzDecoder(f *testing.F) {
	for _, s := range []string{"i1ei2e", "4:spamle", "d1:ai1ee", "3999999999:a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := NewDecoder(bytes.NewReader(data))
		dec.SetMaxSize(1 << 20)
		for i := 0; i < 100; i++ {
			var v any
			if dec.Decode(&v) != nil {
				return
			}
		}
	})
}
