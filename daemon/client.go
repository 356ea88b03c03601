package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// maxRPCAnswer bounds an answer RPCClient reads: torrent-get of every
// field of thousands of torrents stays well below it.
const maxRPCAnswer = 256 << 20

// RPCClient speaks Transmission's RPC to a daemon (ours or Transmission):
// it does the session-id handshake and basic auth.
type RPCClient struct {
	// URL is the RPC endpoint, like http://127.0.0.1:9091/transmission/rpc.
	URL string
	// User and Password are sent with basic auth when User is not empty.
	User, Password string
	// HTTP is the client used; nil means http.DefaultClient.
	HTTP *http.Client

	mu      sync.Mutex
	session string
}

// Call sends one request and decodes its arguments into out (if not nil).
// A result other than "success" is returned as an error.
func (c *RPCClient) Call(ctx context.Context, method string, args any, out any) error {
	body, err := json.Marshal(map[string]any{"method": method, "arguments": args})
	if err != nil {
		return err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	for attempt := 0; attempt < 2; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		c.mu.Lock()
		req.Header.Set(SessionHeader, c.session)
		c.mu.Unlock()
		if c.User != "" {
			req.SetBasicAuth(c.User, c.Password)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w (is swarmcast serve running there?)", c.URL, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxRPCAnswer))
		resp.Body.Close()
		if err != nil {
			return err
		}
		switch resp.StatusCode {
		case http.StatusConflict:
			c.mu.Lock()
			c.session = resp.Header.Get(SessionHeader)
			c.mu.Unlock()
			continue
		case http.StatusUnauthorized:
			return fmt.Errorf("%s: 401 Unauthorized: give --auth USER:PASS (or set SWARMCAST_AUTH)", c.URL)
		case http.StatusOK:
		default:
			return fmt.Errorf("%s: %s: %s", c.URL, resp.Status, strings.TrimSpace(string(b)))
		}
		var r struct {
			Result    string          `json:"result"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: not an RPC answer: %w", c.URL, err)
		}
		if r.Result != "success" {
			return fmt.Errorf("%s: %s", method, r.Result)
		}
		if out != nil {
			return json.Unmarshal(r.Arguments, out)
		}
		return nil
	}
	return fmt.Errorf("%s: the session-id handshake failed twice", c.URL)
}
