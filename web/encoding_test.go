package web

import "testing"

func TestParseQ(t *testing.T) {
	for v, want := range map[string]int{"0": 0, "1": 1000, "0.5": 500, "0.05": 50, "0.123": 123, "1.000": 1000, "1.": 1000, "0.": 0} {
		if got, ok := parseQ(v); !ok || got != want {
			t.Errorf("parseQ(%q) = %d, %v; want %d", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "2", "1.001", "0.1234", "-0", "0.-1", "0.+1", "x", ".5", "01"} {
		if got, ok := parseQ(v); ok {
			t.Errorf("parseQ(%q) = %d, accepted", v, got)
		}
	}
}

var both = map[string]string{"br": "a.br", "gzip": "a.gz"}

func FuzzChooseEncoding(f *testing.F) {
	for _, s := range []string{"", "br", "gzip, deflate, br, zstd", "*;q=0", "br;q=0.5, gzip;q=0.7", "x-gzip;q=1.0", ";;,,q=", "br;q=0.999;q=0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := chooseEncoding(header, both)
		if got != "" && got != "br" && got != "gzip" {
			t.Fatalf("chooseEncoding(%q) = %q", header, got)
		}
		if only := chooseEncoding(header, map[string]string{"gzip": "a.gz"}); only == "br" {
			t.Fatalf("chose br, which it does not have")
		}
		if chooseEncoding(header, nil) != "" {
			t.Fatal("chose a coding from none")
		}
	})
}
