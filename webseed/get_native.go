//go:build !js

package webseed

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

type platformOptions struct {
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
}

func (o *platformOptions) fill() {
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
}

// get reads len(dst) bytes of the file at u from offset off, calling got
// with the bytes read so far as they arrive. An origin that stalls fails
// the request after 30 s plus 1 s per 64 KiB asked for.
func (c *conn) get(ctx context.Context, u string, off int64, dst []byte, got func(n int)) error {
	ctx, cancel := context.WithTimeout(ctx, getTimeout(len(dst)))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", rangeHeader(off, len(dst)))
	req.Header.Set("User-Agent", c.opt.UserAgent)
	resp, err := c.opt.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := checkStatus(u, resp.StatusCode, resp.Status, resp.Header.Get("Content-Range"), false, off); err != nil {
		return err
	}
	for n := 0; n < len(dst); {
		k, err := resp.Body.Read(dst[n:])
		if k > 0 {
			n += k
			got(n)
		}
		if err != nil && n < len(dst) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("GET %s: %w", u, err)
		}
	}
	return nil
}
