//go:build !js

package torrent

import (
	"errors"
	"net"
)

// opErrorCause is the cause inside a *net.OpError in err's chain, or nil.
// (The browser build has no sockets and leaves package net out: see
// operror_js.go.)
func opErrorCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err
	}
	return nil
}
