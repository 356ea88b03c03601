//go:build !linux

package trackerserver

import "net"

// wrapConn returns c: raw socket calls (rawconn_linux.go) are Linux-only.
func wrapConn(c net.Conn) net.Conn { return c }
