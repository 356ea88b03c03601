//go:build js

package opfs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall/js"

	"github.com/swarmcast/swarmcast/internal/jspromise"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
)

// ErrUnavailable is returned by New where the browser has no OPFS with
// synchronous access handles (not a dedicated worker, an old browser, or a
// private window that refuses storage).
var ErrUnavailable = errors.New("opfs: no origin private file system with synchronous access handles here")

// ErrLocked is returned by OpenTorrent when another tab of the same site
// holds the torrent's file: a synchronous access handle is exclusive.
var ErrLocked = errors.New("opfs: the torrent's file is open in another tab")

// Storage stores torrents in a folder of the origin private file system.
type Storage struct {
	dir js.Value // FileSystemDirectoryHandle
}

var (
	_ storage.Storage = (*Storage)(nil)
	_ storage.Remover = (*Storage)(nil)
)

// New opens (creating it) the OPFS folder dir for torrents. It must run in
// a dedicated worker, the only place with synchronous access handles.
func New(ctx context.Context, dir string) (*Storage, error) {
	nav := js.Global().Get("navigator")
	if nav.IsUndefined() || nav.Get("storage").IsUndefined() || nav.Get("storage").Get("getDirectory").IsUndefined() {
		return nil, ErrUnavailable
	}
	fh := js.Global().Get("FileSystemFileHandle")
	if fh.IsUndefined() || fh.Get("prototype").Get("createSyncAccessHandle").IsUndefined() {
		return nil, ErrUnavailable
	}
	root, err := jspromise.Await(ctx, nav.Get("storage").Call("getDirectory"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	d, err := jspromise.Await(ctx, root.Call("getDirectoryHandle", dir, createOpt()))
	if err != nil {
		return nil, fmt.Errorf("opfs: folder %s: %w", dir, err)
	}
	return &Storage{dir: d}, nil
}

func createOpt() js.Value {
	o := js.Global().Get("Object").New()
	o.Set("create", true)
	return o
}

// handle is a synchronous access handle on one OPFS file. Reads and writes
// go through one scratch Uint8Array and one {at} object, reused: a new
// array per 16 KiB block made the browser's collector the bottleneck (a
// download into OPFS ran at half the speed of one into memory).
type handle struct {
	h js.Value

	mu         sync.Mutex
	scratch    js.Value // Uint8Array, grown as needed
	scratchLen int      // scratch's length
	at         js.Value // {at: offset}
}

// scratchMin is the scratch array's first size: a hash worker's read.
const scratchMin = 256 << 10

func newHandle(h js.Value) *handle {
	return &handle{h: h, at: js.Global().Get("Object").New()}
}

// view returns a Uint8Array of n bytes over the scratch array; h.mu is held.
func (h *handle) view(n int) js.Value {
	if n > h.scratchLen {
		h.scratchLen = max(n, scratchMin)
		h.scratch = js.Global().Get("Uint8Array").New(h.scratchLen)
	}
	return h.scratch.Call("subarray", 0, n)
}

func (s *Storage) openHandle(ctx context.Context, name string) (*handle, error) {
	f, err := jspromise.Await(ctx, s.dir.Call("getFileHandle", name, createOpt()))
	if err != nil {
		return nil, fmt.Errorf("opfs: %s: %w", name, err)
	}
	h, err := jspromise.Await(ctx, f.Call("createSyncAccessHandle"))
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %w)", ErrLocked, name, err)
	}
	return newHandle(h), nil
}

func (h *handle) readAt(p []byte, off int64) (n int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	err = jsTry(func() {
		v := h.view(len(p))
		h.at.Set("at", float64(off))
		n = h.h.Call("read", v, h.at).Int()
		js.CopyBytesToGo(p[:n], v)
	})
	return n, err
}

func (h *handle) writeAt(p []byte, off int64) (n int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	err = jsTry(func() {
		v := h.view(len(p))
		js.CopyBytesToJS(v, p)
		h.at.Set("at", float64(off))
		n = h.h.Call("write", v, h.at).Int()
	})
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

func (h *handle) size() (n int64, err error) {
	err = jsTry(func() { n = int64(h.h.Call("getSize").Float()) })
	return n, err
}

func (h *handle) truncate(n int64) error { return jsTry(func() { h.h.Call("truncate", float64(n)) }) }
func (h *handle) flush() error           { return jsTry(func() { h.h.Call("flush") }) }
func (h *handle) close() error           { return jsTry(func() { h.h.Call("close") }) }

// sidecar layout: "SCO1", the torrent's length (8 bytes), the number of
// pieces (4 bytes), then the bitfield of verified pieces.
const sidecarMagic = "SCO1"

// OpenTorrent opens (creating them) the torrent's data file and sidecar.
// Pieces the sidecar records are complete only if the data file still has
// the torrent's length.
func (s *Storage) OpenTorrent(info *metainfo.Info, ih metainfo.Hash) (storage.TorrentStorage, error) {
	if info == nil {
		return nil, fmt.Errorf("%w: nil info", storage.ErrBadInfo)
	}
	ctx := context.Background()
	name := ih.String()
	data, err := s.openHandle(ctx, name)
	if err != nil {
		return nil, err
	}
	side, err := s.openHandle(ctx, name+".done")
	if err != nil {
		data.close()
		return nil, err
	}
	t := &torrent{
		data: data, side: side, total: info.TotalLength(), pieceLength: info.PieceLength,
		comp:  storage.NewBitfield(info.NumPieces()),
		cache: newPieceCache(info.PieceLength, info.TotalLength(), DefaultCacheBytes),
	}
	size, err := data.size()
	if err == nil && size == t.total {
		t.loadSidecar()
	} else if err == nil {
		err = data.truncate(t.total)
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("opfs: %s: %w", name, err)
	}
	return t, nil
}

// RemoveTorrent deletes the torrent's data and sidecar.
func (s *Storage) RemoveTorrent(info *metainfo.Info, ih metainfo.Hash) error {
	var errs []error
	for _, name := range []string{ih.String(), ih.String() + ".done"} {
		if _, err := jspromise.Await(context.Background(), s.dir.Call("removeEntry", name)); err != nil {
			errs = append(errs, fmt.Errorf("opfs: removing %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// torrent is one torrent's files. Writes and reads are serialised by the
// browser's handle (one thread); mu guards the completion and closed state.
type torrent struct {
	data, side  *handle
	total       int64
	pieceLength int64

	mu     sync.Mutex
	comp   storage.Bitfield
	cache  *pieceCache // pieces in progress
	dirty  bool
	closed bool
}

func (t *torrent) loadSidecar() {
	n, err := t.side.size()
	want := int64(len(sidecarMagic) + 12 + len(t.comp.Bytes()))
	if err != nil || n != want {
		return
	}
	b := make([]byte, n)
	if _, err := t.side.readAt(b, 0); err != nil || string(b[:4]) != sidecarMagic ||
		int64(binary.BigEndian.Uint64(b[4:])) != t.total || int(binary.BigEndian.Uint32(b[12:])) != t.comp.Len() {
		return
	}
	bits := b[16:]
	for i := range t.comp.Len() {
		if bits[i/8]&(0x80>>(i%8)) != 0 {
			t.comp.Set(i, true)
		}
	}
}

func (t *torrent) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", storage.ErrOutOfRange, off)
	}
	if off >= t.total {
		return 0, io.EOF
	}
	want := len(p)
	if rest := t.total - off; int64(want) > rest {
		p = p[:rest]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, storage.ErrClosed
	}
	err := t.cache.read(p, off, func(p []byte, off int64) error {
		n, err := t.data.readAt(p, off)
		if err != nil {
			return fmt.Errorf("opfs: read at %d: %w", off, err)
		}
		clear(p[n:]) // the file is as long as the torrent; a short read is zeros
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

func (t *torrent) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > t.total {
		return 0, fmt.Errorf("%w: %d bytes at %d of %d", storage.ErrOutOfRange, len(p), off, t.total)
	}
	if len(p) == 0 {
		return 0, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, storage.ErrClosed
	}
	for i := off / t.pieceLength; i <= (off+int64(len(p))-1)/t.pieceLength; i++ {
		if t.comp.Has(int(i)) {
			return 0, fmt.Errorf("%w: piece %d", storage.ErrPieceComplete, i)
		}
	}
	err := t.cache.write(p, off, func(p []byte, off int64) error {
		if _, err := t.data.writeAt(p, off); err != nil {
			return fmt.Errorf("opfs: write at %d: %w", off, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (t *torrent) Completion() (storage.Bitfield, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return storage.Bitfield{}, storage.ErrClosed
	}
	b := storage.NewBitfield(t.comp.Len())
	for i := range t.comp.Len() {
		if t.comp.Has(i) {
			b.Set(i, true)
		}
	}
	return b, nil
}

func (t *torrent) MarkComplete(piece int, done bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if piece < 0 || piece >= t.comp.Len() {
		return fmt.Errorf("%w: piece %d of %d", storage.ErrOutOfRange, piece, t.comp.Len())
	}
	if t.closed {
		return storage.ErrClosed
	}
	if done {
		// The verified piece leaves the cache for the file, in one write.
		if b := t.cache.take(piece); b != nil {
			if _, err := t.data.writeAt(b, int64(piece)*t.pieceLength); err != nil {
				return fmt.Errorf("opfs: write piece %d: %w", piece, err)
			}
		}
	}
	t.comp.Set(piece, done)
	t.dirty = true
	return nil
}

func (t *torrent) ForgetCompletion() error {
	t.mu.Lock()
	for i := range t.comp.Len() {
		t.comp.Set(i, false)
	}
	t.dirty = true
	t.mu.Unlock()
	return t.Flush()
}

// Flush makes the data durable, then records the verified pieces: a piece
// is never recorded before its bytes are.
func (t *torrent) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return storage.ErrClosed
	}
	return t.flushLocked()
}

func (t *torrent) flushLocked() error {
	if !t.dirty {
		return nil
	}
	if err := t.data.flush(); err != nil {
		return fmt.Errorf("opfs: flush: %w", err)
	}
	bits := t.comp.Bytes()
	b := make([]byte, 0, 16+len(bits))
	b = append(b, sidecarMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(t.total))
	b = binary.BigEndian.AppendUint32(b, uint32(t.comp.Len()))
	b = append(b, bits...)
	if err := t.side.truncate(int64(len(b))); err != nil {
		return fmt.Errorf("opfs: sidecar: %w", err)
	}
	if _, err := t.side.writeAt(b, 0); err != nil {
		return fmt.Errorf("opfs: sidecar: %w", err)
	}
	if err := t.side.flush(); err != nil {
		return fmt.Errorf("opfs: sidecar: %w", err)
	}
	t.dirty = false
	return nil
}

// Close flushes and releases the handles, so another tab can open them.
func (t *torrent) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	err := t.flushLocked()
	t.closed = true
	return errors.Join(err, t.data.close(), t.side.close())
}

// jsTry runs f, turning a JavaScript exception into an error.
func jsTry(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			je, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = errors.New(je.Error())
		}
	}()
	f()
	return nil
}
