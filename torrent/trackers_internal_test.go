package torrent

import "testing"

// TestOffersWanted: a WebSocket tracker is asked for no more peers than its
// last count of the swarm holds besides us and those we are connected to,
// and for at least one; with no count, for the usual numWant.
func TestOffersWanted(t *testing.T) {
	for _, c := range []struct {
		count     swarmCount
		connected int32
		want      int
	}{
		{swarmCount{-1, -1}, 0, numWant},    // no answer yet
		{swarmCount{3, -1}, 0, numWant},     // leechers not counted
		{swarmCount{0, 1}, 0, 1},            // alone: at least one
		{swarmCount{1, 5}, 5, 1},            // connected to every other peer
		{swarmCount{1, 5}, 2, 3},            // three we do not have
		{swarmCount{100, 400}, 10, numWant}, // a big swarm: the usual
		{swarmCount{1, 5}, 9, 1},            // more connected than counted (other sources)
	} {
		var tr Torrent
		tr.swarmPeers.Store(c.connected)
		if got := tr.offersWanted(c.count); got != c.want {
			t.Errorf("count %+v, %d connected: %d, want %d", c.count, c.connected, got, c.want)
		}
	}
}
