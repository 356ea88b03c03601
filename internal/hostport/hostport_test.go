package hostport

import (
	"net"
	"testing"
)

var addrs = []string{
	"1.2.3.4:80", "[::1]:6881", "[fe80::1%eth0]:1", "host:0", ":80", "host:", "host", "[::1]", "::1:80",
	"[::1]:80:81", "[::1]x:80", "[::1", "a]:80", "[a]b]:80", "[x]:[80]", "", ":", "[]:80", "a:b:c",
}

// TestSplitAgreesWithNet: the same results as net.SplitHostPort, errors
// included (their text aside).
func TestSplitAgreesWithNet(t *testing.T) {
	for _, a := range addrs {
		checkSplit(t, a)
	}
}

func checkSplit(t *testing.T, a string) {
	t.Helper()
	h, p, err := Split(a)
	wh, wp, werr := net.SplitHostPort(a)
	if (err == nil) != (werr == nil) || h != wh || p != wp {
		t.Fatalf("Split(%q) = %q, %q, %v; net says %q, %q, %v", a, h, p, err, wh, wp, werr)
	}
}

func TestJoinAgreesWithNet(t *testing.T) {
	for _, hp := range [][2]string{{"1.2.3.4", "80"}, {"::1", "6881"}, {"fe80::1%eth0", "1"}, {"host", ""}, {"", "80"}} {
		if got, want := Join(hp[0], hp[1]), net.JoinHostPort(hp[0], hp[1]); got != want {
			t.Errorf("Join(%q, %q) = %q, net says %q", hp[0], hp[1], got, want)
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, a := range addrs {
		f.Add(a)
	}
	f.Fuzz(func(t *testing.T, a string) { checkSplit(t, a) })
}
