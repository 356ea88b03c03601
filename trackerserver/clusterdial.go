package trackerserver

import (
	"net"

	"github.com/nats-io/nats.go"
)

// NATSDialer dials an instance's NATS connection so that its reads and
// writes use raw system calls (rawConn), as the tracker's sockets do. Give it
// to nats.Connect with nats.SetCustomDialer. Its zero value dials with no
// timeout; set Dialer.Timeout.
//
// Why: nats.go reads and writes its socket from goroutines of its own, each
// write and read a system call that the Go runtime sees. In a mostly idle
// process the runtime's monitor sleeps, and every such call wakes it, after
// which it polls every 20 µs for a while: in bench/tracker/cluster.sh (two
// instances, 500 announces/s) the monitor made about a third of each
// instance's context switches. A raw call on the non-blocking socket does
// not wake it.
type NATSDialer struct {
	Dialer net.Dialer
}

var _ nats.CustomDialer = (*NATSDialer)(nil)

// Dial dials address and wraps the connection in raw system calls where the
// platform has them (Linux); elsewhere the connection is returned as dialed.
func (d *NATSDialer) Dial(network, address string) (net.Conn, error) {
	c, err := d.Dialer.Dial(network, address)
	if err != nil {
		return nil, err
	}
	return wrapConn(c), nil
}
