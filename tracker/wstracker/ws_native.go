//go:build !js

package wstracker

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
)

// coderConn is the native WebSocket: coder/websocket over net/http.
type coderConn struct{ c *websocket.Conn }

func dialWebSocket(ctx context.Context, url, userAgent string, readLimit int64) (wsConn, error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader: http.Header{"User-Agent": {userAgent}},
	})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(readLimit)
	return &coderConn{ws}, nil
}

func (w *coderConn) Read(ctx context.Context) ([]byte, error) {
	_, data, err := w.c.Read(ctx)
	return data, err
}

func (w *coderConn) Write(ctx context.Context, data []byte) error {
	return w.c.Write(ctx, websocket.MessageText, data)
}

func (w *coderConn) CloseNow() error { return w.c.CloseNow() }
