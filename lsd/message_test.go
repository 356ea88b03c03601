package lsd

import (
	"reflect"
	"strings"
	"testing"

	"github.com/swarmcast/swarmcast/metainfo"
)

func TestMessageRoundTrip(t *testing.T) {
	var a, b metainfo.Hash
	a[0], b[19] = 0xab, 0x01
	m := Message{Host: Group4, Port: 6881, InfoHashes: []metainfo.Hash{a, b}, Cookie: "c00k1e"}
	wire := string(m.Append(nil))
	want := "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n" +
		"Infohash: ab00000000000000000000000000000000000000\r\nInfohash: 0000000000000000000000000000000000000001\r\n" +
		"cookie: c00k1e\r\n\r\n\r\n"
	if wire != want {
		t.Fatalf("wire form\n%q\nwant\n%q", wire, want)
	}
	got, err := Parse([]byte(wire))
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("Parse: %+v, %v", got, err)
	}
}

// What other clients send: header names in any case, bare LF line ends,
// upper-case hex, unknown headers.
func TestParseOthers(t *testing.T) {
	msg := "BT-SEARCH * HTTP/1.1\nHOST: 239.192.152.143:6771\nport:  51413 \nINFOHASH: ABCDEF0123456789ABCDEF0123456789ABCDEF01\nX-Other: 1\n\n"
	m, err := Parse([]byte(msg))
	if err != nil || m.Port != 51413 || len(m.InfoHashes) != 1 || m.InfoHashes[0].String() != "abcdef0123456789abcdef0123456789abcdef01" {
		t.Fatalf("%+v, %v", m, err)
	}
}

func TestParseRefuses(t *testing.T) {
	ih := "Infohash: " + strings.Repeat("ab", 20) + "\r\n"
	for name, msg := range map[string]string{
		"http request":    "GET / HTTP/1.1\r\nPort: 1\r\n" + ih,
		"no port":         "BT-SEARCH * HTTP/1.1\r\n" + ih,
		"port 0":          "BT-SEARCH * HTTP/1.1\r\nPort: 0\r\n" + ih,
		"port too big":    "BT-SEARCH * HTTP/1.1\r\nPort: 65536\r\n" + ih,
		"no info hash":    "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n",
		"short info hash": "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: abcd\r\n",
		"not hex":         "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: " + strings.Repeat("zz", 20) + "\r\n",
		"no colon":        "BT-SEARCH * HTTP/1.1\r\nPort 1\r\n" + ih,
		"too many hashes": "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n" + strings.Repeat(ih, maxHashesPerMessage+1),
		"too long":        "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n" + ih + "X: " + strings.Repeat("x", MaxMessage) + "\r\n",
	} {
		if _, err := Parse([]byte(msg)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParse: no panic; what Parse accepts, Append writes back to the same.
func FuzzParse(f *testing.F) {
	f.Add([]byte("BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: ab00000000000000000000000000000000000000\r\ncookie: x\r\n\r\n\r\n"))
	f.Add([]byte("BT-SEARCH * HTTP/1.1\nport: 1\ninfohash: ABCDEF0123456789ABCDEF0123456789ABCDEF01\n"))
	f.Add([]byte("BT-SEARCH * HTTP/1.1\r\n:\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if len(m.InfoHashes) == 0 || m.Port == 0 {
			t.Fatalf("accepted without port or hash: %+v", m)
		}
		// Header values are trimmed and cannot hold line breaks, so the
		// message survives a round trip unless a value holds a CR.
		if strings.ContainsAny(m.Host+m.Cookie, "\r\n") {
			return
		}
		wire := m.Append(nil)
		if len(wire) > MaxMessage {
			return // CRLFs and canonical names can make the rewrite longer
		}
		again, err := Parse(wire)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip of %+v: %+v, %v", m, again, err)
		}
	})
}
