package peerwire

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestExtensionHandshakeRoundTrip(t *testing.T) {
	tests := []ExtensionHandshake{
		{M: map[string]uint8{}},
		{M: map[string]uint8{UtMetadata: 1, UtPex: 2}, MetadataSize: 31337},
		{
			M: map[string]uint8{UtMetadata: 3, UtPex: 0, "lt_donthave": 255}, V: "swarmcast 0.1", P: 6881,
			Reqq: 250, MetadataSize: MaxMetadataSize, YourIP: netip.MustParseAddr("2001:db8::1"),
			IPv4: netip.MustParseAddr("192.0.2.7"), IPv6: netip.MustParseAddr("2001:db8::7"), UploadOnly: true,
		},
		{M: map[string]uint8{}, YourIP: netip.MustParseAddr("198.51.100.1")},
	}
	for _, h := range tests {
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got ExtensionHandshake
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("%q decoded to %+v, want %+v", b, got, h)
		}
	}
}

func TestExtensionHandshakeWire(t *testing.T) {
	h := ExtensionHandshake{M: map[string]uint8{UtPex: 2, UtMetadata: 1}, MetadataSize: 5, YourIP: netip.MustParseAddr("127.0.0.1")}
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := "d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei5e6:yourip4:\x7f\x00\x00\x01e"
	if string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
}

// TestExtensionHandshakeReal decodes handshakes as real clients send them,
// with keys this package ignores and keys out of order.
func TestExtensionHandshakeReal(t *testing.T) {
	// Shaped like libtorrent's (qBittorrent): extra keys, ipv6, reqq.
	lt := "d12:complete_agoi1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee" +
		"13:metadata_sizei5849e4:ipv616:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" +
		"1:pi51413e4:reqqi500e11:upload_onlyi0e1:v17:qBittorrent/4.6.06:yourip4:\xc0\x00\x02\x01e"
	var h ExtensionHandshake
	if err := h.UnmarshalBinary([]byte(lt)); err != nil {
		t.Fatal(err)
	}
	want := ExtensionHandshake{
		M: map[string]uint8{"lt_donthave": 7, "share_mode": 8, "upload_only": 3, "ut_holepunch": 4, UtMetadata: 2, UtPex: 1},
		V: "qBittorrent/4.6.0", P: 51413, Reqq: 500, MetadataSize: 5849,
		YourIP: netip.MustParseAddr("192.0.2.1"), IPv6: netip.MustParseAddr("2001:db8::1"),
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %+v\nwant %+v", h, want)
	}
	// Keys out of order, as some clients write them.
	if err := h.UnmarshalBinary([]byte("d1:v2:xy1:md6:ut_pexi1eee")); err != nil || h.M[UtPex] != 1 || h.V != "xy" {
		t.Fatalf("unsorted keys: %+v %v", h, err)
	}
}

func TestExtensionHandshakeLenient(t *testing.T) {
	in := "d1:md1:ai300e1:bi-1e1:ci5e1:d3:str1:ei0ee13:metadata_sizei99999999999e1:p4:port4:reqqi-5e" +
		"6:yourip5:abcde4:ipv44:\x01\x02\x03\x044:ipv64:\x01\x02\x03\x0411:upload_only3:yese"
	var h ExtensionHandshake
	if err := h.UnmarshalBinary([]byte(in)); err != nil {
		t.Fatal(err)
	}
	want := ExtensionHandshake{M: map[string]uint8{"c": 5, "d": 0, "e": 0}, IPv4: netip.MustParseAddr("1.2.3.4")}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %+v\nwant %+v", h, want)
	}
}

func TestExtensionHandshakeErrors(t *testing.T) {
	for _, in := range []string{"", "i5e", "le", "d1:md", "d1:mdee5:extra", "d1:m", "x"} {
		var h ExtensionHandshake
		err := h.UnmarshalBinary([]byte(in))
		if !errors.Is(err, ErrBadExtension) || !strings.HasPrefix(err.Error(), "peerwire: ") {
			t.Errorf("%q: %v", in, err)
		}
	}
	for _, h := range []ExtensionHandshake{
		{IPv4: netip.MustParseAddr("2001:db8::1")},
		{IPv6: netip.MustParseAddr("192.0.2.1")},
		{IPv6: netip.MustParseAddr("::ffff:192.0.2.1")},
	} {
		if _, err := h.MarshalBinary(); !errors.Is(err, ErrBadExtension) {
			t.Errorf("%+v: %v", h, err)
		}
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	total := 2*MetadataPieceSize + 100
	info := bytes.Repeat([]byte{'x'}, total)
	tests := []MetadataMessage{
		{Type: MetadataRequest, Piece: 0},
		{Type: MetadataRequest, Piece: 2},
		{Type: MetadataReject, Piece: 1},
		{Type: MetadataData, Piece: 0, TotalSize: total, Data: info[:MetadataPieceSize]},
		{Type: MetadataData, Piece: 2, TotalSize: total, Data: info[2*MetadataPieceSize:]},
		{Type: MetadataData, Piece: 0, TotalSize: 1, Data: []byte("d")},
		{Type: 7, Piece: 1},
	}
	for _, m := range tests {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		var got MetadataMessage
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%.60q decoded to %v/%d/%d/%d bytes", b, got.Type, got.Piece, got.TotalSize, len(got.Data))
		}
	}
	b, _ := MetadataMessage{Type: MetadataRequest, Piece: 0}.MarshalBinary()
	if string(b) != "d8:msg_typei0e5:piecei0ee" {
		t.Fatalf("request encodes as %q", b)
	}
	b, _ = MetadataMessage{Type: MetadataData, Piece: 0, TotalSize: 3, Data: []byte("abc")}.MarshalBinary()
	if string(b) != "d8:msg_typei1e5:piecei0e10:total_sizei3eeabc" {
		t.Fatalf("data encodes as %q", b)
	}
}

func TestMetadataPieces(t *testing.T) {
	for _, tt := range []struct{ total, count, lastLen int }{
		{1, 1, 1}, {MetadataPieceSize, 1, MetadataPieceSize}, {MetadataPieceSize + 1, 2, 1}, {MaxMetadataSize, 1024, MetadataPieceSize},
	} {
		if n := MetadataPieceCount(tt.total); n != tt.count {
			t.Errorf("MetadataPieceCount(%d) = %d, want %d", tt.total, n, tt.count)
		}
		if l := MetadataPieceLen(tt.count-1, tt.total); l != tt.lastLen {
			t.Errorf("MetadataPieceLen(last, %d) = %d, want %d", tt.total, l, tt.lastLen)
		}
		if l := MetadataPieceLen(tt.count, tt.total); l != 0 {
			t.Errorf("MetadataPieceLen(count, %d) = %d, want 0", tt.total, l)
		}
	}
}

func TestMetadataErrors(t *testing.T) {
	piece := string(make([]byte, MetadataPieceSize))
	for _, in := range []string{
		"",
		"x",
		"le",
		"d5:piecei0ee",                 // no msg_type
		"d8:msg_typei0ee",              // no piece
		"d8:msg_type1:05:piecei0ee",    // msg_type not an integer
		"d8:msg_typei0e5:piecei-1ee",   // negative piece
		"d8:msg_typei0e5:piecei1024ee", // beyond any 16 MiB info dictionary
		"d8:msg_typei1e5:piecei0ee",    // data without total_size
		"d8:msg_typei1e5:piecei0e10:total_sizei0ee",                // empty info dictionary
		"d8:msg_typei1e5:piecei0e10:total_sizei-5ee",               // negative total_size
		"d8:msg_typei1e5:piecei0e10:total_sizei3eeab",              // short data
		"d8:msg_typei1e5:piecei0e10:total_sizei3eeabcd",            // long data
		"d8:msg_typei1e5:piecei1e10:total_sizei3eeabc",             // piece beyond total_size
		"d8:msg_typei1e5:piecei0e10:total_sizei16777217ee" + piece, // above MaxMetadataSize
		"d8:msg_typei1e5:piecei0e10:total_sizei16384e" + piece,     // unterminated dictionary
		"d8:msg_typei0e5:piecei99999999999999999999ee",             // overflow
	} {
		var m MetadataMessage
		err := m.UnmarshalBinary([]byte(in))
		if !errors.Is(err, ErrBadExtension) || !strings.HasPrefix(err.Error(), "peerwire: ") {
			t.Errorf("%.70q: %v", in, err)
		}
	}
	if _, err := ParseMetadataMessage([]byte("d8:msg_typei1e5:piecei0e10:total_sizei5eeabcde"), 4); !errors.Is(err, ErrBadExtension) {
		t.Errorf("total_size above a custom limit: %v", err)
	}
	for _, m := range []MetadataMessage{
		{Type: MetadataData, Piece: 0, TotalSize: 10, Data: []byte("short")},
		{Type: MetadataData, Piece: 1, TotalSize: 10, Data: make([]byte, 10)},
		{Type: MetadataRequest, Piece: -1},
	} {
		if _, err := m.MarshalBinary(); !errors.Is(err, ErrBadExtension) {
			t.Errorf("encoding %v/%d: %v", m.Type, m.Piece, err)
		}
	}
}

func TestPEXRoundTrip(t *testing.T) {
	p := PEX{
		Added: []PEXPeer{
			{Addr: netip.MustParseAddrPort("192.0.2.1:6881"), Flags: PEXSeed | PEXReachable},
			{Addr: netip.MustParseAddrPort("198.51.100.2:51413"), Flags: PEXUTP},
			{Addr: netip.MustParseAddrPort("[2001:db8::1]:6881"), Flags: PEXEncryption | PEXHolepunch},
		},
		Dropped: []netip.AddrPort{netip.MustParseAddrPort("203.0.113.9:1"), netip.MustParseAddrPort("[2001:db8::2]:2")},
	}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := "d5:added12:\xc0\x00\x02\x01\x1a\xe1\xc6\x33\x64\x02\xc8\xd57:added.f2:\x12\x04" +
		"6:added618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe18:added6.f1:\x09" +
		"7:dropped6:\xcb\x00\x71\x09\x00\x018:dropped618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x02e"
	if string(b) != want {
		t.Fatalf("got  %q\nwant %q", b, want)
	}
	var got PEX
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("got %+v, want %+v", got, p)
	}
	// An empty message is an empty dictionary.
	if b, _ := (PEX{}).MarshalBinary(); string(b) != "de" {
		t.Fatalf("empty PEX encodes as %q", b)
	}
}

func TestPEXDecode(t *testing.T) {
	// IPv4 in IPv6 is sent as IPv4.
	b, _ := PEX{Added: []PEXPeer{{Addr: netip.MustParseAddrPort("[::ffff:192.0.2.1]:80")}}}.MarshalBinary()
	if string(b) != "d5:added6:\xc0\x00\x02\x01\x00\x507:added.f1:\x00e" {
		t.Fatalf("4in6 encodes as %q", b)
	}
	// Flags of the wrong length are ignored, peers kept.
	var p PEX
	if err := p.UnmarshalBinary([]byte("d5:added6:\xc0\x00\x02\x01\x00\x507:added.f2:\x01\x02e")); err != nil || len(p.Added) != 1 || p.Added[0].Flags != 0 {
		t.Fatalf("%+v %v", p, err)
	}
	// Too many peers are cut to MaxPEXPeers.
	many := strings.Repeat("\x01\x02\x03\x04\x00\x05", MaxPEXPeers+10)
	if err := p.UnmarshalBinary([]byte("d5:added" + strconv.Itoa(len(many)) + ":" + many + "e")); err != nil || len(p.Added) != MaxPEXPeers {
		t.Fatalf("%d peers, %v", len(p.Added), err)
	}
	for _, in := range []string{"", "le", "d5:added5:abcdee", "d8:dropped617:01234567890123456e", "d5:added"} {
		if err := p.UnmarshalBinary([]byte(in)); !errors.Is(err, ErrBadExtension) {
			t.Errorf("%q: %v", in, err)
		}
	}
	if _, err := (PEX{Added: []PEXPeer{{}}}).MarshalBinary(); !errors.Is(err, ErrBadExtension) {
		t.Errorf("zero address: %v", err)
	}
	if _, err := (PEX{Dropped: []netip.AddrPort{{}}}).MarshalBinary(); !errors.Is(err, ErrBadExtension) {
		t.Errorf("zero dropped address: %v", err)
	}
}
