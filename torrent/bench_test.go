package torrent_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/torrent"
)

// BenchmarkLoopbackTransfer moves a 128 MiB torrent from one client to
// another over loopback TCP, both with file storage. Whole-program figures
// (CPU seconds, RSS, side by side with anacrolix/torrent) come from
// bench/tcp.sh; this one is for profiling the engine.
func BenchmarkLoopbackTransfer(b *testing.B) {
	for _, pl := range []int64{1 << 20, 16 << 10} {
		b.Run(fmt.Sprintf("piece=%dKiB", pl>>10), func(b *testing.B) { loopbackTransfer(b, pl) })
	}
}

func loopbackTransfer(b *testing.B, pieceLength int64) {
	size := 128 << 20
	if s := os.Getenv("BENCH_MIB"); s != "" { // a bigger torrent for profiling at scale
		n, _ := strconv.Atoi(s)
		size = n << 20
	}
	seeder := newNode(b, nil)
	mi, _ := makeContent(b, seeder.dir, "bench", []int{size}, pieceLength)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	for b.Loop() {
		leecher := newNode(b, nil)
		lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
		if err != nil {
			b.Fatal(err)
		}
		waitComplete(b, lt, time.Minute)
		leecher.c.Close()
	}
	seeder.c.Close()
}
