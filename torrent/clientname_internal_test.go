package torrent

import (
	"strings"
	"testing"
)

func TestClientName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"qBittorrent/4.6.3", "qBittorrent/4.6.3"},
		{"bad\x00\x1b[31mred", "bad[31mred"},
		{"µTorrent 3.5", "µTorrent 3.5"},
		{strings.Repeat("x", 500), strings.Repeat("x", maxClientName)},
		{strings.Repeat("é", 100), strings.Repeat("é", maxClientName/2)},
	} {
		if got := clientName(tc.in); got != tc.want {
			t.Errorf("clientName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
