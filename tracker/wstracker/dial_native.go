//go:build !js

package wstracker

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
)

func dialWebSocket(ctx context.Context, url, userAgent string) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader: http.Header{"User-Agent": {userAgent}},
	})
	return ws, err
}
