package dht

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/anacrolix/dht/v2/krpc"
)

// The routing table file: a header line, then one record per node: its
// 20-byte id, its IP address as 16 bytes (IPv4 mapped), its port (2 bytes,
// big-endian), as BEP 32's compact node info.
const (
	nodesHeader = "swarmcast dht nodes 1\n"
	nodeRecord  = 20 + 16 + 2
	// maxSavedNodes bounds what is read back: a routing table holds at
	// most 160 buckets of 8 nodes (BEP 5's k).
	maxSavedNodes = 160 * 8
)

// ErrNodesFile reports a routing table file that is not one.
var ErrNodesFile = errors.New("dht: not a routing table file")

// SaveNodes writes nodes to file, atomically (a new file renamed over the
// old), keeping at most maxSavedNodes.
func SaveNodes(file string, nodes []krpc.NodeInfo) error {
	b := AppendNodes(nil, nodes)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".dht-nodes-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("dht: saving the routing table: %w", err)
	}
	return nil
}

// AppendNodes appends the file form of nodes to b.
func AppendNodes(b []byte, nodes []krpc.NodeInfo) []byte {
	b = append(b, nodesHeader...)
	for i, ni := range nodes {
		if i == maxSavedNodes {
			break
		}
		ip, ok := netip.AddrFromSlice(ni.Addr.IP)
		if !ok || ni.Addr.Port <= 0 || ni.Addr.Port > 65535 {
			continue
		}
		b = append(b, ni.ID[:]...)
		a16 := ip.As16()
		b = append(b, a16[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(ni.Addr.Port))
	}
	return b
}

// LoadNodes reads a file SaveNodes wrote.
func LoadNodes(file string) ([]krpc.NodeInfo, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(len(nodesHeader)+maxSavedNodes*nodeRecord+1)))
	if err != nil {
		return nil, err
	}
	return ParseNodes(b)
}

// ParseNodes parses the file form of a routing table. Records with port 0
// or an unspecified address are skipped.
func ParseNodes(b []byte) ([]krpc.NodeInfo, error) {
	rest, ok := bytes.CutPrefix(b, []byte(nodesHeader))
	if !ok || len(rest)%nodeRecord != 0 || len(rest)/nodeRecord > maxSavedNodes {
		return nil, ErrNodesFile
	}
	out := make([]krpc.NodeInfo, 0, len(rest)/nodeRecord)
	for ; len(rest) > 0; rest = rest[nodeRecord:] {
		var ni krpc.NodeInfo
		copy(ni.ID[:], rest[:20])
		ip := netip.AddrFrom16([16]byte(rest[20:36])).Unmap()
		port := binary.BigEndian.Uint16(rest[36:38])
		if port == 0 || ip.IsUnspecified() {
			continue
		}
		ni.Addr = krpc.NodeAddr{IP: net.IP(ip.AsSlice()), Port: int(port)}
		out = append(out, ni)
	}
	return out, nil
}

// DefaultNodesFile is where a node named name keeps its routing table
// between runs: in the user's cache folder, one file per address family
// (network "udp6" adds a 6). A node bound to loopback keeps none (""): it
// knows only nodes on this host, useless to a later run on the network, and
// it would overwrite a table that is useful.
func DefaultNodesFile(name, network string, loopback bool) string {
	if loopback {
		return ""
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	if network == "udp6" {
		name += "6"
	}
	return filepath.Join(dir, "swarmcast", name)
}

// UDPNetwork is the UDP network of a node listening on host: "udp6" for an
// IPv6 literal, "udp4" otherwise.
func UDPNetwork(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() && !ip.Is4In6() {
		return "udp6"
	}
	return "udp4"
}
