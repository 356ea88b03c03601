package torrent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Readahead bounds. A reader raises the pieces from its position to
// position + readahead; the readahead follows how fast the reader consumes,
// so a video player at 1 MB/s keeps about readaheadSeconds of video coming
// without claiming the whole swarm for bytes it will not need soon.
const (
	minReadahead     = 2 << 20
	maxReadahead     = 64 << 20
	readaheadSeconds = 10
)

// ErrReaderClosed is returned by a Reader after Close.
var ErrReaderClosed = errors.New("torrent: reader closed")

// readerWindow is the piece range a reader wants: first is the piece under
// its position (Now), first+1..end-1 the readahead. first < 0: none.
type readerWindow struct{ first, end int }

// Reader reads a byte range of a torrent (a file, usually) while it
// downloads. Its position raises the piece under it to the Now tier and the
// following pieces to the Readahead tier; Read blocks until the bytes are
// verified and never returns unverified data. A Reader is for one goroutine
// at a time; open several for concurrent readers.
type Reader struct {
	t      *Torrent
	base   int64 // offset of the range in the torrent
	length int64

	mu        sync.Mutex
	pos       int64
	ctx       context.Context
	readahead int64
	fixedRA   bool
	window    readerWindow
	closed    bool
	closing   chan struct{} // closed by Close, to wake a waiting Read
	closeOnce sync.Once
	// consumption rate, to size the readahead
	rateStart time.Time
	rateBytes int64
}

// NewReader returns a reader of the file's bytes.
func (f *File) NewReader() *Reader { return f.t.newReader(f.offset, f.length) }

// NewReader returns a reader of the whole torrent's bytes. The info must be
// known (see GotInfo).
func (t *Torrent) NewReader() *Reader {
	info := t.Info()
	if info == nil {
		return &Reader{t: t, closed: true, closing: make(chan struct{})}
	}
	return t.newReader(0, info.TotalLength())
}

func (t *Torrent) newReader(base, length int64) *Reader {
	return &Reader{t: t, base: base, length: length, ctx: context.Background(), readahead: minReadahead,
		window: readerWindow{-1, -1}, closing: make(chan struct{})}
}

// SetContext sets the context that bounds later Reads (an HTTP request's).
func (r *Reader) SetContext(ctx context.Context) {
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
}

// SetReadahead fixes the readahead in bytes instead of adapting it.
func (r *Reader) SetReadahead(n int64) {
	r.mu.Lock()
	r.readahead, r.fixedRA = max(n, 0), true
	r.mu.Unlock()
}

// Read reads up to len(p) verified bytes, waiting for them if needed.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	ctx := r.ctx
	r.mu.Unlock()
	return r.ReadContext(ctx, p)
}

// ReadContext is Read bounded by ctx.
func (r *Reader) ReadContext(ctx context.Context, p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrReaderClosed
	}
	if r.pos >= r.length {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	info := r.t.Info()
	off := r.base + r.pos
	piece := int(off / info.PieceLength)
	r.updateWindow(piece, info.PieceLength, info.NumPieces())
	for !r.t.HavePiece(piece) {
		ch := r.t.changedChan()
		if r.t.HavePiece(piece) {
			break
		}
		// A stopped or failed torrent will not bring the bytes: say why
		// at once rather than wait for the caller's deadline.
		if err := r.t.failure(); err != nil {
			return 0, err
		}
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			r.mu.Lock()
			return 0, ctx.Err()
		case <-r.t.done:
			r.mu.Lock()
			return 0, ErrClosed
		case <-r.closing:
			r.mu.Lock()
			return 0, ErrReaderClosed
		}
		r.mu.Lock()
		if r.closed {
			return 0, ErrReaderClosed
		}
		if err := r.t.failure(); err != nil {
			return 0, err
		}
	}
	pieceEnd := int64(piece+1) * info.PieceLength
	n := min(int64(len(p)), pieceEnd-off, r.length-r.pos)
	got, err := r.t.store.ReadAt(p[:n], off)
	r.pos += int64(got)
	r.countConsumed(int64(got))
	if err != nil && !(errors.Is(err, io.EOF) && int64(got) == n) {
		return got, fmt.Errorf("torrent: reading verified piece %d: %w", piece, err)
	}
	return got, nil
}

// countConsumed tracks the reader's rate and sizes its readahead.
func (r *Reader) countConsumed(n int64) {
	now := time.Now()
	if r.rateStart.IsZero() {
		r.rateStart = now
	}
	r.rateBytes += n
	if el := now.Sub(r.rateStart); el > 2*time.Second && !r.fixedRA {
		rate := float64(r.rateBytes) / el.Seconds()
		r.readahead = min(max(int64(rate*readaheadSeconds), minReadahead), maxReadahead)
		r.rateStart, r.rateBytes = now, 0
	}
}

// updateWindow tells the owner when the reader's piece window changes.
func (r *Reader) updateWindow(piece int, pieceLength int64, numPieces int) {
	rangeEnd := int((r.base + r.length + pieceLength - 1) / pieceLength)
	end := min(piece+1+int((r.readahead+pieceLength-1)/pieceLength), rangeEnd, numPieces)
	w := readerWindow{piece, end}
	if w == r.window {
		return
	}
	r.window = w
	r.t.send(evCall{fn: func() { r.t.setReaderWindow(r, w) }, done: make(chan struct{})})
}

// setReaderWindow records a reader's window. Owner goroutine.
func (t *Torrent) setReaderWindow(r *Reader, w readerWindow) {
	if w.first < 0 {
		delete(t.readers, r)
	} else {
		t.readers[r] = w
	}
	if t.info != nil {
		t.applyReaders()
	}
}

// failure returns the torrent's error without going through the owner.
func (t *Torrent) failure() error {
	select {
	case <-t.done:
		return ErrClosed
	default:
	}
	if e := t.errPtr.Load(); e != nil {
		return *e
	}
	return nil
}

// Seek sets the position for the next Read. The window moves at once, and
// requests for bytes nobody needs any more are cancelled.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrReaderClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.length + offset
	default:
		return 0, errors.New("torrent: Seek: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("torrent: Seek: negative position")
	}
	r.pos = abs
	r.rateStart, r.rateBytes = time.Time{}, 0
	if abs < r.length {
		info := r.t.Info()
		r.updateWindow(int((r.base+abs)/info.PieceLength), info.PieceLength, info.NumPieces())
	}
	return abs, nil
}

// Close releases the reader's priorities.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() { close(r.closing) }) // wakes a Read waiting for data, which holds no lock
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.window.first >= 0 {
		r.window = readerWindow{-1, -1}
		r.t.send(evCall{fn: func() { r.t.setReaderWindow(r, readerWindow{-1, -1}) }, done: make(chan struct{})})
	}
	return nil
}
