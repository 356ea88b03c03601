package torrent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarmcast/swarmcast/internal/bitfield"
	"github.com/swarmcast/swarmcast/internal/choker"
	"github.com/swarmcast/swarmcast/internal/picker"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/transport"
)

// torrentSpec is what a torrent is added from.
type torrentSpec struct {
	infoHash  metainfo.Hash
	infoBytes []byte
	info      *metainfo.Info
	name      string
	trackers  [][]string
	webSeeds  []string
}

// Torrent is one torrent of a Client. Its methods are safe for concurrent
// use: they ask the torrent's owner goroutine, which alone changes its state.
type Torrent struct {
	c         *Client
	infoHash  metainfo.Hash
	opt       AddOptions
	events    chan event
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed when the owner goroutine has returned
	wg        sync.WaitGroup
	gotInfo   chan struct{}
	closeErr  error
	closeOnce sync.Once

	// Published by the owner for readers on other goroutines.
	completeFlag atomic.Bool
	bytesDown    atomic.Int64 // payload bytes received, all sources
	bytesUp      atomic.Int64 // payload bytes sent
	bytesLeft    atomic.Int64 // wanted bytes still missing
	byNet        netCounters
	localDown    atomic.Int64 // bytes from local peers (Config.LocalNetworks, LSD)
	localUp      atomic.Int64
	swarmPeers   atomic.Int32 // connected peers, web seeds not counted (announcers read it)
	webrtcPeers  atomic.Int32 // connected WebRTC peers, the ones a WebSocket tracker's offers reach (offersWanted)
	connsTotal   atomic.Int64 // peers connected since the torrent was added (Stats.ConnectionsTotal)
	changedMu    sync.Mutex
	changed      chan struct{} // closed and replaced whenever pieces verify
	haveAtomic   []atomic.Uint32
	infoPtr      atomic.Pointer[metainfo.Info]
	errPtr       atomic.Pointer[error] // t.err, for readers on other goroutines
	paused       atomic.Bool           // stopped by Stop or an error: trackers hear "stopped"

	// Owner state: touched only by the owner goroutine.
	spec            torrentSpec
	info            *metainfo.Info
	files           []*File
	store           storage.TorrentStorage
	picker          *picker.Picker
	have            bitfield.Bitfield
	partial         map[int]*pieceState
	freeBlocks      int           // blocks of pieces under way neither received nor requested (sched.Piece.Track)
	changeDue       bool          // a piece was verified: broadcast at the end of the owner's turn
	active          []*pieceState // partial pieces, oldest first (and ended ones, see endPiece)
	activeEnded     int           // ended pieces still in active
	peers           map[*peer]struct{}
	webSeedPeers    int       // connected web seeds
	originStartHeld bool      // the torrent's first moment: the origin sends readers' pieces only (webseeds.go)
	originPeerHeld  bool      // a peer with pieces just connected: the origin waits for it
	originLeader    *peer     // a peer ahead of us that gets what we want: the origin waits for it (webseeds.go)
	originHoldUntil time.Time // until when
	originFrom      time.Time // when the info was known and web seeds started
	// What trackers said of the swarm (trackers.go): an answer came, one
	// told of other peers, and when the first answer came if it did (unix
	// nanoseconds). A torrent alone in its swarm does not hold the origin
	// back for peers that will not come; one whose first answer told of
	// others holds it from then.
	trackerAnswered atomic.Bool
	othersTold      atomic.Bool
	othersFirstAt   atomic.Int64
	localServing    []*peer // local peers unchoking us (tick; at most maxLocalServing)
	peersServing    int     // other peers unchoking us (recounted every tick)
	cands           *candidateList
	readyBuf        []*candidate
	halfOpen        int
	banned          map[string]bool // hosts of peers that sent bad data
	meta            *metadataState
	checking        int // pieces being verified at start
	err             error
	lastChoke       time.Time
	lastOptim       time.Time
	choker          *choker.Choker
	chokeBuf        []choker.Peer
	nextCID         int // the next peer's choker ID
	rechoke         bool
	hashFails       int
	wasted          int64
	rng             *rand.Rand
	basePrio        []picker.Priority // from file priorities alone
	raised          []int             // pieces readers raised above basePrio
	left            int64             // bytes of wanted pieces not verified (basePrio, not readers)
	readers         map[*Reader]readerWindow
	urgent          []int // pieces under readers, playhead first
	inBatch         bool  // handling an evBatch: fillRequests defers to refill
	refill          map[*peer]struct{}
	announceWakes   []chan struct{}             // one per announcer; set before the owner starts
	upLimit         atomic.Pointer[rateLimiter] // this torrent's own limits (SetRateLimits); nil: none
	dnLimit         atomic.Pointer[rateLimiter]
	trackerMu       sync.Mutex              // guards trackerInfo
	trackerInfo     map[string]*TrackerInfo // announce results by URL; the announcers write them
	notices         map[string]string       // conditions the user should hear of, by key
	noMetaSince     time.Time               // since when no connected peer can send the metadata
	rehash          []int                   // pieces whose verification met a passing I/O error
	checkPending    bitfield.Bitfield       // pieces waiting for their start-up check
	imported        bitfield.Bitfield       // pieces given by Import, until their check ends
	importChecks    int                     // of checking, pieces given by Import
	checkCursor     int                     // the next piece verifyAll's checks look at
	checksQueued    int                     // checks queued or running
	diskq           chan diskJob            // the disk worker's queue (disk.go)
	diskOverflow    []diskJob               // jobs waiting for room in diskq, in order
	diskSpare       []diskResult            // a drained result list, reused
	marks           []int                   // verified pieces not yet recorded in storage (markBatch)
	diskCaughtUpAt  time.Time               // when the disk last caught up after falling behind

	// The disk worker's two stages (disk.go): diskLoop writes and passes
	// batches of jobs on finishq to finishLoop; batches come back on
	// batches to be reused.
	finishq chan []diskJob
	batches chan []diskJob
	wbufs   [][]byte           // diskLoop's: reused list of one run's buffers
	whash   map[int]*writeHash // finishLoop's: pieces hashed as their blocks are written, in order

	// Disk results for the owner, filled by the disk and hash workers.
	diskMu   sync.Mutex
	diskRes  []diskResult
	diskWake chan struct{}
	// diskPending counts bytes of writes not yet done; diskThrottled is
	// set while that is over maxDiskBacklog (no new requests);
	// diskOverflowed while the owner holds jobs the queue had no room for.
	diskPending    atomic.Int64
	diskThrottled  atomic.Bool
	diskOverflowed atomic.Bool
	// diskGate is closed when the backlog falls back to half of
	// maxDiskBacklog, waking the readers waitDisk holds; diskGated says
	// one is open.
	diskGateMu sync.Mutex
	diskGate   chan struct{}
	diskGated  atomic.Bool
}

// File is one file of a torrent.
type File struct {
	t       *Torrent
	index   int
	path    string // joined with "/", below the torrent's folder
	length  int64
	offset  int64
	prio    picker.Priority // owner state
	created bool            // an empty file created (owner state)
}

// Path returns the file's path below the torrent's folder, joined with "/".
func (f *File) Path() string { return f.path }

// Length returns the file's size in bytes.
func (f *File) Length() int64 { return f.length }

// Offset returns the offset of the file's first byte in the torrent.
func (f *File) Offset() int64 { return f.offset }

// Index returns the file's index in the torrent.
func (f *File) Index() int { return f.index }

// Torrent returns the torrent the file belongs to.
func (f *File) Torrent() *Torrent { return f.t }

// Priority is how much a file is wanted. The zero value, PriorityNone,
// means not at all: its pieces are not downloaded (a piece it shares with
// a wanted file still is).
type Priority int8

// The priorities a file can have, lowest first. Pieces under a Reader are
// raised above all of them while it reads.
const (
	PriorityNone   = Priority(picker.None)
	PriorityNormal = Priority(picker.Normal)
	PriorityHigh   = Priority(picker.High)
)

// String names the priority.
func (p Priority) String() string { return picker.Priority(p).String() }

// SetPriority sets the file's download priority: PriorityNone skips it.
// Values above PriorityHigh are taken as PriorityHigh: the streaming tiers
// belong to readers.
func (f *File) SetPriority(p Priority) {
	p = min(max(p, PriorityNone), PriorityHigh)
	f.t.do(func() {
		f.prio = picker.Priority(p)
		f.t.updatePiecePriorities()
	})
}

// Priority returns the file's download priority.
func (f *File) Priority() Priority {
	var p Priority
	f.t.do(func() { p = Priority(f.prio) })
	return p
}

func newTorrent(c *Client, spec torrentSpec, opt AddOptions) *Torrent {
	ctx, cancel := context.WithCancel(c.ctx)
	t := &Torrent{
		c:        c,
		infoHash: spec.infoHash,
		opt:      opt,
		events:   make(chan event, 1024),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		gotInfo:  make(chan struct{}),
		changed:  make(chan struct{}),
		spec:     spec,
		partial:  map[int]*pieceState{},
		peers:    map[*peer]struct{}{},
		banned:   map[string]bool{},
		readers:  map[*Reader]readerWindow{},
		refill:   map[*peer]struct{}{},
		notices:  map[string]string{},
		diskq:    make(chan diskJob, diskQueueLen),
		finishq:  make(chan []diskJob, finishBatches),
		batches:  make(chan []diskJob, finishBatches+2),
		diskWake: make(chan struct{}, 1),
		rng:      rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	t.cands = newCandidateList(t.rng)
	t.cands.isLocal = c.cfg.isLocal
	t.choker = choker.New(uploadSlots, t.rng.Uint64())
	t.byNet.init()
	return t
}

// start opens storage if the info is known and starts the owner goroutine,
// trackers and initial peers.
func (t *Torrent) start() error {
	if t.spec.info != nil {
		if err := t.setInfo(t.spec.infoBytes, t.spec.info); err != nil {
			t.cancel()
			return err
		}
	}
	for _, a := range t.opt.Peers {
		t.addCandidate(SourceUser, a)
	}
	if t.opt.Stopped {
		// As fail(ErrStopped) leaves it; nothing runs yet to be told.
		err := ErrStopped
		t.err = err
		t.errPtr.Store(&err)
		t.paused.Store(true)
	}
	t.startTrackers() // before the owner runs: it reads announceWakes
	t.wg.Add(2)
	go t.diskLoop()
	go t.finishLoop()
	go t.run()
	return nil
}

// InfoHash returns the torrent's v1 info hash.
func (t *Torrent) InfoHash() metainfo.Hash { return t.infoHash }

// Name returns the torrent's name, or the magnet link's display name until
// the info arrives.
func (t *Torrent) Name() string {
	if info := t.infoPtr.Load(); info != nil {
		return info.BestName()
	}
	return t.spec.name
}

// GotInfo returns a channel closed once the info dictionary is known.
func (t *Torrent) GotInfo() <-chan struct{} { return t.gotInfo }

// Info returns the info dictionary, or nil until it is known.
func (t *Torrent) Info() *metainfo.Info { return t.infoPtr.Load() }

// Private reports whether the torrent is private (BEP 27: its trackers only,
// no DHT, PEX or local discovery). A torrent added from its metainfo knows
// it from the moment the client lists it, before Info, which waits for the
// storage to open; a magnet link's torrent once its info has arrived.
func (t *Torrent) Private() bool {
	if info := t.infoPtr.Load(); info != nil {
		return info.Private
	}
	return t.spec.info != nil && t.spec.info.Private
}

// InfoBytes returns the bencoded info dictionary, or nil until it is known.
// Saved after a magnet's metadata arrives, it lets a restart add the torrent
// without fetching the metadata again (metainfo.MetaInfo{InfoBytes: b}).
// The caller must not modify it.
func (t *Torrent) InfoBytes() []byte {
	if t.infoPtr.Load() == nil {
		return nil
	}
	var b []byte
	t.do(func() { b = t.spec.infoBytes })
	return b
}

// Files returns the torrent's files, or nil until the info is known.
func (t *Torrent) Files() []*File {
	var out []*File
	t.do(func() { out = t.files })
	return out
}

// AddPeers adds addresses to dial: "host:port" for TCP, or
// "network://host:port". They count as given by the user (SourceUser): they
// are retried sooner and longer than addresses a discovery found.
func (t *Torrent) AddPeers(addrs ...string) {
	t.AddPeersFrom(SourceUser, addrs...)
}

// AddPeersFrom adds addresses to dial that src found. The source decides how
// many of its addresses are kept and how failures are retried, and is shown
// in Stats.
func (t *Torrent) AddPeersFrom(src PeerSource, addrs ...string) {
	t.send(evPeers{src: src, addrs: addrs})
}

// Complete reports whether every wanted piece is verified.
func (t *Torrent) Complete() bool { return t.completeFlag.Load() }

// HavePiece reports whether piece i is verified. Safe from any goroutine.
func (t *Torrent) HavePiece(i int) bool {
	if i < 0 || i >= len(t.haveAtomic)*32 {
		return false
	}
	return t.haveAtomic[i/32].Load()&(1<<(i%32)) != 0
}

// changedChan returns a channel that is closed the next time pieces verify
// or the torrent's state changes.
func (t *Torrent) changedChan() <-chan struct{} {
	t.changedMu.Lock()
	defer t.changedMu.Unlock()
	return t.changed
}

func (t *Torrent) broadcast() {
	t.changedMu.Lock()
	close(t.changed)
	t.changed = make(chan struct{})
	t.changedMu.Unlock()
}

// WaitComplete waits until every wanted piece is verified, the torrent
// fails, or ctx ends.
func (t *Torrent) WaitComplete(ctx context.Context) error {
	for {
		ch := t.changedChan()
		if t.Complete() {
			return nil
		}
		if err := t.Err(); err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.done:
			if t.Complete() {
				return nil
			}
			return ErrClosed
		}
	}
}

// Err returns the error that stopped the torrent (a full disk, say), or nil.
func (t *Torrent) Err() error {
	var err error
	if !t.do(func() { err = t.err }) {
		return ErrClosed
	}
	return err
}

// do runs fn on the owner goroutine and waits for it. It returns false if the
// torrent is closed.
func (t *Torrent) do(fn func()) bool {
	done := make(chan struct{})
	select {
	case t.events <- evCall{fn: fn, done: done}:
	case <-t.done:
		return false
	}
	select {
	case <-done:
		return true
	case <-t.done:
		return false
	}
}

// send delivers an event to the owner unless the torrent is closing.
func (t *Torrent) send(ev event) bool {
	select {
	case t.events <- ev:
		return true
	case <-t.ctx.Done():
		return false
	}
}

// Close stops the torrent: it tells trackers, closes connections, flushes
// storage (keeping verified data and resume state) and removes the torrent
// from its client.
func (t *Torrent) Close() error {
	t.closeOnce.Do(func() {
		t.cancel()
		<-t.done
		t.wg.Wait()
		if t.store != nil {
			t.closeErr = t.store.Close()
		}
		t.c.remove(t)
	})
	return t.closeErr
}

// ourHandshake is the handshake we send.
func (t *Torrent) ourHandshake() peerwire.Handshake {
	h := peerwire.Handshake{InfoHash: t.infoHash, PeerID: t.c.cfg.PeerID}
	h.Reserved.Set(peerwire.ExtendedBit)
	h.Reserved.Set(peerwire.FastBit)
	return h
}

// addConn hands a connection whose handshake is done to the owner.
func (t *Torrent) addConn(conn transport.Conn, hs peerwire.Handshake) error {
	p := newPeer(t, conn, hs)
	if !t.send(evPeerConn{p: p}) {
		return ErrClosed
	}
	return nil
}

// storage is where the torrent's data lives: AddOptions.Storage, or the
// client's.
func (t *Torrent) storage() storage.Storage {
	if t.opt.Storage != nil {
		return t.opt.Storage
	}
	return t.c.cfg.Storage
}

// setInfo installs the info dictionary: opens storage, lays out files and
// pieces, and applies the file selection. Owner goroutine (or before it
// starts).
func (t *Torrent) setInfo(infoBytes []byte, info *metainfo.Info) error {
	store, err := t.storage().OpenTorrent(info, t.infoHash)
	if err != nil {
		return fmt.Errorf("torrent %s: %w", info.BestName(), err)
	}
	n := info.NumPieces()
	t.spec.infoBytes = infoBytes
	t.info = info
	t.store = store
	t.picker = picker.New(n, t.rng.Uint64())
	t.picker.OnWantedChange(t.onWantedChange)
	t.have = bitfield.New(n)
	t.haveAtomic = make([]atomic.Uint32, (n+31)/32)
	for i, f := range info.FileList() {
		prio := picker.Normal
		if f.IsPadding() {
			prio = picker.None
		}
		t.files = append(t.files, &File{t: t, index: i, path: f.DisplayPath(), length: f.Length, offset: f.Offset, prio: prio})
	}
	if t.opt.Select != nil {
		sel := map[int]bool{}
		for _, i := range t.opt.Select {
			sel[i] = true
		}
		for _, f := range t.files {
			if !sel[f.index] {
				f.prio = picker.None
			}
		}
	}
	done, err := store.Completion()
	if err != nil {
		return fmt.Errorf("torrent %s: %w", info.BestName(), err)
	}
	for i := 0; i < n; i++ {
		if t.opt.AssumeComplete || done.Has(i) {
			t.markHave(i)
			if t.opt.AssumeComplete {
				store.MarkComplete(i, true)
			}
		}
	}
	t.updatePiecePriorities()
	t.infoPtr.Store(info)
	close(t.gotInfo)
	if t.opt.Verify && !t.opt.AssumeComplete {
		t.verifyAll()
	}
	t.startWebSeeds(info)
	return nil
}

// markHave records a verified piece.
func (t *Torrent) markHave(i int) {
	if !t.have.Get(i) && i < len(t.basePrio) && t.basePrio[i] != picker.None {
		t.left -= t.info.PieceSize(i)
	}
	t.have.Set(i)
	t.picker.SetHave(i, true)
	t.haveAtomic[i/32].Or(1 << (i % 32))
}

// updatePiecePriorities gives each piece the highest priority of the files
// it holds bytes of, then applies readers' windows, and recomputes what is
// left. It is O(pieces): it runs when file priorities change, not when a
// reader moves (applyReaders).
func (t *Torrent) updatePiecePriorities() {
	if t.info == nil {
		return
	}
	n := t.info.NumPieces()
	if len(t.basePrio) != n {
		t.basePrio = make([]picker.Priority, n)
	}
	clear(t.basePrio)
	for _, f := range t.files {
		if f.length == 0 {
			continue
		}
		first, end := t.info.FilePieces(metainfo.File{Offset: f.offset, Length: f.length})
		for i := first; i < end; i++ {
			t.basePrio[i] = max(t.basePrio[i], f.prio)
		}
	}
	t.raised = t.raised[:0]
	var left int64
	for i, p := range t.basePrio {
		t.picker.SetPriority(i, p)
		if p != picker.None && !t.have.Get(i) {
			left += t.info.PieceSize(i)
		}
	}
	t.left = left
	t.applyReaders()
	t.createEmptyFiles()
	if w, ok := t.store.(storage.FileWanter); ok {
		for _, f := range t.files {
			w.SetFileWanted(f.index, f.prio != picker.None)
		}
	}
	t.updateLeft()
}

// applyReaders raises the pieces under readers to the streaming tiers
// (the piece under each position to Now, its readahead to Readahead), puts
// the pieces no reader needs any more back to their files' priority, and
// cancels requests for pieces nobody wants now. It costs the size of the
// windows, not of the torrent.
func (t *Torrent) applyReaders() {
	n := t.info.NumPieces()
	for _, i := range t.raised {
		t.picker.SetPriority(i, t.basePrio[i])
	}
	t.raised = t.raised[:0]
	t.urgent = t.urgent[:0]
	for _, w := range t.readers {
		if w.first < 0 || w.first >= n {
			continue
		}
		t.picker.SetPriority(w.first, picker.Now)
		t.raised = append(t.raised, w.first)
		t.urgent = append(t.urgent, w.first)
		for i := w.first + 1; i < w.end && i < n; i++ {
			if t.picker.Priority(i) < picker.Readahead {
				t.picker.SetPriority(i, picker.Readahead)
			}
			t.raised = append(t.raised, i)
			t.urgent = append(t.urgent, i)
		}
	}
	// Requests for pieces that nobody wants now (a reader moved away) go.
	for p := range t.peers {
		n := 0
		for k := range p.requests {
			if t.picker.Priority(int(k.index)) == picker.None {
				t.cancelRequest(p, k)
				n++
			}
		}
		if n > 0 {
			p.wakeWriter()
		}
	}
	for p := range t.peers {
		if p.has.Len() > 0 {
			t.fillRequests(p)
		}
	}
}

// createEmptyFiles creates the wanted empty files: they have no bytes, and
// may have no piece that completes (a torrent of only empty files) or one
// nobody wants.
func (t *Torrent) createEmptyFiles() {
	c, ok := t.store.(storage.EmptyFileCreator)
	if !ok {
		return
	}
	for _, f := range t.files {
		if f.length != 0 || f.prio == picker.None || f.created {
			continue
		}
		if err := c.CreateEmptyFile(f.index); err != nil {
			t.diskError("creating "+f.path, err)
			return
		}
		f.created = true
	}
}

// updateLeft publishes the bytes of selected files still missing (kept as
// pieces verify or are lost: t.left) and the complete flag. Pieces wanted
// only by a reader do not count.
func (t *Torrent) updateLeft() {
	left := t.left
	t.bytesLeft.Store(left)
	was := t.completeFlag.Load()
	now := left == 0 && t.checking == 0
	t.completeFlag.Store(now)
	if now != was {
		t.broadcast()
		if now {
			t.onComplete()
		}
	}
}

// fail stops the torrent's transfers after an error that is not any one
// peer's fault, such as a full disk, or at the user's word (Stop). Verified
// data stays; Start resumes.
func (t *Torrent) fail(err error) {
	if t.err != nil {
		return
	}
	t.err = err
	t.errPtr.Store(&err)
	t.paused.Store(true)
	t.wakeAnnouncers()
	if err != ErrStopped {
		t.c.cfg.Logger.Error("torrent stopped", "torrent", t.Name(), "err", err)
	}
	for p := range t.peers {
		p.close(err)
	}
	if t.store != nil {
		t.flushMarks()
		t.submitDisk(diskJob{kind: diskFlush})
	}
	t.broadcast()
}

var errShutdown = errors.New("torrent: shutting down")

// maxNotices bounds the conditions kept for the user: one per user-given
// address, a few of the torrent's own.
const maxNotices = 64

// setNotice records a condition the user should hear of at default
// verbosity (Stats.Warnings); the same key replaces its text.
func (t *Torrent) setNotice(key, text string) {
	if _, ok := t.notices[key]; !ok && len(t.notices) >= maxNotices {
		return
	}
	if t.notices[key] != text {
		t.notices[key] = text
		t.c.cfg.Logger.Info(text, "torrent", t.Name())
	}
}

// clearNotice takes a condition back.
func (t *Torrent) clearNotice(key string) { delete(t.notices, key) }
