package webseed_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport"
)

// BenchmarkFlashCrowd: six viewers start 0.2 s apart on a 32 MiB torrent
// whose only seed is an HTTP origin; each knows the viewers before it. It
// reports how many copies of the torrent the origin served and the share of
// all bytes that came from peers (at most 5/6 = 83%: someone must fetch each
// byte from the origin once). The origin is unlimited, or capped at 8 MB/s
// as a busy origin is.
//
//	go test -run '^$' -bench FlashCrowd -benchtime 1x ./webseed
func BenchmarkFlashCrowd(b *testing.B) {
	for _, rate := range []int64{0, 8 << 20} {
		name := "origin=unlimited"
		if rate > 0 {
			name = fmt.Sprintf("origin=%dMBps", rate>>20)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				copies, peers := flashCrowd(b, 6, 32<<20, rate)
				b.ReportMetric(copies, "origin-copies")
				b.ReportMetric(peers, "peers-%")
			}
		})
	}
}

func flashCrowd(b *testing.B, viewers, size int, rate int64) (copies, peersPercent float64) {
	b.StopTimer()
	srv := b.TempDir()
	mi, _ := content(b, srv, "movie", map[string]int{"m.bin": size}, 256<<10)
	o := newOrigin(b, srv)
	if rate > 0 {
		o.limit(rate)
	}
	mi.URLList = metainfo.URLList{o.URL + "/movie/m.bin"}
	var cs []*torrent.Client
	var addrs []string
	for range viewers {
		c, a := newClient(b, b.TempDir())
		cs = append(cs, c)
		addrs = append(addrs, a)
	}
	b.StartTimer()
	var ts []*torrent.Torrent
	for i, c := range cs {
		tt, err := c.AddTorrent(mi, torrent.AddOptions{Peers: addrs[:i]})
		if err != nil {
			b.Fatal(err)
		}
		ts = append(ts, tt)
		time.Sleep(200 * time.Millisecond)
	}
	var ws, all int64
	for _, tt := range ts {
		waitComplete(b, tt)
		st := tt.Stats()
		ws += st.Downloaded[transport.WebSeed]
		all += st.DownloadedTotal
	}
	b.StopTimer()
	for _, c := range cs {
		c.Close()
	}
	return float64(ws) / float64(size), 100 * float64(all-ws) / float64(all)
}
