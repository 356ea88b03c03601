package swarmcast

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// listen opens the TCP listener of addr as written; only "" (the default
// port) falls back to any free port, and then portErr says why.
func listen(lc tcp.ListenConfig, addr string) (l transport.Listener, portErr error, err error) {
	if addr == "" {
		l, err := lc.Listen(DefaultListenAddr)
		if err == nil {
			return l, nil, nil
		}
		if l, err2 := lc.Listen(":0"); err2 == nil {
			return l, unwrapOp(err), nil
		}
		addr = DefaultListenAddr
	} else if l, err = lc.Listen(addr); err == nil {
		return l, nil, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, nil, fmt.Errorf("%w: port %s of %s is in use by another program (or another client); choose another port, or port 0 for any free one (%w)",
			ErrPortTaken, portOf(addr), addr, unwrapOp(err))
	}
	return nil, nil, fmt.Errorf("swarmcast: listening on %s: %w", addr, err)
}

// unwrapOp drops the "listen tcp :6881:" of a net.OpError, which the
// message around it already says.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// hasNetwork reports whether any interface other than loopback is up with an
// address: without one, WebRTC can only use loopback candidates.
func hasNetwork() bool {
	ifaces, err := net.Interfaces()
	if err != nil {
		return true
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if addrs, err := ifc.Addrs(); err == nil && len(addrs) > 0 {
			return true
		}
	}
	return false
}
