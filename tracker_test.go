package swarmcast_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/swarmcast/swarmcast/bencode"
)

// startFakeTracker serves BEP 3 announces that hand out peer (host:port)
// in compact form, and signals each announce on announced. It is an
// ordinary HTTP server on loopback; its URL is returned.
func startFakeTracker(t testing.TB, peer string, announced chan<- struct{}) string {
	t.Helper()
	host, portStr, _ := net.SplitHostPort(peer)
	port, _ := strconv.Atoi(portStr)
	ip := net.ParseIP(host).To4()
	compact := append(append([]byte(nil), ip...), byte(port>>8), byte(port))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case announced <- struct{}{}:
		default:
		}
		b, _ := bencode.Marshal(map[string]any{"interval": 1800, "peers": string(compact)})
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/announce"
}
