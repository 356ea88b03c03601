package main

import (
	"net/netip"
	"testing"
)

func TestParseLocalNetworks(t *testing.T) {
	if got, err := parseLocalNetworks(nil); err != nil || got != nil {
		t.Errorf("no flag: %v, %v; want nil (the engine's default)", got, err)
	}
	if got, err := parseLocalNetworks([]string{"none"}); err != nil || got == nil || len(got) != 0 {
		t.Errorf("none: %v, %v; want an empty list", got, err)
	}
	got, err := parseLocalNetworks([]string{"10.1.2.3/16", "2001:db8::/32"})
	if err != nil || len(got) != 2 || got[0] != netip.MustParsePrefix("10.1.0.0/16") {
		t.Errorf("two networks: %v, %v", got, err)
	}
	for _, bad := range [][]string{{"10.1.2.3"}, {"none", "10.0.0.0/8"}, {"x/8"}} {
		if _, err := parseLocalNetworks(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
