package metainfo

import (
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/bencode"
)

// tenThousandFiles is a torrent of 10,000 files in nested folders, built once.
func tenThousandFiles(b *testing.B) []byte {
	const n = 10000
	files := make([]any, n)
	var total int64
	for i := range files {
		l := int64(1000 + i)
		total += l
		files[i] = map[string]any{"length": l, "path": []string{fmt.Sprintf("dir%03d", i/100), fmt.Sprintf("file number %05d.dat", i)}}
	}
	const pl = 1 << 18
	info := map[string]any{"name": "big", "piece length": pl, "pieces": pieces(int((total + pl - 1) / pl)), "files": files}
	return buildTorrent(b, info, map[string]any{"announce": "http://t/announce"})
}

func BenchmarkParse10000Files(b *testing.B) {
	data := tenThousandFiles(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		mi, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := mi.UnmarshalInfo(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBencodeDecode10000Files(b *testing.B) {
	data := tenThousandFiles(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := bencode.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateHashing hashes a 256 MiB file with Create on all cores and
// reports its throughput next to plain crypto/sha1 on one core, measured in
// the same run: "efficiency" is Create's MB/s over (one core's SHA-1 MB/s ×
// the goroutines used). The goal is ≥ 0.9.
func BenchmarkCreateHashing(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	path := filepath.Join(dir, "data")
	buf := make([]byte, size)
	rand.Read(buf)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.Fatal(err)
	}
	// One core's SHA-1 speed on the same bytes, in the same pieces.
	const pl = 1 << 20
	start := time.Now()
	for off := 0; off < size; off += pl {
		sha1.Sum(buf[off : off+pl])
	}
	sha1Rate := float64(size) / time.Since(start).Seconds()
	buf = nil
	workers := runtime.NumCPU()
	b.SetBytes(size)
	b.ResetTimer()
	var elapsed time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, _, err := Create(path, CreateOptions{PieceLength: pl, Workers: workers}); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
	}
	rate := float64(size) * float64(b.N) / elapsed.Seconds()
	b.ReportMetric(sha1Rate/1e6, "sha1-1core-MB/s")
	b.ReportMetric(rate/1e6, "create-MB/s")
	b.ReportMetric(float64(workers), "cores")
	b.ReportMetric(rate/(sha1Rate*float64(workers)), "efficiency")
}
