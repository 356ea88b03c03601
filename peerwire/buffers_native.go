//go:build !js

package peerwire

import "net"

// buffers is net.Buffers: on a TCP connection its WriteTo is one writev.
type buffers = net.Buffers
