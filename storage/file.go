package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
)

// DefaultMaxOpenFiles is the number of files a torrent keeps open when
// FileConfig.MaxOpenFiles is 0. Pieces are fetched roughly in order and one
// piece touches a handful of files, so a few dozen handles keep every open
// in the working set while a client with many torrents and peer sockets stays
// far below the usual descriptor limits (1024 on Linux, 256 by default on
// macOS before Go raises the soft limit).
const DefaultMaxOpenFiles = 32

// ResumeSaveInterval is how often, at most, MarkComplete rewrites the resume
// sidecar during a download. A process killed without Close re-verifies at
// most this much work; writing the small sidecar this often costs nothing
// measurable.
const ResumeSaveInterval = 5 * time.Second

// Permissions of created folders and files, before the umask: the usual ones
// for user data.
const (
	dirPerm  = 0o755
	filePerm = 0o644
)

// FileConfig configures a file backend. The zero value is the default.
type FileConfig struct {
	// MaxOpenFiles bounds how many files each torrent keeps open; the least
	// recently used one is closed beyond it. 0 means DefaultMaxOpenFiles.
	MaxOpenFiles int
	// Sync fsyncs data files before a sidecar records their pieces, and the
	// sidecar itself, so that completion survives a power loss and not only
	// a crash of the process. It makes Flush, Close and every
	// ResumeSaveInterval-th MarkComplete wait for the disk.
	Sync bool
}

// FileStorage stores torrents as ordinary files in a download folder.
type FileStorage struct {
	dir string
	cfg FileConfig
}

var _ Storage = (*FileStorage)(nil)

// NewFile returns a file backend that stores torrents in the folder dir,
// which is created when the first torrent is opened.
func NewFile(dir string) *FileStorage { return NewFileConfig(dir, FileConfig{}) }

// NewFileConfig is NewFile with a configuration.
func NewFileConfig(dir string, cfg FileConfig) *FileStorage {
	if cfg.MaxOpenFiles <= 0 {
		cfg.MaxOpenFiles = DefaultMaxOpenFiles
	}
	return &FileStorage{dir: dir, cfg: cfg}
}

// Dir returns the download folder.
func (s *FileStorage) Dir() string { return s.dir }

// OpenTorrent opens the files of a torrent and loads its resume sidecar. It
// refuses a torrent with a path that would leave the download folder. Open a
// torrent at most once at a time per download folder: two handles would
// overwrite each other's sidecar.
func (s *FileStorage) OpenTorrent(info *metainfo.Info, infoHash metainfo.Hash) (TorrentStorage, error) {
	if info == nil {
		return nil, fmt.Errorf("%w: nil info", ErrBadInfo)
	}
	l, err := newLayout(info)
	if err != nil {
		return nil, err
	}
	rels, err := torrentPaths(s.dir, info)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.dir, dirPerm); err != nil {
		return nil, fileError("creating download folder", s.dir, err)
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, fileError("opening download folder", s.dir, err)
	}
	t := &fileTorrent{
		cfg:      s.cfg,
		root:     root,
		infoHash: infoHash,
		l:        l,
		comp:     newCompletion(l.numPieces),
		files:    make([]diskFile, len(rels)),

		saveInterval: ResumeSaveInterval,
	}
	for i, rel := range rels {
		t.files[i].rel = rel
		t.files[i].padding = l.spans[i].padding
		t.files[i].length = l.spans[i].length
		if l.spans[i].length == 0 && !l.spans[i].padding && l.numPieces > 0 {
			if t.emptyByPiece == nil {
				t.emptyByPiece = make(map[int][]int)
			}
			p := l.emptyFilePiece(i)
			t.emptyByPiece[p] = append(t.emptyByPiece[p], i)
		}
	}
	t.loadResume()
	t.lastSave = time.Now()
	return t, nil
}

var _ Remover = (*FileStorage)(nil)

// RemoveTorrent implements Remover: the torrent's files and sidecar go, and
// so do the folders below the download folder they leave empty. Paths are
// checked as OpenTorrent checks them, and removal goes through the download
// folder's os.Root, so nothing outside it is touched.
func (s *FileStorage) RemoveTorrent(info *metainfo.Info, infoHash metainfo.Hash) error {
	rels, err := torrentPaths(s.dir, info)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return fileError("opening download folder", s.dir, err)
	}
	defer root.Close()
	var errs []error
	dirs := map[string]bool{}
	for _, rel := range rels {
		if rel == "" {
			continue
		}
		if err := root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fileError("removing", rel, err))
		}
		for d := filepath.Dir(rel); d != "." && d != string(filepath.Separator); d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	side := filepath.Join(resumeDirName, infoHash.String()+resumeSuffix)
	if err := root.Remove(side); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fileError("removing", side, err))
	}
	// Deepest first; a folder that still holds something stays.
	ds := make([]string, 0, len(dirs))
	for d := range dirs {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return len(ds[i]) > len(ds[j]) })
	for _, d := range ds {
		root.Remove(d)
	}
	return errors.Join(errs...)
}

// fileTorrent is the file backend's TorrentStorage.
type fileTorrent struct {
	cfg      FileConfig
	root     *os.Root
	infoHash metainfo.Hash
	l        *layout
	comp     completion
	files    []diskFile
	// emptyByPiece lists the empty files created when a piece completes
	// (empty files are never written, yet must exist once downloaded).
	emptyByPiece map[int][]int

	closed    atomic.Bool // set under mu and saveMu
	compDirty atomic.Bool // completion changed since the last save
	dataDirty atomic.Bool // a file was written since the last save

	mu        sync.Mutex // guards the open-file cache: openFiles, tick, closeErr and diskFile's guarded fields
	openFiles []*diskFile
	tick      uint64 // use counter for least-recently-used eviction
	closeErr  error  // from closing evicted files, reported by Flush

	saveMu        sync.Mutex    // serializes sidecar saves; guards the fields below
	saveInterval  time.Duration // ResumeSaveInterval; tests shorten it
	lastSave      time.Time
	stamps        []fileStamp // per file, as last recorded
	bits, buf     []byte      // reused encoding buffers
	sidecarExists bool
}

// diskFile is one file of a torrent.
type diskFile struct {
	rel      string // path below the download folder; "" for padding files
	padding  bool
	length   int64
	written  atomic.Bool // written since the last save: re-stamp it
	created  atomic.Bool // an empty file was created
	unwanted atomic.Bool // not to be preallocated (FileWanter)

	// Guarded by fileTorrent.mu.
	f        *os.File
	readOnly bool
	checked  bool // path checked for symbolic links
	refs     int  // I/O in flight on f: it must not be closed
	lastUse  uint64
}

var _ TorrentStorage = (*fileTorrent)(nil)

// ReadAt implements TorrentStorage.
func (t *fileTorrent) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", ErrOutOfRange, off)
	}
	if t.closed.Load() {
		return 0, ErrClosed
	}
	if off >= t.l.total {
		return 0, io.EOF
	}
	want := len(p)
	if rest := t.l.total - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n := 0
	for i := t.l.fileAt(off); n < len(p); i++ {
		s := t.l.spans[i]
		m := int(min(int64(len(p)-n), s.off+s.length-off))
		if m > 0 {
			if err := t.readFile(i, p[n:n+m], off-s.off); err != nil {
				return n, err
			}
		}
		n += m
		off += int64(m)
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// readFile fills p from file i at off, with zeros where nothing was written.
func (t *fileTorrent) readFile(i int, p []byte, off int64) error {
	df := &t.files[i]
	if df.padding {
		clear(p)
		return nil
	}
	f, err := t.acquire(df, false)
	if err != nil {
		return err
	}
	if f == nil { // not created yet, or deleted since
		if err := t.checkUnverified(i, off, int64(len(p)), "is missing"); err != nil {
			return err
		}
		clear(p)
		return nil
	}
	n, err := f.ReadAt(p, off)
	t.release(df)
	if err == io.EOF { // the file is shorter: the rest was never written, or it was truncated
		if err := t.checkUnverified(i, off+int64(n), int64(len(p)-n), "was truncated"); err != nil {
			return err
		}
		clear(p[n:])
		return nil
	}
	if err != nil {
		return fileError("reading", df.rel, err)
	}
	return nil
}

// checkUnverified fails when bytes [off, off+n) of file i, which read as
// absent, belong to a verified piece: the file was deleted or truncated
// since, and zeros would be served as verified data.
func (t *fileTorrent) checkUnverified(i int, off, n int64, what string) error {
	if n <= 0 {
		return nil
	}
	first, last := t.l.pieces(t.l.spans[i].off+off, n)
	if t.comp.anyIn(first, last) {
		return fmt.Errorf("%w: %s %s since its pieces were verified; start the torrent again to recheck it",
			ErrMissingData, t.files[i].rel, what)
	}
	return nil
}

// WriteAt implements TorrentStorage.
func (t *fileTorrent) WriteAt(p []byte, off int64) (int, error) {
	if err := t.l.checkWrite(len(p), off); err != nil {
		return 0, err
	}
	if t.closed.Load() {
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := checkNotComplete(&t.comp, t.l, off, len(p)); err != nil {
		return 0, err
	}
	n := 0
	for i := t.l.fileAt(off); n < len(p); i++ {
		s := t.l.spans[i]
		m := int(min(int64(len(p)-n), s.off+s.length-off))
		if m > 0 && !s.padding {
			w, err := t.writeFile(i, p[n:n+m], off-s.off)
			if err != nil {
				return n + w, err
			}
		}
		n += m
		off += int64(m)
	}
	return n, nil
}

// WriteVAt implements VectorWriter: each file the run touches gets one
// vectored write.
func (t *fileTorrent) WriteVAt(bufs [][]byte, off int64) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if err := t.l.checkWrite(total, off); err != nil {
		return err
	}
	if t.closed.Load() {
		return ErrClosed
	}
	if total == 0 {
		return nil
	}
	if err := checkNotComplete(&t.comp, t.l, off, total); err != nil {
		return err
	}
	bufs = append([][]byte(nil), bufs...) // the caller's slice stays as it was
	var iov [][]byte
	for i := t.l.fileAt(off); len(bufs) > 0; i++ {
		s := t.l.spans[i]
		// Take the buffers, or parts of them, that fall in file i.
		iov = iov[:0]
		fileOff := off - s.off
		for room := s.off + s.length - off; room > 0 && len(bufs) > 0; {
			b := bufs[0]
			if int64(len(b)) > room {
				iov = append(iov, b[:room])
				bufs[0] = b[room:]
				off += room
				break
			}
			iov = append(iov, b)
			bufs = bufs[1:]
			room -= int64(len(b))
			off += int64(len(b))
		}
		if len(iov) == 0 || s.padding {
			continue
		}
		if err := t.writeFileV(i, iov, fileOff); err != nil {
			return err
		}
	}
	return nil
}

// writeFileV writes iov end to end to file i at off, creating it if needed.
func (t *fileTorrent) writeFileV(i int, iov [][]byte, off int64) error {
	df := &t.files[i]
	f, err := t.acquire(df, true)
	if err != nil {
		return err
	}
	err = pwritev(f, iov, off)
	t.release(df)
	t.markWritten(df)
	if err != nil {
		return fileError("writing", df.rel, err)
	}
	return nil
}

// checkNotComplete refuses a write of n > 0 bytes at off that touches a
// complete piece.
func checkNotComplete(c *completion, l *layout, off int64, n int) error {
	first, last := l.pieces(off, int64(n))
	for i := first; i <= last; i++ {
		if c.has(i) {
			return fmt.Errorf("%w: piece %d; a block that arrives after its piece was verified must be dropped", ErrPieceComplete, i)
		}
	}
	return nil
}

// writeFile writes p to file i at off, creating the file if needed.
func (t *fileTorrent) writeFile(i int, p []byte, off int64) (int, error) {
	df := &t.files[i]
	f, err := t.acquire(df, true)
	if err != nil {
		return 0, err
	}
	n, err := f.WriteAt(p, off)
	t.release(df)
	t.markWritten(df) // even on error: the file may have changed
	if err != nil {
		return n, fileError("writing", df.rel, err)
	}
	return n, nil
}

// markWritten notes that df must be re-stamped at the next save. Loading
// first keeps concurrent writers from bouncing the cache line.
func (t *fileTorrent) markWritten(df *diskFile) {
	if !df.written.Load() {
		df.written.Store(true)
	}
	if !t.dataDirty.Load() {
		t.dataDirty.Store(true)
	}
}

// Completion implements TorrentStorage.
func (t *fileTorrent) Completion() (Bitfield, error) {
	if t.closed.Load() {
		return Bitfield{}, ErrClosed
	}
	return t.comp.bitfield(), nil
}

// MarkComplete implements TorrentStorage. It sets a bit and, at most every
// ResumeSaveInterval, saves the sidecar.
func (t *fileTorrent) MarkComplete(piece int, done bool) error {
	if err := t.l.checkPiece(piece); err != nil {
		return err
	}
	if t.closed.Load() {
		return ErrClosed
	}
	if done {
		// Before the bit is set, so that no sidecar records the piece
		// without its empty files.
		if err := t.createEmptyFiles(piece); err != nil {
			return err
		}
	}
	if t.comp.set(piece, done) {
		t.compDirty.Store(true)
	}
	if !t.saveMu.TryLock() {
		return nil // another goroutine is saving
	}
	defer t.saveMu.Unlock()
	if time.Since(t.lastSave) < t.saveInterval {
		return nil
	}
	return t.saveLocked()
}

// createEmptyFiles creates the empty files that belong to piece.
func (t *fileTorrent) createEmptyFiles(piece int) error {
	for _, i := range t.emptyByPiece[piece] {
		if err := t.CreateEmptyFile(i); err != nil {
			return err
		}
	}
	return nil
}

var _ EmptyFileCreator = (*fileTorrent)(nil)

// CreateEmptyFile implements EmptyFileCreator.
func (t *fileTorrent) CreateEmptyFile(i int) error {
	if i < 0 || i >= len(t.files) || t.l.spans[i].length != 0 {
		return fmt.Errorf("%w: file %d is not an empty file of the torrent", ErrOutOfRange, i)
	}
	df := &t.files[i]
	if df.padding || df.created.Load() {
		return nil
	}
	if t.closed.Load() {
		return ErrClosed
	}
	if _, err := t.acquire(df, true); err != nil {
		return err
	}
	t.release(df)
	df.created.Store(true)
	t.markWritten(df)
	return nil
}

// ForgetCompletion implements TorrentStorage.
func (t *fileTorrent) ForgetCompletion() error {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	if t.closed.Load() {
		return ErrClosed
	}
	t.comp.clearAll()
	t.compDirty.Store(true)
	// What is verified from now on is the files as they are: stamp them
	// again, or a file changed before the recheck would be distrusted at
	// the next start although the recheck verified it as it is.
	for i := range t.files {
		t.files[i].written.Store(true)
	}
	return t.saveLocked()
}

// Flush implements TorrentStorage: it saves the sidecar if anything changed
// and reports errors from closing files earlier.
func (t *fileTorrent) Flush() error {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	if t.closed.Load() {
		return ErrClosed
	}
	err := t.saveLocked()
	t.mu.Lock()
	cerr := t.closeErr
	t.closeErr = nil
	t.mu.Unlock()
	return errors.Join(err, cerr)
}

// Close implements TorrentStorage.
func (t *fileTorrent) Close() error {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	if t.closed.Load() {
		return nil
	}
	errs := []error{t.saveLocked()}
	t.mu.Lock()
	t.closed.Store(true)
	errs = append(errs, t.closeErr)
	for _, df := range t.openFiles {
		// Any I/O still in flight on df.f finishes first: os.File defers
		// the close until then.
		if err := df.f.Close(); err != nil {
			errs = append(errs, fileError("closing", df.rel, err))
		}
		df.f = nil
	}
	t.openFiles = nil
	t.mu.Unlock()
	errs = append(errs, t.root.Close())
	return errors.Join(errs...)
}

var _ DataPresence = (*fileTorrent)(nil)

// SetFileWanted implements FileWanter.
func (t *fileTorrent) SetFileWanted(i int, wanted bool) {
	if i >= 0 && i < len(t.files) {
		t.files[i].unwanted.Store(!wanted)
	}
}

// HasData implements DataPresence: a range may hold data when one of its
// files exists on disk and has data in the range: bytes written, as the file
// system reports them where it can (files are preallocated, so their size
// says nothing), or else the file reaching into the range.
func (t *fileTorrent) HasData(off, n int64) bool {
	if n <= 0 || off >= t.l.total || t.closed.Load() {
		return false
	}
	end := min(off+n, t.l.total)
	for i := t.l.fileAt(off); i < len(t.l.spans) && t.l.spans[i].off < end; i++ {
		s, df := t.l.spans[i], &t.files[i]
		if df.padding || s.length == 0 {
			continue
		}
		from := max(off-s.off, 0)
		to := min(end-s.off, s.length)
		f, err := t.acquire(df, false)
		if err != nil || f == nil {
			continue
		}
		has := hasData(f, from, to)
		t.release(df)
		if has {
			return true
		}
	}
	return false
}
