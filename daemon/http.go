package daemon

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/swarmcast/swarmcast/httpstream"
	"github.com/swarmcast/swarmcast/web"
)

// SessionHeader is Transmission's guard against cross-site requests: a
// request must carry the id the daemon hands out in its 409 answers.
const SessionHeader = "X-Transmission-Session-Id"

// ErrExposed is returned by CheckListen for an address reachable from other
// hosts when no credentials are set.
var ErrExposed = errors.New("daemon: refusing to serve other hosts without credentials")

// CheckListen refuses an HTTP address reachable from other hosts (anything
// but loopback) when auth is false: the RPC can add torrents and delete
// files, so an open one on a network is anyone's.
func CheckListen(addr string, auth bool) error {
	if auth {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("daemon: HTTP address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	if host == "" {
		host = "every interface"
	}
	return fmt.Errorf("%w: %s listens on %s; set --auth USER:PASS (or SWARMCAST_AUTH), or listen on 127.0.0.1", ErrExposed, addr, host)
}

func newSessionID() string {
	var b [24]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SessionID returns the id RPC clients must send in SessionHeader.
func (d *Daemon) SessionID() string { return d.session }

// Handler returns the daemon's HTTP handler. Every route is behind the same
// guard (Host check, then credentials); the RPC and every request that
// changes something also need the session id.
//
//	/transmission/rpc                 Transmission's RPC
//	/api/...                          our JSON API and /api/events (SSE)
//	/webtorrent/<infohash>/<path>     streams with Range
//	/metrics                          Prometheus
//	/                                 the web UI; /player.html the player
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	stream := httpstream.New(d.cfg.Client)
	mux.HandleFunc("/transmission/rpc", d.serveRPC)
	mux.HandleFunc("/transmission/rpc/", d.serveRPC) // transmission-remote 3.00 asks here
	mux.HandleFunc("/transmission/web/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/", http.StatusFound)
	})
	mux.Handle("/api/", d.apiHandler(stream))
	mux.Handle("/webtorrent/", d.metrics.timeStreams(stream))
	mux.Handle("/metrics", d.metrics.handler())
	assets := web.Handler()
	for _, p := range []string{"/player.html", "/player.js", "/style.css"} {
		mux.Handle(p, assets)
	}
	mux.HandleFunc("/{$}", d.serveUI)
	return d.guard(mux)
}

// guard checks the Host header, then the credentials.
func (d *Daemon) guard(next http.Handler) http.Handler {
	var wantUser, wantPass [sha256.Size]byte
	user, pass, hasAuth := strings.Cut(d.cfg.Auth, ":")
	if hasAuth {
		wantUser, wantPass = sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasAuth && !d.hostAllowed(r.Host) {
			d.metrics.refused.WithLabelValues("host").Inc()
			http.Error(w, "421: Misdirected Request: swarmcast does not answer for the host name "+quoteHost(r.Host)+
				" (a defence against DNS rebinding); use an IP address or localhost, add the name with --allow-host, or set --auth",
				http.StatusMisdirectedRequest)
			return
		}
		if hasAuth {
			u, p, ok := r.BasicAuth()
			// Hashes have one length, so the comparison takes the same
			// time whatever was sent; both halves are always compared.
			gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
			match := subtle.ConstantTimeCompare(gotUser[:], wantUser[:]) & subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
			if !ok || match != 1 {
				d.metrics.refused.WithLabelValues("auth").Inc()
				w.Header().Set("WWW-Authenticate", `Basic realm="swarmcast", charset="UTF-8"`)
				http.Error(w, "401: Unauthorized: user name and password required", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// quoteHost quotes a Host header for an error message, cut short.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "..."
	}
	return fmt.Sprintf("%q", h)
}

// hostAllowed is Transmission's rpc-host-whitelist check: without
// credentials, a browser page from another site could reach a daemon on
// loopback through a DNS name it controls that resolves to 127.0.0.1, so
// only IP addresses, localhost and names the operator listed are answered.
func (d *Daemon) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	for _, a := range d.cfg.AllowedHosts {
		if strings.TrimSuffix(strings.ToLower(a), ".") == host {
			return true
		}
	}
	return false
}

// checkSession answers 409 with the right id unless the request carries it.
func (d *Daemon) checkSession(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Set(SessionHeader, d.session)
	got := r.Header.Get(SessionHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(d.session)) == 1 {
		return true
	}
	d.metrics.refused.WithLabelValues("session").Inc()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusConflict)
	fmt.Fprintf(w, "<h1>409: Conflict</h1><p>The request lacks the current %s header, which guards against requests other sites make in your browser's name (CSRF).</p>"+
		"<p>Take the header from this answer and send the request again with it:</p><p><code>%s: %s</code></p>", SessionHeader, SessionHeader, d.session)
	return false
}
