package torrent

import "testing"

// TestOffersWanted: a WebSocket tracker is asked for no more peers than its
// last count of the swarm holds besides us and those we are connected to
// over WebRTC, and for none when we are connected to all of them; with no
// count, for the usual numWant.
func TestOffersWanted(t *testing.T) {
	const u = "ws://tracker.example/"
	for _, c := range []struct {
		seeders, leechers int
		connected         int32 // over WebRTC
		want              int
	}{
		{-1, -1, 0, numWant},    // no answer yet
		{3, -1, 0, numWant},     // leechers not counted
		{0, 1, 0, 0},            // alone: newcomers offer to us
		{1, 5, 5, 0},            // connected to every other peer
		{1, 5, 2, 3},            // three we do not have
		{100, 400, 10, numWant}, // a big swarm: the usual
		{1, 5, 9, 0},            // more connected than counted (the count is older)
	} {
		tr := Torrent{trackerInfo: map[string]*TrackerInfo{u: {URL: u, Seeders: c.seeders, Leechers: c.leechers}}}
		tr.webrtcPeers.Store(c.connected)
		if got := tr.offersWanted(u); got != c.want {
			t.Errorf("%d seeders, %d leechers, %d connected: %d, want %d", c.seeders, c.leechers, c.connected, got, c.want)
		}
	}
	if got := (&Torrent{}).offersWanted(u); got != numWant {
		t.Errorf("a tracker with no record: %d, want %d", got, numWant)
	}
}
