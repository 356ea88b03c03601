package picker

import "testing"

// BenchmarkPickBounded is BenchmarkPick with PickBounded(DefaultProbes),
// which bounds what the useless peer costs.
func BenchmarkPickBounded(b *testing.B) {
	benchPick(b, func(p *Picker, peerHas, skip func(int) bool) (int, bool) {
		i, ok, _ := p.PickBounded(peerHas, skip, DefaultProbes)
		return i, ok
	})
}
