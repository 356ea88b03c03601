package torrent

import (
	"errors"
	"sync"
	"time"
	"unsafe"

	"github.com/swarmcast/swarmcast/peerwire"
)

// What a peer can make us hold for it is bounded: everything queued for its
// writer is charged to it, and past maxQueuedBytes, or when its writer has
// made no progress for writeStallTimeout while holding data, the peer is
// closed. A peer that sends requests (or ut_metadata requests) and never
// reads our answers otherwise grows our memory without end.
const (
	// maxQueuedBytes is the memory one peer's queue may hold: messages (at
	// their in-memory size) and, for queued blocks, their bookkeeping. Our
	// own traffic to a peer needs far less: 1,024 requests (our deepest
	// pipeline) cost ~150 KiB, a bitfield of 1M pieces 128 KiB.
	maxQueuedBytes = 4 << 20
	// writeStallTimeout closes a peer whose writer has had data to send
	// and finished no write for this long: it has stopped reading. The
	// snub timeout is the same on the receiving side.
	writeStallTimeout = 60 * time.Second
	// maxMetadataQueued bounds the ut_metadata replies (16 KiB each)
	// waiting for one peer: more requested pieces wait, a bit each, until
	// it has read these. 16 cover the info of most torrents (≤ 256 KiB).
	maxMetadataQueued = 16 * peerwire.MetadataPieceSize
	// uploadEntryCost is what a queued block costs us in bookkeeping (a
	// slice entry and a map entry); the data is read from storage only when
	// the writer sends it.
	uploadEntryCost = 48
	// maxQueuedRejects: a peer keeps at most its pipeline of requests
	// outstanding (ours advertises ourReqq), so more rejects waiting to be
	// sent than this mean it asks without reading the answers.
	maxQueuedRejects = 2 * ourReqq
	// maxMetadataRejects: BEP 9 peers ask for a few metadata pieces at a
	// time; this many unsent rejects means a flood.
	maxMetadataRejects = 64
)

// msgOverhead is a queued message's fixed cost: the struct itself.
const msgOverhead = int(unsafe.Sizeof(peerwire.Message{}))

var errSlowReader = errors.New("torrent: peer does not read what we send")

// upload is a block queued to send.
type upload struct {
	key    blockKey
	length uint32
}

// outQueue holds what a peer's writer goroutine should send next. The owner
// fills it; the writer drains it. Cancel is O(1): a cancelled block leaves
// the map, and the writer skips keys no longer in it.
type outQueue struct {
	mu       sync.Mutex
	msgs     []peerwire.Message
	msgBytes int               // memory charged for msgs
	metaData int               // bytes of ut_metadata replies in msgs
	uploads  []upload          // FIFO; may hold cancelled entries
	rejects  []upload          // reject-request messages to send (BEP 6), kept small
	metaRej  int               // ut_metadata rejects in msgs
	wanted   map[blockKey]bool // blocks still to send
	writing  bool              // the writer is inside a write
	progress time.Time         // last time the writer finished a write, or the queue became non-empty
	wake     chan struct{}
}

func newOutQueue() outQueue {
	return outQueue{wanted: map[blockKey]bool{}, wake: make(chan struct{}, 1), progress: time.Now()}
}

func msgCost(m *peerwire.Message) int {
	return msgOverhead + len(m.Piece) + len(m.Bitfield) + len(m.ExtendedPayload)
}

// emptyLocked reports whether nothing waits to be sent.
func (q *outQueue) emptyLocked() bool {
	return len(q.msgs) == 0 && len(q.wanted) == 0 && len(q.rejects) == 0
}

// chargedLocked is the memory the queue holds.
func (q *outQueue) chargedLocked() int {
	return q.msgBytes + (len(q.uploads)+len(q.rejects))*uploadEntryCost
}

// metadataKind says what a queued ut_metadata message is, for its limits.
type metadataKind uint8

const (
	notMetadata metadataKind = iota
	metadataData
	metadataReject
)

// add appends m without waking the writer; it reports false when the queue
// is over its budget.
func (q *outQueue) add(m peerwire.Message, kind metadataKind) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.emptyLocked() && !q.writing {
		q.progress = time.Now()
	}
	q.msgs = append(q.msgs, m)
	q.msgBytes += msgCost(&m)
	switch kind {
	case metadataData:
		q.metaData += len(m.ExtendedPayload)
	case metadataReject:
		q.metaRej++
	}
	return q.chargedLocked() <= maxQueuedBytes && q.metaRej <= maxMetadataRejects
}

// addReject queues a reject-request; it reports false when the peer has
// more unanswered rejects than any honest pipeline makes.
func (q *outQueue) addReject(k blockKey, length uint32) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.emptyLocked() && !q.writing {
		q.progress = time.Now()
	}
	q.rejects = append(q.rejects, upload{k, length})
	return len(q.rejects) <= maxQueuedRejects && q.chargedLocked() <= maxQueuedBytes
}

// metadataQueued returns the bytes of ut_metadata replies not yet sent.
func (q *outQueue) metadataQueued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.metaData
}

// addUpload queues a block. It reports whether it did (false: the block
// already waits to be sent, and is sent once) and whether the queue is
// within budget.
func (q *outQueue) addUpload(k blockKey, length uint32) (added, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wanted[k] {
		return false, true
	}
	if q.emptyLocked() && !q.writing {
		q.progress = time.Now()
	}
	q.wanted[k] = true
	q.uploads = append(q.uploads, upload{k, length})
	return true, q.chargedLocked() <= maxQueuedBytes
}

// uploadCount returns how many blocks wait to be sent.
func (q *outQueue) uploadCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.wanted)
}

// cancelUpload drops a queued block, if still queued.
func (q *outQueue) cancelUpload(k blockKey) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.wanted[k] {
		return false
	}
	delete(q.wanted, k)
	// Cancelled entries stay in the FIFO until the writer reaches them;
	// compact when they are most of it, so cancels cannot grow it.
	if len(q.uploads) > 2*len(q.wanted)+64 {
		kept := q.uploads[:0]
		for _, u := range q.uploads {
			if q.wanted[u.key] {
				kept = append(kept, u)
			}
		}
		clear(q.uploads[len(kept):])
		q.uploads = kept
	}
	return true
}

// dropUploads forgets every queued block and returns them.
func (q *outQueue) dropUploads() []upload {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []upload
	for _, u := range q.uploads {
		if q.wanted[u.key] {
			out = append(out, u)
		}
	}
	q.uploads = nil
	clear(q.wanted)
	return out
}

// take hands the writer the queued messages and rejects (swapping in its
// emptied slices, so nothing is copied) and up to len(ups) blocks; it marks
// the writer busy, and reports how many blocks it took and whether more
// are queued.
func (q *outQueue) take(msgs []peerwire.Message, rejects []upload, ups []upload) ([]peerwire.Message, []upload, int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	clear(msgs)
	if cap(msgs) > 1024 {
		msgs = nil // a burst's array is not kept for the connection's life
	}
	if cap(rejects) > 1024 {
		rejects = nil
	}
	msgs, q.msgs = q.msgs, msgs[:0]
	rejects, q.rejects = q.rejects, rejects[:0]
	q.msgBytes, q.metaData, q.metaRej = 0, 0, 0
	n := 0
	for n < len(ups) && len(q.uploads) > 0 {
		u := q.uploads[0]
		q.uploads[0] = upload{}
		q.uploads = q.uploads[1:]
		if !q.wanted[u.key] {
			continue
		}
		delete(q.wanted, u.key)
		ups[n] = u
		n++
	}
	if len(q.uploads) == 0 {
		q.uploads = nil
	}
	q.writing = len(msgs) > 0 || len(rejects) > 0 || n > 0
	return msgs, rejects, n, len(q.wanted) > 0
}

// wrote records that the writer finished a write.
func (q *outQueue) wrote(idle bool) {
	q.mu.Lock()
	q.progress = time.Now()
	if idle {
		q.writing = false
	}
	q.mu.Unlock()
}

// stalled reports whether data has waited longer than d with no write
// finishing.
func (q *outQueue) stalled(now time.Time, d time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return (!q.emptyLocked() || q.writing) && now.Sub(q.progress) > d
}
