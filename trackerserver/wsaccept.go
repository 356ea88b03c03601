package trackerserver

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"
)

// The WebSocket opening handshake (RFC 6455 §4.2), the server's side. The
// tracker takes upgrades from pages of every origin, as bittorrent-tracker
// does, with no subprotocol and no extension (permessage-deflate offers are
// declined by not answering them).

// wsGUID is RFC 6455's magic string for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

var errUpgrade = errors.New("trackerserver: not a WebSocket upgrade this tracker takes")

// acceptWebSocket checks that r is a WebSocket upgrade, takes the
// connection from net/http and writes the 101 response. It returns the
// connection and the bytes the client sent after its request, which
// net/http had already read, in a buffer from inPool (nil for none: most
// clients wait for the response). A request that is no upgrade gets its
// HTTP error here.
func acceptWebSocket(w http.ResponseWriter, r *http.Request) (net.Conn, *[]byte, error) {
	switch {
	case !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1:
		http.Error(w, "WebSocket upgrades need HTTP/1.1", http.StatusBadRequest)
		return nil, nil, errUpgrade
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "WebSocket upgrades use GET", http.StatusMethodNotAllowed)
		return nil, nil, errUpgrade
	case !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket"):
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "Connection: Upgrade and Upgrade: websocket needed", http.StatusUpgradeRequired)
		return nil, nil, errUpgrade
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "Sec-WebSocket-Version 13 needed", http.StatusBadRequest)
		return nil, nil, errUpgrade
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		http.Error(w, "bad Sec-WebSocket-Key", http.StatusBadRequest)
		return nil, nil, errUpgrade
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot upgrade this connection", http.StatusInternalServerError)
		return nil, nil, err
	}
	var early *[]byte
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		early = inPool.Get().(*[]byte)
		*early = append((*early)[:0], b...)
	}
	// net/http's deadlines for the request must not outlive it.
	conn.SetDeadline(time.Time{})
	resp := make([]byte, 0, 160)
	resp = append(resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	resp = append(resp, acceptKey(key)...)
	resp = append(resp, "\r\n\r\n"...)
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(resp); err != nil {
		conn.Close()
		if early != nil {
			putIn(early)
		}
		return nil, nil, err
	}
	conn.SetWriteDeadline(time.Time{})
	return conn, early, nil
}

// acceptKey is Sec-WebSocket-Accept for the client's Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// headerHasToken reports whether a comma-separated header of h holds
// token, in any case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
