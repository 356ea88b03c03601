//go:build js

package wstracker

import (
	"context"

	"github.com/coder/websocket"
)

// dialWebSocket dials with the browser's WebSocket, which sends the
// browser's own User-Agent.
func dialWebSocket(ctx context.Context, url, _ string) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	return ws, err
}
