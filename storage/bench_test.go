package storage

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// Sizes of the write and read benchmarks: 16 KiB is the block size every
// client requests (BEP 3 practice), 256 MiB is large enough that the page
// cache, not a CPU cache, is what is measured.
const (
	benchBlock       = 16 << 10
	benchTorrentSize = 256 << 20
	benchPieceLength = 256 << 10
)

func benchTorrent(b *testing.B, s Storage) TorrentStorage {
	b.Helper()
	ts, err := s.OpenTorrent(singleInfo("bench.bin", benchPieceLength, benchTorrentSize), hashOf("bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ts.Close() })
	return ts
}

func benchWrite(b *testing.B, ts TorrentStorage) {
	block := content(benchBlock)
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		off := int64(i) * benchBlock % benchTorrentSize
		if _, err := ts.WriteAt(block, off); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteAt writes 16 KiB blocks in order into a 256 MiB single-file
// torrent, wrapping around.
func BenchmarkWriteAt(b *testing.B) { benchWrite(b, benchTorrent(b, NewFile(b.TempDir()))) }

// BenchmarkWriteAtParallel is BenchmarkWriteAt from GOMAXPROCS goroutines,
// as blocks arrive from several peers at once.
func BenchmarkWriteAtParallel(b *testing.B) {
	ts := benchTorrent(b, NewFile(b.TempDir()))
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		block := content(benchBlock)
		for pb.Next() {
			off := next.Add(1) * benchBlock % benchTorrentSize
			if _, err := ts.WriteAt(block, off); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReadAt reads 16 KiB blocks in order from a written 256 MiB
// torrent, as when seeding or verifying.
func BenchmarkReadAt(b *testing.B) {
	ts := benchTorrent(b, NewFile(b.TempDir()))
	block := content(1 << 20)
	for off := int64(0); off < benchTorrentSize; off += int64(len(block)) {
		if _, err := ts.WriteAt(block, off); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, benchBlock)
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := ts.ReadAt(buf, int64(i)*benchBlock%benchTorrentSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryWriteAt is BenchmarkWriteAt on the memory backend.
func BenchmarkMemoryWriteAt(b *testing.B) { benchWrite(b, benchTorrent(b, NewMemory())) }

// BenchmarkMarkComplete measures the per-piece cost of recording completion
// (a bit, and a clock read for the periodic save).
func BenchmarkMarkComplete(b *testing.B) {
	ts := benchTorrent(b, NewFile(b.TempDir()))
	n := benchTorrentSize / benchPieceLength
	b.ReportAllocs()
	for i := range b.N {
		if err := ts.MarkComplete(i%n, i/n%2 == 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawFileWriteAt is the floor for BenchmarkWriteAt: the same writes
// straight to an *os.File, to compare side by side on the same machine.
func BenchmarkRawFileWriteAt(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw.bin"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	block := content(benchBlock)
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	for i := range b.N {
		if _, err := f.WriteAt(block, int64(i)*benchBlock%benchTorrentSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawFileReadAt is the floor for BenchmarkReadAt.
func BenchmarkRawFileReadAt(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw.bin"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	block := content(1 << 20)
	for off := int64(0); off < benchTorrentSize; off += int64(len(block)) {
		if _, err := f.WriteAt(block, off); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, benchBlock)
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := f.ReadAt(buf, int64(i)*benchBlock%benchTorrentSize); err != nil {
			b.Fatal(err)
		}
	}
}
