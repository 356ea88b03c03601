package opfs

// DefaultCacheBytes bounds the pieces held in memory while they download
// (pieceCache): 32 MiB is 128 pieces of 256 KiB in progress at once, more
// than the engine keeps in flight (it stops requesting while 8 MiB of
// writes wait), and a small share of a tab's memory.
const DefaultCacheBytes = 32 << 20

// pieceCache holds pieces that are being downloaded in memory until they
// verify; each is then written to the file in one write. Blocks of 16 KiB
// written one by one through a synchronous access handle, and read back for
// hashing, ran at half the speed of memory storage; a verified piece costs
// one write and no read. A piece that does not fit under the cap is written
// through to the file, and stays so (the cache, empty where the file has
// bytes, would hide them).
type pieceCache struct {
	pieceLength, total int64
	cap, used          int64
	pieces             map[int][]byte
	through            map[int]bool
}

func newPieceCache(pieceLength, total, cap int64) *pieceCache {
	return &pieceCache{pieceLength: pieceLength, total: total, cap: cap, pieces: map[int][]byte{}, through: map[int]bool{}}
}

func (c *pieceCache) pieceSize(i int) int64 {
	return min(c.pieceLength, c.total-int64(i)*c.pieceLength)
}

// segments calls fn for each part of [off, off+n) within one piece: the
// piece, the offset in it, and the part's bounds in the caller's slice.
func (c *pieceCache) segments(off int64, n int, fn func(piece int, within int64, lo, hi int) error) error {
	done := 0
	for done < n {
		i := int((off + int64(done)) / c.pieceLength)
		within := off + int64(done) - int64(i)*c.pieceLength
		k := int(min(int64(n-done), c.pieceSize(i)-within))
		if err := fn(i, within, done, done+k); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// write stores p at off, in the cache where it can, else through fn.
func (c *pieceCache) write(p []byte, off int64, through func(p []byte, off int64) error) error {
	return c.segments(off, len(p), func(i int, within int64, lo, hi int) error {
		b := c.pieces[i]
		if b == nil && !c.through[i] && c.used+c.pieceSize(i) <= c.cap {
			b = make([]byte, c.pieceSize(i))
			c.pieces[i] = b
			c.used += int64(len(b))
		}
		if b == nil {
			c.through[i] = true
			return through(p[lo:hi], off+int64(lo))
		}
		copy(b[within:], p[lo:hi])
		return nil
	})
}

// read fills p from off: cached pieces from the cache, the rest through fn.
func (c *pieceCache) read(p []byte, off int64, fill func(p []byte, off int64) error) error {
	return c.segments(off, len(p), func(i int, within int64, lo, hi int) error {
		if b := c.pieces[i]; b != nil {
			copy(p[lo:hi], b[within:])
			return nil
		}
		return fill(p[lo:hi], off+int64(lo))
	})
}

// take removes piece i from the cache and returns its bytes, or nil.
func (c *pieceCache) take(i int) []byte {
	b := c.pieces[i]
	if b != nil {
		delete(c.pieces, i)
		c.used -= int64(len(b))
	}
	return b
}
