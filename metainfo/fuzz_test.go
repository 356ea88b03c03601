package metainfo

import (
	"bytes"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte("d8:announce9:http://a/4:infod6:lengthi1e4:name1:a12:piece lengthi16e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"))
	f.Add([]byte("d4:infod5:filesld6:lengthi1e4:pathl2:..1:xeee4:name1:a12:piece lengthi16e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"))
	f.Add([]byte("d4:infod12:meta versioni2e9:file treedee8:url-list3:abce"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mi, err := Parse(data)
		if err != nil {
			return
		}
		info, err := mi.UnmarshalInfo()
		if err != nil {
			return
		}
		// A valid info lays out consistently.
		var off int64
		for _, fl := range info.FileList() {
			if fl.Offset != off || fl.Length < 0 {
				t.Fatalf("file %v at %d", fl, off)
			}
			for _, c := range fl.Path {
				if checkComponent(c) != nil {
					t.Fatalf("unsafe component %q passed", c)
				}
			}
			a, b := info.FilePieces(fl)
			if a < 0 || b > info.NumPieces() || a > b {
				t.Fatalf("FilePieces %d,%d of %d", a, b, info.NumPieces())
			}
			off += fl.Length
		}
		if off != info.TotalLength() {
			t.Fatalf("files sum to %d, total %d", off, info.TotalLength())
		}
		var buf bytes.Buffer
		if err := mi.Write(&buf); err != nil {
			t.Fatalf("Write: %v", err)
		}
		back, err := Load(&buf)
		if err != nil || back.HashInfoBytes() != mi.HashInfoBytes() {
			t.Fatalf("rewrite changed the info hash: %v", err)
		}
	})
}

func FuzzParseMagnet(f *testing.F) {
	f.Add("magnet:?xt=urn:btih:d2474e86c95b19b8bcfdb92bc12c9d44667cfa36&dn=a+b&tr=udp%3A%2F%2Fx%3A1&so=0,2-4")
	f.Add("magnet:?xt=urn:btmh:1220" + "abababababababababababababababababababababababababababababababab")
	f.Add("magnet:?xt=urn:btih:2JDU5BWJLMM3RPH5XEV4CLE5IRTHZ6RW&x.pe=1.2.3.4:5&ws=http://a/%20b")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMagnet(s)
		if err != nil {
			return
		}
		back, err := ParseMagnet(m.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", m.String(), err)
		}
		if back.String() != m.String() {
			t.Fatalf("not stable:\n%s\n%s", m.String(), back.String())
		}
	})
}
