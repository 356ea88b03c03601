package daemon

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/swarmcast/swarmcast/httpstream"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

// TorrentJSON is a torrent in our API: the engine's statistics in
// WebTorrent's words, with the daemon's id and state.
type TorrentJSON struct {
	torrent.Stats
	ID          int     `json:"id"`
	State       string  `json:"state"` // stopped, checking, downloading, seeding
	Paused      bool    `json:"paused"`
	Progress    float64 `json:"progress"` // 0..1 of the wanted bytes, as WebTorrent's torrent.progress
	PercentText string  `json:"percentDone"`
	// ServedByPeers is the share of downloaded bytes that came from peers
	// rather than web seeds (the origin), in percent.
	ServedByPeers float64    `json:"servedByPeersPercent"`
	Added         int64      `json:"added"`
	Files         []FileJSON `json:"files,omitempty"`
	Trackers      []string   `json:"trackers,omitempty"`
	PiecesMap     string     `json:"piecesMap,omitempty"`
	// Peers is each connection, the fastest first (detail only).
	Peers []torrent.PeerInfo `json:"peers,omitempty"`
}

// FileJSON is a file of a torrent, with its stream and player URLs.
type FileJSON struct {
	httpstream.FileJSON
	Downloaded int64  `json:"downloaded"`
	Priority   string `json:"priority"`
	PlayerURL  string `json:"playerUrl"`
}

// ClientJSON is the client as a whole.
type ClientJSON struct {
	Version       string           `json:"version"`
	Torrents      int              `json:"torrents"`
	DownloadSpeed float64          `json:"downloadSpeed"`
	UploadSpeed   float64          `json:"uploadSpeed"`
	Downloaded    map[string]int64 `json:"downloaded"`
	Uploaded      map[string]int64 `json:"uploaded"`
	PeersByKind   map[string]int   `json:"peersByKind"`
	ServedByPeers float64          `json:"servedByPeersPercent"`
}

func (d *Daemon) torrentJSON(e *entry, detail bool) TorrentJSON {
	fc := d.newFieldCtx(e)
	s := fc.s
	j := TorrentJSON{Stats: s, ID: e.id, State: stateName(fc.status()), Paused: e.paused, Progress: fc.percentDone(),
		Added: e.added.Unix(), ServedByPeers: servedByPeers(s.Downloaded)}
	j.PercentText = fmt.Sprintf("%d%%", int(j.Progress*100))
	if !detail {
		return j
	}
	if fc.info != nil {
		have := fc.fileBytes()
		list := fc.info.FileList()
		for i, f := range fc.torrentFiles() {
			p := strings.Join(list[i].Path, "/")
			if fc.info.IsDir() {
				p = fc.info.BestName() + "/" + p
			}
			j.Files = append(j.Files, FileJSON{
				FileJSON: httpstream.FileJSON{Index: i, Path: p, Name: list[i].Path[len(list[i].Path)-1], Length: f.Length(),
					Offset: f.Offset(), Type: httpstream.ContentType(p), URL: "/webtorrent/" + e.hash.String() + "/" + escapePath(p)},
				Downloaded: have[i], Priority: f.Priority().String(),
				PlayerURL: fmt.Sprintf("/player.html?torrent=%s&file=%d", e.hash, i),
			})
		}
		var b strings.Builder
		for i := 0; i < s.Pieces; i++ {
			if e.t.HavePiece(i) {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
		j.PiecesMap = b.String()
	}
	for _, tr := range fc.trackers() {
		j.Trackers = append(j.Trackers, tr["announce"].(string))
	}
	j.Peers = e.t.Peers()
	return j
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// servedByPeers is the share of bytes that did not come from web seeds.
func servedByPeers(down map[string]int64) float64 {
	var all int64
	for _, v := range down {
		all += v
	}
	if all == 0 {
		return 0
	}
	return 100 * float64(all-down["webseed"]) / float64(all)
}

func (d *Daemon) clientJSON() ClientJSON {
	c := ClientJSON{Version: d.cfg.Version, Downloaded: map[string]int64{}, Uploaded: map[string]int64{}, PeersByKind: map[string]int{}}
	for _, e := range d.entries() {
		s := e.snapshot()
		c.Torrents++
		c.DownloadSpeed += s.DownloadRate
		c.UploadSpeed += s.UploadRate
		for k, v := range s.Downloaded {
			c.Downloaded[k] += v
		}
		for k, v := range s.Uploaded {
			c.Uploaded[k] += v
		}
		for k, v := range s.PeersByNetwork {
			c.PeersByKind[k] += v
		}
	}
	c.ServedByPeers = servedByPeers(c.Downloaded)
	return c
}

// apiEvent is what the event stream sends each second.
func (d *Daemon) apiEvent() []byte {
	var list []TorrentJSON
	for _, e := range d.entries() {
		list = append(list, d.torrentJSON(e, false))
	}
	b, _ := json.Marshal(map[string]any{"client": d.clientJSON(), "torrents": list})
	return b
}

// apiHandler serves our JSON API:
//
//	GET    /api/client                    the client: speeds, bytes and peers by kind
//	GET    /api/session                   {"sessionId"} for the UI's changing requests
//	GET    /api/torrents                  every torrent
//	GET    /api/torrents/<infohash>       one, with files, trackers and pieces map
//	GET    /api/events                    server-sent events: {client, torrents} each second
//	POST   /api/torrents                  add: JSON {magnet|url|torrent(base64), paused} or a multipart "torrent" file
//	POST   /api/torrents/<infohash>/pause, /resume, /verify
//	DELETE /api/torrents/<infohash>[?deleteData=1]
//
// Requests other than GET need the session header, as the RPC does.
func (d *Daemon) apiHandler(stream http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !d.checkSession(w, r) {
			return
		}
		p := strings.TrimPrefix(r.URL.Path, "/api")
		switch {
		case p == "/client":
			writeJSON(w, http.StatusOK, d.clientJSON())
		case p == "/session":
			writeJSON(w, http.StatusOK, map[string]string{"sessionId": d.session})
		case p == "/events":
			d.serveEvents(w, r)
		case p == "/torrents" || p == "/torrents/":
			switch r.Method {
			case http.MethodGet, http.MethodHead:
				list := []TorrentJSON{}
				for _, e := range d.entries() {
					list = append(list, d.torrentJSON(e, false))
				}
				writeJSON(w, http.StatusOK, list)
			case http.MethodPost:
				d.apiAdd(w, r)
			default:
				apiError(w, http.StatusMethodNotAllowed, errors.New("GET or POST"))
			}
		case strings.HasPrefix(p, "/torrents/"):
			rest := strings.Trim(strings.TrimPrefix(p, "/torrents/"), "/")
			hs, action, _ := strings.Cut(rest, "/")
			h, err := metainfo.ParseHash(hs)
			if err != nil {
				apiError(w, http.StatusBadRequest, err)
				return
			}
			e, ok := d.lookupHash(h)
			if !ok {
				apiError(w, http.StatusNotFound, ErrNoTorrent)
				return
			}
			d.apiTorrent(w, r, e, action)
		default:
			apiError(w, http.StatusNotFound, errors.New("no such API route"))
		}
	})
}

func (d *Daemon) apiTorrent(w http.ResponseWriter, r *http.Request, e *entry, action string) {
	var err error
	switch {
	case action == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(w, http.StatusOK, d.torrentJSON(e, true))
		return
	case action == "" && r.Method == http.MethodDelete:
		del := r.URL.Query().Get("deleteData")
		err = d.remove(e, del == "1" || del == "true")
		if err == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	case action == "pause" && r.Method == http.MethodPost:
		err = d.stop(e)
	case action == "resume" && r.Method == http.MethodPost:
		err = d.start(e)
	case action == "verify" && r.Method == http.MethodPost:
		err = d.verify(e)
	default:
		apiError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: no such action", r.Method, action))
		return
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, d.torrentJSON(e, false))
}

// apiAdd adds a torrent from JSON or a multipart form (the UI's upload).
func (d *Daemon) apiAdd(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRPCBody)
	var req addRequest
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		f, _, err := r.FormFile("torrent")
		if err != nil {
			apiError(w, http.StatusBadRequest, fmt.Errorf("form field \"torrent\": %w", err))
			return
		}
		defer f.Close()
		if req.Metainfo, err = io.ReadAll(f); err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
		req.Paused = r.FormValue("paused") == "true"
	} else {
		var a struct {
			Magnet  string `json:"magnet"`
			URL     string `json:"url"`
			Torrent string `json:"torrent"`
			Paused  bool   `json:"paused"`
		}
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
		req.Paused = a.Paused
		switch {
		case a.Torrent != "":
			b, err := base64.StdEncoding.DecodeString(a.Torrent)
			if err != nil {
				apiError(w, http.StatusBadRequest, fmt.Errorf("torrent: not base64: %w", err))
				return
			}
			req.Metainfo = b
		case strings.HasPrefix(a.Magnet, "magnet:"):
			req.Magnet = a.Magnet
		case isInfoHash(a.Magnet):
			req.Magnet = "magnet:?xt=urn:btih:" + a.Magnet
		case strings.HasPrefix(a.URL, "magnet:"):
			req.Magnet = a.URL
		case strings.HasPrefix(a.URL, "http://") || strings.HasPrefix(a.URL, "https://"):
			b, err := d.fetch(r.Context(), a.URL)
			if err != nil {
				apiError(w, http.StatusBadGateway, err)
				return
			}
			req.Metainfo = b
		default:
			apiError(w, http.StatusBadRequest, errors.New("give magnet, an http(s) url, or torrent (base64)"))
			return
		}
	}
	e, err := d.add(req)
	switch {
	case errors.Is(err, ErrDuplicate):
		apiError(w, http.StatusConflict, err)
	case err != nil:
		apiError(w, http.StatusBadRequest, err)
	default:
		writeJSON(w, http.StatusCreated, d.torrentJSON(e, false))
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// maxListeners bounds the event streams open at once: each holds a
// goroutine and a connection, and each second's event is built once for all.
const maxListeners = 64

// serveEvents streams the torrents' state as server-sent events.
func (d *Daemon) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		apiError(w, http.StatusInternalServerError, errors.New("streaming not supported"))
		return
	}
	ch, leave, ok := d.events.join()
	if !ok {
		apiError(w, http.StatusServiceUnavailable, fmt.Errorf("%d event streams are open, the most served at once", maxListeners))
		return
	}
	defer leave()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\nevent: torrents\ndata: %s\n\n", d.apiEvent())
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case b, ok := <-ch:
			if !ok {
				return
			}
			fmt.Fprintf(w, "event: torrents\ndata: %s\n\n", b)
			fl.Flush()
		}
	}
}

// broker hands each event to every listener; a slow listener misses
// events (it keeps the newest), it never holds others up.
type broker struct {
	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	closed bool
}

func newBroker() *broker { return &broker{subs: map[chan []byte]struct{}{}} }

func (b *broker) join() (<-chan []byte, func(), bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.subs) >= maxListeners {
		return nil, nil, false
	}
	ch := make(chan []byte, 1)
	b.subs[ch] = struct{}{}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}, true
}

func (b *broker) listeners() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

func (b *broker) publish(ev []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
			select { // drop the older event, keep the newest
			case <-ch:
			default:
			}
			select {
			case ch <- ev:
			default:
			}
		}
	}
}

func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}
