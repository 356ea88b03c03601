package peerwire

import "sync"

// BlockPool recycles block buffers so that a download does not allocate one
// per piece message. It is safe for concurrent use; one pool can serve every
// connection of a client. The zero value is a pool of DefaultMaxBlockLength
// buffers.
//
// A buffer from Get belongs to the caller until it hands it back with Put,
// for example after the block has been written to storage.
type BlockPool struct {
	size int
	// bufs holds *pooled with a buffer; spare holds *pooled without one, so
	// that Put can box a []byte without allocating (a []byte put straight
	// into a sync.Pool would allocate its slice header every time).
	bufs, spare sync.Pool
}

type pooled struct{ b []byte }

// NewBlockPool returns a pool of buffers of size bytes; size 0 means
// DefaultMaxBlockLength.
func NewBlockPool(size int) *BlockPool {
	return &BlockPool{size: max(size, 0)}
}

// Size returns the capacity of the pool's buffers.
func (p *BlockPool) Size() int {
	if p.size == 0 {
		return DefaultMaxBlockLength
	}
	return p.size
}

// Get returns a buffer of length n. When n is larger than Size it is freshly
// allocated (and Put will not keep it).
func (p *BlockPool) Get(n int) []byte {
	size := p.Size()
	if n > size {
		return make([]byte, n)
	}
	if v, ok := p.bufs.Get().(*pooled); ok {
		b := v.b
		v.b = nil
		p.spare.Put(v)
		return b[:n]
	}
	return make([]byte, n, size)
}

// Put hands b back to the pool. b must not be used afterwards. Buffers whose
// capacity is not the pool's Size (not from this pool) are dropped.
func (p *BlockPool) Put(b []byte) {
	if cap(b) != p.Size() {
		return
	}
	v, ok := p.spare.Get().(*pooled)
	if !ok {
		v = new(pooled)
	}
	v.b = b[:0]
	p.bufs.Put(v)
}
