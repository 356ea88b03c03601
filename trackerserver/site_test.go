package trackerserver

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// TestSiteBesideTracker: a Site gets the plain GETs the tracker does not
// serve, while WebSocket upgrades on the same paths stay the tracker's.
func TestSiteBesideTracker(t *testing.T) {
	site := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "site:"+r.URL.Path)
	})
	ts := startServer(t, Config{Site: site}, false)
	for path, want := range map[string]string{"/watch.html": "site:/watch.html", "/swarmcast.js": "site:/swarmcast.js"} {
		resp, err := http.Get(ts.httpURL(path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("GET %s: %q, want %q", path, b, want)
		}
	}
	resp, err := http.Get(ts.httpURL("/stats"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.HasPrefix(string(b), "site:") {
		t.Error("/stats went to the site")
	}
	c, _, err := websocket.Dial(testCtx(t), ts.wsURL("/watch.html"), nil)
	if err != nil {
		t.Fatalf("WebSocket upgrade on a site path: %v", err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}
