package metainfo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarmcast/swarmcast/internal/sha1"
)

// Bounds of the automatic piece length: BEP 3 clients expect powers of two
// from 16 KiB (one block) to 16 MiB.
const (
	MinAutoPieceLength = 16 << 10
	MaxAutoPieceLength = 16 << 20
	// targetPieces is the most pieces an automatic piece length aims for:
	// 1,000–2,000 pieces keep the info dictionary small (≤ 40 KB of hashes,
	// quick to fetch by ut_metadata) while pieces stay small enough to share
	// early.
	targetPieces = 2000
)

// CreatedBy is written into torrents that swarmcast creates.
const CreatedBy = "swarmcast"

// CreateOptions say how Create builds a torrent. The zero value makes a
// public torrent with an automatic piece length and no trackers.
type CreateOptions struct {
	Name         string   // torrent name; default: the base name of the path
	PieceLength  int64    // 0 picks one automatically (AutoPieceLength)
	Trackers     []string // each becomes its own BEP 12 tier, in order
	WebSeeds     []string // BEP 19 url-list
	Private      bool
	Comment      string
	Source       string
	CreatedBy    string    // default CreatedBy
	CreationDate time.Time // zero means now; use NoDate to leave it out
	NoDate       bool
	Workers      int // hashing goroutines; 0 means one per CPU
	// Progress, if set, is called as pieces are hashed with the bytes done so
	// far and the total. Calls are serialised but come from hashing goroutines.
	Progress func(done, total int64)
}

// AutoPieceLength returns the piece length Create uses for total bytes: the
// smallest power of two from 16 KiB to 16 MiB that gives at most about 2,000
// pieces.
func AutoPieceLength(total int64) int64 {
	pl := int64(MinAutoPieceLength)
	for pl < MaxAutoPieceLength && (total+pl-1)/pl > targetPieces {
		pl *= 2
	}
	return pl
}

// sourceFile is one file to hash: where it is on disk and where it goes in
// the torrent.
type sourceFile struct {
	disk   string
	path   []string
	length int64
	offset int64
}

// Create builds a torrent of the file or folder at path, hashing pieces on
// all cores. Files in a folder are taken in byte order of their paths, so the
// same folder always gives the same torrent; only regular files are taken.
func Create(path string, opt CreateOptions) (*MetaInfo, *Info, error) {
	files, isDir, err := collectFiles(path)
	if err != nil {
		return nil, nil, err
	}
	name := opt.Name
	if name == "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, nil, fmt.Errorf("metainfo: %w", err)
		}
		name = filepath.Base(abs)
	}
	var total int64
	for i := range files {
		files[i].offset = total
		total += files[i].length
	}
	info := &Info{Name: name, PieceLength: opt.PieceLength, Private: opt.Private, Source: opt.Source}
	if info.PieceLength == 0 {
		info.PieceLength = AutoPieceLength(total)
	}
	if info.PieceLength < 0 || info.PieceLength > MaxPieceLength {
		return nil, nil, fmt.Errorf("metainfo: piece length %d is outside 1..%d", info.PieceLength, MaxPieceLength)
	}
	if isDir {
		for _, f := range files {
			info.Files = append(info.Files, FileInfo{Length: f.length, Path: f.path})
		}
	} else {
		info.Length = total
	}
	if info.Pieces, err = hashPieces(files, total, info.PieceLength, opt); err != nil {
		return nil, nil, err
	}
	return finishCreate(info, opt)
}

// finishCreate validates info and wraps it in a MetaInfo as opt says.
func finishCreate(info *Info, opt CreateOptions) (*MetaInfo, *Info, error) {
	if err := info.Validate(); err != nil {
		return nil, nil, err
	}
	mi := &MetaInfo{Comment: opt.Comment, CreatedBy: opt.CreatedBy, URLList: opt.WebSeeds}
	if mi.CreatedBy == "" {
		mi.CreatedBy = CreatedBy
	}
	if !opt.NoDate {
		d := opt.CreationDate
		if d.IsZero() {
			d = time.Now()
		}
		mi.CreationDate = d.Unix()
	}
	if len(opt.Trackers) > 0 {
		mi.Announce = opt.Trackers[0]
		if len(opt.Trackers) > 1 {
			for _, t := range opt.Trackers {
				mi.AnnounceList = append(mi.AnnounceList, []string{t})
			}
		}
	}
	var err error
	if mi.InfoBytes, err = marshalInfo(info); err != nil {
		return nil, nil, err
	}
	return mi, info, nil
}

func marshalInfo(info *Info) ([]byte, error) {
	b, err := marshal(info)
	if err != nil {
		return nil, fmt.Errorf("metainfo: encoding info: %w", err)
	}
	return b, nil
}

// collectFiles lists the regular files under path in a fixed order.
func collectFiles(path string) ([]sourceFile, bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, false, fmt.Errorf("metainfo: %w", err)
	}
	if !st.IsDir() {
		if !st.Mode().IsRegular() {
			return nil, false, fmt.Errorf("metainfo: %s is not a regular file", path)
		}
		return []sourceFile{{disk: path, path: []string{st.Name()}, length: st.Size()}}, false, nil
	}
	var files []sourceFile
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // folders are walked; links, devices and sockets are not content
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		files = append(files, sourceFile{disk: p, path: strings.Split(filepath.ToSlash(rel), "/"), length: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("metainfo: %w", err)
	}
	if len(files) == 0 {
		return nil, false, fmt.Errorf("metainfo: %s holds no files", path)
	}
	sort.Slice(files, func(i, j int) bool { return lessPath(files[i].path, files[j].path) })
	return files, true, nil
}

func lessPath(a, b []string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// hashBatch is how many consecutive pieces a hashing goroutine takes at once,
// so each reads a long run of one file before another goroutine takes over.
const hashBatch = 4

// hashPieces hashes every piece of the concatenated files. Each goroutine
// reads its own pieces with ReadAt, so reading runs in parallel too.
func hashPieces(files []sourceFile, total, pieceLength int64, opt CreateOptions) ([]byte, error) {
	n := int((total + pieceLength - 1) / pieceLength)
	out := make([]byte, n*HashSize)
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	workers = max(1, min(workers, (n+hashBatch-1)/hashBatch))
	var (
		next     atomic.Int64
		done     atomic.Int64
		progMu   sync.Mutex
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		failed   atomic.Bool
	)
	maps := mapFiles(files)
	defer maps.close()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A mapped file that shrinks under us faults; make that an
			// error rather than a crash.
			debug.SetPanicOnFault(true)
			defer func() {
				if v := recover(); v != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("metainfo: a file changed while it was being hashed (%v)", v) })
					failed.Store(true)
				}
			}()
			r := &fileSetReader{files: files}
			defer r.close()
			var buf []byte
			for !failed.Load() {
				first := int(next.Add(hashBatch)) - hashBatch
				if first >= n {
					return
				}
				for i := first; i < min(first+hashBatch, n); i++ {
					off := int64(i) * pieceLength
					size := min(pieceLength, total-off)
					data, ok := maps.view(off, size)
					if !ok {
						if buf == nil {
							buf = make([]byte, pieceLength)
						}
						if err := r.readAt(buf[:size], off); err != nil {
							errOnce.Do(func() { firstErr = err })
							failed.Store(true)
							return
						}
						data = buf[:size]
					}
					sum := sha1.Sum(data)
					copy(out[i*HashSize:], sum[:])
					d := done.Add(size)
					if opt.Progress != nil {
						progMu.Lock()
						opt.Progress(d, total)
						progMu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// fileSetReader reads the torrent's byte stream from its files, keeping the
// most recently used file open.
type fileSetReader struct {
	files []sourceFile
	cur   int
	f     *os.File
}

func (r *fileSetReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}

func (r *fileSetReader) readAt(p []byte, off int64) error {
	// Find the file holding off: files are sorted by offset.
	i := sort.Search(len(r.files), func(i int) bool { return r.files[i].offset+r.files[i].length > off })
	for len(p) > 0 {
		if i >= len(r.files) {
			return errors.New("metainfo: read past the end of the files")
		}
		sf := r.files[i]
		k := min(int64(len(p)), sf.offset+sf.length-off)
		if k <= 0 {
			i++
			continue
		}
		if r.f == nil || r.cur != i {
			r.close()
			f, err := os.Open(sf.disk)
			if err != nil {
				r.f = nil
				return fmt.Errorf("metainfo: %w", err)
			}
			r.f, r.cur = f, i
		}
		if _, err := r.f.ReadAt(p[:k], off-sf.offset); err != nil {
			if err == io.EOF {
				return fmt.Errorf("metainfo: %s shrank while it was being hashed", sf.disk)
			}
			return fmt.Errorf("metainfo: %w", err)
		}
		p, off = p[k:], off+k
		i++
	}
	return nil
}

// mappedFiles holds read-only maps of the source files, where the system
// allows them.
type mappedFiles struct {
	files  []sourceFile
	data   [][]byte
	unmaps []func()
}

func mapFiles(files []sourceFile) *mappedFiles {
	m := &mappedFiles{files: files, data: make([][]byte, len(files))}
	for i, f := range files {
		if b, unmap, ok := mapFile(f.disk, f.length); ok {
			m.data[i] = b
			m.unmaps = append(m.unmaps, unmap)
		}
	}
	return m
}

// view returns the bytes at off when they lie within one mapped file.
func (m *mappedFiles) view(off, size int64) ([]byte, bool) {
	i := sort.Search(len(m.files), func(i int) bool { return m.files[i].offset+m.files[i].length > off })
	if i >= len(m.files) || m.data[i] == nil {
		return nil, false
	}
	f := m.files[i]
	if off+size > f.offset+f.length || int64(len(m.data[i])) != f.length {
		return nil, false
	}
	return m.data[i][off-f.offset : off-f.offset+size], true
}

func (m *mappedFiles) close() {
	for _, u := range m.unmaps {
		u()
	}
}
