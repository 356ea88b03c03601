package daemon

import (
	_ "embed"
	"net/http"
)

// uiPage is the web UI: one page, its script and style inline, no asset
// from anywhere else.
//
//go:embed ui/index.html
var uiPage []byte

func (d *Daemon) serveUI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page loads nothing from elsewhere, and no other site may frame it.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; media-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Write(uiPage)
}
