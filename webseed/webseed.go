// Package webseed fetches a torrent's data from an HTTP origin (BEP 19,
// "GetRight-style" web seeds) and presents the origin to the engine as a
// peer: a transport.Conn that speaks the BitTorrent wire protocol, has every
// piece, and answers each request with bytes fetched by HTTP Range requests.
//
// The engine needs nothing special for it beyond knowing the conn's network
// (transport.WebSeed): pipelining, hash checks, smart-ban and byte counting by
// source all work as for any peer, and the engine decides which pieces the
// origin is asked for.
//
// URLs map to files as BEP 19 says: for a single-file torrent the URL is the
// file (a URL ending in "/" gets the torrent's name appended); for a
// multi-file torrent the URL is the folder holding the torrent's folder, and
// each file is at URL + name + "/" + path, each element escaped. Contiguous
// requests are merged into one Range request (up to Options.MaxRequestBytes),
// and a range that spans files becomes one request per file. BEP 47 padding
// files are never fetched: their bytes are zeros.
package webseed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/internal/sha1"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/transport"
)

// Options tune a web seed conn. The zero value is usable.
type Options struct {
	// platformOptions holds what only one build has: natively Client,
	// the *http.Client that sends the requests (nil means
	// http.DefaultClient); in the browser nothing, as requests go through
	// fetch.
	platformOptions
	// UserAgent is sent with every request; empty means "swarmcast". A
	// browser sends its own.
	UserAgent string
	// Parallel is how many Range requests run at once; 0 means 4.
	Parallel int
	// MaxRequestBytes caps one Range request made of merged block
	// requests; 0 means 4 MiB.
	MaxRequestBytes int64
	// MaxFailures is how many failed fetches in a row close the conn, so
	// the engine drops the origin; 0 means 3.
	MaxFailures int
}

// PeerIDPrefix starts the peer ID a web seed conn presents; the rest is a
// hash of its URL, so two web seeds never look like one peer.
const PeerIDPrefix = "-SCWS00-"

// request is one block the engine asked for.
type request struct {
	index, begin, length uint32
}

// conn is the engine's side: it writes to in and reads from out.
type conn struct {
	url      string
	infoHash metainfo.Hash
	info     *metainfo.Info
	files    []metainfo.File
	opt      Options

	inR  *io.PipeReader // what the engine writes
	inW  *io.PipeWriter
	outR *io.PipeReader // what the engine reads
	outW *io.PipeWriter

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []request
	closed   bool
	failures int
	// inflight maps each request being fetched to its fetch; a Cancel for
	// every request of a fetch aborts its HTTP request, so the origin
	// stops sending what the engine got elsewhere.
	inflight map[request]*flight

	encMu sync.Mutex
	enc   *peerwire.Encoder
}

// New returns a conn that serves the torrent from the web seed at rawURL.
// It starts working when the engine sends its handshake.
func New(rawURL string, infoHash metainfo.Hash, info *metainfo.Info, opt Options) (transport.Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webseed: %q is not an http or https URL", rawURL)
	}
	if info == nil {
		return nil, errors.New("webseed: the torrent's info is needed")
	}
	opt.fill()
	if opt.UserAgent == "" {
		opt.UserAgent = "swarmcast"
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 4
	}
	if opt.MaxRequestBytes <= 0 {
		opt.MaxRequestBytes = 4 << 20
	}
	if opt.MaxFailures <= 0 {
		opt.MaxFailures = 3
	}
	c := &conn{url: rawURL, infoHash: infoHash, info: info, files: info.FileList(), opt: opt}
	c.inR, c.inW = io.Pipe()
	c.outR, c.outW = io.Pipe()
	c.enc = peerwire.NewEncoder(c.outW)
	c.cond = sync.NewCond(&c.mu)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.run()
	return c, nil
}

func (c *conn) Read(p []byte) (int, error)  { return c.outR.Read(p) }
func (c *conn) Write(p []byte) (int, error) { return c.inW.Write(p) }
func (c *conn) Network() string             { return transport.WebSeed }
func (c *conn) RemoteAddr() string          { return c.url }
func (c *conn) Outbound() bool              { return true }

// Close stops every fetch and ends both directions.
func (c *conn) Close() error {
	c.closeWith(io.ErrClosedPipe)
	return nil
}

func (c *conn) closeWith(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.queue = nil
	c.cond.Broadcast()
	c.mu.Unlock()
	c.cancel()
	c.inR.CloseWithError(err)
	c.outW.CloseWithError(err)
}

// run answers the handshake, then reads the engine's messages and queues
// its requests for the fetchers.
func (c *conn) run() {
	hs, err := peerwire.ReadHandshake(c.inR)
	if err != nil {
		c.closeWith(err)
		return
	}
	if hs.InfoHash != c.infoHash {
		c.closeWith(errors.New("webseed: handshake for another torrent"))
		return
	}
	ours := peerwire.Handshake{InfoHash: c.infoHash}
	ours.Reserved.Set(peerwire.FastBit)
	copy(ours.PeerID[:], PeerIDPrefix)
	sum := sha1.Sum([]byte(c.url))
	copy(ours.PeerID[len(PeerIDPrefix):], sum[:])
	if err := peerwire.WriteHandshake(c.outW, ours); err != nil {
		c.closeWith(err)
		return
	}
	if err := c.send(peerwire.Message{Type: peerwire.HaveAll}, peerwire.Message{Type: peerwire.Unchoke}); err != nil {
		c.closeWith(err)
		return
	}
	for range c.opt.Parallel {
		go c.fetcher()
	}
	go c.keepAlive()
	dec := peerwire.NewDecoderConfig(c.inR, peerwire.DecoderConfig{MaxMessageLength: c.info.NumPieces()/8 + 1024})
	var m peerwire.Message
	for {
		if err := dec.Decode(&m); err != nil {
			c.closeWith(err)
			return
		}
		switch m.Type {
		case peerwire.Request:
			if !c.valid(m.Index, m.Begin, m.Length) {
				c.send(peerwire.Message{Type: peerwire.RejectRequest, Index: m.Index, Begin: m.Begin, Length: m.Length})
				continue
			}
			c.mu.Lock()
			c.queue = append(c.queue, request{m.Index, m.Begin, m.Length})
			c.cond.Signal()
			c.mu.Unlock()
		case peerwire.Cancel:
			r := request{m.Index, m.Begin, m.Length}
			c.mu.Lock()
			for i, q := range c.queue {
				if q == r {
					c.queue = append(c.queue[:i], c.queue[i+1:]...)
					break
				}
			}
			if f := c.inflight[r]; f != nil && !f.cancelled[r] {
				f.cancelled[r] = true
				if f.remaining--; f.remaining == 0 {
					f.cancel() // nothing of it is wanted any more
				}
			}
			c.mu.Unlock()
		}
		// Everything else (interest, haves, keep-alives) needs no answer.
	}
}

// flight is one HTTP fetch of a batch of requests.
type flight struct {
	cancel    context.CancelFunc
	remaining int // requests of the batch not cancelled
	cancelled map[request]bool
}

// keepAliveInterval keeps the engine from dropping an origin that has
// nothing to send while it is not asked for anything.
const keepAliveInterval = 90 * time.Second

func (c *conn) keepAlive() {
	t := time.NewTicker(keepAliveInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			if c.send(peerwire.Message{Type: peerwire.KeepAlive}) != nil {
				return
			}
		}
	}
}

// valid reports whether a request lies inside its piece.
func (c *conn) valid(index, begin, length uint32) bool {
	if int(index) >= c.info.NumPieces() || length == 0 || length > 1<<20 {
		return false
	}
	return int64(begin)+int64(length) <= c.info.PieceSize(int(index))
}

// send writes messages to the engine.
func (c *conn) send(ms ...peerwire.Message) error {
	c.encMu.Lock()
	defer c.encMu.Unlock()
	for _, m := range ms {
		if err := c.enc.WriteMessage(m); err != nil {
			return err
		}
	}
	return c.enc.Flush()
}

// minShare is the smallest batch take makes to leave work for the other
// fetchers: below it, a Range request's round trip costs more than running
// it beside others gains.
const minShare = 256 << 10

// take waits for requests and takes the first with those that follow it
// in the torrent's bytes, up to MaxRequestBytes and, when more is queued,
// to a share of the queue: the fetchers run side by side on what the engine
// asked for, so an origin (or a path) that limits each response still
// gives Parallel times that rate.
func (c *conn) take() ([]request, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queue) == 0 && !c.closed {
		c.cond.Wait()
	}
	if c.closed {
		return nil, false
	}
	var queued int64
	for _, r := range c.queue {
		queued += int64(r.length)
	}
	limit := min(c.opt.MaxRequestBytes, max(minShare, (queued+int64(c.opt.Parallel)-1)/int64(c.opt.Parallel)))
	batch := []request{c.queue[0]}
	c.queue = c.queue[1:]
	size := int64(batch[0].length)
	for size < limit {
		last := batch[len(batch)-1]
		next := c.offset(last) + int64(last.length)
		j := -1
		for i, r := range c.queue {
			if c.offset(r) == next {
				j = i
				break
			}
		}
		if j < 0 {
			break
		}
		batch = append(batch, c.queue[j])
		size += int64(c.queue[j].length)
		c.queue = append(c.queue[:j], c.queue[j+1:]...)
	}
	if len(c.queue) == 0 {
		c.queue = nil // let a long queue's array go
	}
	return batch, true
}

func (c *conn) offset(r request) int64 {
	return int64(r.index)*c.info.PieceLength + int64(r.begin)
}

// fetcher fetches batches of requests until the conn closes. Each block is
// handed to the engine as soon as its bytes have arrived, not at the end of
// its batch: a reader waiting on the first block of a 1 MiB range from an
// origin sending 1 MB/s waits milliseconds, not a second, and the swarm can
// have the piece as soon as it is verified.
func (c *conn) fetcher() {
	for {
		batch, ok := c.take()
		if !ok {
			return
		}
		start := c.offset(batch[0])
		var size int64
		for _, r := range batch {
			size += int64(r.length)
		}
		buf := make([]byte, size)
		ctx, cancel := context.WithCancel(c.ctx)
		f := &flight{cancel: cancel, remaining: len(batch), cancelled: map[request]bool{}}
		c.mu.Lock()
		if c.inflight == nil {
			c.inflight = map[request]*flight{}
		}
		for _, r := range batch {
			c.inflight[r] = f
		}
		c.mu.Unlock()
		next := 0      // batch[next] is the first block not handed on yet
		var at int64   // its offset in buf
		var werr error // the engine's side failed
		deliver := func(filled int64) {
			for werr == nil && next < len(batch) && at+int64(batch[next].length) <= filled {
				r := batch[next]
				c.mu.Lock()
				skip := f.cancelled[r]
				if c.inflight[r] == f {
					delete(c.inflight, r)
				}
				if !skip {
					c.failures = 0 // the origin is serving
					if f.remaining--; f.remaining == 0 && next+1 < len(batch) {
						cancel() // the rest was cancelled: the origin stops sending it
					}
				}
				c.mu.Unlock()
				if !skip {
					werr = c.send(peerwire.Message{Type: peerwire.Piece, Index: r.index, Begin: r.begin, Piece: buf[at : at+int64(r.length)]})
				}
				at += int64(r.length)
				next++
			}
		}
		err := c.fetch(ctx, start, buf, deliver)
		cancel()
		if werr != nil {
			c.closeWith(werr)
			return
		}
		c.mu.Lock()
		var rejects []peerwire.Message
		for _, r := range batch[next:] {
			if c.inflight[r] == f {
				delete(c.inflight, r)
			}
			if !f.cancelled[r] {
				rejects = append(rejects, peerwire.Message{Type: peerwire.RejectRequest, Index: r.index, Begin: r.begin, Length: r.length})
			}
		}
		c.mu.Unlock()
		if len(rejects) == 0 {
			continue // all of it handed on, or cancelled by the engine
		}
		if err == nil {
			err = errors.New("the response ended early") // fetch fills buf when it succeeds
		}
		if c.ctx.Err() != nil {
			return
		}
		c.send(rejects...)
		c.mu.Lock()
		c.failures++
		fail := c.failures >= c.opt.MaxFailures
		c.mu.Unlock()
		if fail {
			c.closeWith(&transport.OriginError{URL: c.url, Err: err})
			return
		}
	}
}

// fetch fills buf with the torrent's bytes from offset start, one Range
// request per file the range touches, telling filled how many bytes of buf,
// from its start, have arrived each time more have.
func (c *conn) fetch(ctx context.Context, start int64, buf []byte, filled func(int64)) error {
	end := start + int64(len(buf))
	for _, f := range c.files {
		lo, hi := max(start, f.Offset), min(end, f.Offset+f.Length)
		if lo >= hi {
			continue
		}
		base := lo - start
		dst := buf[base : hi-start]
		if f.IsPadding() {
			clear(dst)
			filled(hi - start)
			continue
		}
		if err := c.get(ctx, c.fileURL(f), lo-f.Offset, dst, func(n int) { filled(base + int64(n)) }); err != nil {
			return err
		}
	}
	return nil
}

// fileURL is where BEP 19 puts file f.
func (c *conn) fileURL(f metainfo.File) string {
	if !c.info.IsDir() {
		if strings.HasSuffix(c.url, "/") {
			return c.url + url.PathEscape(c.info.BestName())
		}
		return c.url
	}
	var b strings.Builder
	b.WriteString(c.url)
	if !strings.HasSuffix(c.url, "/") {
		b.WriteByte('/')
	}
	b.WriteString(url.PathEscape(c.info.BestName()))
	for _, p := range f.Path {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

// getTimeout bounds one Range request of n bytes: an origin that stalls
// fails it after 30 s plus 1 s per 64 KiB asked for.
func getTimeout(n int) time.Duration {
	return 30*time.Second + time.Duration(n>>16)*time.Second
}

func rangeHeader(off int64, n int) string {
	return fmt.Sprintf("bytes=%d-%d", off, off+int64(n)-1)
}

// checkStatus checks a Range response's status line and Content-Range.
// hidden says the Content-Range could not be read: a browser hides it from
// a cross-origin page unless the origin exposes it
// (Access-Control-Expose-Headers), and a 206 is then taken on trust (the
// pieces' hashes still check every byte).
func checkStatus(u string, code int, status, contentRange string, hidden bool, off int64) error {
	switch code {
	case 206:
		if !hidden && !strings.HasPrefix(contentRange, fmt.Sprintf("bytes %d-", off)) {
			return fmt.Errorf("GET %s: Content-Range %q does not start at %d", u, contentRange, off)
		}
	case 200:
		// A server that ignores Range sends the whole file: usable only
		// from its start, and only the bytes we asked for are read.
		if off != 0 {
			return fmt.Errorf("GET %s: the server ignores Range requests", u)
		}
	default:
		return fmt.Errorf("GET %s: %s", u, status)
	}
	return nil
}
