package tracker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Sizes of one peer in a compact peer list.
const (
	// CompactIPv4Size is 4 address bytes and a 2-byte big-endian port (BEP 23).
	CompactIPv4Size = 6
	// CompactIPv6Size is 16 address bytes and a 2-byte big-endian port (BEP 7).
	CompactIPv6Size = 18
)

// ErrCompactLength is returned for a compact peer list whose length is not a
// multiple of the size of one peer.
var ErrCompactLength = errors.New("tracker: compact peer list length is not a multiple of the peer size")

// ParseCompactIPv4 decodes a BEP 23 compact peer list: 6 bytes per peer.
func ParseCompactIPv4(b []byte) ([]netip.AddrPort, error) {
	return parseCompact(b, CompactIPv4Size)
}

// ParseCompactIPv6 decodes a BEP 7 compact IPv6 peer list: 18 bytes per
// peer. IPv4-mapped addresses come back as plain IPv4 addresses.
func ParseCompactIPv6(b []byte) ([]netip.AddrPort, error) {
	return parseCompact(b, CompactIPv6Size)
}

func parseCompact(b []byte, size int) ([]netip.AddrPort, error) {
	if len(b)%size != 0 {
		return nil, fmt.Errorf("%w: %d bytes, peer size %d", ErrCompactLength, len(b), size)
	}
	if len(b) == 0 {
		return nil, nil
	}
	peers := make([]netip.AddrPort, 0, len(b)/size)
	for ; len(b) > 0; b = b[size:] {
		ip := size - 2
		var addr netip.Addr
		if ip == 4 {
			addr = netip.AddrFrom4([4]byte(b[:4]))
		} else {
			addr = netip.AddrFrom16([16]byte(b[:16])).Unmap()
		}
		peers = append(peers, netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[ip:])))
	}
	return peers, nil
}

// AppendCompact appends p in compact form to dst: 6 bytes for an IPv4 (or
// IPv4-mapped) address, 18 bytes for an IPv6 address. It appends nothing for
// an invalid address.
func AppendCompact(dst []byte, p netip.AddrPort) []byte {
	addr := p.Addr()
	if !addr.IsValid() {
		return dst
	}
	if addr.Is4() || addr.Is4In6() {
		a := addr.Unmap().As4()
		dst = append(dst, a[:]...)
	} else {
		a := addr.As16()
		dst = append(dst, a[:]...)
	}
	return binary.BigEndian.AppendUint16(dst, p.Port())
}
