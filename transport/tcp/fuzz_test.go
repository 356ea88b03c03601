package tcp

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/mse"
)

// memConn is a net.Conn that reads given bytes and discards writes.
type memConn struct{ r io.Reader }

func (m memConn) Read(p []byte) (int, error)       { return m.r.Read(p) }
func (m memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (m memConn) Close() error                     { return nil }
func (m memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (m memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (m memConn) SetDeadline(time.Time) error      { return nil }
func (m memConn) SetReadDeadline(time.Time) error  { return nil }
func (m memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzInbound feeds an accepted connection arbitrary first bytes: the sniff
// that tells plain from encrypted, then the receiver's handshake. Whatever
// comes, it ends (the input is finite) without a panic, and a plain
// connection reads back exactly what was sent.
func FuzzInbound(f *testing.F) {
	f.Add([]byte(protocolHeader + "12345678abcdefghijabcdefghij"))
	f.Add([]byte("\x13BitTorrent protocoX"))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{7}, 700))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, policy := range []mse.Policy{mse.Prefer, mse.Require} {
			c := newInbound(memConn{bytes.NewReader(in)}, ListenConfig{Encryption: policy, InfoHash: serves(infoHash)}, newRateLimit(1e9, 1e6))
			got, err := io.ReadAll(io.LimitReader(c, int64(len(in))+1))
			if err != nil || len(got) == 0 {
				continue
			}
			if c.Encryption() == 0 && !bytes.Equal(got, in) {
				t.Fatalf("plain connection read %q, sent %q", got, in)
			}
			if c.Encryption() == 0 && policy == mse.Require {
				t.Fatal("a plain connection got through with encryption required")
			}
		}
	})
}
