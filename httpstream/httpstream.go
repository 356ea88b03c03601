// Package httpstream serves torrents over HTTP while they download:
// /webtorrent/<infohash>/<path> with Range requests, as WebTorrent's own
// server shapes its URLs, plus a JSON API of torrents, files and live
// statistics for players and dashboards.
package httpstream

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

// Handler serves a client's torrents. Routes:
//
//	GET /webtorrent/                      JSON list of torrents and their files
//	GET /webtorrent/<infohash>/           JSON of one torrent: files and statistics
//	GET, HEAD /webtorrent/<infohash>/<path> the file's bytes, with Range
//	GET /api/torrents                     statistics of every torrent
//	GET /api/torrents/<infohash>          statistics, files and pieces map of one
type Handler struct {
	c *torrent.Client
}

// New returns a handler for c's torrents.
func New(c *torrent.Client) *Handler { return &Handler{c: c} }

// extraTypes fills in media types that Go's table may lack, so that
// browsers play files instead of downloading them.
var extraTypes = map[string]string{
	".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".mkv": "video/x-matroska",
	".mov": "video/quicktime", ".ogv": "video/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
	".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg", ".flac": "audio/flac", ".wav": "audio/wav",
	".vtt": "text/vtt", ".srt": "application/x-subrip", ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t",
}

// ContentType returns the media type for a file name.
func ContentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := extraTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// ServeHTTP implements http.Handler: a file of a torrent at
// /webtorrent/<infohash>/<path> (Range requests answered from a Reader),
// the index of torrents at /webtorrent/, and the JSON API under /api/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/webtorrent" || p == "/webtorrent/":
		h.serveIndex(w, r)
	case strings.HasPrefix(p, "/webtorrent/"):
		rest := strings.TrimPrefix(p, "/webtorrent/")
		ih, filePath, _ := strings.Cut(rest, "/")
		t, ok := h.lookup(ih)
		if !ok {
			http.Error(w, "no such torrent: "+ih, http.StatusNotFound)
			return
		}
		if filePath == "" {
			h.serveTorrent(w, r, t)
			return
		}
		h.serveFile(w, r, t, filePath)
	case p == "/api/torrents" || p == "/api/torrents/":
		h.serveIndex(w, r)
	case strings.HasPrefix(p, "/api/torrents/"):
		t, ok := h.lookup(strings.Trim(strings.TrimPrefix(p, "/api/torrents/"), "/"))
		if !ok {
			http.Error(w, "no such torrent", http.StatusNotFound)
			return
		}
		h.serveTorrent(w, r, t)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) lookup(s string) (*torrent.Torrent, bool) {
	ih, err := metainfo.ParseHash(s)
	if err != nil {
		return nil, false
	}
	return h.c.Torrent(ih)
}

// FileJSON describes a file of a torrent.
type FileJSON struct {
	Index  int    `json:"index"`
	Path   string `json:"path"` // WebTorrent's file.path: the torrent name first for a folder
	Name   string `json:"name"`
	Length int64  `json:"length"`
	Offset int64  `json:"offset"`
	Type   string `json:"type"`
	URL    string `json:"url"` // the stream URL, relative to the server
}

// TorrentJSON is a torrent with its files and live statistics.
type TorrentJSON struct {
	torrent.Stats
	Files []FileJSON `json:"files"`
	// ServedByPeers is the share of downloaded bytes that came from peers
	// rather than from web seeds (the origin), in percent.
	ServedByPeers float64 `json:"servedByPeersPercent"`
	// PiecesMap has one character per piece: '1' verified, '0' not.
	PiecesMap string `json:"piecesMap,omitempty"`
	URL       string `json:"url"`
}

// webPath is WebTorrent's file.path: for a multi-file torrent the torrent's
// name, then the file's path.
func webPath(t *torrent.Torrent, f *torrent.File) string {
	info := t.Info()
	if info != nil && info.IsDir() {
		return info.BestName() + "/" + f.Path()
	}
	return f.Path()
}

// escapePath escapes each component of a slash-separated path.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func describe(t *torrent.Torrent, withPieces bool) TorrentJSON {
	out := TorrentJSON{Stats: t.Stats(), Files: []FileJSON{}, URL: "/webtorrent/" + t.InfoHash().String() + "/"}
	for _, f := range t.Files() {
		wp := webPath(t, f)
		out.Files = append(out.Files, FileJSON{
			Index: f.Index(), Path: wp, Name: path.Base(wp), Length: f.Length(), Offset: f.Offset(),
			Type: ContentType(wp), URL: "/webtorrent/" + t.InfoHash().String() + "/" + escapePath(wp),
		})
	}
	var peers, all int64
	for kind, n := range out.Downloaded {
		all += n
		if kind != "webseed" {
			peers += n
		}
	}
	if all > 0 {
		out.ServedByPeers = 100 * float64(peers) / float64(all)
	}
	if withPieces && out.HasInfo {
		b := make([]byte, out.Pieces)
		for i := range b {
			b[i] = '0'
			if t.HavePiece(i) {
				b[i] = '1'
			}
		}
		out.PiecesMap = string(b)
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	list := []TorrentJSON{}
	for _, t := range h.c.Torrents() {
		list = append(list, describe(t, false))
	}
	writeJSON(w, list)
}

func (h *Handler) serveTorrent(w http.ResponseWriter, r *http.Request, t *torrent.Torrent) {
	writeJSON(w, describe(t, true))
}

// serveFile streams one file. http.ServeContent does Range (single, suffix),
// If-Range with our ETag, HEAD and Content-Length; the reader waits for the
// pieces a request needs, raising them to the front of the queue.
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, t *torrent.Torrent, filePath string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	select {
	case <-t.GotInfo():
	case <-r.Context().Done():
		return
	}
	var file *torrent.File
	for _, f := range t.Files() {
		if webPath(t, f) == filePath || f.Path() == filePath {
			file = f
			break
		}
	}
	if file == nil {
		http.Error(w, "no such file in torrent: "+filePath, http.StatusNotFound)
		return
	}
	rd := file.NewReader()
	defer rd.Close()
	rd.SetContext(r.Context())
	w.Header().Set("Content-Type", ContentType(filePath))
	// The bytes of a file in a torrent never change: its info hash and
	// index name them for good.
	w.Header().Set("ETag", fmt.Sprintf(`"%s-%d"`, t.InfoHash(), file.Index()))
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	http.ServeContent(w, r, path.Base(filePath), time.Time{}, rd)
}
