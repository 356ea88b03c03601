package peerwire

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/swarmcast/swarmcast/bencode"
)

// MaxPEXPeers is the most peers decoded from each list of a PEX message;
// the rest are ignored. BEP 11 lets a message add and drop at most 50 peers
// each; four times that leaves room for lax clients while bounding memory.
const MaxPEXPeers = 200

// Compact peer sizes (BEP 23 for IPv4, BEP 7 for IPv6): address, then a
// big-endian port.
const (
	compactLen4 = 4 + 2
	compactLen6 = 16 + 2
)

// PEXFlags describe an added peer (BEP 11, "added.f").
type PEXFlags uint8

// PEX flag bits (BEP 11).
const (
	// PEXEncryption: the peer prefers encrypted connections.
	PEXEncryption PEXFlags = 0x01
	// PEXSeed: the peer is a seed or upload-only.
	PEXSeed PEXFlags = 0x02
	// PEXUTP: the peer supports uTP (BEP 29).
	PEXUTP PEXFlags = 0x04
	// PEXHolepunch: the peer supports ut_holepunch (BEP 55).
	PEXHolepunch PEXFlags = 0x08
	// PEXReachable: the sender connected to the peer, so it accepts
	// incoming connections.
	PEXReachable PEXFlags = 0x10
)

// PEXPeer is one added peer of a PEX message.
type PEXPeer struct {
	Addr  netip.AddrPort
	Flags PEXFlags
}

// PEX is the payload of a ut_pex message (BEP 11): peers the sender has
// connected to and disconnected from since its last PEX message. IPv4 and
// IPv6 peers share each list; encoding sorts them into "added"/"added6"
// and "dropped"/"dropped6".
type PEX struct {
	Added   []PEXPeer
	Dropped []netip.AddrPort
}

type pexWire struct {
	Added    []byte `bencode:"added,omitempty"`
	AddedF   []byte `bencode:"added.f,omitempty"`
	Added6   []byte `bencode:"added6,omitempty"`
	Added6F  []byte `bencode:"added6.f,omitempty"`
	Dropped  []byte `bencode:"dropped,omitempty"`
	Dropped6 []byte `bencode:"dropped6,omitempty"`
}

// MarshalBinary returns the bencoded payload of p. It fails for an invalid
// (zero) address.
func (p PEX) MarshalBinary() ([]byte, error) {
	var w pexWire
	for _, a := range p.Added {
		ip := a.Addr.Addr().Unmap()
		switch {
		case ip.Is4():
			w.Added = appendCompact(w.Added, ip, a.Addr.Port())
			w.AddedF = append(w.AddedF, byte(a.Flags))
		case ip.Is6():
			w.Added6 = appendCompact(w.Added6, ip, a.Addr.Port())
			w.Added6F = append(w.Added6F, byte(a.Flags))
		default:
			return nil, fmt.Errorf("%w: PEX peer with invalid address", ErrBadExtension)
		}
	}
	for _, a := range p.Dropped {
		ip := a.Addr().Unmap()
		switch {
		case ip.Is4():
			w.Dropped = appendCompact(w.Dropped, ip, a.Port())
		case ip.Is6():
			w.Dropped6 = appendCompact(w.Dropped6, ip, a.Port())
		default:
			return nil, fmt.Errorf("%w: PEX dropped peer with invalid address", ErrBadExtension)
		}
	}
	b, err := bencode.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadExtension, err)
	}
	return b, nil
}

// UnmarshalBinary decodes a ut_pex payload into p. A peer list whose length
// is not a multiple of the compact size is an error; a flags list of the
// wrong length is ignored (the peers get no flags), as are keys of the wrong
// type. IPv4 peers come before IPv6 peers, and each list keeps at most
// MaxPEXPeers of each family.
func (p *PEX) UnmarshalBinary(b []byte) error {
	var w pexWire
	if err := unmarshalDict(b, &w); err != nil {
		return fmt.Errorf("%w: ut_pex: %w", ErrBadExtension, err)
	}
	for _, l := range [...]struct {
		name string
		b    []byte
		size int
	}{{"added", w.Added, compactLen4}, {"added6", w.Added6, compactLen6},
		{"dropped", w.Dropped, compactLen4}, {"dropped6", w.Dropped6, compactLen6}} {
		if len(l.b)%l.size != 0 {
			return fmt.Errorf("%w: ut_pex %q has %d bytes, not a multiple of %d", ErrBadExtension, l.name, len(l.b), l.size)
		}
	}
	n4, n6 := min(len(w.Added)/compactLen4, MaxPEXPeers), min(len(w.Added6)/compactLen6, MaxPEXPeers)
	d4, d6 := min(len(w.Dropped)/compactLen4, MaxPEXPeers), min(len(w.Dropped6)/compactLen6, MaxPEXPeers)
	*p = PEX{}
	if n4+n6 > 0 {
		p.Added = make([]PEXPeer, 0, n4+n6)
	}
	p.Added = appendPEXPeers(p.Added, w.Added, w.AddedF, n4, compactLen4)
	p.Added = appendPEXPeers(p.Added, w.Added6, w.Added6F, n6, compactLen6)
	if d4+d6 > 0 {
		p.Dropped = make([]netip.AddrPort, 0, d4+d6)
	}
	for i := range d4 {
		p.Dropped = append(p.Dropped, parseCompact(w.Dropped[i*compactLen4:], compactLen4))
	}
	for i := range d6 {
		p.Dropped = append(p.Dropped, parseCompact(w.Dropped6[i*compactLen6:], compactLen6))
	}
	return nil
}

func appendPEXPeers(dst []PEXPeer, list, flags []byte, n, size int) []PEXPeer {
	useFlags := len(flags) == len(list)/size
	for i := range n {
		peer := PEXPeer{Addr: parseCompact(list[i*size:], size)}
		if useFlags {
			peer.Flags = PEXFlags(flags[i])
		}
		dst = append(dst, peer)
	}
	return dst
}

// appendCompact appends the compact form of ip and port (BEP 23, BEP 7).
func appendCompact(b []byte, ip netip.Addr, port uint16) []byte {
	b = append(b, addrBytes(ip)...)
	return binary.BigEndian.AppendUint16(b, port)
}

// parseCompact reads one compact peer of size bytes from the start of b.
func parseCompact(b []byte, size int) netip.AddrPort {
	var ip netip.Addr
	if size == compactLen4 {
		ip = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		ip = netip.AddrFrom16([16]byte(b[:16]))
	}
	return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[size-2:]))
}
