package metainfo

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMagnet(t *testing.T) {
	m, err := ParseMagnet("magnet:?xt=urn:btih:d2474e86c95b19b8bcfdb92bc12c9d44667cfa36&dn=Leaves+of+Grass+by+Walt+Whitman.epub" +
		"&tr=udp%3A%2F%2Ftracker.example.org%3A1337&tr.1=wss://tracker.example.com&ws=https%3A%2F%2Fseed.example%2Fa&xs=http://x/t.torrent" +
		"&x.pe=10.0.0.1:6881&so=0,2-4&kt=a+b")
	if err != nil {
		t.Fatal(err)
	}
	if m.InfoHash.String() != "d2474e86c95b19b8bcfdb92bc12c9d44667cfa36" || m.DisplayName != "Leaves of Grass by Walt Whitman.epub" {
		t.Fatalf("hash %s name %q", m.InfoHash, m.DisplayName)
	}
	if !reflect.DeepEqual(m.Trackers, []string{"udp://tracker.example.org:1337", "wss://tracker.example.com"}) {
		t.Fatalf("trackers %v", m.Trackers)
	}
	if !reflect.DeepEqual(m.WebSeeds, []string{"https://seed.example/a"}) || m.Sources[0] != "http://x/t.torrent" || m.Peers[0] != "10.0.0.1:6881" {
		t.Fatalf("ws %v xs %v x.pe %v", m.WebSeeds, m.Sources, m.Peers)
	}
	if got := Indices(m.Select); !reflect.DeepEqual(got, []int{0, 2, 3, 4}) {
		t.Fatalf("so = %v", got)
	}
	if m.Params.Get("kt") != "a+b" {
		t.Fatalf("other params: %v", m.Params)
	}
	back, err := ParseMagnet(m.String())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip:\n%+v\n%+v\n%s", back, m, m.String())
	}
}

func TestParseMagnetForms(t *testing.T) {
	b32, err := ParseMagnet("magnet:?xt=urn:btih:2JDU5BWJLMM3RPH5XEV4CLE5IRTHZ6RW")
	if err != nil || b32.InfoHash.String() != "d2474e86c95b19b8bcfdb92bc12c9d44667cfa36" {
		t.Fatalf("base32: %v %v", b32.InfoHash, err)
	}
	v2 := "1220" + strings.Repeat("ab", 32)
	m, err := ParseMagnet("magnet:?xt=urn:btmh:" + v2 + "&dn=a%2Bb")
	if err != nil || len(m.V2Hash) != 34 || !m.InfoHash.IsZero() || m.DisplayName != "a+b" {
		t.Fatalf("btmh: %+v %v", m, err)
	}
	if back, _ := ParseMagnet(m.String()); !reflect.DeepEqual(back, m) {
		t.Fatalf("btmh round trip %q", m.String())
	}
	for _, bad := range []string{
		"http://x", "magnet:?dn=x", "magnet:?xt=urn:btih:123", "magnet:?xt=urn:btih:" + strings.Repeat("z", 40),
		"magnet:?xt=urn:btmh:1220ab", "magnet:?xt=urn:btih:d2474e86c95b19b8bcfdb92bc12c9d44667cfa36&so=3-1",
		"magnet:?xt=urn:btih:d2474e86c95b19b8bcfdb92bc12c9d44667cfa36&so=x", "magnet:?xt=urn:btih:d2474e86c95b19b8bcfdb92bc12c9d44667cfa36&tr=%zz",
	} {
		if _, err := ParseMagnet(bad); err == nil {
			t.Errorf("ParseMagnet(%q) succeeded", bad)
		}
	}
}

func TestSelect(t *testing.T) {
	sel, err := ParseSelect("0,2-4,7,3")
	if err != nil {
		t.Fatal(err)
	}
	if FormatSelect(sel) != "0,2-4,7,3" || !reflect.DeepEqual(Indices(sel), []int{0, 2, 3, 4, 7}) {
		t.Fatalf("%v", sel)
	}
	if _, err := ParseSelect("0-99999999999"); err == nil {
		t.Fatal("huge range accepted")
	}
}
