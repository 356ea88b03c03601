package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// The browser client (web/client: the loader, the worker, the service worker
// and the engine built to WebAssembly by scripts/build-wasm.sh into
// web/client/dist). dist is not committed: a fresh clone embeds only its
// placeholder, and the handler then answers 503 with how to build it.
//
//go:embed all:client
var clientFiles embed.FS

// ClientFiles are the browser client's files, served at the top of every
// swarmcast HTTP server and written by Export.
var ClientFiles = []string{"swarmcast.js", "worker.js", "wasm_exec.js", "sw.js", "swarmcast.wasm"}

// pageFiles are the pages served beside the client wherever it is served
// (the tracker too), and written by Export.
var pageFiles = []string{"watch.html", "watch.js", "style.css"}

// ErrNotBuilt means the binary was built without the WebAssembly engine.
var ErrNotBuilt = errors.New("web: swarmcast.wasm is not in this binary: run scripts/build-wasm.sh, then build swarmcast again")

// contentTypes are the types of what we serve; application/wasm is what
// WebAssembly.instantiateStreaming insists on.
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".wasm": "application/wasm",
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// asset is one servable file and its precompressed variants.
type asset struct {
	name  string
	fsys  fs.FS
	path  string            // in fsys
	coded map[string]string // content coding ("br", "gzip") -> path in fsys

	once sync.Once
	etag string // strong, of the raw bytes
}

// site knows where each served name lives.
type site struct {
	assets map[string]*asset // by URL path ("/swarmcast.js")
}

var (
	defaultSiteOnce sync.Once
	defaultSite     *site
)

// theSite is the embedded client and pages, looked up once.
func theSite() *site {
	defaultSiteOnce.Do(func() {
		client, err := fs.Sub(clientFiles, "client")
		if err != nil {
			panic(err) // the embedded tree is fixed at build time
		}
		defaultSite = newSite(client, FS())
	})
	return defaultSite
}

// newSite finds the client's files in client (at its top or in dist/, where
// the build script writes them) and the pages in pages. A file that is
// missing or empty (a placeholder) is left out.
func newSite(client, pages fs.FS) *site {
	s := &site{assets: map[string]*asset{}}
	add := func(name string, fsys fs.FS, dirs ...string) {
		for _, dir := range dirs {
			p := path.Join(dir, name)
			if st, err := fs.Stat(fsys, p); err != nil || st.IsDir() || st.Size() == 0 {
				continue
			}
			a := &asset{name: name, fsys: fsys, path: p, coded: map[string]string{}}
			for coding, ext := range map[string]string{"br": ".br", "gzip": ".gz"} {
				if st, err := fs.Stat(fsys, p+ext); err == nil && st.Size() > 0 {
					a.coded[coding] = p + ext
				}
			}
			s.assets["/"+name] = a
			return
		}
	}
	for _, name := range ClientFiles {
		add(name, client, ".", "dist")
	}
	for _, name := range pageFiles {
		add(name, pages, ".")
	}
	return s
}

// built reports whether the engine's wasm is there.
func (s *site) built() bool { return s.assets["/swarmcast.wasm"] != nil }

// Built reports whether this binary holds the WebAssembly engine, without
// which the watch page cannot play anything.
func Built() bool { return theSite().built() }

// ClientHandler serves the browser client and the watch page at exactly
// their paths (ClientFiles, /watch.html, /watch.js, /style.css), for GET
// and HEAD; anything else is 404. A client file this binary lacks
// (swarmcast.wasm before scripts/build-wasm.sh) is a 503 saying how to
// build it.
func ClientHandler() http.Handler { return theSite() }

// Handler serves the browser client and the watch page as ClientHandler
// does, and the other embedded pages (the player, the index) at every
// other path.
func Handler() http.Handler {
	s, files := theSite(), http.FileServerFS(FS())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.serves(r.URL.Path) {
			s.ServeHTTP(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// serves reports whether p is one of the site's names, built or not.
func (s *site) serves(p string) bool {
	if s.assets[p] != nil {
		return true
	}
	for _, n := range ClientFiles {
		if p == "/"+n {
			return true
		}
	}
	return false
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.serves(r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a := s.assets[r.URL.Path]
	if a == nil {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "503 "+strings.TrimPrefix(ErrNotBuilt.Error(), "web: "), http.StatusServiceUnavailable)
		return
	}
	a.serve(w, r)
}

// serve answers with the raw file or the best precompressed variant the
// request accepts. The names carry no version, so caches must revalidate
// (no-cache) and get a 304 by ETag when nothing changed; the service worker
// keeps its own copy of the wasm for offline starts.
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", contentTypes[path.Ext(a.name)])
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if a.name == "sw.js" {
		// The service worker answers /webtorrent/... for the whole site,
		// whichever page registered it.
		h.Set("Service-Worker-Allowed", "/")
	}
	p, etag := a.path, a.etagOf()
	if len(a.coded) > 0 {
		h.Add("Vary", "Accept-Encoding")
		if coding := chooseEncoding(r.Header.Get("Accept-Encoding"), a.coded); coding != "" {
			p = a.coded[coding]
			h.Set("Content-Encoding", coding)
			etag = strings.TrimSuffix(etag, `"`) + "-" + coding + `"`
		}
	}
	f, err := a.fsys.Open(p)
	if err != nil {
		http.Error(w, "500 "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		http.Error(w, "500 not seekable", http.StatusInternalServerError)
		return
	}
	h.Set("ETag", etag)
	// Embedded files have no modification time; ServeContent then sends
	// no Last-Modified and relies on the ETag.
	http.ServeContent(w, r, a.name, zeroTime, rs)
}

// etagOf is the SHA-256 of the raw file, computed on first use.
func (a *asset) etagOf() string {
	a.once.Do(func() {
		h := sha256.New()
		if f, err := a.fsys.Open(a.path); err == nil {
			io.Copy(h, f)
			f.Close()
		}
		a.etag = `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`
	})
	return a.etag
}

var zeroTime time.Time
