package tracker

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestParseCompact(t *testing.T) {
	v6 := append(netip.MustParseAddr("2001:db8::1").AsSlice(), 0x1a, 0xe1)
	mapped := append(netip.MustParseAddr("::ffff:10.0.0.1").AsSlice(), 0, 80)
	tests := []struct {
		name    string
		ipv6    bool
		in      []byte
		want    []netip.AddrPort
		wantErr bool
	}{
		{name: "empty", in: nil, want: nil},
		{name: "one v4", in: []byte{127, 0, 0, 1, 0x1a, 0xe1}, want: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:6881")}},
		{name: "two v4", in: []byte{1, 2, 3, 4, 0, 1, 5, 6, 7, 8, 0xff, 0xff}, want: []netip.AddrPort{
			netip.MustParseAddrPort("1.2.3.4:1"), netip.MustParseAddrPort("5.6.7.8:65535")}},
		{name: "v4 short", in: []byte{1, 2, 3, 4, 0}, wantErr: true},
		{name: "v6", ipv6: true, in: v6, want: []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:6881")}},
		{name: "v6 mapped", ipv6: true, in: mapped, want: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:80")}},
		{name: "v6 long", ipv6: true, in: append(slices.Clone(v6), 1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := ParseCompactIPv4
			if tt.ipv6 {
				parse = ParseCompactIPv6
			}
			got, err := parse(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrCompactLength) {
					t.Fatalf("err = %v, want ErrCompactLength", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAppendCompact(t *testing.T) {
	tests := []struct {
		in   netip.AddrPort
		size int
	}{
		{netip.MustParseAddrPort("1.2.3.4:5"), 6},
		{netip.MustParseAddrPort("[::ffff:1.2.3.4]:5"), 6},
		{netip.MustParseAddrPort("[2001:db8::2]:5"), 18},
		{netip.AddrPort{}, 0},
	}
	for _, tt := range tests {
		b := AppendCompact([]byte{9}, tt.in)
		if len(b) != 1+tt.size || b[0] != 9 {
			t.Errorf("AppendCompact(%v) = %x, want %d bytes after the prefix", tt.in, b, tt.size)
		}
	}
}

// FuzzParseCompact checks that both parsers accept exactly the lengths they
// should, never panic, and that IPv4 lists survive a round trip.
func FuzzParseCompact(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1, 0x1a, 0xe1})
	f.Add(make([]byte, 18))
	f.Add(make([]byte, 36))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p4, err := ParseCompactIPv4(b)
		if (err == nil) != (len(b)%CompactIPv4Size == 0) {
			t.Fatalf("IPv4: len %d, err %v", len(b), err)
		}
		if err == nil {
			var out []byte
			for _, p := range p4 {
				out = AppendCompact(out, p)
			}
			if !bytes.Equal(out, b) && !(len(out) == 0 && len(b) == 0) {
				t.Fatalf("IPv4 round trip: %x became %x", b, out)
			}
		}
		p6, err := ParseCompactIPv6(b)
		if (err == nil) != (len(b)%CompactIPv6Size == 0) {
			t.Fatalf("IPv6: len %d, err %v", len(b), err)
		}
		if err == nil && len(p6) != len(b)/CompactIPv6Size {
			t.Fatalf("IPv6: %d peers from %d bytes", len(p6), len(b))
		}
	})
}
