package torrent

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/swarmcast/swarmcast/internal/bitfield"
	"github.com/swarmcast/swarmcast/internal/sha1"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
)

// The owner goroutine never touches the disk: a slow disk must not stall
// the loop that every peer, reader and Stats call goes through. Each torrent
// has a disk worker that takes jobs in order from a bounded queue (writes,
// completion marks, flushes, smart-ban reads), in two stages: one writes,
// the other hashes what was written and does the rest, and hands pieces
// that must be read back to the client's pool of hash workers; results
// come back to the owner on a list that never blocks the worker. Jobs of a
// piece run in the order they were queued, so its hash never runs before
// its writes.
const (
	// diskQueueLen bounds the jobs queued for a torrent's disk worker: 64
	// blocks (1 MiB) of writes. When the disk is slower than the network,
	// the owner waits for room, its peers' readers wait for it, and TCP
	// pushes back on the senders.
	diskQueueLen = 64
	// hashChunk is what a hash worker reads at a time, and so its buffer:
	// hashing memory is bounded by workers × hashChunk, not by the piece
	// length (up to 16 MiB, or more in the wild).
	hashChunk = 256 << 10
	// maxDiskBacklog is the bytes of writes the disk may be behind before
	// no new blocks are requested: the owner never waits for the disk, so
	// the backlog is bounded by this plus what was already asked for.
	maxDiskBacklog = 8 << 20
	// checksPerWorker is how many start-up checks a torrent keeps queued
	// per hash worker: enough to keep them busy, few enough that a reader's
	// pieces are checked next.
	checksPerWorker = 2
)

type diskKind uint8

const (
	diskWrite diskKind = iota
	diskHash
	diskMark
	diskFlush
	diskBanRead
	diskCaughtUp // the backlog fell below maxDiskBacklog: request again
	diskForget   // a recheck: every piece recorded incomplete (ForgetCompletion)
)

// diskJob is work for a torrent's disk worker.
type diskJob struct {
	kind     diskKind
	piece    int
	begin    uint32
	data     []byte      // diskWrite: a block from the client's pool, given back after
	hash     bool        // diskWrite: the block is the whole piece: verify it from memory too
	pieces   []int       // diskMark: the pieces to record as verified
	check    bool        // diskHash: a start-up (or recheck) verification
	suspects *pieceState // diskBanRead: the piece whose failed attempts left suspects
	err      error       // diskWrite: what writing it gave, for finishLoop
}

// diskResult is what the owner hears back. Writes and marks that succeed
// send nothing.
type diskResult struct {
	kind   diskKind
	piece  int
	begin  uint32
	err    error
	ok     bool       // diskHash: the piece matches its hash
	check  bool       // diskHash: a start-up check
	absent bool       // diskHash check: no data there, nothing hashed
	blocks [][20]byte // diskHash failed: each block's SHA-1, for smart-ban
	liars  []*peer    // diskBanRead: suspects whose blocks differ from the verified piece
}

// hashJob is a piece for the client's hash workers.
type hashJob struct {
	t     *Torrent
	piece int
	check bool
}

// submitDisk queues a job for the disk worker. The owner never waits for
// the disk: a job that finds the queue full waits in an overflow list (in
// order, after any before it), and the worker wakes the owner to pump it.
func (t *Torrent) submitDisk(j diskJob) {
	if j.kind == diskWrite {
		if t.diskPending.Add(int64(len(j.data))) > maxDiskBacklog && !t.diskThrottled.Load() {
			t.diskThrottled.Store(true)
			t.c.cfg.Logger.Debug("disk behind; requests paused", "torrent", t.Name())
		}
	}
	if len(t.diskOverflow) == 0 {
		select {
		case t.diskq <- j:
			return
		default:
		}
	}
	t.diskOverflow = append(t.diskOverflow, j)
	t.diskOverflowed.Store(true)
}

// pumpDisk moves overflowed jobs into the queue while it has room.
func (t *Torrent) pumpDisk() {
	for len(t.diskOverflow) > 0 {
		select {
		case t.diskq <- t.diskOverflow[0]:
			t.diskOverflow[0] = diskJob{}
			t.diskOverflow = t.diskOverflow[1:]
		default:
			return
		}
	}
	t.diskOverflow = nil
	t.diskOverflowed.Store(false)
}

// deliverDisk hands a result to the owner without blocking.
func (t *Torrent) deliverDisk(r diskResult) {
	t.diskMu.Lock()
	t.diskRes = append(t.diskRes, r)
	t.diskMu.Unlock()
	t.wakeOwner()
}

func (t *Torrent) wakeOwner() {
	select {
	case t.diskWake <- struct{}{}:
	default:
	}
}

// drainDisk handles the results the disk side delivered. Owner goroutine.
func (t *Torrent) drainDisk() {
	t.diskMu.Lock()
	res := t.diskRes
	t.diskRes = t.diskSpare[:0]
	t.diskMu.Unlock()
	for i := range res {
		t.onDisk(res[i])
		res[i] = diskResult{}
	}
	t.diskSpare = res
	t.pumpDisk()
}

// diskLoop is the torrent's disk worker, the first of its two stages: it
// takes jobs from the queue in order, writes each run of blocks, and hands
// the jobs on, a batch at a time, to finishLoop, which hashes the written
// blocks and does every other job. Writing and hashing, each about a second
// per GiB, so run on two cores at once, and in order: a job reaches the
// second stage only after every write queued before it is done.
//
// It ends after the owner has returned (t.done), not when the torrent's
// context ends, so that nothing the owner queued or held back at the last
// moment is lost: queued writes, the overflow list and the last batch of
// verified pieces are finished; hashing is not.
func (t *Torrent) diskLoop() {
	defer t.wg.Done()
	defer close(t.finishq)
	for {
		select {
		case j := <-t.diskq:
			t.writeAndPass(t.takeJobs(j))
			if t.diskOverflowed.Load() {
				t.wakeOwner()
			}
		case <-t.done:
			// The owner's state is ours now: it has returned.
			batch := t.newBatch()
			add := func(j diskJob) {
				if j.kind == diskHash || j.kind == diskBanRead {
					return
				}
				if batch = append(batch, j); len(batch) == maxWriteBatch {
					t.writeAndPass(batch)
					batch = t.newBatch()
				}
			}
			for {
				select {
				case j := <-t.diskq:
					add(j)
					continue
				default:
				}
				break
			}
			for _, j := range t.diskOverflow {
				add(j)
			}
			t.diskOverflow = nil
			if len(t.marks) > 0 {
				add(diskJob{kind: diskMark, pieces: t.marks})
				t.marks = nil
			}
			t.writeAndPass(batch)
			return
		}
	}
}

// finishLoop is the disk worker's second stage: it finishes each write
// (hashes the block while it is in hand, gives it back, reports an error)
// and does every other job, in queue order. It ends when diskLoop has
// passed on its last batch.
func (t *Torrent) finishLoop() {
	defer t.wg.Done()
	// Running hashes do not outlive a run: the files may change while the
	// torrent is stopped.
	t.whash = nil
	defer func() { t.whash = nil }()
	for batch := range t.finishq {
		info := t.infoPtr.Load()
		for i := range batch {
			if j := batch[i]; j.kind == diskWrite {
				t.wrote(info, j)
			} else {
				t.doDisk(j)
			}
		}
		// The jobs' blocks are back in the pool: a kept batch must not
		// hold them.
		clear(batch)
		select {
		case t.batches <- batch[:0]:
		default:
		}
	}
}

// maxWriteBatch is how many queued jobs the disk worker takes at once:
// contiguous writes go to storage in one vectored write.
const maxWriteBatch = 64

// finishBatches is how many batches may wait for finishLoop, and so how
// far writing may run ahead of hashing; the blocks they hold count against
// maxDiskBacklog until finishLoop gives them back.
const finishBatches = 4

// newBatch returns an empty batch, reused if one is free.
func (t *Torrent) newBatch() []diskJob {
	select {
	case b := <-t.batches:
		return b
	default:
		return make([]diskJob, 0, maxWriteBatch)
	}
}

// takeJobs returns j and, if it is a write, the jobs queued behind it, up
// to maxWriteBatch in all: the first job that is not a write ends the
// batch.
func (t *Torrent) takeJobs(j diskJob) []diskJob {
	batch := append(t.newBatch(), j)
	for j.kind == diskWrite && len(batch) < maxWriteBatch {
		select {
		case j = <-t.diskq:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

// writeAndPass does the writes of a batch and hands the batch to
// finishLoop, waiting while finishBatches are ahead of it.
func (t *Torrent) writeAndPass(batch []diskJob) {
	if len(batch) == 0 {
		return
	}
	t.writeBatch(batch)
	t.finishq <- batch
}

// writeBatch does the writes among batch's jobs in the order given, each
// run of blocks that follow one another in the torrent with one call where
// storage allows, and records each one's error in its job.
func (t *Torrent) writeBatch(batch []diskJob) {
	info := t.infoPtr.Load()
	vw, _ := t.store.(storage.VectorWriter)
	for len(batch) > 0 {
		if batch[0].kind != diskWrite {
			batch = batch[1:]
			continue
		}
		n := 1
		if vw != nil {
			end := blockOffset(info, batch[0]) + int64(len(batch[0].data))
			for n < len(batch) && batch[n].kind == diskWrite && blockOffset(info, batch[n]) == end {
				end += int64(len(batch[n].data))
				n++
			}
		}
		run := batch[:n]
		batch = batch[n:]
		var err error
		if n > 1 {
			bufs := t.wbufs[:0]
			for _, j := range run {
				bufs = append(bufs, j.data)
			}
			err = vw.WriteVAt(bufs, blockOffset(info, run[0]))
			clear(bufs)
			t.wbufs = bufs[:0]
		}
		if n == 1 || err != nil {
			// Alone, or the run failed: block by block, so that each
			// error is reported for the piece it hit.
			for i := range run {
				_, run[i].err = t.store.WriteAt(run[i].data, blockOffset(info, run[i]))
			}
		}
	}
}

func (t *Torrent) doDisk(j diskJob) {
	switch j.kind {
	case diskHash:
		if !j.check && t.hashedWhileWriting(j.piece) {
			return
		}
		select {
		case t.c.hashJobs <- hashJob{t: t, piece: j.piece, check: j.check}:
		case <-t.ctx.Done():
		}
	case diskMark:
		for _, i := range j.pieces {
			if err := t.store.MarkComplete(i, true); err != nil {
				t.deliverDisk(diskResult{kind: diskMark, piece: i, err: err})
				break
			}
		}
	case diskForget:
		if err := t.store.ForgetCompletion(); err != nil && !errors.Is(err, storage.ErrClosed) {
			t.deliverDisk(diskResult{kind: diskForget, err: err})
		}
	case diskFlush:
		if err := t.store.Flush(); err != nil && !errors.Is(err, storage.ErrClosed) {
			t.deliverDisk(diskResult{kind: diskFlush, err: err})
		}
	case diskBanRead:
		var liars []*peer
		sums, err := t.blockSums(j.piece, make([]byte, hashChunk))
		if err == nil {
			liars = j.suspects.Liars(sums)
		}
		t.deliverDisk(diskResult{kind: diskBanRead, piece: j.piece, liars: liars, err: err})
	}
}

func blockOffset(info *metainfo.Info, j diskJob) int64 {
	return int64(j.piece)*info.PieceLength + int64(j.begin)
}

// wrote finishes the write of block j: reports its error, or hashes the
// block while it is in hand; and gives the block back. finishLoop.
func (t *Torrent) wrote(info *metainfo.Info, j diskJob) {
	switch {
	case j.err != nil:
		delete(t.whash, j.piece)
		t.deliverDisk(diskResult{kind: diskWrite, piece: j.piece, begin: j.begin, err: j.err})
	case j.hash:
		// A one-block piece (16 KiB pieces: 100k-piece torrents) is
		// verified from the block in hand: no read back, no hand-off to a
		// hash worker, which cost more than the hash itself.
		r := diskResult{kind: diskHash, piece: j.piece, ok: sha1.Sum(j.data) == info.PieceHash(j.piece)}
		if !r.ok {
			r.blocks = [][20]byte{sha1.Sum(j.data)}
		}
		t.deliverDisk(r)
	default:
		t.hashWhileWriting(j)
	}
	t.c.blocks.Put(j.data)
	if pending := t.diskPending.Add(-int64(len(j.data))); pending <= maxDiskBacklog/2 {
		if t.diskThrottled.Load() {
			t.diskThrottled.Store(false)
			t.deliverDisk(diskResult{kind: diskCaughtUp})
		}
		if t.diskGated.Load() {
			t.diskGateMu.Lock()
			close(t.diskGate)
			t.diskGate = nil
			t.diskGated.Store(false)
			t.diskGateMu.Unlock()
		}
	}
}

// waitDisk holds a peer's reader while the disk is more than
// maxDiskBacklog behind, until it is back to half that or ctx ends; it
// reports whether to go on. Blocks already requested keep arriving when
// the disk falls behind (new requests stop at once); they wait in the
// kernel then, not in our memory, so the backlog in memory is bounded by
// maxDiskBacklog plus what each reader has on its way to the owner.
func (t *Torrent) waitDisk(ctx context.Context) bool {
	for t.diskPending.Load() > maxDiskBacklog {
		t.diskGateMu.Lock()
		if t.diskGate == nil {
			t.diskGate = make(chan struct{})
			t.diskGated.Store(true)
		}
		gate := t.diskGate
		t.diskGateMu.Unlock()
		if t.diskPending.Load() <= maxDiskBacklog/2 {
			// Caught up before the gate was seen: the disk worker may
			// not look at it again.
			return true
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// writeHash is the SHA-1 of a piece's first bytes, fed as its blocks are
// written in order.
type writeHash struct {
	h    hash.Hash
	next int64 // the offset in the piece of the next byte it wants
}

// maxWriteHashes bounds the pieces hashed while writing; beyond it, the
// table is emptied and those pieces are read back to be verified.
const maxWriteHashes = 1024

// hashWhileWriting feeds block j, just written, to its piece's running
// hash when it is the next block in order: a piece whose blocks arrive in
// order (the common case: one peer, requests in order) is then verified
// without reading it back or handing it to a hash worker. A block out of
// order ends that piece's running hash (the piece is read back instead); a
// block at 0 starts it again, since a piece fetched again starts there.
// Every write lands here in queue order, so the running hash always covers
// the bytes last written to the piece's start.
func (t *Torrent) hashWhileWriting(j diskJob) {
	wh := t.whash[j.piece]
	switch {
	case j.begin == 0:
		if wh == nil {
			if t.whash == nil || len(t.whash) >= maxWriteHashes {
				t.whash = make(map[int]*writeHash)
			}
			wh = &writeHash{h: sha1.New()}
			t.whash[j.piece] = wh
		}
		wh.h.Reset()
		wh.next = 0
	case wh == nil:
		return
	case int64(j.begin) != wh.next:
		delete(t.whash, j.piece)
		return
	}
	wh.h.Write(j.data)
	wh.next += int64(len(j.data))
}

// hashedWhileWriting delivers the result of piece i's verification if its
// running hash covers the whole piece, and reports whether it did.
func (t *Torrent) hashedWhileWriting(i int) bool {
	wh := t.whash[i]
	if wh == nil {
		return false
	}
	delete(t.whash, i)
	info := t.infoPtr.Load()
	if wh.next != info.PieceSize(i) {
		return false
	}
	var sum [20]byte
	wh.h.Sum(sum[:0])
	r := diskResult{kind: diskHash, piece: i, ok: sum == info.PieceHash(i)}
	if !r.ok {
		// Smart-ban wants each block's sum: read them back, as a hash
		// worker would.
		r.blocks, r.err = t.blockSums(i, make([]byte, hashChunk))
	}
	t.deliverDisk(r)
	return true
}

// readPiece calls fn with the piece's bytes, hashChunk at a time, read into
// buf.
func (t *Torrent) readPiece(i int, buf []byte, fn func(off int64, b []byte)) error {
	info := t.infoPtr.Load()
	size := info.PieceSize(i)
	base := int64(i) * info.PieceLength
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		got, err := t.store.ReadAt(buf[:n], base+off)
		if err != nil && !(errors.Is(err, io.EOF) && int64(got) == n) {
			return err
		}
		fn(off, buf[:n])
		off += n
	}
	return nil
}

// hash verifies a piece on a hash worker, with the worker's buffer, and
// delivers the result. A failed piece is read a second time for its blocks'
// sums (smart-ban): failures are rare, and this keeps one pass for the rest.
func (t *Torrent) hash(j hashJob, buf []byte) {
	if t.ctx.Err() != nil {
		return
	}
	info := t.infoPtr.Load()
	i := j.piece
	r := diskResult{kind: diskHash, piece: i, check: j.check}
	if j.check {
		// Hashing a piece whose bytes were never written only proves it
		// missing; a fresh download skips all of that.
		if presence, ok := t.store.(storage.DataPresence); ok && !presence.HasData(int64(i)*info.PieceLength, info.PieceSize(i)) {
			r.absent = true
			t.deliverDisk(r)
			return
		}
	}
	h := sha1.New()
	if err := t.readPiece(i, buf, func(_ int64, b []byte) { h.Write(b) }); err != nil {
		r.err = err
		t.deliverDisk(r)
		return
	}
	var sum [20]byte
	h.Sum(sum[:0])
	r.ok = sum == info.PieceHash(i)
	if !r.ok && !j.check {
		r.blocks, r.err = t.blockSums(i, buf)
	}
	t.deliverDisk(r)
}

// blockSums returns the SHA-1 of each block of piece i as stored.
func (t *Torrent) blockSums(i int, buf []byte) ([][20]byte, error) {
	size := t.infoPtr.Load().PieceSize(i)
	sums := make([][20]byte, (size+BlockSize-1)/BlockSize)
	h := sha1.New()
	err := t.readPiece(i, buf[:len(buf)/BlockSize*BlockSize], func(off int64, b []byte) {
		for len(b) > 0 {
			n := min(len(b), BlockSize)
			h.Reset()
			h.Write(b[:n])
			h.Sum(sums[off/BlockSize][:0])
			b, off = b[n:], off+int64(n)
		}
	})
	return sums, err
}

// hashWorker is one of the client's hash workers.
func (c *Client) hashWorker() {
	defer c.wg.Done()
	var buf []byte
	for {
		select {
		case j := <-c.hashJobs:
			if buf == nil {
				buf = make([]byte, hashChunk)
			}
			j.t.hash(j, buf)
		case <-c.ctx.Done():
			return
		}
	}
}

// onDisk handles a disk result. Owner goroutine.
func (t *Torrent) onDisk(r diskResult) {
	switch r.kind {
	case diskWrite:
		if st := t.partial[r.piece]; st != nil {
			// The block is lost: the piece is fetched again (its hash, if
			// queued, is ignored), and no peer is blamed.
			st.WriteFailed = true
			if !st.Hashing {
				t.resetPiece(st)
			}
		}
		t.diskError(fmt.Sprintf("writing piece %d", r.piece), r.err)
	case diskHash:
		t.onHashed(evHashed{piece: r.piece, ok: r.ok, err: r.err, check: r.check, absent: r.absent, blocks: r.blocks})
	case diskMark:
		t.diskError(fmt.Sprintf("recording piece %d", r.piece), r.err)
	case diskFlush:
		t.diskError("saving resume data", r.err)
	case diskForget:
		t.diskError("forgetting verified pieces for a recheck", r.err)
	case diskCaughtUp:
		t.diskCaughtUpAt = time.Now()
		for p := range t.peers {
			t.fillRequests(p)
		}
	case diskBanRead:
		if r.err != nil {
			t.c.cfg.Logger.Debug("smart-ban read failed", "piece", r.piece, "err", r.err)
		}
		for _, p := range r.liars {
			t.ban(p)
		}
	}
}

// markBatch is how many verified pieces are recorded in storage with one
// disk job: one job per piece cost more than the record itself with small
// pieces. A tick, completion and a stop record the rest.
const markBatch = 64

// markVerified queues piece i to be recorded as verified in storage.
func (t *Torrent) markVerified(i int) {
	t.marks = append(t.marks, i)
	if len(t.marks) >= markBatch {
		t.flushMarks()
	}
}

// flushMarks hands the pieces verified since the last batch to the disk
// worker.
func (t *Torrent) flushMarks() {
	if len(t.marks) == 0 {
		return
	}
	t.submitDisk(diskJob{kind: diskMark, pieces: t.marks})
	t.marks = nil
}

// hashPiece queues piece i for verification.
func (t *Torrent) hashPiece(i int, check bool) {
	t.submitDisk(diskJob{kind: diskHash, piece: i, check: check})
}

// verifyAll checks every piece not known good (at start-up, Start and
// Recheck). Pieces wait their turn while downloading and streaming go on
// for the others: a piece waiting to be checked counts as had for the
// picker (not wanted, not requested) until its check says otherwise.
func (t *Torrent) verifyAll() {
	n := t.info.NumPieces()
	if t.checkPending.Len() != n {
		t.checkPending = bitfield.New(n)
	}
	// Pieces of files with no data on disk at all are not checked: a fresh
	// download of 100k pieces would otherwise queue 100k checks that each
	// find nothing. One look per file, here; per piece, on the workers.
	maybe := bitfield.New(n)
	presence, _ := t.store.(storage.DataPresence)
	for _, f := range t.files {
		if f.length == 0 || (presence != nil && !presence.HasData(f.offset, f.length)) {
			continue
		}
		first, end := t.info.FilePieces(metainfo.File{Offset: f.offset, Length: f.length})
		for i := first; i < end; i++ {
			maybe.Set(i)
		}
	}
	for i := 0; i < n; i++ {
		if t.have.Get(i) || t.checkPending.Get(i) || t.partial[i] != nil || !maybe.Get(i) {
			continue
		}
		t.awaitCheck(i)
	}
	t.checkCursor = 0
	t.scheduleChecks()
}

// awaitCheck makes piece i wait for a check from storage, which
// scheduleChecks queues: until the check says otherwise the picker counts
// it as had, so it is neither wanted nor requested. checkPending is sized.
func (t *Torrent) awaitCheck(i int) {
	t.checkPending.Set(i)
	t.picker.SetHave(i, true)
	t.checking++
	t.checkCursor = min(t.checkCursor, i)
}

// scheduleChecks keeps a few checks queued: pieces under readers first,
// then in order.
func (t *Torrent) scheduleChecks() {
	most := checksPerWorker * t.c.nHash
	for t.checksQueued < most && t.checking > t.checksQueued {
		i := -1
		for _, u := range t.urgent {
			if t.checkPending.Get(u) {
				i = u
				break
			}
		}
		if i < 0 {
			for t.checkCursor < t.checkPending.Len() && !t.checkPending.Get(t.checkCursor) {
				t.checkCursor++
			}
			if t.checkCursor >= t.checkPending.Len() {
				return
			}
			i = t.checkCursor
		}
		t.checkPending.Clear(i)
		t.checksQueued++
		t.hashPiece(i, true)
	}
}

// checked ends the start-up check of piece i. Owner goroutine.
func (t *Torrent) checked(i int, ok bool) {
	t.checking--
	t.checksQueued--
	if i < t.imported.Len() && t.imported.Get(i) {
		t.imported.Clear(i)
		t.importChecks--
	}
	if ok {
		t.pieceVerified(i)
	} else {
		t.picker.SetHave(i, false) // wanted again: peers see our interest
	}
	t.scheduleChecks()
	if t.checking == 0 {
		t.updateLeft()
	}
}
